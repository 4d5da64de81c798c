"""The SQLite storage: a directory of database files, one connection per thread and file
(and one per group commit, for appends).

Writes take each file's write lock (``BEGIN IMMEDIATE``). A write that finds it held by
another process waits up to ``lock_timeout`` seconds, then raises :class:`StoreLocked`;
after the first second of waiting it calls :attr:`Storage.on_lock_wait`, if set.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..._documents import DocumentQuery
from ..._exceptions import (
    DatabaseExists,
    DatabaseNotFound,
    InvalidURL,
    StorageError,
    StoreClosed,
    StoreLocked,
    StoreWarning,
)
from ..._model import AppendCondition, AppendResult, Query
from ..background import Background
from ..base import BatchSignature, Entry, Head, LeaseRecord, Signer, Storage, Write
from ..documents import DocumentRow, DocumentStorage
from ..group_commit import GroupCommit
from . import _documents, _keys, _leases, _reads, _signatures
from ._append import AppendItem, AppendRequest
from ._directory import Directory, create_private, fsync_dir, open_to_others, read_only_error
from ._errors import is_busy, translate
from ._notify import Notifier, pings
from ._schema import PING, SUFFIX, create, migrate
from ._writer import GroupWriter

__all__ = ["SqliteStorage"]

MAX_INT = 2**63 - 1  # SQLite's largest integer: positions and versions beyond it match nothing


WAIT_NOTICE = 1.0  # seconds a write waits for a lock before on_lock_wait is called


def _seconds(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidURL(f"option {name} must be a number of seconds, not {value!r}") from None
    if isinstance(value, bool) or not 0 < number <= 86_400:
        raise InvalidURL(f"option {name} must be from 0 to 86400 seconds, not {value!r}")
    return number


class SqliteStorage(Storage, DocumentStorage):
    """Storage in a directory of SQLite files; safe for many threads and processes.

    Options (URL query or keywords of :func:`safe_eventstore.open`):

    ``durability``
        ``full`` (the default: every acknowledged append survives a power cut) or
        ``relaxed`` (it survives a crash of the process)
    ``lock_timeout``
        seconds a write waits for another process's write lock before it raises
        :class:`StoreLocked` (default 60)

    Opening a store creates nothing: the directory and its marker are made by the first
    write. A directory this process may not write to is opened read-only (see
    ``_directory``).
    """

    shared_across_processes = True
    signs_batches = True
    large_batches = True
    drafts_later = True  # by the group's leader, in its loop over the batch (_append.py)

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        durability: str = "full",
        lock_timeout: float | str = 60.0,
    ) -> None:
        if durability not in ("full", "relaxed"):
            raise InvalidURL(f"durability must be 'full' or 'relaxed', not {durability!r}")
        self.directory = Path(directory).absolute()
        self.durability = durability
        self.lock_timeout = _seconds(lock_timeout, "lock_timeout")
        # SQLite waits in slices (its busy timeout), so that a write can say that it waits
        self._slice = min(self.lock_timeout, WAIT_NOTICE)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False
        self._ping_fds: dict[str, int] = {}
        self._pingers: dict[str, Background] = {}  # a thread that pings, per database
        self._groups: dict[str, GroupCommit[AppendItem, list[AppendResult]]] = {}
        self._signed_groups: dict[
            tuple[str, Signer], GroupCommit[AppendItem, list[AppendResult]]
        ] = {}
        self._writers: list[GroupWriter] = []  # the groups' connections (see _writer.py)
        self._notifier: Notifier | None = None
        self._read_only: set[str] = set()  # databases this process may only read
        self._checked_modes: set[str] = set()  # databases whose modes were looked at
        self._dir = Directory(self.directory)

    def _warn_if_open_to_others(self, db: str) -> None:
        """Warn, once per database and storage, at the first write to a database whose store
        others may read: a store made before stores were private, or one its owner opened
        to other users on purpose (whose modes stay as they are)."""
        with self._lock:
            if db in self._checked_modes:
                return
            self._checked_modes.add(db)
        path = self._path(db)
        found = open_to_others(self.directory, path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if found:
            warnings.warn(
                f"database {db!r} in {self.directory} may be read by other users "
                f"({', '.join(found)}); `chmod -R go= {self.directory}` makes it private",
                StoreWarning,
                stacklevel=2,
            )

    def _path(self, db: str) -> Path:
        return self.directory / f"{db}{SUFFIX}"

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self._slice * 1000)}")
        conn.execute("PRAGMA synchronous = " + ("FULL" if self.durability == "full" else "NORMAL"))
        conn.execute("PRAGMA cache_size = -32000")

    def _uri(self, db: str) -> tuple[str, bool]:
        """How to open a database's file: read-write, or read-only when this process may
        not write to it (immutable when, besides, no write-ahead log is there: SQLite
        cannot read a WAL-mode file otherwise without creating its shared-memory file,
        and in a directory it cannot write to no one else can change the file either)."""
        path = self._path(db)
        uri = path.as_uri()
        if self._dir.writable() and os.access(path, os.W_OK):
            return f"{uri}?mode=rw", False
        if self._dir.writable() or os.path.exists(f"{path}-wal"):
            return f"{uri}?mode=ro", True
        return f"{uri}?mode=ro&immutable=1", True

    def _conn(self, db: str) -> sqlite3.Connection:
        """The calling thread's connection to ``db``."""
        if self._closed:
            self._close_own()
            raise StoreClosed("the store is closed")
        conns: dict[str, sqlite3.Connection] | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(db)
        if conn is None:
            conn = conns[db] = self._connect(db)
        return conn

    def _connect(self, db: str) -> sqlite3.Connection:
        uri, read_only = self._uri(db)
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._slice,
                # room for an insert of each row count up to a chunk's beside the reads
                cached_statements=256,
            )
        except sqlite3.OperationalError:
            raise DatabaseNotFound(f"no database {db!r}") from None
        if read_only:
            with self._lock:
                self._read_only.add(db)
        try:
            self._configure(conn)
            migrate(conn, functools.partial(self._begin, db=db))
        except BaseException:
            conn.close()
            raise
        return conn

    def _begin(self, conn: sqlite3.Connection, db: str) -> None:
        """Open a write transaction on ``db``'s connection: take the file's write lock,
        waiting up to ``lock_timeout`` for another process to release it."""
        if db in self._read_only:
            raise read_only_error(self._path(db))
        if db not in self._checked_modes:
            self._warn_if_open_to_others(db)
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
        self._wait_for_lock(conn, db)

    def _wait_for_lock(self, conn: sqlite3.Connection, db: str) -> None:
        """The slow path of :meth:`_begin`: the first slice has passed, the lock is held."""
        rest = self.lock_timeout - self._slice
        path = self._path(db)
        if rest > 0:
            notice = self.on_lock_wait
            if notice is not None:
                notice(f"waiting for the write lock on {path}, which another process holds")
            conn.execute(f"PRAGMA busy_timeout = {int(rest * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._slice * 1000)}")
        raise StoreLocked(
            f"{path}: another process held the write lock for more than "
            f"{self.lock_timeout:g} s (the store's lock_timeout option)"
        )

    def _close_own(self) -> None:
        """Close the calling thread's connections."""
        conns: dict[str, sqlite3.Connection] = getattr(self._local, "conns", None) or {}
        self._local.conns = {}
        for conn in conns.values():
            try:
                conn.close()
            except sqlite3.Error:
                pass

    @contextmanager
    def _write(self, db: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn(db)
        self._begin(conn, db)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @translate
    def create_database(self, name: str) -> None:
        self._create(name, None)

    @translate
    def create_database_with(self, name: str, settings: dict[str, str]) -> None:
        self._create(name, settings)

    def _create(self, name: str, settings: dict[str, str] | None) -> None:
        final = self._path(name)
        if final.exists():
            raise DatabaseExists(f"database {name!r} exists")
        self._dir.ensure()
        if not self._dir.writable():
            raise read_only_error(self.directory, "create a database in")
        tmp = self.directory / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            # made private before SQLite opens it: its -wal and -shm files take its mode
            os.close(create_private(tmp))
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                create(conn)
                if settings is not None:  # in the file before it appears under its name
                    _keys.write_settings(conn, settings)
            finally:
                conn.close()
            try:
                os.link(tmp, final)  # atomic: exactly one of two racing creators wins
            except FileExistsError:
                raise DatabaseExists(f"database {name!r} exists") from None
            fsync_dir(self.directory)
        except OSError as exc:
            raise StorageError(f"cannot create database {name!r}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def list_databases(self) -> list[str]:
        if not self.directory.exists():
            return []  # a store not written to yet
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

    # -- appending ----------------------------------------------------------------------------

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
        return self._group(db).submit((writes, blobs, checkpoint, condition, None))

    def append_signed(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        signer: Signer,
        checkpoint: tuple[str, int] | None = None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        # A group of its own per signer, so that the request items stay as they are
        return self._signed_group(db, signer).submit((writes, blobs, checkpoint, condition, None))

    def append_documents(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        documents: list[DocumentRow],
        checkpoint: tuple[str, int] | None = None,
        signer: Signer | None = None,
    ) -> list[AppendResult]:
        # the documents' rows are written with the group's other rows, in its transaction
        group = self._group(db) if signer is None else self._signed_group(db, signer)
        return group.submit((writes, blobs, checkpoint, None, documents))

    @translate
    def declare_document_index(self, db: str, collection: str, fields: tuple[str, ...]) -> None:
        with self._write(db) as conn:
            _documents.declare(conn, collection, fields)

    @translate
    def document_fields(self, db: str, collection: str) -> tuple[str, ...]:
        return _documents.fields(self._conn(db), collection)

    @translate
    def get_document(self, db: str, collection: str, key: str) -> bytes | None:
        return _documents.get(self._conn(db), collection, key)

    @translate
    def query_documents(
        self, db: str, collection: str, query: DocumentQuery
    ) -> list[tuple[str, bytes]]:
        return _documents.query(self._conn(db), collection, query)

    @translate
    def count_documents(self, db: str, collection: str, query: DocumentQuery) -> int:
        return _documents.count(self._conn(db), collection, query)

    def _group(self, db: str) -> GroupCommit[AppendItem, list[AppendResult]]:
        group = self._groups.get(db)
        if group is None:
            with self._lock:
                group = self._groups.get(db)
                if group is None:
                    writer = self._writer(db)
                    group = self._groups[db] = writer.group = GroupCommit(
                        functools.partial(self._commit_group, writer, db)
                    )
        return group

    def _signed_group(self, db: str, signer: Signer) -> GroupCommit[AppendItem, list[AppendResult]]:
        group = self._signed_groups.get((db, signer))
        if group is None:
            with self._lock:
                group = self._signed_groups.get((db, signer))
                if group is None:
                    writer = self._writer(db)
                    group = self._signed_groups[db, signer] = writer.group = GroupCommit(
                        functools.partial(self._commit_group, writer, db, signer=signer)
                    )
        return group

    def _writer(self, db: str) -> GroupWriter:
        """A new group's connection to ``db`` (called holding the lock)."""
        pinger = self._pingers.get(db)
        if pinger is None:
            pinger = self._pingers[db] = pings(functools.partial(self._ping, db))
        writer = GroupWriter(
            functools.partial(self._connect, db),
            begin=functools.partial(self._begin, db=db),
            announce=functools.partial(self._announce, db, pinger),
        )
        self._writers.append(writer)
        return writer

    def _commit_group(
        self,
        writer: GroupWriter,
        db: str,
        batch: list[AppendRequest],
        signer: Signer | None = None,
    ) -> Callable[[], None] | None:
        """Store a batch of append requests in one transaction, through the group's own
        connection; each request gets its own result or error, and one request's error
        leaves the others' appends alone. Returns, once committed, what tells the
        database's readers of the commit, for the group to call after waking its threads."""
        with writer.lock:
            if self._closed:  # a group made after close() has a writer not closed yet
                closed = StoreClosed("the store is closed")
                for request in batch:
                    request.result, request.error = None, closed
                return None
            if not writer.commit(batch, db=db, signer=signer):
                return None
        return writer.announce

    def _announce(self, db: str, pinger: Background) -> None:
        """Tell the readers of ``db`` that it has committed: in this process at once, in
        others by the ping that ``pinger`` sends soon (see _notify.py)."""
        if self._notifier is not None:
            self._notifier.bump(db)
        pinger.wake()

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
                    fd = self._ping_fds[db] = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                os.pwrite(fd, b"\0", 0)
        except OSError:
            pass  # the append is committed; a subscriber still sees it within its wait slice

    # -- reading ------------------------------------------------------------------------------

    @translate
    def head(self, db: str, stream: str) -> Head | None:
        return _reads.head(self._conn(db), stream)

    @translate
    def read_stream(
        self, db: str, stream: str, *, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        return _reads.read_stream(
            self._conn(db), stream, min(from_version, MAX_INT), min(limit, MAX_INT), backwards
        )

    @translate
    def read_entries(self, db: str, stream: str, *, from_seq: int, limit: int) -> list[Entry]:
        conn = self._conn(db)
        rows = conn.execute(
            f"{_reads.SELECT} WHERE e.stream = ? AND e.seq >= ? ORDER BY e.seq LIMIT ?",
            (stream, min(from_seq, MAX_INT), min(limit, MAX_INT)),
        )
        return _reads.stored_entries(conn, rows)

    @translate
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
        return _reads.read_all(
            self._conn(db),
            min(from_position, MAX_INT),
            min(limit, MAX_INT),
            stream=stream,
            category=category,
            types=types,
            restructures=restructures,
            backwards=backwards,
        )

    @translate
    def read_query(self, db: str, query: Query, *, from_position: int, limit: int) -> list[Entry]:
        sql, args = _reads.query_sql(query, min(from_position, MAX_INT))
        rows = self._conn(db).execute(
            f"{_reads.SELECT_LIGHT} WHERE e.position IN ({sql}) ORDER BY e.position LIMIT ?",
            (*args, min(limit, MAX_INT)),
        )
        return _reads.entries(rows)

    @translate
    def restructures(self, db: str, stream: str | None = None) -> list[Entry]:
        args: tuple[str, ...] = ()
        if stream is None:
            sql = f"{_reads.SELECT} WHERE e.kind = 1 ORDER BY e.position"
        else:
            sql = f"{_reads.SELECT} WHERE e.kind = 1 AND e.stream = ? ORDER BY e.position"
            args = (stream,)
        conn = self._conn(db)
        return _reads.stored_entries(conn, conn.execute(sql, args))

    @translate
    def last_position(self, db: str) -> int:
        (pos,) = self._conn(db).execute("SELECT coalesce(max(position), 0) FROM entries").fetchone()
        return int(pos)

    @translate
    def list_categories(self, db: str) -> list[str]:
        rows = self._conn(db).execute("SELECT DISTINCT category FROM streams ORDER BY category")
        return [r[0] for r in rows]

    @translate
    def list_streams(
        self, db: str, *, category: str | None, after: str | None, limit: int
    ) -> list[str]:
        where, args = ["name > ?"], [after or ""]
        if category is not None:
            where.append("category = ?")
            args.append(category)
        rows = self._conn(db).execute(
            f"SELECT name FROM streams WHERE {' AND '.join(where)} ORDER BY name LIMIT ?",
            (*args, min(limit, MAX_INT)),
        )
        return [r[0] for r in rows]

    @translate
    def read_blobs(self, db: str, *, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        rows = self._conn(db).execute(
            "SELECT address, data FROM payloads WHERE address > ? ORDER BY address LIMIT ?",
            (after or b"", min(limit, MAX_INT)),
        )
        return [(r[0], r[1]) for r in rows]

    @translate
    def read_signatures(self, db: str, *, after: int, limit: int) -> list[BatchSignature]:
        return _signatures.read(self._conn(db), after, min(limit, MAX_INT))

    # -- checkpoints --------------------------------------------------------------------------

    @translate
    def get_checkpoint(self, db: str, name: str) -> int | None:
        row = (
            self._conn(db)
            .execute("SELECT position FROM checkpoints WHERE name = ?", (name,))
            .fetchone()
        )
        return None if row is None else int(row[0])

    @translate
    def save_checkpoint(self, db: str, name: str, position: int) -> None:
        with self._write(db) as conn:
            conn.execute(
                "INSERT INTO checkpoints (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (name, position),
            )

    @translate
    def list_checkpoints(self, db: str) -> dict[str, int]:
        rows = self._conn(db).execute("SELECT name, position FROM checkpoints ORDER BY name")
        return {name: int(position) for name, position in rows}

    @translate
    def delete_checkpoint(self, db: str, name: str) -> bool:
        with self._write(db) as conn:
            return conn.execute("DELETE FROM checkpoints WHERE name = ?", (name,)).rowcount > 0

    # -- leases -------------------------------------------------------------------------------

    @translate
    def take_lease(
        self, db: str, name: str, owner: str, ttl: float, info: bytes, now: int
    ) -> LeaseRecord | None:
        with self._write(db) as conn:
            return _leases.take(conn, name, owner, ttl, info, now)

    @translate
    def release_lease(self, db: str, name: str, owner: str) -> bool:
        with self._write(db) as conn:
            return _leases.release(conn, name, owner)

    @translate
    def read_leases(self, db: str, name: str | None = None) -> list[LeaseRecord]:
        return _leases.read(self._conn(db), name)

    # -- settings and wrapped data keys (encrypted databases) ---------------------------------

    @translate
    def database_settings(self, name: str) -> dict[str, str]:
        return _keys.settings(self._conn(name))

    @translate
    def add_key(self, db: str, scope: str, wrapped: bytes) -> bytes:
        conn = self._conn(db)
        with _keys.secure(conn), self._write(db):
            return _keys.add(conn, scope, wrapped)

    @translate
    def read_keys(self, db: str, scopes: Iterable[str] | None = None) -> dict[str, bytes]:
        return _keys.read(self._conn(db), scopes)

    @translate
    def replace_keys(self, db: str, wrapped: dict[str, bytes]) -> None:
        conn = self._conn(db)
        with _keys.secure(conn), self._write(db):
            _keys.replace(conn, wrapped)
        _keys.truncate_log(conn, self.lock_timeout, lambda: str(self._path(db)))

    @translate
    def destroy_key(self, db: str, scope: str) -> bool:
        conn = self._conn(db)
        with _keys.secure(conn), self._write(db):
            destroyed = _keys.destroy(conn, scope)
        _keys.truncate_log(conn, self.lock_timeout, lambda: str(self._path(db)))
        return destroyed

    # -- waiting, statistics, closing ---------------------------------------------------------

    def wait(self, db: str, position: int, timeout: float) -> bool:
        if self.last_position(db) > position:  # also: no database, no directory to watch
            return True
        notifier = self._notifier
        if notifier is None:
            with self._lock:
                if self._notifier is None:
                    self._notifier = Notifier(self.directory)
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

    @translate
    def stats(self, db: str) -> dict[str, int]:
        return _reads.stats(self._conn(db))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in self._ping_fds.values():
                os.close(fd)
            self._ping_fds = {}
            notifier, self._notifier = self._notifier, None
            writers, self._writers = self._writers, []
            pingers, self._pingers = list(self._pingers.values()), {}
        if notifier is not None:
            notifier.close()
        for pinger in pingers:
            pinger.close()  # (its last ping, if running, returns: the store is closed)
        for writer in writers:
            writer.close()  # after the batch it may be running
        # Only this thread's connections: another thread may be running a statement on its
        # own right now, and closing a connection under a running statement crashes the
        # sqlite3 module (a segmentation fault, not an exception). The other threads close
        # theirs on their next call, which raises StoreClosed, or when they end.
        self._close_own()
