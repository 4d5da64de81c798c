"""The NATS JetStream backend: one JetStream stream per database. See docs/nats-mapping.md."""

from __future__ import annotations

import asyncio
import bisect
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote

from nats.aio.msg import Msg

from ..._exceptions import (
    CheckpointConflict,
    DatabaseExists,
    DatabaseNotFound,
    EventTooLarge,
    IdempotencyConflict,
    InvalidEvent,
    InvalidURL,
    StorageError,
    StoreUnavailable,
    WrongExpectedVersion,
)
from ..._model import AppendResult
from ..._names import category_of
from ..base import (
    EVENT,
    RESTRUCTURE,
    Entry,
    Head,
    Storage,
    Write,
    check_checkpoint,
    plan_append,
    result_of,
)
from ._connection import ApiError, Connection, NoStream, TooMany
from ._names import Layout, check_prefix
from ._records import decode_entry, encode_entry, split_payload

__all__ = ["NatsStorage"]

P = ParamSpec("P")
R = TypeVar("R")
PAGE = 1000  # messages asked for in one batched direct get
MULTI = 200  # payloads asked for in one multi-subject direct get (the server caps at 1024)
EXPECT = "Nats-Expected-Last-Subject-Sequence"
EXPECT_ON = "Nats-Expected-Last-Subject-Sequence-Subject"
CHUNKS = "Ses-Chunks"
# wrong last sequence: the check failed, or another batch is checking the same subject
_CONFLICTS = {10071, 10164}
_BATCH_TOO_LARGE = 10199
_STREAM_NOT_FOUND = 10059
_STREAM_NAME_IN_USE = 10058
_CACHE = 100_000  # streams whose heads are remembered per database


def _seq(msg: Msg) -> int:
    headers = msg.headers or {}
    seq = headers.get("Nats-Sequence")
    if seq is None:
        meta = msg.metadata  # a consumer's delivery carries the sequence in its reply subject
        return int(meta.sequence.stream)
    return int(seq)


def _subject(msg: Msg) -> str:
    """The subject a message was stored on (a direct get answers on an inbox)."""
    return (msg.headers or {}).get("Nats-Subject") or msg.subject


def _pending(msg: Msg) -> int:
    headers = msg.headers or {}
    return int(headers.get("Nats-Num-Pending", "0"))


class _Retry(Exception):
    """This attempt at an append lost a race or met a passing fault: read afresh and retry."""

    def __init__(self, reason: str, *, wait: bool) -> None:
        super().__init__(reason)
        self.wait = wait


