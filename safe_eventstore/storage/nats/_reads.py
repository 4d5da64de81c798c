"""Reading a database: entries, heads, payloads, listings, statistics and checkpoints.

Everything here runs on the connection's event loop. Reads use JetStream's direct get API
(``allow_direct``): one request returns up to a page of messages on a subject filter, or the
last message of many subjects at once. Every request asks for at least the highest stream
sequence this process has seen (``min_last_seq``), so a replica that lags behind hands the
request to the stream leader instead of answering with older data.

A stream's entries share one subject: its head is the last message there; the entry of a
given version or seq is found by bisecting positions (each step the next entry at or after
a position), unless the read continues where the previous page ended, which is remembered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..._model import Query
from ..base import EVENT, Entry, matches, placed
from ._connection import Connection
from ._lookups import MULTI, PAGE, Lookups
from ._names import Layout
from ._records import decode_copy, decode_entry
from ._scans import END, MORE, Scans
from ._state import DbState, pending_of, seq_of

__all__ = ["MAX_CHAIN_TAGS", "Reader", "condition_filters"]

MAX_CHAIN_TAGS = 16  # an event with more tags is appended in a batch
CHAIN_SLACK = MAX_CHAIN_TAGS + 2  # in a chain, a tag precedes its entry by at most this much


def condition_filters(layout: Layout, query: Query) -> list[str]:
    """Subjects that receive a message whenever an event the query selects is stored (and
    sometimes when one it does not select is): a tag's for an item with tags, every
    entry's otherwise (types are not part of any subject)."""
    filters: list[str] = []
    for item in query.items:
        if not item.tags:
            return [layout.entries]
        types = item.types or (None,)
        filters += [layout.tagged(item.tags[0], t) for t in types]
    return list(dict.fromkeys(filters)) or [layout.entries]


def _is_event(e: Entry) -> bool:
    return e.kind == EVENT


