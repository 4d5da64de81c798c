"""Reading what is not a stream's entries: heads, id markers, checkpoints, payloads, listings
and statistics (the reads :class:`~._reads.Reader` builds on; see :mod:`._reads`)."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator

from nats.aio.msg import Msg

from ..._exceptions import StorageError
from ..._names import category_of
from ..base import EVENT, Entry, Head, Write, page_after
from ._connection import ApiError, Connection, NoStream, TooMany
from ._names import named
from ._records import CHUNKS, decode_entry
from ._state import DbState, pending_of, seq_of, subject_of

__all__ = ["MULTI", "PAGE", "Lookups"]

PAGE = 1000  # messages asked for in one batched direct get
MULTI = 200  # subjects asked for in one multi-subject direct get (the server caps at 1024)
STREAM_NOT_FOUND = 10059


class Lookups:
    """Reads of a database's heads, markers, checkpoints, payloads, listings and statistics."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- heads, markers, checkpoints ------------------------------------------------------------

    async def heads(self, d: DbState, streams: list[str], fresh: bool) -> dict[str, Head | None]:
        """Each stream's head: remembered ones unless ``fresh``, the others read in parallel."""
        heads: dict[str, Head | None] = {}
        missing = []
        for s in streams:
            cached = None if fresh else d.heads.get(s)
            if cached is None:
                missing.append(s)
            else:
                heads[s] = cached
        if len(missing) == 1:
            heads[missing[0]] = await self.head(d, missing[0])
        elif missing:
            found = await asyncio.gather(*(self.head(d, s) for s in missing))
            heads.update(zip(missing, found, strict=True))
        return heads

    async def head(self, d: DbState, stream: str) -> Head | None:
        msg = await self.conn.get_last(d.layout.stream_name, d.layout.stream(stream), d.seen)
        if msg is None:
            d.heads.pop(stream, None)
            return None
        position = seq_of(msg)
        d.observe(position)
        entry, events = decode_entry(msg.data, position)
        head = Head(entry.seq, events, entry.hash, position)
        d.remember(stream, head)
        return head

    async def existing(
        self, d: DbState, writes: list[Write]
    ) -> tuple[dict[str, list[Entry]], dict[str, int]]:
        """The stored entries of the events the writes repeat, by stream, and the sequence
        of the last marker of each of their ids (absent: none yet).

        A marker says where its event's entry was stored; a marker whose entry is not there
        was left by an append that failed after writing it, and the event may still be
        stored under an earlier marker of the same id, so then every marker is looked at.
        """
        ids = {
            d.layout.marker(w.stream, x.event_id): (w.stream, x.event_id)
            for w in writes
            for x in w.drafts
            if x.kind == EVENT
        }
        last = await self.multi(d, list(ids))
        seqs = {subject_of(m): seq_of(m) for m in last}
        found: dict[str, list[Entry]] = {}
        confirmed: set[str] = set()

        async def confirm(candidates: dict[str, list[int]]) -> None:
            positions = {p for ps in candidates.values() for p in ps}
            stored = await self.at(d, sorted(positions))
            for marker, ps in candidates.items():
                stream, event_id = ids[marker]
                for p in ps:
                    e = stored.get(p)
                    if marker in confirmed or e is None:
                        continue
                    if e.stream == stream and e.kind == EVENT and e.event_id == event_id:
                        confirmed.add(marker)
                        found.setdefault(stream, []).append(e)

        await confirm({subject_of(m): [seq_of(m) + int(m.data)] for m in last})
        orphans = [marker for marker in seqs if marker not in confirmed]
        if orphans:
            histories = await asyncio.gather(*(self.history(d, m) for m in orphans))
            await confirm(
                {
                    m: [seq_of(x) + int(x.data) for x in h]
                    for m, h in zip(orphans, histories, strict=True)
                }
            )
        return found, seqs

    async def at(self, d: DbState, positions: list[int]) -> dict[int, Entry]:
        """The entries at these positions (those that are entries)."""
        replies = await asyncio.gather(*(self._at(d, p) for p in positions))
        return {p: e for p, e in zip(positions, replies, strict=True) if e is not None}

    async def _at(self, d: DbState, position: int) -> Entry | None:
        msgs = await self.conn.get_batch(
            d.layout.stream_name,
            {"seq": position, "batch": 1, "next_by_subj": d.layout.entries, "min_last_seq": d.seen},
        )
        if not msgs or seq_of(msgs[0]) != position:
            return None
        return decode_entry(msgs[0].data, position)[0]

    async def history(self, d: DbState, subject: str, start: int = 1) -> list[Msg]:
        """Every message on one subject (wildcards allowed) from a position, oldest first."""
        msgs: list[Msg] = []
        while True:
            page = await self.conn.get_batch(
                d.layout.stream_name,
                {"seq": start, "batch": PAGE, "next_by_subj": subject, "min_last_seq": d.seen},
            )
            msgs.extend(page)
            if not page or pending_of(page[-1]) == 0:
                return msgs
            start = seq_of(page[-1]) + 1

    async def exists(self, d: DbState) -> bool:
        """Whether the database's stream exists (asked of the JetStream API)."""
        try:
            await self.conn.api(f"STREAM.INFO.{d.layout.stream_name}")
        except ApiError as exc:
            if exc.code == STREAM_NOT_FOUND:
                return False
            raise
        return True

    async def replicas(self, d: DbState) -> int:
        """How many copies of the database the cluster keeps."""
        if d.replicas is None:
            try:
                info = await self.conn.api(f"STREAM.INFO.{d.layout.stream_name}")
            except ApiError as exc:
                if exc.code == STREAM_NOT_FOUND:
                    raise NoStream(f"no stream {d.layout.stream_name}") from None
                raise
            d.replicas = int(info.get("config", {}).get("num_replicas") or 1)
        return d.replicas

    async def stored_blobs(self, d: DbState, addresses: list[bytes]) -> set[bytes]:
        msgs = await self.multi(d, [d.layout.blob(a, 0) for a in addresses])
        return {bytes.fromhex(subject_of(m).split(".")[-2]) for m in msgs}

    async def checkpoint(self, d: DbState, name: str) -> tuple[int | None, int]:
        """A checkpoint's value (``None`` when there is none) and the sequence of the
        message holding it (0 when there is no message: never stored)."""
        msg = await self.conn.get_last(d.layout.stream_name, d.layout.checkpoint(name), d.seen)
        if msg is None:
            d.checkpoints.pop(name, None)
            return (None, 0)
        seq = seq_of(msg)
        d.observe(seq)
        value = (int(msg.data) if msg.data else None, seq)  # empty: deleted
        d.checkpoints[name] = value
        return value

    async def checkpoints(self, d: DbState) -> dict[str, int]:
        """Every stored checkpoint, by name (rolled up: one message per checkpoint)."""
        found: dict[str, int] = {}
        for msg in await self.history(d, d.layout.checkpoints):
            if msg.data:
                found[named(subject_of(msg), msg.headers)] = int(msg.data)
        return dict(sorted(found.items()))

    async def multi(self, d: DbState, subjects: list[str]) -> list[Msg]:
        """The last message of each subject (where there is one), in no particular order."""
        groups = [subjects[i : i + MULTI] for i in range(0, len(subjects), MULTI)]
        pages = await asyncio.gather(*(self._multi(d, g) for g in groups))
        return [m for page in pages for m in page]

    async def _multi(self, d: DbState, subjects: list[str]) -> list[Msg]:
        try:
            msgs = await self.conn.get_batch(
                d.layout.stream_name,
                {"multi_last": subjects, "batch": len(subjects) * 64, "min_last_seq": d.seen},
            )
        except TooMany:  # many chunks behind the wildcards: ask for half as many at once
            if len(subjects) == 1:
                raise StorageError(f"too many messages on {subjects[0]}") from None
            half = len(subjects) // 2
            return await self._multi(d, subjects[:half]) + await self._multi(d, subjects[half:])
        for m in msgs:
            d.observe(seq_of(m))
        return msgs

    async def last_on(self, d: DbState, subject: str) -> int:
        """The sequence of the last message on ``subject``, 0 when there is none."""
        msg = await self.conn.get_last(d.layout.stream_name, subject, d.seen)
        if msg is None:
            return 0
        seq = seq_of(msg)
        d.observe(seq)
        return seq

    # -- payloads ---------------------------------------------------------------------------------

    async def attach(self, d: DbState, entries: list[Entry]) -> None:
        """Fill in the entries' payloads, each distinct one fetched once."""
        # entries that keep their payload have it already
        addresses = list({e.address for e in entries if e.address and e.payload is None})
        if not addresses:
            return
        payloads = await self.payloads(d, addresses)
        for e in entries:
            if e.address is not None and e.payload is None:
                e.payload = payloads.get(e.address)

    async def payloads(self, d: DbState, addresses: list[bytes]) -> dict[bytes, bytes]:
        """The stored payloads of these addresses (absent ones left out), chunks joined."""
        chunks: dict[bytes, dict[int, bytes]] = {}
        counts: dict[bytes, int] = {}

        def take(msgs: list[Msg]) -> None:
            for m in msgs:
                _, _, hexed, chunk = subject_of(m).rsplit(".", 3)
                address, n = bytes.fromhex(hexed), int(chunk)
                chunks.setdefault(address, {})[n] = m.data
                if n == 0:
                    counts[address] = int((m.headers or {}).get(CHUNKS, "1"))

        take(await self.multi(d, [d.layout.blob(a, "*") for a in addresses]))
        while True:  # a reply holds only so many chunks: ask for the rest by name
            missing = [
                d.layout.blob(a, n)
                for a, count in counts.items()
                for n in range(count)
                if n not in chunks[a]
            ]
            if not missing:
                break
            before = sum(len(c) for c in chunks.values())
            take(await self.multi(d, missing[:PAGE]))
            if sum(len(c) for c in chunks.values()) == before:
                break
        payloads: dict[bytes, bytes] = {}
        for address, count in counts.items():
            parts = chunks[address]
            if all(n in parts for n in range(count)):
                payloads[address] = b"".join(parts[n] for n in range(count))
        d.known(payloads)
        return payloads

    async def read_blobs(
        self, d: DbState, after: bytes | None, limit: int
    ) -> list[tuple[bytes, bytes]]:
        await self.count(d)
        if d.sorted_addresses is None:
            d.sorted_addresses = sorted(d.addresses)
        chosen = page_after(d.sorted_addresses, after, limit)
        payloads = await self.payloads(d, chosen)
        return [(a, payloads[a]) for a in chosen if a in payloads]

    # -- listings and statistics, kept up to date incrementally ---------------------------------

    async def _after(self, d: DbState, subject: str, seq: int) -> AsyncIterator[list[Msg]]:
        """Pages of the messages on ``subject`` stored after sequence ``seq``."""
        while True:
            msgs = await self.conn.get_batch(
                d.layout.stream_name,
                {"seq": seq + 1, "batch": PAGE, "next_by_subj": subject, "min_last_seq": d.seen},
            )
            if not msgs:
                return
            yield msgs
            seq = seq_of(msgs[-1])
            d.observe(seq)
            if pending_of(msgs[-1]) == 0:
                return

    async def list(self, d: DbState) -> None:
        """Bring the sorted stream listing up to date from the names stored since."""
        async for msgs in self._after(d, d.layout.names, d.listed):
            for msg in msgs:
                name = msg.data.decode()
                i = bisect.bisect_left(d.names, name)
                if i == len(d.names) or d.names[i] != name:
                    d.names.insert(i, name)
                    bisect.insort(d.categories.setdefault(category_of(name), []), name)
            d.listed = seq_of(msgs[-1])

    async def count(self, d: DbState) -> None:
        """Bring the statistics up to date from the entries stored since they were counted."""
        tally = d.tally
        async for msgs in self._after(d, d.layout.entries, d.tallied):
            for msg in msgs:
                e, _ = decode_entry(msg.data, seq_of(msg))
                tally["events" if e.kind == EVENT else "restructures"] += 1
                tally["logical"] += e.size
                if e.payload is not None:  # kept in its entry: stored bytes, not a payload
                    tally["stored"] += len(e.payload)
                elif e.address is not None and e.address not in d.addresses:
                    d.addresses.add(e.address)
                    d.sorted_addresses = None
                    tally["stored"] += e.size
            d.tallied = seq_of(msgs[-1])
        await self.list(d)
