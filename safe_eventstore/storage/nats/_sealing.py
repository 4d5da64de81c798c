"""Sealing an append: planned on known heads, turned into the messages that commit it.

Each message expects something of the stream (see :mod:`._append`); the expectations are laid
out here, from what this process remembers (``fresh=False``, for a group commit) or from what
was just read (``fresh=True``, for an append retried alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ..._exceptions import (
    AppendConditionFailed,
    CheckpointConflict,
    EventTooLarge,
    IdempotencyConflict,
    WrongExpectedVersion,
)
from ..._model import AppendCondition, AppendResult
from ..base import (
    EVENT,
    Entry,
    Head,
    by_position,
    check_checkpoint,
    check_condition,
    event_ids,
    indexed,
    plan_append,
    result_of,
    retried,
)
from ._names import name_header
from ._reads import Reader, condition_filters
from ._records import INLINE_BELOW, encode_entry
from ._state import DbState, Request

__all__ = ["EXPECT", "EXPECT_ON", "Message", "Prepared", "Retry", "Sealer"]

Message = tuple[str, bytes, dict[str, str]]
EXPECT = "Nats-Expected-Last-Subject-Sequence"
EXPECT_ON = "Nats-Expected-Last-Subject-Sequence-Subject"  # the subject checked, if not its own


class Retry(Exception):
    """An attempt lost a race or met a passing fault: read afresh and try again."""

    def __init__(self, reason: str, *, wait: bool) -> None:
        super().__init__(reason)
        self.wait = wait


@dataclass
class Prepared:
    """One append, sealed and turned into messages, ready to be committed."""

    request: Request
    plans: list[AppendResult | list[Entry]]
    heads: dict[str, Head | None]
    entries: list[Message] = field(default_factory=list)
    placed: list[tuple[int, int]] = field(default_factory=list)  # (write, its first entry)
    blobs: list[bytes] = field(default_factory=list)  # payloads to store
    # messages that say how far their entry is: (subject, the entry, headers, a copy of it?)
    pointers: list[tuple[str, int, dict[str, str], bool]] = field(default_factory=list)
    names: list[Message] = field(default_factory=list)  # of the streams it creates
    checks: list[Message] = field(default_factory=list)  # the append condition's
    checkpoint: Message | None = None


def _inline(blobs: dict[bytes, bytes], address: bytes) -> bytes | None:
    """The payload at ``address`` if it is kept in its entry: a short one. Deduplicating it
    would save at most its own few bytes, and cost a message (a subject of its own) to
    write and a second message to read per event."""
    payload = blobs.get(address)
    return payload if payload is not None and len(payload) < INLINE_BELOW else None


def _among(ids: set[bytes]) -> Callable[[Entry], bool]:
    return lambda e: e.event_id in ids


class Sealer:
    """Seals appends on the heads given and lays out their messages."""

    def __init__(self, reader: Reader, *, chunk: int) -> None:
        self.reader = reader
        self.chunk = chunk

    async def prepare(
        self, d: DbState, r: Request, heads: dict[str, Head | None], *, fresh: bool
    ) -> Prepared | list[AppendResult]:
        """Seal an append's entries and lay out its messages (or, when it is wholly an
        idempotent retry, its original results)."""
        # a retry is recognised before its condition: by the entries an earlier attempt may
        # have stored, by the markers of event ids that came from the caller, and for a
        # write with made ids and a concrete expected version, by the place its events take
        earlier = await self._stored_before(d, r) if fresh and r.unsure else {}
        marked = [w for n, w in enumerate(r.writes) if indexed(w) and n not in earlier]
        existing: dict[str, list[Entry]] = {}
        markers: dict[str, int] = {}
        if fresh or r.condition is not None:
            if marked:
                existing, markers = await self.reader.existing(d, marked)
            existing.update(await self._placed(d, r, heads, earlier))
        plans = self._plans(r, heads, earlier, existing, fresh=fresh)
        done = retried(plans)
        if done is not None:
            return done
        p = Prepared(r, plans, heads)
        if r.condition is not None:
            try:
                p.checks = await self._condition(d, r.condition)
            except AppendConditionFailed:
                if fresh and r.unsure:  # perhaps refused by its own earlier attempt
                    found = await self._found_again(d, r)
                    if found is not None:
                        return found
                raise
        await self._payloads_to_store(d, p, fresh=fresh)
        self._lay_out(d, p, markers)
        if r.checkpoint is not None:
            checkpoint = await self._checkpoint_message(d, r, r.checkpoint, fresh=fresh)
            if isinstance(checkpoint, list):
                return checkpoint
            p.checkpoint = checkpoint
        return p

    async def _placed(
        self,
        d: DbState,
        r: Request,
        heads: dict[str, Head | None],
        earlier: dict[int, AppendResult],
    ) -> dict[str, list[Entry]]:
        """The entries an earlier attempt of each :func:`by_position` write stored, found
        where they would be: right after the version the write expects. Read only for a
        stream past that version (at it, nothing of the write can be stored yet)."""
        wanted = [
            w
            for n, w in enumerate(r.writes)
            if n not in earlier
            and by_position(w)
            and (head := heads[w.stream]) is not None
            and head.version > w.expected
        ]
        found = await asyncio.gather(
            *(self.reader.at_versions(d, w.stream, w.expected + 1, event_ids(w)) for w in wanted)
        )
        return {w.stream: entries for w, entries in zip(wanted, found, strict=True)}

    def _plans(
        self,
        r: Request,
        heads: dict[str, Head | None],
        earlier: dict[int, AppendResult],
        existing: dict[str, list[Entry]],
        *,
        fresh: bool,
    ) -> list[AppendResult | list[Entry]]:
        """Each write's sealed entries, or its result when an earlier attempt stored it."""
        plans: list[AppendResult | list[Entry]] = []
        for n, w in enumerate(r.writes):
            if n in earlier:
                plans.append(earlier[n])
                continue
            head = heads[w.stream]
            try:
                plans.append(
                    plan_append(w.stream, head, w.expected, w.drafts, existing.get(w.stream, []))
                )
            except (WrongExpectedVersion, IdempotencyConflict):
                if fresh:
                    raise
                raise Retry("a remembered stream head is out of date", wait=False) from None
            if isinstance(plans[-1], list):
                at = head.position if head is not None else 0
                r.since[w.stream] = min(at, r.since.get(w.stream, at))
        return plans

    async def _payloads_to_store(self, d: DbState, p: Prepared, *, fresh: bool) -> None:
        """The payloads the append refers to that are not known to be stored."""
        plans = p.plans
        wanted = {e.address for plan in plans if isinstance(plan, list) for e in plan if e.address}
        blobs = p.request.blobs
        p.blobs = [a for a in wanted if a not in d.blobs and _inline(blobs, a) is None]
        if fresh and p.blobs:
            stored = await self.reader.stored_blobs(d, p.blobs)
            d.known(stored)
            p.blobs = [a for a in p.blobs if a not in stored]

    def _lay_out(self, d: DbState, p: Prepared, markers: dict[str, int]) -> None:
        """The entries' messages, and the names, markers, tags and copies that go with them."""
        layout = d.layout
        heads = p.heads
        for n, (w, plan) in enumerate(zip(p.request.writes, p.plans, strict=True)):
            if isinstance(plan, AppendResult):
                continue
            head = heads[w.stream]
            if head is None:
                p.names.append((layout.name(w.stream), w.stream.encode(), {EXPECT: "0"}))
            events = head.version if head is not None else -1
            subject = layout.stream(w.stream)
            p.placed.append((n, len(p.entries)))
            for k, e in enumerate(plan):
                at = len(p.entries)
                if e.kind == EVENT:
                    events = e.version
                    if indexed(w):  # a retry of the others is not found by marker
                        marker = layout.marker(w.stream, e.event_id)
                        expect = {EXPECT: str(markers.get(marker, 0))}
                        p.pointers.append((marker, at, expect, False))
                    p.pointers += [(layout.tag(t, e.type), at, {}, False) for t in e.tags]
                else:
                    p.pointers.append((layout.restructures_of(w.stream), at, {}, True))
                inline = _inline(p.request.blobs, e.address) if e.address else None
                data = encode_entry(e, events, inline)
                if len(data) > self.chunk:
                    raise EventTooLarge(len(data), self.chunk)
                # the first entry expects the stream's last entry to be the sealed-on head
                headers = {EXPECT: str(head.position if head is not None else 0)} if k == 0 else {}
                p.entries.append((subject, data, headers))

    async def _checkpoint_message(
        self, d: DbState, r: Request, checkpoint: tuple[str, int], *, fresh: bool
    ) -> Message | list[AppendResult]:
        """The message that moves the append's checkpoint, expecting the one holding its
        current value (or, when an earlier attempt of this append moved it, its results)."""
        name, position = checkpoint
        known = None if fresh else d.checkpoints.get(name)
        value, seq = known if known is not None else await self.reader.checkpoint(d, name)
        try:
            check_checkpoint(name, value, position)
        except CheckpointConflict:
            if not fresh:
                raise Retry("a remembered checkpoint is out of date", wait=False) from None
            if r.unsure:  # perhaps its own earlier attempt moved the checkpoint
                if not r.writes and value == position:
                    return []  # the checkpoint alone, and it is where this append put it
                found = await self._found_again(d, r)
                if found is not None:
                    return found
            raise
        headers = {"Nats-Rollup": "sub", EXPECT: str(seq), **name_header(name)}
        return (d.layout.checkpoint(name), str(position).encode(), headers)

    async def _found_again(self, d: DbState, r: Request) -> list[AppendResult] | None:
        """For a retry refused by its condition or checkpoint while an earlier attempt's
        outcome is unknown: that attempt may have been stored after this retry looked for
        it, and be what refuses it. Looked for again, after the refusing read (which raised
        the sequence every read asks replicas for, so a replica behind it cannot answer this
        look): every write found gives the original results; else ``None`` (the refusal
        stands: had that attempt landed later still, its own checks would fail the same
        way)."""
        if not r.writes:
            return None
        found = await self._stored_before(d, r)
        if len(found) < len(r.writes):
            return None
        return [found[n] for n in range(len(r.writes))]

    async def _stored_before(self, d: DbState, r: Request) -> dict[int, AppendResult]:
        """The original results of the writes an earlier attempt of this append stored,
        though its acknowledgement was lost: each write's entries are looked for by event id
        among its stream's entries after the lowest head an attempt was sealed on.

        Called after the heads were read afresh: an attempt stored before that read is
        found here; one stored after it expects the head just read, as this attempt will, so
        the server stores only one of the two."""
        found: dict[int, AppendResult] = {}
        for n, w in enumerate(r.writes):
            since = r.since.get(w.stream)
            if since is None:
                continue
            ids = {x.event_id for x in w.drafts}
            entries = await self.reader.scan(
                d, d.layout.stream(w.stream), since + 1, len(w.drafts), _among(ids)
            )
            if len(entries) == len(w.drafts) and {e.event_id for e in entries} == ids:
                found[n] = result_of(entries)
        return found

    async def _condition(self, d: DbState, condition: AppendCondition) -> list[Message]:
        """Decide an append condition on what is stored, and the checks that make the server
        refuse the append if anything it could concern is stored before the commit.

        Each query item maps to subjects: a tag's (``g.<tag>.<type>``) or a type's events;
        the sequence of the last message on each is read first, the query evaluated next,
        and each check expects that last sequence still. A check may refuse an append that
        an unrelated event with the same tag or type overtook: it is then decided again."""
        filters = condition_filters(d.layout, condition.fail_if_events_match)
        lasts = await asyncio.gather(*(self.reader.last_on(d, f) for f in filters))
        match = await self.reader.first_match(
            d, condition.fail_if_events_match, (condition.after or 0) + 1
        )
        check_condition(condition, match)
        return [
            (d.layout.check(n), b"", {EXPECT: str(last), EXPECT_ON: f, "Nats-Rollup": "sub"})
            for n, (f, last) in enumerate(zip(filters, lasts, strict=True))
        ]