class Reader(Lookups):
    """Reads a database's entries: of one stream, of all of them (forwards or backwards) and
    by query; the reads of heads, markers, checkpoints and payloads are :class:`Lookups`'s."""

    # -- entries ----------------------------------------------------------------------------------

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.scans = Scans(conn)

    async def scan(
        self,
        d: DbState,
        scope: str,
        start: int,
        limit: int,
        keep: Callable[[Entry], bool] | None = None,
    ) -> list[Entry]:
        """Up to ``limit`` entries on ``scope`` from position ``start``, in position order:
        through a consumer when the scan is long (:mod:`._scans`), else by direct gets."""
        key = (scope, start)
        long = key in d.longs
        if long:
            del d.longs[key]
        return await self._scan(d, scope, start, limit, keep, [], long)

    async def _scan(
        self,
        d: DbState,
        scope: str,
        start: int,
        limit: int,
        keep: Callable[[Entry], bool] | None,
        out: list[Entry],
        long: bool,
    ) -> list[Entry]:
        scanner = await self.scans.resume(d, scope, start, long)
        if scanner is not None:
            got, ended = await scanner.take(d, limit - len(out), keep)
            out += got
            if ended == MORE:
                self.scans.keep(d, scanner)
                return out
            self.scans.drop(scanner)
            if ended == END:
                return out
            start = scanner.next  # it broke: read on by direct gets
        return await self._gets(d, scope, start, limit, keep, out, scanner is None)

    async def _gets(
        self,
        d: DbState,
        scope: str,
        start: int,
        limit: int,
        keep: Callable[[Entry], bool] | None,
        out: list[Entry],
        switch: bool,
    ) -> list[Entry]:
        """:meth:`scan` by batched direct gets; after a full page with more to come, the
        scan goes on through a consumer (if ``switch``), or its next page will."""
        while len(out) < limit:
            want = PAGE if keep is not None else min(PAGE, limit - len(out))
            msgs, pending = await self.conn.get_entries(
                d.layout.stream_name,
                {"seq": start, "batch": want, "next_by_subj": scope, "min_last_seq": d.seen},
            )
            if not msgs:
                break
            after = start
            for data, position in msgs:
                after = position + 1
                entry, _ = decode_entry(data, position)
                if keep is None or keep(entry):
                    out.append(entry)
                    if len(out) >= limit:
                        break
            last = msgs[-1][1]
            d.observe(last)
            if pending == 0 and after > last:
                break
            start = after
            if len(msgs) >= PAGE:
                if len(out) < limit and switch:
                    return await self._scan(d, scope, start, limit, keep, out, True)
                d.long(scope, start)
        return out

    async def _next(self, d: DbState, subject: str, position: int) -> tuple[Entry, int] | None:
        """The first entry on ``subject`` at or after ``position``, and its event version."""
        msgs = await self.conn.get_batch(
            d.layout.stream_name,
            {"seq": position, "batch": 1, "next_by_subj": subject, "min_last_seq": d.seen},
        )
        return decode_entry(msgs[0].data, seq_of(msgs[0])) if msgs else None

    async def locate(
        self, d: DbState, stream: str, key: Callable[[Entry, int], int], target: int
    ) -> int | None:
        """The position of the stream's first entry whose ``key(entry, events)`` (growing
        along the stream) reaches ``target``; ``None`` when none does. Bisects positions."""
        subject = d.layout.stream(stream)
        msg = await self.conn.get_last(d.layout.stream_name, subject, d.seen)
        if msg is None:
            return None
        last, events = decode_entry(msg.data, seq_of(msg))
        if key(last, events) < target:
            return None
        best, low, high = last.position, 1, last.position - 1
        while low <= high:
            middle = (low + high) // 2
            found = await self._next(d, subject, middle)
            if found is None or found[0].position > best:
                high = middle - 1  # nothing from there to the best yet: look lower
                continue
            entry, events = found
            if key(entry, events) >= target:
                best, high = entry.position, middle - 1
            else:
                low = entry.position + 1
        return best

    async def read_stream(
        self, d: DbState, stream: str, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        if limit <= 0:
            return []
        subject = d.layout.stream(stream)
        if backwards:
            head = await self.head(d, stream)
            if head is None or head.version < 0:
                return []
            top = min(from_version, head.version)
            low = max(0, top - limit + 1)
            start = await self._version_position(d, stream, low)
            if start is None:
                return []
            window = await self.scan(d, subject, start, top - low + 1, _is_event)
            entries = [e for e in window if e.version <= top]
            entries.reverse()
        else:
            start = await self._version_position(d, stream, max(from_version, 0))
            if start is None:
                return []
            entries = await self.scan(d, subject, start, limit, _is_event)
            if entries:  # the next page starts right after this one
                last = entries[-1]
                d.cursor((stream, "v", last.version + 1), last.position + 1)
        await self.attach(d, entries)
        return entries

    async def _version_position(self, d: DbState, stream: str, version: int) -> int | None:
        """Where event ``version`` of a stream is, or a position to look for it from."""
        hint = d.cursors.pop((stream, "v", version), None)
        if hint is not None:
            return hint
        if version == 0:
            return 1
        return await self.locate(d, stream, lambda e, events: events, version)

    async def at_versions(
        self, d: DbState, stream: str, first: int, event_ids: list[bytes]
    ) -> list[Entry]:
        """The stream's event entries at versions ``first`` on that carry the id at the same
        place of ``event_ids`` (:func:`~safe_eventstore.storage.base.placed`)."""
        start = await self.locate(d, stream, lambda e, events: events, first)
        if start is None:
            return []
        entries = await self.scan(d, d.layout.stream(stream), start, len(event_ids), _is_event)
        return placed(event_ids, first, entries)

    async def read_entries(self, d: DbState, stream: str, from_seq: int, limit: int) -> list[Entry]:
        if limit <= 0:
            return []
        start = d.cursors.pop((stream, "s", from_seq), None)
        if start is None:
            start = 1 if from_seq <= 0 else await self.locate(d, stream, _seq_key, from_seq)
        if start is None:
            return []
        entries = await self.scan(d, d.layout.stream(stream), start, limit)
        if entries:
            last = entries[-1]
            d.cursor((stream, "s", last.seq + 1), last.position + 1)
        await self.attach(d, entries)
        return entries

    async def read(
        self,
        d: DbState,
        scope: str,
        start: int,
        limit: int,
        keep: Callable[[Entry], bool] | None = None,
    ) -> list[Entry]:
        """Entries on ``scope`` with their payloads."""
        if limit <= 0:
            return []
        entries = await self.scan(d, scope, start, limit, keep)
        await self.attach(d, entries)
        return entries

    async def read_back(
        self, d: DbState, scope: str, top: int, limit: int, keep: Callable[[Entry], bool]
    ) -> list[Entry]:
        """Entries on ``scope`` at position ``top`` or below that ``keep`` selects, in
        descending position order, with their payloads. The server reads forwards only:
        windows below ``top`` are read in turn, each twice as wide as the one before, so
        that a sparse scope takes few requests and a dense one little more than it needs."""
        if limit <= 0 or top < 1:
            return []
        high = min(top, await self.last_position(d))
        span = max(limit, 64)
        out: list[Entry] = []
        while high >= 1 and len(out) < limit:
            low = max(1, high - span + 1)
            window = await self._window(d, scope, low, high, keep)
            window.reverse()
            out += window[: limit - len(out)]
            high, span = low - 1, span * 2
        await self.attach(d, out)
        return out

    async def _window(
        self, d: DbState, scope: str, low: int, high: int, keep: Callable[[Entry], bool]
    ) -> list[Entry]:
        """The entries on ``scope`` from position ``low`` to ``high`` that ``keep`` selects."""
        out: list[Entry] = []
        start = low
        while start <= high:
            msgs = await self.conn.get_batch(
                d.layout.stream_name,
                {
                    "seq": start,
                    "batch": min(PAGE, high - start + 1),
                    "next_by_subj": scope,
                    "min_last_seq": d.seen,
                },
            )
            for msg in msgs:
                position = seq_of(msg)
                if position > high:
                    return out
                entry, _ = decode_entry(msg.data, position)
                if keep(entry):
                    out.append(entry)
            if not msgs or pending_of(msgs[-1]) == 0:
                break
            start = seq_of(msgs[-1]) + 1
        return out

    async def restructures(self, d: DbState, stream: str | None) -> list[Entry]:
        """Every restructure entry (of one stream, or all), from their copies."""
        subject = d.layout.restructures if stream is None else d.layout.restructures_of(stream)
        entries = [decode_copy(m.data, seq_of(m))[0] for m in await self.history(d, subject)]
        entries.sort(key=lambda e: e.position)
        await self.attach(d, entries)
        return entries

    async def read_query(
        self, d: DbState, query: Query, from_position: int, limit: int
    ) -> list[Entry]:
        """Events the query selects, from a position on, with their payloads.

        When every item of the query names tags, the candidates come from the tag messages
        of each item's first tag (each says where its entry is); otherwise the entries are
        scanned. Either way the query is applied to the entries themselves.
        """
        if limit <= 0:
            return []
        if not query.items or not all(item.tags for item in query.items):
            return await self.read(
                d, d.layout.entries, from_position, limit, lambda e: matches(e, query)
            )
        filters = condition_filters(d.layout, query)
        start = max(1, from_position - CHAIN_SLACK)
        tags = await asyncio.gather(*(self.history(d, f, start) for f in filters))
        positions = sorted({seq_of(m) + int(m.data) for ms in tags for m in ms})
        positions = [p for p in positions if p >= from_position]
        out: list[Entry] = []
        for i in range(0, len(positions), MULTI):
            found = await self.at(d, positions[i : i + MULTI])
            out += [found[p] for p in sorted(found) if matches(found[p], query)]
            if len(out) >= limit:
                break
        out = out[:limit]
        await self.attach(d, out)
        return out

    async def first_match(self, d: DbState, query: Query, from_position: int) -> Entry | None:
        found = await self.scan(d, d.layout.entries, from_position, 1, lambda e: matches(e, query))
        return found[0] if found else None

    async def last_position(self, d: DbState) -> int:
        return await self.last_on(d, d.layout.entries)


def _seq_key(entry: Entry, events: int) -> int:
    return entry.seq
