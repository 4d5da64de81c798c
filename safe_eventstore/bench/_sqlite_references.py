"""The SQLite rows' references: the ``eventsourcing`` library's SQLite recorder, and raw
``sqlite3`` (one row per transaction, one bulk transaction, rows from threads through a group
commit)."""

from __future__ import annotations

import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..storage.background import Background
from ..storage.group_commit import GroupCommit, Request
from ._workloads import EVENT_TYPE, TOPIC, state, threads, timer

__all__ = ["EventSourcingRecorder", "RawSqlite"]


class EventSourcingRecorder:
    """W1-W5 on the eventsourcing library's SQLite application recorder."""

    def __init__(self, directory: Path, writers: int) -> None:
        self.directory = directory
        self.stores = {w: self._open(f"eventsourcing-{w}", writers) for w in ("w1", "w2", "w3")}
        with self.stores["w1"][0].transaction(commit=False) as c:
            c.execute("PRAGMA synchronous")
            self.synchronous = int(c.fetchone()[0])

    def _open(self, name: str, writers: int) -> tuple[Any, Any]:
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

        datastore = SQLiteDatastore(str(self.directory / f"{name}.sqlite"), pool_size=writers)
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        return datastore, recorder

    @staticmethod
    def _stored(originator: uuid.UUID, version: int) -> Any:
        from eventsourcing.persistence import StoredEvent

        return StoredEvent(originator, version, TOPIC, state(version))

    def single(self, n: int) -> float:
        insert, originator = self.stores["w1"][1].insert_events, uuid.uuid4()
        with timer() as t:
            for i in range(n):
                insert([self._stored(originator, i + 1)])
        return t[0]

    def concurrent(self, writers: int, n: int) -> float:
        each = n // writers
        insert = self.stores["w2"][1].insert_events

        def work(k: int) -> None:
            originator = uuid.uuid4()
            for i in range(each):
                insert([self._stored(originator, i + 1)])

        return threads(writers, work)

    def batches(self, batches: int, size: int) -> float:
        insert, originator = self.stores["w3"][1].insert_events, uuid.uuid4()
        with timer() as t:
            for b in range(batches):
                insert([self._stored(originator, b * size + i + 1) for i in range(size)])
        return t[0]

    def fill(self, n: int) -> None:
        self.reads_datastore, self.reads_recorder = self._open("eventsourcing-reads", 1)
        self.reads = uuid.uuid4()
        step = 10_000
        for start in range(0, n, step):
            stop = min(n, start + step)
            events = [self._stored(self.reads, i + 1) for i in range(start, stop)]
            self.reads_recorder.insert_events(events)

    def read_stream(self) -> tuple[int, float]:
        with timer() as t:
            count = len(self.reads_recorder.select_events(self.reads))
        return count, t[0]

    def read_all(self, page: int = 1000) -> tuple[int, float]:
        count, start = 0, 1
        with timer() as t:
            while True:
                notifications = self.reads_recorder.select_notifications(start, page)
                count += len(notifications)
                if len(notifications) < page:
                    break
                start = notifications[-1].id + 1
        return count, t[0]

    def close(self) -> None:
        for datastore, _ in self.stores.values():
            datastore.close()
        if hasattr(self, "reads_datastore"):
            self.reads_datastore.close()


