"""The embedded default: a directory holding one SQLite file per database.

Layout: ``<dir>/safe-eventstore.json`` marks the directory as a store; ``<dir>/<db>.sqlite3``
holds one database in WAL mode. Appends run in ``BEGIN IMMEDIATE`` transactions, so the
expected-version check and the write are one step under SQLite's write lock, and positions
are assigned in commit order. See docs/storage-format.md.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import starmap
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import msgspec

from .._exceptions import (
    DatabaseExists,
    DatabaseNotFound,
    InvalidURL,
    StorageError,
    StoreClosed,
    StoreUnavailable,
)
from .._model import AppendCondition, AppendResult, Query
from .._names import category_of
from .base import (
    EVENT,
    Entry,
    Head,
    Storage,
    Write,
    check_checkpoint,
    check_condition,
    plan_append,
    result_of,
)
from .group_commit import GroupCommit, Request

__all__ = ["SqliteStorage"]

FORMAT = 1
MARKER = "safe-eventstore.json"
SUFFIX = ".sqlite3"
PING = ".sqlite3-ping"
P = ParamSpec("P")
R = TypeVar("R")

SCHEMA = """
CREATE TABLE entries (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    category TEXT NOT NULL,
    event_id BLOB NOT NULL,
    type TEXT,
    correlation_id BLOB,
    causation_id BLOB,
    timestamp INTEGER NOT NULL,
    metadata BLOB NOT NULL,
    tags TEXT,
    address BLOB,
    codec TEXT,
    size INTEGER NOT NULL,
    prev_hash BLOB,
    hash BLOB NOT NULL
);
CREATE UNIQUE INDEX entries_stream_seq ON entries (stream, seq);
CREATE INDEX entries_category ON entries (category, position);
CREATE INDEX entries_event_id ON entries (event_id);
CREATE INDEX entries_restructures ON entries (position) WHERE kind = 1;
CREATE INDEX entries_stream_restructures ON entries (stream, position) WHERE kind = 1;
CREATE TABLE streams (
    name TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    last_version INTEGER NOT NULL,
    last_hash BLOB NOT NULL,
    last_position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX streams_category ON streams (category, name);
CREATE TABLE payloads (
    id INTEGER PRIMARY KEY,
    address BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL
);
CREATE TABLE checkpoints (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;
"""
# Version 2: the tags of event entries, indexed for queries by tag.
TAGS = """
CREATE TABLE IF NOT EXISTS tags (
    tag TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (tag, position)
) WITHOUT ROWID;
INSERT OR IGNORE INTO tags (tag, position)
    SELECT j.value, e.position FROM entries e, json_each(e.tags) j
    WHERE e.tags IS NOT NULL AND e.kind = 0;
PRAGMA user_version = 2;
"""
# Version 3: each entry also names its payload's row, so reads join payloads on the row id
# (one lookup of an integer key) instead of on the 32-byte address (an index of random
# keys, then the row): about 1.3 us less per event read (docs/performance.md). The address
# stays the entry's reference in the hash chain and is what reads check the payload against.
PAYLOAD_IDS = """
ALTER TABLE entries ADD COLUMN payload INTEGER;
UPDATE entries SET payload = (SELECT p.id FROM payloads p WHERE p.address = entries.address)
    WHERE address IS NOT NULL;
PRAGMA user_version = 3;
"""
# Version 4: no index on (stream, version). Reading a stream by version rides the
# (stream, seq) index instead, since an event's seq is its version plus the number of
# restructure entries before it; one index fewer is one page fewer in each append's commit
# (W1 about 9 % faster, docs/performance.md). Versions stay unique: the append's checks
# decide them inside the write transaction, and verify checks their order.
NO_VERSION_INDEX = """
DROP INDEX IF EXISTS entries_stream_version;
PRAGMA user_version = 4;
"""
# Version 5: a stream's head is its last entry, flagged, instead of a row of its own. The
# streams table keeps only names and categories (written once, when a stream is created);
# each append flags its last entry and clears the flag of the entry it follows, which sits
# on a page the append writes anyway: one page fewer in each append's commit to an existing
# stream (docs/performance.md). The flag is the second record of where a stream ends, the
# job the head row did: an entry removed from a stream's end leaves no flagged entry after
# the chain's last (verify reports it).
HEAD_FLAGS = """
ALTER TABLE entries ADD COLUMN head INTEGER;
UPDATE entries SET head = 1 WHERE position IN (SELECT last_position FROM streams);
CREATE TABLE streams_v5 (name TEXT PRIMARY KEY, category TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO streams_v5 (name, category) SELECT name, category FROM streams;
DROP TABLE streams;
ALTER TABLE streams_v5 RENAME TO streams;
CREATE INDEX streams_category ON streams (category, name);
PRAGMA user_version = 5;
"""
# Version 6: only event ids that came from the caller are indexed. An id the store generated
# (a fresh UUIDv7) cannot name an earlier append, so no retry looks it up; entries carrying
# one are marked ``generated`` and left out of the index: one page fewer in each commit of
# appends without caller ids (docs/performance.md). Entries stored before stay indexed.
GENERATED_IDS = """
ALTER TABLE entries ADD COLUMN generated INTEGER;
CREATE INDEX entries_given_event_id ON entries (event_id) WHERE generated IS NULL;
DROP INDEX IF EXISTS entries_event_id;
PRAGMA user_version = 6;
"""
USER_VERSION = 6
_MIGRATIONS = (TAGS, PAYLOAD_IDS, NO_VERSION_INDEX, HEAD_FLAGS, GENERATED_IDS)

_COLUMNS = (
    "e.stream, e.seq, e.version, e.position, e.kind, e.event_id, e.type, e.correlation_id, "
    "e.causation_id, e.timestamp, e.metadata, e.tags, e.address, e.codec, p.data, e.size, "
    "e.prev_hash, e.hash"
)
_SELECT = f"SELECT {_COLUMNS} FROM entries e LEFT JOIN payloads p ON p.id = e.payload"
_tags_decoder = msgspec.json.Decoder(tuple[str, ...])


# What a read that decodes events needs: not the chain (prev_hash, hash) nor the size,
# which verification reads through read_entries. The row stops before them and Entry's
# defaults fill them in: three columns fewer a row.
_LIGHT_COLUMNS = (
    "e.stream, e.seq, e.version, e.position, e.kind, e.event_id, e.type, e.correlation_id, "
    "e.causation_id, e.timestamp, e.metadata, e.tags, e.address, e.codec, p.data"
)
_SELECT_LIGHT = f"SELECT {_LIGHT_COLUMNS} FROM entries e LEFT JOIN payloads p ON p.id = e.payload"


def _entries(rows: Iterable[tuple[Any, ...]]) -> list[Entry]:
    """The entries of rows of ``_COLUMNS`` or ``_LIGHT_COLUMNS`` (both in the order of
    Entry's fields; tags arrive as JSON, or NULL for none): built by ``starmap`` (a loop in
    C), then their tags put right."""
    entries = list(starmap(Entry, rows))
    for e in entries:
        raw: Any = e.tags
        e.tags = _tags_decoder.decode(raw) if raw else ()
    return entries


def _translated(exc: Exception) -> Exception:
    """The store's exception for a driver error (caused by it); others pass through."""
    if isinstance(exc, _WriteFailed):
        exc = exc.cause
    if not isinstance(exc, sqlite3.Error):
        return exc
    error: StorageError
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        error = StoreUnavailable(f"SQLite: {exc} (another writer held the lock)")
    else:
        error = StorageError(f"SQLite: {exc}")
    error.__cause__ = exc
    return error


def _query_sql(query: Query, from_position: int) -> tuple[str, list[Any]]:
    """The positions of the event entries at ``from_position`` or later that ``query``
    selects: one SELECT per item, driven by the tags index when the item names tags."""
    if not query.items:
        return "SELECT position FROM entries WHERE kind = 0 AND position >= ?", [from_position]
    parts: list[str] = []
    args: list[Any] = []
    for item in query.items:
        types = f" AND e.type IN ({','.join('?' * len(item.types))})" if item.types else ""
        if item.tags:
            first, *rest = item.tags
            joins = "".join(
                f" JOIN tags t{i} ON t{i}.tag = ? AND t{i}.position = t.position"
                for i in range(1, len(rest) + 1)
            )
            parts.append(
                f"SELECT t.position FROM tags t{joins}"
                " JOIN entries e ON e.position = t.position"
                f" WHERE t.tag = ? AND t.position >= ? AND e.kind = 0{types}"
            )
            args.extend([*rest, first, from_position, *item.types])
        else:
            parts.append(
                f"SELECT e.position FROM entries e WHERE e.position >= ? AND e.kind = 0{types}"
            )
            args.extend([from_position, *item.types])
    return " UNION ".join(parts), args


def _translate(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn driver errors into the store's exception tree."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            raise _translated(exc) from exc

    return call


_AppendItem = tuple[list[Write], dict[bytes, bytes], tuple[str, int] | None, AppendCondition | None]
_AppendRequest = Request[_AppendItem, list[AppendResult]]


class _WriteFailed(Exception):
    """Writing rows that passed their checks failed; ``cause`` is the driver's error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Pending:
    """Rows of checked appends not yet written, and the position the next entry follows."""

    def __init__(self, position: int) -> None:
        self.position = self._written = position
        self.entries: list[tuple[Any, ...]] = []
        self.streams_new: list[tuple[str, str]] = []
        self.flags_off: list[tuple[int]] = []
        self.tags: list[tuple[str, int]] = []
        self.blobs: dict[bytes, bytes] = {}
        self.checkpoints: dict[str, int] = {}
        self.streams: set[str] = set()

    def add(
        self,
        writes: list[Write],
        entries: list[tuple[Any, ...]],
        streams_new: list[tuple[str, str]],
        flags_off: list[tuple[int]],
        tags: list[tuple[str, int]],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None,
        position: int,
    ) -> None:
        self.entries += entries
        self.streams_new += streams_new
        self.flags_off += flags_off
        self.tags += tags
        self.blobs.update(blobs)
        if checkpoint is not None:
            self.checkpoints[checkpoint[0]] = checkpoint[1]
        self.streams.update(w.stream for w in writes)
        self.position = position

    def touches(
        self,
        writes: list[Write],
        checkpoint: tuple[str, int] | None,
        condition: AppendCondition | None,
    ) -> bool:
        """Whether an append's checks would read rows that are still unwritten."""
        if not self.entries and not self.checkpoints:
            return False
        return (
            condition is not None
            or (checkpoint is not None and checkpoint[0] in self.checkpoints)
            or any(w.stream in self.streams for w in writes)
        )

    def write(self, conn: sqlite3.Connection) -> None:
        if not self.entries and not self.checkpoints:
            return
        try:
            if self.checkpoints:
                conn.executemany(
                    "INSERT INTO checkpoints (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    self.checkpoints.items(),
                )
            if self.blobs:
                conn.executemany(
                    "INSERT OR IGNORE INTO payloads (address, data) VALUES (?, ?)",
                    self.blobs.items(),
                )
            conn.executemany(
                "INSERT INTO entries (position, stream, seq, version, kind, category, "
                "event_id, type, correlation_id, causation_id, timestamp, metadata, tags, "
                "address, codec, size, prev_hash, hash, head, generated, payload) "
                "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,"
                "?20, (SELECT id FROM payloads WHERE address = ?14))",
                self.entries,
            )
            if self.tags:
                conn.executemany(
                    "INSERT OR IGNORE INTO tags (tag, position) VALUES (?, ?)", self.tags
                )
            if self.flags_off:
                conn.executemany(
                    "UPDATE entries SET head = NULL WHERE position = ?", self.flags_off
                )
            if self.streams_new:
                conn.executemany(
                    "INSERT INTO streams (name, category) VALUES (?, ?)", self.streams_new
                )
        except sqlite3.Error as exc:
            raise _WriteFailed(exc) from exc
        self._written = self.position
        self.clear()

    def clear(self) -> None:
        """Forget the unwritten rows (after a rollback to before them)."""
        self.position = self._written
        self.entries, self.tags, self.blobs = [], [], {}
        self.streams_new, self.flags_off = [], []
        self.checkpoints, self.streams = {}, set()


class _Known:
    """What one connection's last commit left in a database: the last position and the
    heads of the streams it wrote or looked up, valid while ``PRAGMA data_version`` (which
    changes when any *other* connection commits, and never for the connection's own
    commits) still reads ``version``. Lets a writer that is the database's only one (a
    single appender) skip the reads of the last position and of each stream's head."""

    LIMIT = 1_000  # heads kept at most (per thread and database); beyond, forgotten together

    def __init__(self) -> None:
        self.version: int | None = None
        self.position = 0
        self.heads: dict[str, Head] = {}

    def check(self, conn: sqlite3.Connection) -> tuple[int, bool]:
        """The connection's data version, and whether what is known still holds (inside
        the write transaction, so nothing can change it until the commit)."""
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if version != self.version:
            self.forget()
        return version, self.version is not None

    def forget(self) -> None:
        self.version = None
        self.heads = {}

    def committed(self, version: int, position: int, heads: dict[str, Head]) -> None:
        if len(self.heads) + len(heads) > self.LIMIT:
            self.heads = {}
        self.heads.update(heads)
        self.version, self.position = version, position


class SqliteStorage(Storage):
    """Storage in a directory of SQLite files; safe for many threads and processes."""

    shared_across_processes = True

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        durability: str = "full",
        busy_timeout: float = 60.0,
    ) -> None:
        if durability not in ("full", "relaxed"):
            raise InvalidURL(f"durability must be 'full' or 'relaxed', not {durability!r}")
        self.directory = Path(directory).absolute()
        self.durability = durability
        self._busy_ms = int(busy_timeout * 1000)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        self._ping_fds: dict[str, int] = {}
        self._groups: dict[str, GroupCommit[_AppendItem, list[AppendResult]]] = {}
        self._notifier: _Notifier | None = None
        self._open_directory()

    def _open_directory(self) -> None:
        marker = self.directory / MARKER
        try:
            if marker.exists():
                info = json.loads(marker.read_text())
                if info.get("format") != FORMAT:
                    raise InvalidURL(
                        f"{self.directory}: unknown store format {info.get('format')!r}"
                    )
                return
            if self.directory.exists() and any(self.directory.iterdir()):
                raise InvalidURL(
                    f"{self.directory} is not empty and is not a SAFE EventStore directory"
                )
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{MARKER}.{uuid.uuid4().hex}"
            tmp.write_text(json.dumps({"format": FORMAT, "kind": "safe-eventstore/sqlite"}) + "\n")
            os.replace(tmp, marker)
        except (OSError, ValueError) as exc:
            if isinstance(exc, InvalidURL):
                raise
            raise StorageError(f"cannot open store directory {self.directory}: {exc}") from exc

    def _path(self, db: str) -> Path:
        return self.directory / f"{db}{SUFFIX}"

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        conn.execute("PRAGMA synchronous = " + ("FULL" if self.durability == "full" else "NORMAL"))
        conn.execute("PRAGMA cache_size = -32000")

    def _conn(self, db: str) -> sqlite3.Connection:
        if self._closed:
            self._close_own()
            raise StoreClosed("the store is closed")
        conns: dict[str, sqlite3.Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(db)
        if conn is None:
            path = self._path(db)
            try:
                conn = sqlite3.connect(
                    f"{path.as_uri()}?mode=rw",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=self._busy_ms / 1000,
                )
            except sqlite3.OperationalError:
                raise DatabaseNotFound(f"no database {db!r}") from None
            self._configure(conn)
            self._migrate(conn)
            conns[db] = conn
        return conn

    def _close_own(self) -> None:
        """Close the calling thread's connections."""
        conns: dict[str, sqlite3.Connection] = getattr(self._local, "conns", None) or {}
        self._local.conns, self._local.known = {}, {}
        for conn in conns.values():
            try:
                conn.close()
            except sqlite3.Error:
                pass

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version >= USER_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            for script in _MIGRATIONS[max(0, version - 1) :]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _known(self, db: str) -> _Known:
        """What the calling thread's connection to ``db`` knows from its last commit."""
        known: dict[str, _Known] | None = getattr(self._local, "known", None)
        if known is None:
            known = self._local.known = {}
        k = known.get(db)
        if k is None:
            k = known[db] = _Known()
        return k

    @contextmanager
    def _write(self, db: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn(db)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @_translate
    def create_database(self, name: str) -> None:
        final = self._path(name)
        if final.exists():
            raise DatabaseExists(f"database {name!r} exists")
        tmp = self.directory / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(SCHEMA + "".join(_MIGRATIONS))
            finally:
                conn.close()
            try:
                os.link(tmp, final)  # atomic: exactly one of two racing creators wins
            except FileExistsError:
                raise DatabaseExists(f"database {name!r} exists") from None
            _fsync_dir(self.directory)
        except OSError as exc:
            raise StorageError(f"cannot create database {name!r}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def list_databases(self) -> list[str]:
        try:
            return sorted(
                p.name[: -len(SUFFIX)]
                for p in self.directory.iterdir()
                if p.name.endswith(SUFFIX) and not p.name.startswith(".")
            )
        except OSError as exc:
            raise StorageError(f"cannot list {self.directory}: {exc}") from exc

    def has_database(self, name: str) -> bool:
        return self._path(name).exists()

    def append(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        checkpoint: tuple[str, int] | None = None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        # Concurrent appends to one database are grouped into one transaction (see
        # group_commit.py); each keeps its own checks, result and error.
        return self._group(db).submit((writes, blobs, checkpoint, condition))

    def _group(self, db: str) -> GroupCommit[_AppendItem, list[AppendResult]]:
        group = self._groups.get(db)
        if group is None:
            with self._lock:
                group = self._groups.get(db)
                if group is None:
                    group = self._groups[db] = GroupCommit(
                        functools.partial(self._commit_group, db)
                    )
        return group

    def _commit_group(self, db: str, batch: list[_AppendRequest]) -> None:
        """Store a batch of append requests in one transaction; each request gets its own
        result or error, and one request's error leaves the others' appends alone."""
        conn: sqlite3.Connection | None = None
        known = self._known(db)
        try:
            conn = self._conn(db)
            try:
                self._run_group(conn, known, batch, isolate=False)
            except _WriteFailed as failed:
                # A write failed although every check passed, and its statements held the
                # rows of several requests: redo the batch with each request in a savepoint
                # of its own, so the failure stays with the request that caused it.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if len(batch) == 1:
                    raise failed.cause from None
                self._run_group(conn, known, batch, isolate=True)
        except Exception as exc:
            known.forget()
            if conn is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
            error = _translated(exc)
            for request in batch:
                request.result, request.error = None, error
            return
        except BaseException:
            known.forget()
            if conn is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._ping(db)
        if self._notifier is not None:
            self._notifier.bump(db)

    def _run_group(
        self,
        conn: sqlite3.Connection,
        known: _Known,
        batch: list[_AppendRequest],
        *,
        isolate: bool,
    ) -> None:
        """One transaction for the batch. Each request's checks only read, so a request
        that fails them has written nothing; its rows are written later, with those of
        the requests around it, in one statement per table. A request that touches a
        stream or checkpoint with rows still unwritten first writes them, so it checks
        against what is stored (a request with an append condition, which may match any
        event, first writes all of them). With ``isolate``, each request is written at once
        inside its own savepoint instead. When no other connection has committed since this
        one's last commit, the last position and the heads that commit left are taken from
        ``known`` instead of read again."""
        conn.execute("BEGIN IMMEDIATE")
        version: int | None = None
        valid = False
        if isolate:  # a request rolled back to its savepoint would leave its heads behind
            known.forget()
        else:
            version, valid = known.check(conn)
        if valid:
            position = known.position
        else:
            (position,) = conn.execute("SELECT coalesce(max(position), 0) FROM entries").fetchone()
        pending = _Pending(position)
        # the heads this transaction looked up or moved, and those known from before it
        heads: dict[str, Head] = {}
        before = known.heads if valid else None
        for request in batch:
            request.result = request.error = None
        for request in batch:
            writes, blobs, checkpoint, condition = request.item
            if isolate:
                conn.execute("SAVEPOINT append")
                saved = dict(heads)  # a request rolled back takes the heads it moved with it
            try:
                if not isolate and pending.touches(writes, checkpoint, condition):
                    pending.write(conn)
                request.result = self._plan(
                    conn, pending, heads, before, writes, blobs, checkpoint, condition
                )
                if isolate:
                    pending.write(conn)
            except Exception as exc:
                if not conn.in_transaction:
                    raise  # SQLite rolled the whole transaction back
                if isolate:
                    conn.execute("ROLLBACK TO append")
                    pending.clear()
                    heads.clear()
                    heads.update(saved)
                elif isinstance(exc, _WriteFailed):
                    raise
                request.result, request.error = None, _translated(exc)
            if isolate:
                conn.execute("RELEASE append")
        pending.write(conn)
        conn.execute("COMMIT")
        if version is not None:
            known.committed(version, pending.position, heads)

    def _plan(
        self,
        conn: sqlite3.Connection,
        pending: _Pending,
        heads: dict[str, Head],
        before: dict[str, Head] | None,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        """Check an append inside the open write transaction and add its rows to
        ``pending``; raises (adding nothing) when a check fails. A stream's head comes from
        ``heads`` (this transaction's), else from ``before`` (known from an earlier commit),
        else from the stream's entries; ``heads`` gains the heads this append moves."""
        plans: list[AppendResult | list[Entry]] = []
        found: dict[str, Head | None] = {}
        for w in writes:
            head = heads.get(w.stream)
            if head is None and before is not None:
                head = before.get(w.stream)
            if head is None:
                head = self._head(conn, w.stream)
                if head is not None:
                    heads[w.stream] = head
            found[w.stream] = head
            ids = [d.event_id for d in w.drafts if d.kind == EVENT]
            existing: list[Entry] = []
            if head is not None and ids and not w.new_ids:
                marks = ",".join("?" * len(ids))
                # "+e.stream" keeps the planner on the event id index: the stream's own
                # indexes would scan the whole stream.
                existing = _entries(
                    conn.execute(
                        f"{_SELECT} WHERE e.event_id IN ({marks}) AND e.generated IS NULL "
                        "AND +e.stream = ? AND e.kind = 0",
                        (*ids, w.stream),
                    )
                )
            plans.append(plan_append(w.stream, head, w.expected, w.drafts, existing))
        if plans and all(isinstance(p, AppendResult) for p in plans):
            return [p for p in plans if isinstance(p, AppendResult)]
        if condition is not None:
            sql, args = _query_sql(condition.fail_if_events_match, (condition.after or 0) + 1)
            match = _entries(
                conn.execute(
                    f"{_SELECT} WHERE e.position = (SELECT min(position) FROM ({sql}))", args
                )
            )
            check_condition(condition, match[0] if match else None)
        if checkpoint is not None:
            name, at = checkpoint
            row = conn.execute(
                "SELECT position FROM checkpoints WHERE name = ?", (name,)
            ).fetchone()
            check_checkpoint(name, None if row is None else row[0], at)
        position = pending.position
        results: list[AppendResult] = []
        rows: list[tuple[Any, ...]] = []
        streams_new: list[tuple[str, str]] = []
        flags_off: list[tuple[int]] = []
        tags: list[tuple[str, int]] = []
        moved: dict[str, Head] = {}
        for w, plan in zip(writes, plans, strict=True):
            if isinstance(plan, AppendResult):
                results.append(plan)
                continue
            category = category_of(w.stream)
            head = found[w.stream]
            if head is None:
                streams_new.append((w.stream, category))
            else:
                flags_off.append((head.position,))
            given = not w.new_ids  # no retry looks up a generated id: left out of the index
            last = plan[-1]  # the stream's new head
            for e in plan:
                position += 1
                e.position = position
                if e.kind == EVENT:
                    tags.extend((tag, position) for tag in e.tags)
                rows.append(
                    (
                        e.position, e.stream, e.seq, e.version, e.kind, category, e.event_id,
                        e.type, e.correlation_id, e.causation_id, e.timestamp, e.metadata,
                        msgspec.json.encode(e.tags) if e.tags else None, e.address, e.codec,
                        e.size, e.prev_hash, e.hash, 1 if e is last else None,
                        None if given and e.kind == EVENT else 1,
                    )
                )  # fmt: skip
            result = result_of(plan)
            results.append(result)
            version = result.last_version if any(e.kind == EVENT for e in plan) else None
            if version is None:
                version = head.version if head is not None else -1
            moved[w.stream] = Head(last.seq, version, last.hash, last.position)
        pending.add(writes, rows, streams_new, flags_off, tags, blobs, checkpoint, position)
        heads.update(moved)
        return results

    def _ping(self, db: str) -> None:
        # SQLite publishes a commit through shared memory, which the file system does not
        # report; touching a small file after COMMIT is what wakes waiting subscribers.
        # Under the lock that close() takes to close the descriptors: a descriptor closed
        # meanwhile could be reused by another file, which the byte would then overwrite.
        try:
            with self._lock:
                if self._closed:
                    return
                fd = self._ping_fds.get(db)
                if fd is None:
                    path = self.directory / f"{db}{PING}"
                    fd = self._ping_fds[db] = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
                os.pwrite(fd, b"\0", 0)
        except OSError:
            pass  # the append is committed; a subscriber still sees it within its wait slice

    @staticmethod
    def _head(conn: sqlite3.Connection, stream: str) -> Head | None:
        # The last flagged entry, walking back from the stream's end (its last entry, unless
        # entries were removed), with the version of the last event up to it.
        row = conn.execute(
            "SELECT h.seq, (SELECT e.version FROM entries e WHERE e.stream = ?1 AND e.kind = 0 "
            "AND e.seq <= h.seq ORDER BY e.seq DESC LIMIT 1), h.hash, h.position "
            "FROM entries h WHERE h.stream = ?1 AND h.head = 1 ORDER BY h.seq DESC LIMIT 1",
            (stream,),
        ).fetchone()
        return Head(*row) if row else None

    @_translate
    def head(self, db: str, stream: str) -> Head | None:
        return self._head(self._conn(db), stream)

    @_translate
    def read_stream(
        self, db: str, stream: str, *, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        # Along the (stream, seq) index, in which versions run in the same order as seqs.
        # Event v sits at seq v + (restructure entries before it): forwards, start at seq v
        # and pass over at most those; backwards, start at v + every restructure entry of
        # the stream (counted along the partial index of restructure entries).
        if backwards:
            sql = (
                f"{_SELECT_LIGHT} WHERE e.stream = ?1 AND e.seq <= ?2 + ("
                "SELECT count(*) FROM entries r WHERE r.stream = ?1 AND r.kind = 1) "
                "AND e.kind = 0 AND e.version <= ?2 ORDER BY e.seq DESC LIMIT ?3"
            )
        else:
            sql = (
                f"{_SELECT_LIGHT} WHERE e.stream = ?1 AND e.seq >= ?2 AND e.kind = 0 "
                "AND e.version >= ?2 ORDER BY e.seq LIMIT ?3"
            )
        rows = self._conn(db).execute(sql, (stream, from_version, limit))
        return _entries(rows)

    @_translate
    def read_entries(self, db: str, stream: str, *, from_seq: int, limit: int) -> list[Entry]:
        rows = self._conn(db).execute(
            f"{_SELECT} WHERE e.stream = ? AND e.seq >= ? ORDER BY e.seq LIMIT ?",
            (stream, from_seq, limit),
        )
        return _entries(rows)

    @_translate
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
        where = ["e.position >= ?"]
        args: list[Any] = [from_position]
        if stream is not None:
            where.append("e.stream = ?")
            args.append(stream)
        if category is not None:
            where.append("e.category = ?")
            args.append(category)
        kind = "e.kind = 0"
        if types is not None:
            kind += f" AND e.type IN ({','.join('?' * len(types))})"
            args.extend(types)
        where.append(f"(({kind}) OR e.kind = 1)" if restructures else kind)
        args.append(limit)
        rows = self._conn(db).execute(
            f"{_SELECT_LIGHT} WHERE {' AND '.join(where)} ORDER BY e.position LIMIT ?", args
        )
        return _entries(rows)

    @_translate
    def read_query(self, db: str, query: Query, *, from_position: int, limit: int) -> list[Entry]:
        sql, args = _query_sql(query, from_position)
        rows = self._conn(db).execute(
            f"{_SELECT_LIGHT} WHERE e.position IN ({sql}) ORDER BY e.position LIMIT ?",
            (*args, limit),
        )
        return _entries(rows)

    @_translate
    def restructures(self, db: str, stream: str | None = None) -> list[Entry]:
        if stream is None:
            rows = self._conn(db).execute(f"{_SELECT} WHERE e.kind = 1 ORDER BY e.position")
        else:
            rows = self._conn(db).execute(
                f"{_SELECT} WHERE e.kind = 1 AND e.stream = ? ORDER BY e.position", (stream,)
            )
        return _entries(rows)

    @_translate
    def last_position(self, db: str) -> int:
        (pos,) = self._conn(db).execute("SELECT coalesce(max(position), 0) FROM entries").fetchone()
        return int(pos)

    @_translate
    def list_categories(self, db: str) -> list[str]:
        rows = self._conn(db).execute("SELECT DISTINCT category FROM streams ORDER BY category")
        return [r[0] for r in rows]

    @_translate
    def list_streams(
        self, db: str, *, category: str | None, after: str | None, limit: int
    ) -> list[str]:
        where, args = ["name > ?"], [after or ""]
        if category is not None:
            where.append("category = ?")
            args.append(category)
        rows = self._conn(db).execute(
            f"SELECT name FROM streams WHERE {' AND '.join(where)} ORDER BY name LIMIT ?",
            (*args, limit),
        )
        return [r[0] for r in rows]

    @_translate
    def read_blobs(self, db: str, *, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        rows = self._conn(db).execute(
            "SELECT address, data FROM payloads WHERE address > ? ORDER BY address LIMIT ?",
            (after or b"", limit),
        )
        return [(r[0], r[1]) for r in rows]

    @_translate
    def get_checkpoint(self, db: str, name: str) -> int | None:
        row = (
            self._conn(db)
            .execute("SELECT position FROM checkpoints WHERE name = ?", (name,))
            .fetchone()
        )
        return None if row is None else int(row[0])

    @_translate
    def save_checkpoint(self, db: str, name: str, position: int) -> None:
        with self._write(db) as conn:
            conn.execute(
                "INSERT INTO checkpoints (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (name, position),
            )

    def wait(self, db: str, position: int, timeout: float) -> bool:
        notifier = self._notifier
        if notifier is None:
            with self._lock:
                if self._notifier is None:
                    self._notifier = _Notifier(self.directory)
                notifier = self._notifier
        deadline = time.monotonic() + timeout
        while True:
            seen = notifier.generation(db)  # before the check, so no wake-up is missed
            if self.last_position(db) > position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                return False
            notifier.wait(db, seen, remaining)

    @_translate
    def stats(self, db: str) -> dict[str, int]:
        conn = self._conn(db)
        events, restructures, logical = conn.execute(
            "SELECT count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1), "
            "coalesce(sum(size), 0) FROM entries"
        ).fetchone()
        (streams,) = conn.execute("SELECT count(*) FROM streams").fetchone()
        payloads, stored = conn.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM payloads"
        ).fetchone()
        return {
            "events": events,
            "streams": streams,
            "restructures": restructures,
            "payloads": payloads,
            "logical_payload_bytes": logical,
            "stored_payload_bytes": stored,
        }

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in self._ping_fds.values():
                os.close(fd)
            self._ping_fds = {}
            notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.close()
        # Only this thread's connections: another thread may be running a statement on its
        # own right now, and closing a connection under a running statement crashes the
        # sqlite3 module (a segmentation fault, not an exception). The other threads close
        # theirs on their next call, which raises StoreClosed, or when they end.
        self._close_own()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Notifier:
    """Wakes waiters when a database commits: in this process at once (appends call
    :meth:`bump`), from other processes through inotify on the ping files (Linux; elsewhere
    waiters re-check every 50 ms)."""

    def __init__(self, directory: Path) -> None:
        self._changed = threading.Condition()
        self._generations: dict[str, int] = {}
        self._closed = False
        self._ino: Any = None
        if sys.platform.startswith("linux"):
            from inotify_simple import INotify, flags

            self._ino = INotify()
            self._ino.add_watch(directory, flags.MODIFY | flags.CREATE)
            threading.Thread(target=self._watch, name="safe-eventstore-notify", daemon=True).start()

    def _watch(self) -> None:
        try:
            while not self._closed:
                events = self._ino.read(timeout=500)
                touched = {e.name[: -len(PING)] for e in events if e.name.endswith(PING)}
                if touched:
                    with self._changed:
                        for db in touched:
                            self._generations[db] = self._generations.get(db, 0) + 1
                        self._changed.notify_all()
        finally:
            self._ino.close()  # here, not in close(): the descriptor may be in use

    def generation(self, db: str) -> int:
        with self._changed:
            return self._generations.get(db, 0)

    def bump(self, db: str) -> None:
        with self._changed:
            self._generations[db] = self._generations.get(db, 0) + 1
            self._changed.notify_all()

    def wait(self, db: str, seen: int, timeout: float) -> None:
        if self._ino is None:
            timeout = min(timeout, 0.05)
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or self._generations.get(db, 0) != seen, min(timeout, 1.0)
            )

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