@dataclass
class _Watcher:
    """Follows a database's entries with an ordered JetStream consumer, to wake waiters."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    last: int = 0
    sub: Any = None


@dataclass
class _Db:
    """What this process knows of one database; touched on the event loop only."""

    layout: Layout
    seen: int = 0  # the highest stream sequence observed: reads ask for at least this much
    heads: OrderedDict[str, Head] = field(default_factory=OrderedDict)
    blobs: set[bytes] = field(default_factory=set)  # addresses known to be stored
    checkpoints: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (value, seq)
    cursors: OrderedDict[tuple[str, str, int], int] = field(default_factory=OrderedDict)
    names: list[str] = field(default_factory=list)  # every stream, sorted
    categories: dict[str, list[str]] = field(default_factory=dict)
    listed: int = 0  # stream markers are known up to this sequence
    tally: dict[str, int] = field(default_factory=dict)
    addresses: set[bytes] = field(default_factory=set)  # payloads the tally has counted
    sorted_addresses: list[bytes] | None = None
    tallied: int = 0  # entries are counted up to this sequence
    watcher: _Watcher | None = None

    def observe(self, seq: int) -> None:
        if seq > self.seen:
            self.seen = seq

    def remember(self, stream: str, head: Head) -> None:
        self.heads[stream] = head
        self.heads.move_to_end(stream)
        if len(self.heads) > _CACHE:
            self.heads.popitem(last=False)

    def cursor(self, key: tuple[str, str, int], position: int) -> None:
        self.cursors[key] = position
        if len(self.cursors) > 1024:
            self.cursors.popitem(last=False)


def _servers(url: str) -> list[str]:
    rest = url.partition("://")[2].split("?", 1)[0].rstrip("/")
    auth, _, hosts = rest.rpartition("@")
    servers = []
    for host in hosts.split(","):
        host = host.strip()
        if not host or "/" in host:
            raise InvalidURL(f"{url!r}: name NATS servers as nats://host:port[,host:port,...]")
        servers.append(f"nats://{unquote(auth) + '@' if auth else ''}{host}")
    return servers


def _number(options: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = options.pop(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidURL(f"option {key} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise InvalidURL(f"option {key} must be between {low:g} and {high:g}, not {value!r}")
    return number


class NatsStorage(Storage):
    """Storage in NATS JetStream: a single server or a cluster, shared by many processes.

    Options (URL query or keywords of :func:`safe_eventstore.open`): ``replicas`` (1-5,
    default 1) for new databases, ``prefix`` (default ``ses``) so that several stores can
    share one NATS system, and ``timeout`` in seconds (default 10) for each request and for
    an append's retries.
    """

    shared_across_processes = True

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        servers = _servers(url)
        self.prefix = check_prefix(options.pop("prefix", "ses"))
        self.replicas = int(_number(options, "replicas", 1, 1, 5))
        if self.replicas not in (1, 2, 3, 4, 5):
            raise InvalidURL("option replicas must be a whole number from 1 to 5")
        self.timeout = _number(options, "timeout", 10.0, 0.1, 3600.0)
        self._conn = Connection(
            servers, timeout=self.timeout, connect_timeout=min(self.timeout, 5.0)
        )
        self._chunk = max(self._conn.nc.max_payload - 8192, 64 * 1024)
        self._dbs: dict[str, _Db] = {}
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<NatsStorage prefix={self.prefix!r} replicas={self.replicas}>"

    # -- plumbing -------------------------------------------------------------------------------

    def _db(self, name: str) -> _Db:
        d = self._dbs.get(name)
        if d is None:
            with self._lock:
                d = self._dbs.setdefault(name, _Db(Layout(self.prefix, name)))
        return d

    def _run(self, db: str | None, coro: Coroutine[Any, Any, R]) -> R:
        try:
            return self._conn.call(coro, timeout=self.timeout * 6)
        except NoStream:
            if db is not None and not self._exists(db, fresh=True):
                raise DatabaseNotFound(f"no database {db!r}") from None
            raise StoreUnavailable(
                f"no server holding database {db!r} answered (is a quorum of it up?)"
            ) from None

    def _exists(self, db: str, *, fresh: bool = False) -> bool:
        if not fresh and db in self._known:
            return True
        try:
            self._conn.call(self._conn.api(f"STREAM.INFO.{self._db(db).layout.stream_name}"))
        except ApiError as exc:
            if exc.code == _STREAM_NOT_FOUND:
                self._known.discard(db)
                return False
            raise
        except NoStream:
            raise StoreUnavailable("the JetStream API did not answer") from None
        self._known.add(db)
        return True

    # -- databases ------------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        layout = self._db(name).layout
        config = {
            "name": layout.stream_name,
            "subjects": [layout.all],
            "retention": "limits",
            "storage": "file",
            "num_replicas": self.replicas,
            "discard": "old",
            "allow_direct": True,
            "allow_atomic": True,
            "allow_rollup_hdrs": True,
            "deny_delete": True,
            "description": f"SAFE EventStore database {name!r}",
            # a fresh value, so that of two racing creators only one succeeds
            "metadata": {
                "safe_eventstore.format": "1",
                "safe_eventstore.database": name,
                "safe_eventstore.created": os.urandom(8).hex(),
            },
        }
        try:
            self._conn.call(self._conn.api(f"STREAM.CREATE.{layout.stream_name}", config))
        except ApiError as exc:
            if exc.code == _STREAM_NAME_IN_USE:
                raise DatabaseExists(f"database {name!r} exists") from None
            raise
        except NoStream:
            raise StoreUnavailable("the JetStream API did not answer (is JetStream on?)") from None
        self._known.add(name)

    def list_databases(self) -> list[str]:
        return self._conn.call(self._list_databases(), timeout=self.timeout * 6)

    async def _list_databases(self) -> list[str]:
        names: list[str] = []
        offset = 0
        while True:
            resp = await self._conn.api("STREAM.NAMES", {"offset": offset})
            page = resp.get("streams") or []
            names.extend(page)
            offset += len(page)
            if not page or offset >= int(resp.get("total", 0)):
                break
        start = f"{self.prefix}_"
        return sorted(n[len(start) :] for n in names if n.startswith(start))

    def has_database(self, name: str) -> bool:
        return self._exists(name)

    # -- appending ------------------------------------------------------------------------------

    def append(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        checkpoint: tuple[str, int] | None = None,
    ) -> list[AppendResult]:
        return self._run(db, self._append(self._db(db), writes, blobs, checkpoint))

    async def _append(
        self,
        d: _Db,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None,
    ) -> list[AppendResult]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        fresh = False
        pause = 0.002
        while True:
            try:
                return await self._attempt(d, writes, blobs, checkpoint, fresh)
            except _Retry as retry:
                if loop.time() >= deadline:
                    raise StoreUnavailable(
                        f"could not append within {self.timeout:g} s: {retry}"
                    ) from None
                if retry.wait or fresh:
                    await asyncio.sleep(pause * (0.5 + random.random()))
                    pause = min(pause * 2, 0.5)
                fresh = True

    async def _attempt(
        self,
        d: _Db,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None,
        fresh: bool,
    ) -> list[AppendResult]:
        layout = d.layout
        heads = await self._heads(d, [w.stream for w in writes], fresh)
        existing = await self._existing(d, writes) if fresh else {}
        plans: list[AppendResult | list[Entry]] = []
        for w in writes:
            try:
                plan = plan_append(
                    w.stream, heads[w.stream], w.expected, w.drafts, existing.get(w.stream, [])
                )
            except (WrongExpectedVersion, IdempotencyConflict):
                if fresh:
                    raise
                raise _Retry("the remembered stream head is out of date", wait=False) from None
            plans.append(plan)
        if all(isinstance(p, AppendResult) for p in plans):
            return [p for p in plans if isinstance(p, AppendResult)]

        # Entries first, then what only makes them whole (payloads, markers, the checkpoint):
        # the batch is stored as one, and a database's first entry sits at position 1.
        msgs: list[tuple[str, bytes, dict[str, str]]] = []
        extra: list[tuple[str, bytes, dict[str, str]]] = []
        wanted = {
            e.address for p in plans if not isinstance(p, AppendResult) for e in p if e.address
        }
        new = [a for a in wanted if a not in d.blobs]
        if fresh and new:
            stored = await self._stored_blobs(d, new)
            d.blobs.update(stored)
            new = [a for a in new if a not in stored]
        for address in new:
            chunks = split_payload(blobs[address], self._chunk)
            for n, chunk in enumerate(chunks):
                blob_headers = {EXPECT: "0"}
                if n == 0 and len(chunks) > 1:
                    blob_headers[CHUNKS] = str(len(chunks))
                extra.append((layout.blob(address, n), chunk, blob_headers))
        checkpoint_at = -1
        if checkpoint is not None:
            name, position = checkpoint
            stored_checkpoint = d.checkpoints.get(name) if not fresh else None
            if stored_checkpoint is None:
                stored_checkpoint = await self._checkpoint(d, name)
            value, seq = stored_checkpoint
            try:
                check_checkpoint(name, value if seq else None, position)
            except CheckpointConflict:
                if fresh:
                    raise
                raise _Retry("the remembered checkpoint is out of date", wait=False) from None
            checkpoint_at = len(extra)
            extra.append(
                (
                    layout.checkpoint(name),
                    str(position).encode(),
                    {"Nats-Rollup": "sub", EXPECT: str(seq)},
                )
            )
        placed: list[tuple[int, list[Entry], int]] = []  # (write, sealed entries, first msg)
        for n, (w, plan) in enumerate(zip(writes, plans, strict=True)):
            if isinstance(plan, AppendResult):
                continue
            head = heads[w.stream]
            if head is None:
                extra.append((layout.created(w.stream), w.stream.encode(), {EXPECT: "0"}))
            for e in plan:
                if e.kind == EVENT:
                    marker = layout.marker(w.stream, e.event_id)
                    extra.append((marker, str(e.version).encode(), {EXPECT: "0"}))
            events = head.version if head is not None else -1
            first = len(msgs)
            for k, e in enumerate(plan):
                if e.kind == EVENT:
                    events = e.version
                    subject = layout.event(w.stream, e.version)
                else:
                    subject = layout.restructure(w.stream, e.seq)
                data = encode_entry(e, events)
                if len(data) > self._chunk:
                    raise EventTooLarge(len(data), self._chunk)
                headers: dict[str, str] = {}
                if k == 0:
                    headers[EXPECT] = str(head.position if head is not None else 0)
                    headers[EXPECT_ON] = layout.stream_entries(w.stream)
                msgs.append((subject, data, headers))
            placed.append((n, plan, first))

        entry_count = len(msgs)
        msgs.extend(extra)
        try:
            ack = await self._conn.publish_batch(msgs)
        except ApiError as exc:
            if exc.code in _CONFLICTS:
                raise _Retry(exc.description, wait=False) from None
            if exc.code == _BATCH_TOO_LARGE:
                raise InvalidEvent(
                    f"this batch takes {len(msgs)} NATS messages, more than the server "
                    f"commits at once ({exc.description}); split it"
                ) from None
            raise _Retry(exc.description, wait=True) from None
        except (StoreUnavailable, NoStream) as exc:
            raise _Retry(str(exc), wait=True) from None

        last_seq = int(ack["seq"])
        d.observe(last_seq)
        base = last_seq - len(msgs) + 1
        d.blobs.update(new)
        if checkpoint is not None:
            d.checkpoints[checkpoint[0]] = (checkpoint[1], base + entry_count + checkpoint_at)
        by_write: dict[int, AppendResult] = {}
        for n, plan, first in placed:
            for k, e in enumerate(plan):
                e.position = base + first + k
            head = heads[writes[n].stream]
            versions = [e.version for e in plan if e.kind == EVENT]
            version = versions[-1] if versions else (head.version if head is not None else -1)
            last = plan[-1]
            d.remember(writes[n].stream, Head(last.seq, version, last.hash, last.position))
            by_write[n] = result_of(plan)
        return [p if isinstance(p, AppendResult) else by_write[n] for n, p in enumerate(plans)]

    async def _heads(self, d: _Db, streams: list[str], fresh: bool) -> dict[str, Head | None]:
        heads: dict[str, Head | None] = {}
        missing = []
        for s in streams:
            cached = None if fresh else d.heads.get(s)
            if cached is None:
                missing.append(s)
            else:
                heads[s] = cached
        found = await asyncio.gather(*(self._head(d, s) for s in missing))
        heads.update(zip(missing, found, strict=True))
        return heads

    async def _head(self, d: _Db, stream: str) -> Head | None:
        msg = await self._conn.get_last(
            d.layout.stream_name, d.layout.stream_entries(stream), d.seen
        )
        if msg is None:
            d.heads.pop(stream, None)
            return None
        position = _seq(msg)
        d.observe(position)
        entry, events = decode_entry(msg.data, position)
        head = Head(entry.seq, events, entry.hash, position)
        d.remember(stream, head)
        return head

    async def _existing(self, d: _Db, writes: list[Write]) -> dict[str, list[Entry]]:
        """The stored entries of the events the writes repeat, found by their markers."""
        layout = d.layout
        subjects = {
            layout.marker(w.stream, x.event_id): w.stream
            for w in writes
            for x in w.drafts
            if x.kind == EVENT
        }
        markers = await self._multi(d, list(subjects))
        found = [(subjects[_subject(m)], int(m.data)) for m in markers]
        if not found:
            return {}
        entries = await self._multi(d, [layout.event(s, v) for s, v in found])
        existing: dict[str, list[Entry]] = {}
        for msg in entries:
            entry, _ = decode_entry(msg.data, _seq(msg))
            existing.setdefault(entry.stream, []).append(entry)
        return existing

    async def _stored_blobs(self, d: _Db, addresses: list[bytes]) -> set[bytes]:
        layout = d.layout
        msgs = await self._multi(d, [layout.blob(a, 0) for a in addresses])
        return {bytes.fromhex(_subject(m).split(".")[-2]) for m in msgs}

    async def _multi(self, d: _Db, subjects: list[str]) -> list[Msg]:
        """The last message of each subject (where there is one), in any order."""
        groups = [subjects[i : i + MULTI] for i in range(0, len(subjects), MULTI)]
        pages = await asyncio.gather(*(self._multi_group(d, g) for g in groups))
        return [m for page in pages for m in page]

    async def _multi_group(self, d: _Db, subjects: list[str]) -> list[Msg]:
        try:
            msgs = await self._conn.get_batch(
                d.layout.stream_name, {"multi_last": subjects, "batch": len(subjects) * 64}
            )
        except TooMany:
            if len(subjects) == 1:
                raise StorageError(f"too many messages on {subjects[0]}") from None
            half = len(subjects) // 2
            return await self._multi(d, subjects[:half]) + await self._multi(d, subjects[half:])
        for m in msgs:
            d.observe(_seq(m))
        return msgs

    async def _checkpoint(self, d: _Db, name: str) -> tuple[int, int]:
        """A checkpoint's value and the sequence of the message holding it (0, 0 if none)."""
        msg = await self._conn.get_last(d.layout.stream_name, d.layout.checkpoint(name), d.seen)
        if msg is None:
            d.checkpoints.pop(name, None)
            return (0, 0)
        seq = _seq(msg)
        d.observe(seq)
        value = (int(msg.data), seq)
        d.checkpoints[name] = value
        return value

    # -- reading --------------------------------------------------------------------------------

    def head(self, db: str, stream: str) -> Head | None:
        d = self._db(db)
        return self._run(db, self._head(d, stream))

    def read_stream(
        self, db: str, stream: str, *, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        d = self._db(db)
        return self._run(db, self._read_stream(d, stream, from_version, limit, backwards))

    async def _read_stream(
        self, d: _Db, stream: str, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        if limit <= 0:
            return []
        scope = d.layout.scope(stream=stream, category=None, kind="e")
        if backwards:
            last = await self._conn.get_last(d.layout.stream_name, scope, d.seen)
            if last is None:
                return []
            top = min(from_version, decode_entry(last.data, _seq(last))[0].version)
            if top < 0:
                return []
            low = max(0, top - limit + 1)
            start = await self._event_position(d, stream, low)
            if start is None:
                return []
            entries = await self._scan(d, scope, start, top - low + 1)
            entries = [e for e in entries if e.version <= top]
            entries.reverse()
        else:
            start = await self._event_position(d, stream, max(from_version, 0))
            if start is None:
                return []
            entries = await self._scan(d, scope, start, limit)
            if entries:
                last_entry = entries[-1]
                d.cursor((stream, "v", last_entry.version + 1), last_entry.position + 1)
        await self._attach(d, entries)
        return entries

    async def _event_position(self, d: _Db, stream: str, version: int) -> int | None:
        hint = d.cursors.pop((stream, "v", version), None)
        if hint is not None:
            return hint
        if version == 0:
            return 1
        subject = d.layout.event(stream, version)
        msg = await self._conn.get_last(d.layout.stream_name, subject, d.seen)
        return None if msg is None else _seq(msg)

    def read_entries(self, db: str, stream: str, *, from_seq: int, limit: int) -> list[Entry]:
        return self._run(db, self._read_entries(self._db(db), stream, from_seq, limit))

    async def _read_entries(self, d: _Db, stream: str, from_seq: int, limit: int) -> list[Entry]:
        if limit <= 0:
            return []
        start = await self._entry_position(d, stream, max(from_seq, 0))
        if start is None:
            return []
        entries = await self._scan(d, d.layout.stream_entries(stream), start, limit)
        if entries:
            last = entries[-1]
            d.cursor((stream, "s", last.seq + 1), last.position + 1)
        await self._attach(d, entries)
        return entries

    async def _entry_position(self, d: _Db, stream: str, seq: int) -> int | None:
        hint = d.cursors.pop((stream, "s", seq), None)
        if hint is not None:
            return hint
        if seq == 0:
            return 1
        scope = d.layout.scope(stream=stream, category=None, kind="r")
        restructures = await self._scan(d, scope, 1, 1 << 62)
        for r in restructures:
            if r.seq == seq:
                return r.position
        return await self._event_position(d, stream, seq - sum(r.seq < seq for r in restructures))

    def read_all(
        self,
        db: str,
        *,
        from_position: int,
        limit: int,
        stream: str | None = None,
        category: str | None = None,
        types: tuple[str, ...] | None = None,
        restructures: bool = False,
    ) -> list[Entry]:
        d = self._db(db)
        kind = "*" if restructures else "e"
        scope = d.layout.scope(stream=stream, category=category, kind=kind)
        keep: Callable[[Entry], bool] | None = None
        if types is not None:
            wanted = set(types)

            def keep(e: Entry) -> bool:
                return e.kind == RESTRUCTURE or e.type in wanted

        return self._run(db, self._read_all(d, scope, max(from_position, 1), limit, keep))

    async def _read_all(
        self,
        d: _Db,
        scope: str,
        start: int,
        limit: int,
        keep: Callable[[Entry], bool] | None,
    ) -> list[Entry]:
        if limit <= 0:
            return []
        entries = await self._scan(d, scope, start, limit, keep)
        await self._attach(d, entries)
        return entries

    def restructures(self, db: str, stream: str | None = None) -> list[Entry]:
        d = self._db(db)
        scope = d.layout.scope(stream=stream, category=None, kind="r")
        return self._run(db, self._read_all(d, scope, 1, 1 << 62, None))

    async def _scan(
        self,
        d: _Db,
        scope: str,
        start: int,
        limit: int,
        keep: Callable[[Entry], bool] | None = None,
    ) -> list[Entry]:
        """Up to ``limit`` entries on ``scope`` from position ``start``, in position order."""
        out: list[Entry] = []
        while len(out) < limit:
            want = PAGE if keep is not None else min(PAGE, limit - len(out))
            msgs = await self._conn.get_batch(
                d.layout.stream_name,
                {"seq": start, "batch": want, "next_by_subj": scope, "min_last_seq": d.seen},
            )
            for msg in msgs:
                entry, _ = decode_entry(msg.data, _seq(msg))
                if keep is None or keep(entry):
                    out.append(entry)
                    if len(out) >= limit:
                        break
            if not msgs:
                break
            last = _seq(msgs[-1])
            d.observe(last)
            if _pending(msgs[-1]) == 0:
                break
            start = last + 1
        return out

    async def _attach(self, d: _Db, entries: Iterable[Entry]) -> None:
        """Fill in the entries' payloads, each distinct one fetched once."""
        entries = list(entries)
        addresses = list({e.address for e in entries if e.address is not None})
        if not addresses:
            return
        payloads = await self._payloads(d, addresses)
        for e in entries:
            if e.address is not None:
                e.payload = payloads.get(e.address)

    async def _payloads(self, d: _Db, addresses: list[bytes]) -> dict[bytes, bytes]:
        layout = d.layout
        msgs = await self._multi(d, [layout.blob(a, "*") for a in addresses])
        chunks: dict[bytes, dict[int, bytes]] = {}
        for m in msgs:
            _, _, hexed, chunk = _subject(m).rsplit(".", 3)
            chunks.setdefault(bytes.fromhex(hexed), {})[int(chunk)] = m.data
        payloads: dict[bytes, bytes] = {}
        for address, parts in chunks.items():
            if len(parts) == 1 and 0 in parts:
                payloads[address] = parts[0]
            elif set(parts) == set(range(len(parts))):
                payloads[address] = b"".join(parts[n] for n in range(len(parts)))
        d.blobs.update(payloads)
        return payloads

    def last_position(self, db: str) -> int:
        d = self._db(db)
        return self._run(db, self._last_position(d))

    async def _last_position(self, d: _Db) -> int:
        msg = await self._conn.get_last(d.layout.stream_name, d.layout.entries, d.seen)
        if msg is None:
            return 0
        seq = _seq(msg)
        d.observe(seq)
        return seq

    # -- listings, payloads, statistics -----------------------------------------------------------

    async def _list(self, d: _Db) -> None:
        """Bring the sorted stream listing up to date from the stream markers stored since."""
        while True:
            msgs = await self._conn.get_batch(
                d.layout.stream_name,
                {
                    "seq": d.listed + 1,
                    "batch": PAGE,
                    "next_by_subj": d.layout.streams,
                    "min_last_seq": d.seen,
                },
            )
            for msg in msgs:
                name = msg.data.decode()
                i = bisect.bisect_left(d.names, name)
                if i == len(d.names) or d.names[i] != name:
                    d.names.insert(i, name)
                    bisect.insort(d.categories.setdefault(category_of(name), []), name)
            if not msgs:
                return
            d.listed = _seq(msgs[-1])
            d.observe(d.listed)
            if _pending(msgs[-1]) == 0:
                return

    def list_categories(self, db: str) -> list[str]:
        d = self._db(db)
        self._run(db, self._list(d))
        return sorted(d.categories)

    def list_streams(
        self, db: str, *, category: str | None, after: str | None, limit: int
    ) -> list[str]:
        d = self._db(db)
        self._run(db, self._list(d))
        names = d.categories.get(category, []) if category is not None else d.names
        start = bisect.bisect_right(names, after) if after is not None else 0
        return names[start : start + limit]

    async def _count(self, d: _Db) -> None:
        """Bring the statistics up to date from the entries stored since they were counted."""
        tally = d.tally or dict.fromkeys(("events", "restructures", "logical", "stored"), 0)
        d.tally = tally
        while True:
            msgs = await self._conn.get_batch(
                d.layout.stream_name,
                {
                    "seq": d.tallied + 1,
                    "batch": PAGE,
                    "next_by_subj": d.layout.entries,
                    "min_last_seq": d.seen,
                },
            )
            for msg in msgs:
                e, _ = decode_entry(msg.data, _seq(msg))
                tally["events" if e.kind == EVENT else "restructures"] += 1
                tally["logical"] += e.size
                if e.address is not None and e.address not in d.addresses:
                    d.addresses.add(e.address)
                    d.sorted_addresses = None
                    tally["stored"] += e.size
            if not msgs:
                break
            d.tallied = _seq(msgs[-1])
            d.observe(d.tallied)
            if _pending(msgs[-1]) == 0:
                break
        await self._list(d)

    def read_blobs(self, db: str, *, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        d = self._db(db)
        return self._run(db, self._read_blobs(d, after, limit))

    async def _read_blobs(
        self, d: _Db, after: bytes | None, limit: int
    ) -> list[tuple[bytes, bytes]]:
        await self._count(d)
        if d.sorted_addresses is None:
            d.sorted_addresses = sorted(d.addresses)
        addresses = d.sorted_addresses
        start = bisect.bisect_right(addresses, after) if after is not None else 0
        chosen = addresses[start : start + limit]
        payloads = await self._payloads(d, chosen)
        return [(a, payloads[a]) for a in chosen if a in payloads]

    def stats(self, db: str) -> dict[str, int]:
        d = self._db(db)
        self._run(db, self._count(d))
        return {
            "events": d.tally["events"],
            "streams": len(d.names),
            "restructures": d.tally["restructures"],
            "payloads": len(d.addresses),
            "logical_payload_bytes": d.tally["logical"],
            "stored_payload_bytes": d.tally["stored"],
        }

    # -- checkpoints ----------------------------------------------------------------------------

    def get_checkpoint(self, db: str, name: str) -> int | None:
        d = self._db(db)
        value, seq = self._run(db, self._checkpoint(d, name))
        return value if seq else None

    def save_checkpoint(self, db: str, name: str, position: int) -> None:
        d = self._db(db)
        self._run(db, self._save_checkpoint(d, name, position))

    async def _save_checkpoint(self, d: _Db, name: str, position: int) -> None:
        ack = await self._conn.publish(
            d.layout.checkpoint(name), str(position).encode(), {"Nats-Rollup": "sub"}
        )
        seq = int(ack["seq"])
        d.observe(seq)
        d.checkpoints[name] = (position, seq)

    # -- waiting for appends --------------------------------------------------------------------

    def wait(self, db: str, position: int, timeout: float) -> bool:
        d = self._db(db)
        deadline = time.monotonic() + timeout
        watcher = d.watcher
        if watcher is None:
            watcher = self._run(db, self._watch(d))
        with watcher.cond:
            while watcher.last <= position:
                if self._conn.closed:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                watcher.cond.wait(remaining)
        return not self._conn.closed

    async def _watch(self, d: _Db) -> _Watcher:
        if d.watcher is not None:
            return d.watcher
        watcher = _Watcher()
        watcher.last = await self._last_position(d)

        async def seen(msg: Msg) -> None:
            seq = _seq(msg)
            d.observe(seq)
            with watcher.cond:
                if seq > watcher.last:
                    watcher.last = seq
                    watcher.cond.notify_all()

        from nats.js.api import ConsumerConfig, DeliverPolicy

        js = self._conn.nc.jetstream()
        watcher.sub = await js.subscribe(
            d.layout.entries,
            stream=d.layout.stream_name,
            cb=seen,
            ordered_consumer=True,
            headers_only=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=watcher.last + 1,
            ),
        )
        d.watcher = watcher
        return watcher

    def close(self) -> None:
        watchers = [d.watcher for d in self._dbs.values() if d.watcher is not None]
        self._conn.close()
        for watcher in watchers:
            with watcher.cond:
                watcher.cond.notify_all()