class RawSqlite:
    """The same rows written with nothing but ``sqlite3``: what the machine allows."""

    def __init__(self, directory: Path) -> None:
        self.single_conn = self._open(directory / "raw-single.sqlite")
        self.bulk_conn = self._open(directory / "raw-bulk.sqlite")
        self.group_path = directory / "raw-group.sqlite"
        self._open(self.group_path).close()
        self.queue_path = directory / "raw-queue.sqlite"
        self._open(self.queue_path).close()
        self.group: GroupCommit[tuple[Any, ...], bool] = GroupCommit(self._commit)
        # raw-16 runs its checkpoints beside its commits, as the store does (a reference
        # paying them inside its commits would flatter W2): the same rests, the same
        # higher threshold on the committing connection
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoints = Background(
            self._checkpoint, self._end_checkpoints, rest=0.05, idle=1.0, name="raw-16 checkpoints"
        )
        self._local = threading.local()
        self._group_conns: list[sqlite3.Connection] = []
        self._group_lock = threading.Lock()
        self.round = 0

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE events (stream TEXT NOT NULL, version INTEGER NOT NULL, "
            "type TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (stream, version))"
        )
        return conn

    def single(self, n: int) -> float:
        self.round += 1
        conn, stream = self.single_conn, f"Single-{self.round}"
        with timer() as t:
            for i in range(n):
                conn.execute("BEGIN")
                conn.execute(
                    "INSERT INTO events VALUES (?, ?, ?, ?)", (stream, i, EVENT_TYPE, state(i))
                )
                conn.execute("COMMIT")
        return t[0]

    def bulk(self, n: int) -> float:
        self.round += 1
        conn, stream = self.bulk_conn, f"Bulk-{self.round}"
        with timer() as t:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?)",
                ((stream, i, EVENT_TYPE, state(i)) for i in range(n)),
            )
            conn.execute("COMMIT")
        return t[0]

    def concurrent(self, writers: int, n: int) -> float:
        """W2's shape with nothing but a row per append: ``writers`` threads, one stream
        each, through the store's group commit (a transaction and an fsync per batch). The
        most threads get on this machine when an append costs no work of its own."""
        return self._rows_from_threads(writers, n, self.group.submit)

    def _rows_from_threads(
        self, writers: int, n: int, submit: Callable[[tuple[Any, ...]], object]
    ) -> float:
        """``writers`` threads, one stream each, submitting ``n // writers`` rows each and
        waiting on each; their wall time."""
        self.round += 1
        each, r = n // writers, self.round

        def work(k: int) -> None:
            stream = f"Writer-{r}-{k}"
            for i in range(each):
                submit((stream, i, EVENT_TYPE, state(i)))

        return threads(writers, work)

    def queued(self, writers: int, n: int) -> float:
        """``concurrent`` again through the plainest group commit instead of the store's:
        each thread queues its row and sleeps on a lock of its own; one committing thread
        takes every queued row into one transaction and one fsync, then wakes their
        threads. What threads get on this machine whatever the group commit's design."""
        rows: queue.SimpleQueue[tuple[tuple[Any, ...], threading.Lock] | None]
        rows = queue.SimpleQueue()
        stored: list[int] = [0]
        failures: list[BaseException] = []

        def commit() -> None:
            conn: sqlite3.Connection | None = None
            done = False
            while not done:
                batch, item = [], rows.get()
                while item is not None:
                    batch.append(item)
                    try:
                        item = rows.get_nowait()
                    except queue.Empty:
                        break
                done = item is None
                if batch and not failures:
                    try:
                        if conn is None:
                            conn = sqlite3.connect(self.queue_path, isolation_level=None)
                            conn.execute("PRAGMA synchronous = FULL")
                        conn.execute("BEGIN IMMEDIATE")
                        conn.executemany(
                            "INSERT INTO events VALUES (?, ?, ?, ?)", [row for row, _ in batch]
                        )
                        conn.execute("COMMIT")
                        stored[0] += len(batch)
                    except BaseException as exc:  # raised after the run; every writer wakes
                        failures.append(exc)
                for _, wake in batch:
                    wake.release()
            if conn is not None:
                conn.close()

        committer = threading.Thread(target=commit)
        committer.start()

        def submit(row: tuple[Any, ...]) -> None:
            wake = threading.Lock()
            wake.acquire()
            rows.put((row, wake))
            wake.acquire()  # until committed

        try:
            seconds = self._rows_from_threads(writers, n, submit)
        finally:
            rows.put(None)
            committer.join()
        if failures:
            raise failures[0]
        if stored[0] != n // writers * writers:
            raise RuntimeError(f"raw-16q stored {stored[0]} rows of {n // writers * writers}")
        return seconds

    def _commit(self, batch: list[Request[tuple[Any, ...], bool]]) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:  # the leader's own connection, as in the store
            conn = self._local.conn = sqlite3.connect(
                self.group_path, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA wal_autocheckpoint = 4000")
            with self._group_lock:
                self._group_conns.append(conn)
        conn.execute("BEGIN IMMEDIATE")
        done = 0
        while True:  # with the rows queued meanwhile, as the store's batches take them
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?)", [r.item for r in batch[done:]]
            )
            done = len(batch)
            if not self.group.take_queued(batch):
                break
        conn.execute("COMMIT")
        self._checkpoints.wake()
        for request in batch:
            request.result = True

    def _checkpoint(self) -> None:
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = sqlite3.connect(self.group_path, isolation_level=None)
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            pass  # as the store's: the next one, or the commit's own threshold, catches up

    def _end_checkpoints(self) -> None:
        conn, self._checkpoint_conn = self._checkpoint_conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._checkpoints.close()
        self.single_conn.close()
        self.bulk_conn.close()
        for conn in self._group_conns:
            conn.close()
