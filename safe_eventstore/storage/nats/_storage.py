"""The NATS JetStream backend: one JetStream stream per database. See docs/nats-mapping.md."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar
from urllib.parse import unquote

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from ..._exceptions import (
    AppendOutcomeUnknown,
    DatabaseExists,
    DatabaseNotFound,
    InvalidURL,
    StoreUnavailable,
)
from ..._model import AppendCondition, AppendResult, Query
from ..base import (
    Entry,
    Head,
    LeaseRecord,
    Storage,
    Write,
    page_after,
    read_all_filter,
    statistics,
)
from ._append import CONFLICTS, Appender, Retry, outcome_unknown
from ._append import EXPECT as EXPECT_SEQ
from ._connection import ApiError, Connection, NoStream
from ._keys import KEYS_SUFFIX, SETTINGS, KeyStore
from ._leases import Leases
from ._names import Layout, check_prefix, name_header
from ._reads import Reader
from ._records import decode_entry
from ._state import DbState, Watcher, seq_of

__all__ = ["NatsStorage"]

R = TypeVar("R")
STREAM_NOT_FOUND = 10059
STREAM_NAME_IN_USE = 10058
# a cluster without enough servers up to place a stream's replicas (often a passing state)
NO_SUITABLE_PEERS = 10005


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
        raise InvalidURL(f"option {key} must be from {low:g} to {high:g}, not {value!r}")
    return number


class NatsStorage(Storage):
    """Storage in NATS JetStream: one server or a cluster, shared by any number of processes.

    Options (URL query or keywords of :func:`safe_eventstore.open`):

    ``replicas``
        copies of each new database the cluster keeps (1 to 5; default 1)
    ``prefix``
        starts every JetStream stream name and subject of this store (default ``ses``), so
        that several stores can share one NATS system
    ``timeout``
        seconds to wait for each request, and for an append's retries (default 10)

    ::

        store = ses.open("nats://10.0.0.1:4222,10.0.0.2:4222?replicas=3&prefix=shop")
    """

    shared_across_processes = True

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        servers = _servers(url)
        self.prefix = check_prefix(options.pop("prefix", "ses"))
        replicas = _number(options, "replicas", 1, 1, 5)
        if replicas != int(replicas):
            raise InvalidURL(f"option replicas must be a whole number, not {replicas:g}")
        self.replicas = int(replicas)
        self.timeout = _number(options, "timeout", 10.0, 0.1, 3600.0)
        self._conn = Connection(servers, timeout=self.timeout, connect_timeout=min(self.timeout, 5))
        # a message holds its headers too: leave them room
        limit = self._conn.nc.max_payload
        chunk = max(limit - 8192, limit // 2)
        self._reader = Reader(self._conn)
        self._appender = Appender(self._reader, chunk=chunk, timeout=self.timeout)
        self._leases = Leases(self._conn)
        self._dbs: dict[str, DbState] = {}
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<NatsStorage prefix={self.prefix!r} replicas={self.replicas}>"

    # -- plumbing ---------------------------------------------------------------------------------

    def _db(self, name: str) -> DbState:
        d = self._dbs.get(name)
        if d is None:
            with self._lock:
                d = self._dbs.setdefault(name, DbState(Layout(self.prefix, name)))
        return d

    def _run(
        self,
        db: str,
        work: Callable[[DbState], Coroutine[Any, Any, R]],
        queued: Callable[[], asyncio.Future[R]] | None = None,
    ) -> R:
        """Run ``work`` on the event loop (or ``queued``: see :meth:`Connection.call`); no
        answer from the database's stream means it does not exist, or that no quorum of
        its servers is up."""
        try:
            # each request has its own timeout
            return self._conn.call(work(self._db(db)), queued=queued)
        except NoStream:
            if not self._exists(db, fresh=True):
                raise DatabaseNotFound(f"no database {db!r}") from None
            raise StoreUnavailable(
                f"no server holding database {db!r} answered (is a quorum of them up?)"
            ) from None

    def _exists(self, db: str, *, fresh: bool = False) -> bool:
        if not fresh and db in self._known:
            return True
        d = self._db(db)
        try:
            info = self._conn.call(self._conn.api(f"STREAM.INFO.{d.layout.stream_name}"))
        except ApiError as exc:
            if exc.code == STREAM_NOT_FOUND:
                self._known.discard(db)
                return False
            raise
        except NoStream:
            raise StoreUnavailable("the JetStream API did not answer (is JetStream on?)") from None
        d.replicas = int(info.get("config", {}).get("num_replicas") or 1)
        self._known.add(db)
        return True

    # -- databases --------------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        self._create(name, None)

    def create_database_with(self, name: str, settings: dict[str, str]) -> None:
        # the key stream first: the database appears with somewhere to keep its keys
        self._call(KeyStore(self._conn, self._db(name).layout).create(self.replicas))
        self._create(name, settings)

    def _create(self, name: str, settings: dict[str, str] | None) -> None:
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
            # message ids only chain the messages of one append: keep them briefly
            "duplicate_window": 1_000_000_000,
            "description": f"SAFE EventStore database {name}",
            "metadata": {
                "safe_eventstore.format": "1",
                "safe_eventstore.database": name,
                # differs between two racing creators, so that only one of them succeeds
                "safe_eventstore.created": os.urandom(8).hex(),
            },
        }
        if settings is not None:
            config["metadata"][SETTINGS] = json.dumps(settings)  # type: ignore[index]
        try:
            self._create_stream(layout.stream_name, config)
        except ApiError as exc:
            if exc.code == STREAM_NAME_IN_USE:
                raise DatabaseExists(f"database {name!r} exists") from None
            raise
        except NoStream:
            raise StoreUnavailable("the JetStream API did not answer (is JetStream on?)") from None
        self._db(name).replicas = self.replicas
        self._known.add(name)
        self._await_ready(name)

    def _create_stream(self, stream: str, config: dict[str, Any]) -> None:
        """Create the stream; while a cluster reports too few servers to place its replicas
        (a server missed its heartbeats under load, or is restarting), try again until the
        connection's timeout, then let the error through."""
        deadline = time.monotonic() + self._conn.timeout
        pause = 0.05
        while True:
            try:
                self._conn.call(self._conn.api(f"STREAM.CREATE.{stream}", config))
                return
            except ApiError as exc:
                if exc.code != NO_SUITABLE_PEERS or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _await_ready(self, name: str) -> None:
        """Return once the new database's stream answers reads. A replicated stream exists
        before its servers serve it (its leader is elected, its replicas subscribe), and
        until then nothing answers: a database is ready when ``create_database`` returns,
        also on a cluster under load."""
        d = self._db(name)
        limit = self._conn.timeout
        deadline = time.monotonic() + limit
        while True:
            try:
                self._conn.call(self._reader.last_position(d))
                return
            except NoStream:
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        f"database {name!r} was created, but no server served it within "
                        f"{limit:g} s (is a quorum of them up?)"
                    ) from None
                time.sleep(0.02)

    def _call(self, work: Coroutine[Any, Any, R]) -> R:
        try:
            return self._conn.call(work)
        except NoStream:
            raise StoreUnavailable("the JetStream API did not answer (is JetStream on?)") from None

    # -- settings and wrapped data keys (encrypted databases) -------------------------------------

    def database_settings(self, name: str) -> dict[str, str]:
        stream = self._db(name).layout.stream_name
        try:
            info = self._call(self._conn.api(f"STREAM.INFO.{stream}"))
        except ApiError as exc:
            if exc.code == STREAM_NOT_FOUND:
                raise DatabaseNotFound(f"no database {name!r}") from None
            raise
        stored = (info.get("config", {}).get("metadata") or {}).get(SETTINGS)
        return dict(json.loads(stored)) if stored else {}

    def _keys(self, db: str) -> KeyStore:
        return KeyStore(self._conn, self._db(db).layout)

    def add_key(self, db: str, scope: str, wrapped: bytes) -> bytes:
        return self._call(self._keys(db).add(scope, wrapped))

    def read_keys(self, db: str, scopes: Iterable[str] | None = None) -> dict[str, bytes]:
        wanted = None if scopes is None else list(scopes)
        return self._call(self._keys(db).read(wanted))

    def replace_keys(self, db: str, wrapped: dict[str, bytes]) -> None:
        self._call(self._keys(db).replace(wrapped))

    def destroy_key(self, db: str, scope: str) -> bool:
        return self._call(self._keys(db).destroy(scope))

    def list_databases(self) -> list[str]:
        try:
            return self._conn.call(self._list_databases())
        except NoStream:
            raise StoreUnavailable("the JetStream API did not answer (is JetStream on?)") from None

    async def _list_databases(self) -> list[str]:
        names: list[str] = []
        while True:
            resp = await self._conn.api("STREAM.NAMES", {"offset": len(names)})
            page = resp.get("streams") or []
            names.extend(page)
            if not page or len(names) >= int(resp.get("total", 0)):
                break
        start = f"{self.prefix}_"
        # a database's key stream (upper case) has a name no database can have
        return sorted(
            n[len(start) :] for n in names if n.startswith(start) and not n.endswith(KEYS_SUFFIX)
        )

    def has_database(self, name: str) -> bool:
        return self._exists(name)

    # -- the storage contract ---------------------------------------------------------------------

    def append(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        checkpoint: tuple[str, int] | None = None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        d = self._db(db)
        request = self._appender.request(writes, blobs, checkpoint, condition)
        queued = None
        if d.replicas is not None:
            queued = functools.partial(self._appender.submit, d, request)
        try:
            try:
                return self._run(db, lambda d: self._appender.append(d, request), queued)
            except Retry:  # its group commit failed: now alone, on fresh state
                return self._run(db, lambda d: self._appender.alone(d, request))
        except StoreUnavailable as exc:
            if request.unsure and not isinstance(exc, AppendOutcomeUnknown):
                raise outcome_unknown(str(exc)) from None
            raise

    def head(self, db: str, stream: str) -> Head | None:
        return self._run(db, lambda d: self._reader.head(d, stream))

    def read_stream(
        self, db: str, stream: str, *, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        return self._run(
            db, lambda d: self._reader.read_stream(d, stream, from_version, limit, backwards)
        )

    def read_entries(self, db: str, stream: str, *, from_seq: int, limit: int) -> list[Entry]:
        return self._run(db, lambda d: self._reader.read_entries(d, stream, from_seq, limit))

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
        backwards: bool = False,
    ) -> list[Entry]:
        # the subject scope selects the stream or category; the filter, kinds and types
        keep = read_all_filter(types=types, restructures=restructures)

        def work(d: DbState) -> Coroutine[Any, Any, list[Entry]]:
            scope = d.layout.scope(stream=stream, category=category)
            if backwards:
                return self._reader.read_back(d, scope, from_position, limit, keep)
            return self._reader.read(d, scope, max(from_position, 1), limit, keep)

        return self._run(db, work)

    def read_query(self, db: str, query: Query, *, from_position: int, limit: int) -> list[Entry]:
        return self._run(
            db, lambda d: self._reader.read_query(d, query, max(from_position, 1), limit)
        )

    def restructures(self, db: str, stream: str | None = None) -> list[Entry]:
        return self._run(db, lambda d: self._reader.restructures(d, stream))

    def last_position(self, db: str) -> int:
        return self._run(db, self._reader.last_position)

    def list_categories(self, db: str) -> list[str]:
        d = self._db(db)
        self._run(db, self._reader.list)
        return sorted(d.categories)

    def list_streams(
        self, db: str, *, category: str | None, after: str | None, limit: int
    ) -> list[str]:
        d = self._db(db)
        self._run(db, self._reader.list)
        names = d.categories.get(category, []) if category is not None else d.names
        return page_after(names, after, limit)

    def read_blobs(self, db: str, *, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        return self._run(db, lambda d: self._reader.read_blobs(d, after, limit))

    def stats(self, db: str) -> dict[str, int]:
        d = self._db(db)
        self._run(db, self._reader.count)
        return statistics(
            events=d.tally["events"],
            streams=len(d.names),
            restructures=d.tally["restructures"],
            payloads=len(d.addresses),
            logical_payload_bytes=d.tally["logical"],
            stored_payload_bytes=d.tally["stored"],
        )

    def get_checkpoint(self, db: str, name: str) -> int | None:
        value, _ = self._run(db, lambda d: self._reader.checkpoint(d, name))
        return value

    def save_checkpoint(self, db: str, name: str, position: int) -> None:
        async def save(d: DbState) -> None:
            headers = {"Nats-Rollup": "sub", **name_header(name)}
            ack = await self._conn.publish(
                d.layout.checkpoint(name), str(position).encode(), headers
            )
            seq = int(ack["seq"])
            d.observe(seq)
            d.checkpoints[name] = (position, seq)

        self._run(db, save)

    def list_checkpoints(self, db: str) -> dict[str, int]:
        return self._run(db, self._reader.checkpoints)

    def delete_checkpoint(self, db: str, name: str) -> bool:
        async def delete(d: DbState) -> bool:
            # An empty message in its place (the stream denies deletes): expected to follow
            # the value read, so that of two racing deletes only one reports one deleted.
            while True:
                value, seq = await self._reader.checkpoint(d, name)
                if value is None:
                    return False
                headers = {"Nats-Rollup": "sub", EXPECT_SEQ: str(seq), **name_header(name)}
                try:
                    ack = await self._conn.publish(d.layout.checkpoint(name), b"", headers)
                except ApiError as exc:
                    if exc.code in CONFLICTS:
                        continue
                    raise
                seq = int(ack["seq"])
                d.observe(seq)
                d.checkpoints[name] = (None, seq)
                return True

        return self._run(db, delete)

    # -- leases -----------------------------------------------------------------------------------

    def take_lease(
        self, db: str, name: str, owner: str, ttl: float, info: bytes, now: int
    ) -> LeaseRecord | None:
        return self._run(db, lambda d: self._leases.take(d, name, owner, ttl, info, now))

    def release_lease(self, db: str, name: str, owner: str) -> bool:
        return self._run(db, lambda d: self._leases.release(d, name, owner))

    def read_leases(self, db: str, name: str | None = None) -> list[LeaseRecord]:
        return self._run(db, lambda d: self._leases.read(d, name))

    # -- waiting for appends ----------------------------------------------------------------------

    def wait(self, db: str, position: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        watcher = self._db(db).watcher or self._run(db, self._watch)
        with watcher.cond:
            while watcher.last <= position:
                remaining = deadline - time.monotonic()
                if self._conn.closed or remaining <= 0:
                    return False
                watcher.cond.wait(remaining)
        return not self._conn.closed

    async def _watch(self, d: DbState) -> Watcher:
        """Follow the database's entries with an ordered push consumer (headers only): each
        stored entry wakes the threads waiting for it; nothing polls."""
        if d.watcher is not None:
            return d.watcher
        watcher = Watcher()
        watcher.last = await self._reader.last_position(d)

        async def stored(msg: Msg) -> None:
            seq = seq_of(msg)
            d.observe(seq)
            with watcher.cond:
                if seq > watcher.last:
                    watcher.last = seq
                    watcher.cond.notify_all()

        watcher.sub = await self._conn.nc.jetstream().subscribe(
            d.layout.entries,
            stream=d.layout.stream_name,
            cb=stored,
            ordered_consumer=True,
            headers_only=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=watcher.last + 1
            ),
        )
        d.watcher = watcher
        self._conn.followed = True  # its deliveries should not wait long for the loop
        return watcher

    # -- for references that read a database's stream without the store ----------------------------

    def entries_of(self, db: str) -> tuple[str, str]:
        """The JetStream stream of a database, and the subject filter of its entries."""
        layout = self._db(db).layout
        return layout.stream_name, layout.entries

    @staticmethod
    def entry_of(data: bytes, position: int) -> Entry:
        """The entry a stored entry message holds, placed at ``position``."""
        return decode_entry(data, position)[0]

    def close(self) -> None:
        watchers = [d.watcher for d in self._dbs.values() if d.watcher is not None]
        self._conn.close()
        for watcher in watchers:
            with watcher.cond:
                watcher.cond.notify_all()
