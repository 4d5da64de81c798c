"""Appending: every check that decides an append is made by the server as it stores it.

An append is a set of messages: its entries, the chunks of payloads not stored yet, a marker
per event id that came from the caller, and the checkpoint it carries. Each message expects
something of the stream (an expected-last-subject-sequence header), and the server refuses
it if that is not so:

* the first entry of each write expects the stream's last entry to be the head the entries
  were sealed on: the optimistic concurrency check, which also keeps the hash chain whole;
* a payload chunk expects nothing to be stored on its subject yet (stored once per address);
* an id marker expects the marker it replaces, if any (an idempotent retry fails here);
* a checkpoint expects the message holding its current value (it only moves forward).

Event ids the core generated (``Write.new_ids``: fresh UUIDv7s) cannot be stored already, so
their events get no marker. A single event with a generated id whose payload is known to be
stored is one message, its entry, like a plain publish.

The messages go to the server in one of two ways:

* an atomic batch (ADR-50): stored all together or not at all. Every append can go this way;
  appends that wait while another batch is in flight are committed together in the next one
  (group commit), since a batch costs about the same whatever its size;
* a chain, for an append of a single entry to a single-replica database, where the server
  stages every atomic batch in files of its own (slow for one entry: docs/nats-mapping.md).
  Each message of a chain carries a ``Nats-Msg-Id`` and expects the one before it to be
  the stream's last message (``Nats-Expected-Last-Msg-Id``), so the entry, last, is stored
  only right after its payload, marker and tags. A chain that breaks leaves at most a
  payload no entry refers to (invisible, and reused by the next append of the same bytes) or
  a marker or tag whose entry is missing (which their readers check for); its entry is
  never stored alone.

A process remembers the heads, payloads and checkpoints it has seen and seals appends on
them without reading first. When the server refuses an append, or a remembered head makes
:func:`plan_append` refuse it, the append is tried again alone, as a batch, on freshly read
heads and markers; only then are its errors final.

An attempt that gets no answer (the connection is lost, or the acknowledgement does not come
in time) may have been stored. Its retry reads the heads afresh and then looks for its own
entries, by event id, after the lowest head an attempt of it was sealed on: found, its
original result is returned and nothing is written. An attempt stored only after that
read expects the very head the retry reads (nothing was appended to the stream in between),
so the server stores one of the two and refuses the other. So an append is stored once,
marker or not.

Why this module does not run :func:`~safe_eventstore.storage.base.run_append`, which drives
the atomic step of the memory and SQLite backends: here no step holds a lock while the checks
run. The checks that decide an append are made twice: first here, on heads and checkpoints
this process remembers (reading only what it does not know), to seal the entries and to
refuse early; then by the server, as headers expecting the sequences those checks saw, when
it stores the messages. Positions come from the server's acknowledgement, after the checks,
and a refused or unanswered attempt is decided again on fresh reads (:meth:`Appender.alone`).
What the sequence shares with the other backends is what decides an append: the planning and
sealing (:func:`~safe_eventstore.storage.base.plan_append`), the idempotent-retry short cut
(:func:`~safe_eventstore.storage.base.retried`), the condition and checkpoint rules
(:func:`~safe_eventstore.storage.base.check_condition`,
:func:`~safe_eventstore.storage.base.check_checkpoint`) and the results
(:func:`~safe_eventstore.storage.base.result_of`).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ..._exceptions import (
    AppendConditionFailed,
    CheckpointConflict,
    EventTooLarge,
    IdempotencyConflict,
    InvalidEvent,
    StoreUnavailable,
    WrongExpectedVersion,
)
from ..._model import AppendCondition, AppendResult
from ..base import (
    EVENT,
    Entry,
    Head,
    Write,
    check_checkpoint,
    check_condition,
    plan_append,
    result_of,
    retried,
)
from ._connection import ApiError, NoStream
from ._names import name_header
from ._reads import MAX_CHAIN_TAGS, Reader, condition_filters
from ._records import CHUNKS, encode_copy, encode_entry, split_payload
from ._state import DbState, Request

__all__ = ["Appender"]

Message = tuple[str, bytes, dict[str, str]]
EXPECT = "Nats-Expected-Last-Subject-Sequence"
EXPECT_ON = "Nats-Expected-Last-Subject-Sequence-Subject"  # the subject checked, if not its own
MSG_ID = "Nats-Msg-Id"
AFTER = "Nats-Expected-Last-Msg-Id"
CONFLICTS = {10070, 10071, 10164}  # wrong last msg id / sequence; that subject is busy
TOO_LARGE = 10199  # more messages than the server takes in one batch
BATCH_LIMIT = 1000  # the server's default for that
ROUND = 64  # appends committed together at most


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


Outcome = list[AppendResult] | BaseException


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return  # its caller gave up
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _failure(exc: ApiError, *, alone: bool, size: int) -> Exception:
    if exc.code in CONFLICTS:
        return Retry(exc.description, wait=False)
    if exc.code == TOO_LARGE and alone:
        return InvalidEvent(
            f"this append takes {size} NATS messages, more than the server commits in one "
            f"batch ({exc.description}): split it"
        )
    return Retry(exc.description, wait=True)


def _among(ids: set[bytes]) -> Callable[[Entry], bool]:
    return lambda e: e.event_id in ids


def _unknown(prepared: list[Prepared], exc: Exception) -> Retry:
    """No answer to a publish (lost connection, time out, no leader): the appends may have
    been stored, so their retries look for their entries first."""
    for p in prepared:
        p.request.unsure = True
    return Retry(str(exc) or "no acknowledgement in time", wait=True)


class Appender:
    """Seals appends on known heads and commits them, alone or together."""

    def __init__(self, reader: Reader, *, chunk: int, timeout: float) -> None:
        self.reader = reader
        self.conn = reader.conn
        self.chunk = chunk
        self.timeout = timeout
        # message ids for chains: unique to this process (a random prefix), cheap to make
        self.ids = secrets.token_hex(8) + "."
        self.counter = itertools.count()

    def request(
        self,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None,
        condition: AppendCondition | None = None,
    ) -> Request:
        """An append to commit; made in the caller's thread (its future is only created
        there: it is settled and awaited on the loop)."""
        return Request(writes, blobs, checkpoint, self.conn.loop.create_future(), condition)

    async def append(self, d: DbState, request: Request) -> list[AppendResult]:
        if d.replicas is None:
            await self.reader.replicas(d)
        if d.committing:
            d.queue.append(request)
        else:
            # nothing in flight: commit this one here, and then whatever queued up meanwhile
            d.committing = True
            try:
                await self._round(d, [request])
            finally:
                # whatever happened to this round, appends queued meanwhile get theirs
                d.committing = False
                if d.queue:
                    self._commit_queued(d)
        try:
            results: list[AppendResult] = await request.future
            return results
        except Retry:
            pass
        return await self.alone(d, request)

    def submit(self, d: DbState, request: Request) -> asyncio.Future[list[AppendResult]]:
        """Queue an append for the database's committer, without a task of its own (for a
        caller that waits while another thread runs the loop); its future. The database's
        replication must be known. An outcome of :class:`Retry` means: retry it
        :meth:`alone`."""
        d.queue.append(request)
        if not d.committing:
            self._commit_queued(d)
        return request.future

    def _commit_queued(self, d: DbState) -> None:
        d.committing = True
        d.committer = asyncio.get_running_loop().create_task(self._rounds(d))

    async def alone(self, d: DbState, request: Request) -> list[AppendResult]:
        """Retry one append on freshly read state until it is decided or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        pause = 0.002
        exc: Exception
        while True:
            try:
                streams = [w.stream for w in request.writes]
                heads = await self.reader.heads(d, streams, fresh=True)
                prepared = await self._prepare(d, request, heads, fresh=True)
                if isinstance(prepared, list):
                    return prepared
                (outcome,) = await self._commit(d, [prepared], chains=False)
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
            except NoStream:
                if not await self.reader.exists(d):
                    raise
                exc = Retry("the database's stream has no leader now", wait=True)
            except (Retry, StoreUnavailable) as failure:
                exc = failure
            if loop.time() >= deadline:
                raise StoreUnavailable(f"could not append within {self.timeout:g} s: {exc}")
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.5)

    # -- group commit -----------------------------------------------------------------------------

    async def _rounds(self, d: DbState) -> None:
        try:
            while d.queue:
                try:
                    await self._round(d, self._take(d))
                except Exception:  # its appends are settled: each is retried alone
                    continue
        finally:
            d.committing = False

    def _take(self, d: DbState) -> list[Request]:
        """The waiting appends that fit in one batch: distinct streams and checkpoints. An
        append with a condition goes alone: the server checks a wildcard subject (``s.>``,
        ``g.<tag>.*``) against what was stored before the batch, so it would not see an
        event of another append of the same batch that its condition is about."""
        taken: list[Request] = []
        rest: list[Request] = []
        streams: set[str] = set()
        names: set[str] = set()
        size = 0
        for r in d.queue:
            if r.future.done():
                continue
            mine = {w.stream for w in r.writes}
            name = r.checkpoint[0] if r.checkpoint is not None else None
            cost = self._cost(r)
            fits = not (mine & streams) and name not in names and size + cost <= BATCH_LIMIT
            alone = r.condition is not None or (taken and taken[0].condition is not None)
            if taken and (not fits or alone or len(taken) >= ROUND):
                rest.append(r)
                continue
            taken.append(r)
            streams |= mine
            if name is not None:
                names.add(name)
            size += cost
        d.queue = rest
        return taken

    def _cost(self, r: Request) -> int:
        """At most how many messages an append takes."""
        size = 1  # a checkpoint
        for w in r.writes:
            # an entry each, a marker or copy each (no marker for a generated id), its
            # tags, its stream's name
            pointers = sum(1 for x in w.drafts if not w.new_ids or x.kind != EVENT)
            size += len(w.drafts) + pointers + sum(len(x.tags) for x in w.drafts) + 1
        return size + sum(max(1, math.ceil(len(b) / self.chunk)) for b in r.blobs.values())

    async def _round(self, d: DbState, taken: list[Request]) -> None:
        """Commit some waiting appends together; every one of them is settled, whatever
        happens (an append left unsettled by a fault or a cancellation is retried alone)."""
        try:
            await self._settle_round(d, taken)
        finally:
            for r in taken:
                if not r.future.done():
                    r.unsure = True  # it may have been published
                    _settle(r.future, Retry("its group commit was interrupted", wait=True))

    async def _settle_round(self, d: DbState, taken: list[Request]) -> None:
        try:
            streams = [w.stream for r in taken for w in r.writes]
            heads = await self.reader.heads(d, streams, fresh=False)
        except Exception as exc:  # a fault, or a timeout of the read: each is retried alone
            for r in taken:
                _settle(r.future, Retry(str(exc) or type(exc).__name__, wait=True))
            return
        prepared: list[Prepared] = []
        for r in taken:
            try:
                p = await self._prepare(d, r, heads, fresh=False)
            except Exception as exc:
                _settle(r.future, exc)
                continue
            if isinstance(p, list):
                _settle(r.future, p)
            else:
                prepared.append(p)
        if not prepared:
            return
        # a database's first entry goes in a batch, entries first, to sit at position 1
        outcomes = await self._commit(d, prepared, chains=d.replicas == 1 and d.seen > 0)
        for p, outcome in zip(prepared, outcomes, strict=True):
            _settle(p.request.future, outcome)

    # -- sealing ----------------------------------------------------------------------------------

    async def _prepare(
        self, d: DbState, r: Request, heads: dict[str, Head | None], *, fresh: bool
    ) -> Prepared | list[AppendResult]:
        """Seal an append's entries and lay out its messages (or, when it is wholly an
        idempotent retry, its original results)."""
        layout = d.layout
        # a retry is recognised before its condition: by the entries an earlier attempt may
        # have stored, and by the markers of event ids that came from the caller
        earlier = await self._stored_before(d, r) if fresh and r.unsure else {}
        marked = [w for n, w in enumerate(r.writes) if not w.new_ids and n not in earlier]
        existing: dict[str, list[Entry]] = {}
        markers: dict[str, int] = {}
        if marked and (fresh or r.condition is not None):
            existing, markers = await self.reader.existing(d, marked)
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

        wanted = {e.address for plan in plans if isinstance(plan, list) for e in plan if e.address}
        p.blobs = [a for a in wanted if a not in d.blobs]
        if fresh and p.blobs:
            stored = await self.reader.stored_blobs(d, p.blobs)
            d.known(stored)
            p.blobs = [a for a in p.blobs if a not in stored]

        for n, (w, plan) in enumerate(zip(r.writes, plans, strict=True)):
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
                    if not w.new_ids:  # a generated id cannot be stored already
                        marker = layout.marker(w.stream, e.event_id)
                        expect = {EXPECT: str(markers.get(marker, 0))}
                        p.pointers.append((marker, at, expect, False))
                    p.pointers += [(layout.tag(t, e.type), at, {}, False) for t in e.tags]
                else:
                    p.pointers.append((layout.restructures_of(w.stream), at, {}, True))
                data = encode_entry(e, events)
                if len(data) > self.chunk:
                    raise EventTooLarge(len(data), self.chunk)
                # the first entry expects the stream's last entry to be the sealed-on head
                headers = {EXPECT: str(head.position if head is not None else 0)} if k == 0 else {}
                p.entries.append((subject, data, headers))

        if r.checkpoint is not None:
            name, position = r.checkpoint
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
            p.checkpoint = (layout.checkpoint(name), str(position).encode(), headers)
        return p

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

    def _blob_messages(self, d: DbState, address: bytes, payload: bytes) -> list[Message]:
        chunks = split_payload(payload, self.chunk)
        msgs = []
        for n, chunk in enumerate(chunks):
            headers = {EXPECT: "0"}
            if n == 0 and len(chunks) > 1:
                headers[CHUNKS] = str(len(chunks))
            msgs.append((d.layout.blob(address, n), chunk, headers))
        return msgs

    # -- committing -------------------------------------------------------------------------------

    async def _commit(self, d: DbState, prepared: list[Prepared], *, chains: bool) -> list[Outcome]:
        """Commit the appends, each as a chain where that is allowed, the rest in one atomic
        batch; the outcome of each, in order."""
        seen: dict[bytes, int] = {}
        for p in prepared:
            for a in p.blobs:
                seen[a] = seen.get(a, 0) + 1
        chained: list[Prepared] = []
        batched: list[Prepared] = []
        for p in prepared:
            chain = (
                chains
                and len(p.entries) == 1
                and not p.names
                and not any(copy for _, _, _, copy in p.pointers)
                and len(p.pointers) <= MAX_CHAIN_TAGS + 1
                and p.checkpoint is None
                and not p.checks
                and all(seen[a] == 1 and len(p.request.blobs[a]) <= self.chunk for a in p.blobs)
            )
            (chained if chain else batched).append(p)
        if not batched:
            return await self._chains(d, chained)
        work: list[Coroutine[Any, Any, list[Outcome]]] = [self._batch(d, batched)]
        if chained:
            work.append(self._chains(d, chained))
        done = await asyncio.gather(*work, return_exceptions=True)
        outcomes: dict[int, Outcome] = {}
        for group, outcome in zip((batched, chained), done, strict=False):
            for k, p in enumerate(group):
                outcomes[id(p)] = outcome if isinstance(outcome, BaseException) else outcome[k]
        return [outcomes[id(p)] for p in prepared]

    async def _chains(self, d: DbState, chained: list[Prepared]) -> list[Outcome]:
        """Publish each append as a chain, all back to back; the outcome of each."""
        chains = [self._chain_messages(d, p) for p in chained]
        acks = await self.conn.publish_chains(chains)
        outcomes: list[Outcome] = []
        for p, msgs, ack in zip(chained, chains, acks, strict=True):
            if isinstance(ack, ApiError):
                outcomes.append(_failure(ack, alone=True, size=len(msgs)))
            elif isinstance(ack, StoreUnavailable | NoStream | TimeoutError):
                outcomes.append(_unknown([p], ack))
            elif isinstance(ack, Exception):
                outcomes.append(ack)
            else:
                position = int(ack["seq"])
                d.observe(position)
                d.known(p.blobs)
                outcomes.append(self._done(d, p, position))
        return outcomes

    def _chain_messages(self, d: DbState, p: Prepared) -> list[Message]:
        msgs = [m for a in p.blobs for m in self._blob_messages(d, a, p.request.blobs[a])]
        entry_at = len(msgs) + len(p.pointers)
        for subject, _, headers, _ in p.pointers:  # here the entry comes after them
            msgs.append((subject, str(entry_at - len(msgs)).encode(), headers))
        msgs += p.entries
        previous = ""
        for _, _, headers in msgs:
            if previous:
                headers[AFTER] = previous
            previous = headers[MSG_ID] = f"{self.ids}{next(self.counter)}"
        del headers[MSG_ID]  # the entry, last, needs none
        return msgs

    async def _batch(self, d: DbState, prepared: list[Prepared]) -> list[Outcome]:
        """Entries first (so that a database's first entry is at position 1), then payload
        chunks, markers and checkpoints: all stored together, or none."""
        msgs: list[Message] = []
        for p in prepared:
            msgs.extend(p.entries)
        blobs = list(dict.fromkeys(a for p in prepared for a in p.blobs))
        for address in blobs:
            payload = next(p.request.blobs[address] for p in prepared if address in p.blobs)
            msgs.extend(self._blob_messages(d, address, payload))
        checkpoints: dict[int, int] = {}
        first = 0
        for p in prepared:
            # the condition's checks before the append's own tags: on a literal subject
            # (g.<tag>.<type>) the server counts the batch's earlier messages, so a check
            # after the event's own tag there would always fail
            msgs.extend(p.checks)
            for subject, entry, headers, copy in p.pointers:  # here the entry is further back
                delta = first + entry - len(msgs)
                if copy:
                    data = encode_copy(delta, p.entries[entry][1])
                else:
                    data = str(delta).encode()
                msgs.append((subject, data, headers))
            msgs.extend(p.names)
            first += len(p.entries)
            if p.checkpoint is not None:
                checkpoints[id(p)] = len(msgs)
                msgs.append(p.checkpoint)
        try:
            ack = await self.conn.publish_batch(msgs)
        except ApiError as exc:
            raise _failure(exc, alone=len(prepared) == 1, size=len(msgs)) from None
        except (StoreUnavailable, NoStream, TimeoutError) as exc:
            raise _unknown(prepared, exc) from None
        last = int(ack["seq"])
        d.observe(last)
        base = last - len(msgs) + 1
        d.known(blobs)
        results: list[Outcome] = []
        first = base
        for p in prepared:
            if p.request.checkpoint is not None:
                name, position = p.request.checkpoint
                d.checkpoints[name] = (position, base + checkpoints[id(p)])
            results.append(self._done(d, p, first))
            first += len(p.entries)
        return results

    def _done(self, d: DbState, p: Prepared, first: int) -> list[AppendResult]:
        """Place an append's entries from position ``first`` on; remember the new heads."""
        r = p.request
        done: dict[int, AppendResult] = {}
        for n, at in p.placed:
            plan = p.plans[n]
            assert isinstance(plan, list)
            for k, e in enumerate(plan):
                e.position = first + at + k
            stream = r.writes[n].stream
            head = p.heads[stream]
            versions = [e.version for e in plan if e.kind == EVENT]
            version = versions[-1] if versions else (head.version if head else -1)
            end = plan[-1]
            d.remember(stream, Head(end.seq, version, end.hash, end.position))
            done[n] = result_of(plan)
        return [q if isinstance(q, AppendResult) else done[n] for n, q in enumerate(p.plans)]
