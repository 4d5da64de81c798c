"""The benchmark harness: SAFE EventStore's SQLite backend side by side with references.

One :func:`run` measures every workload on this machine, in this process, interleaved with
its references (the ``eventsourcing`` library's SQLite recorder and raw ``sqlite3``), and
reports each of our rows with its ratio to its references. Only ratios from one run mean
anything: absolute figures move with the disk and whatever else the machine is doing.

=====  ==========================================================================
W1     single-event appends, one writer, durable
W2     single-event appends, concurrent writers (threads) on distinct streams
W3     appends of 100-event batches
W4     ``read_stream`` of one long stream, fully decoded events
W5     ``read_all`` over the same events
W6     subscription catch-up over the same events; live latency from append to
       delivery (p50, p99)
=====  ==========================================================================

::

    from safe_eventstore import bench

    rows = bench.run(quick=True, out="bench.json")
    print(bench.format_table(rows))
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import queue
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._model import ANY, NO_STREAM, NewEvent
from ._store import Store
from ._store import open as open_store
from .storage.group_commit import GroupCommit, Request

__all__ = ["QUICK", "Row", "Sizes", "Workloads", "format_table", "run", "threads", "timer"]

EVENT_TYPE = "Deposited"
TOPIC = "bench:Deposited"


@dataclass(frozen=True)
class Sizes:
    """How much each workload does."""

    single: int = 2000  # W1: appends by one writer
    writers: int = 16  # W2: concurrent writers
    concurrent: int = 8000  # W2: appends in all, shared among the writers
    batches: int = 200  # W3: batches appended
    batch: int = 100  # W3: events per batch
    read: int = 100_000  # W4, W5, W6: events in the stream read
    latency: int = 500  # W6: live events timed one by one
    raw_rows: int = 100_000  # raw sqlite3: rows in one transaction
    pipelined: int = 10_000  # raw nats-py (the NATS rows): messages published pipelined
    rounds: int = 10  # write workloads are cut into this many interleaved rounds
    read_repeat: int = 5  # each read runs this often, interleaved; the fastest run counts


QUICK = Sizes(
    single=20, writers=4, concurrent=40, batches=3, batch=10, read=300, latency=5,
    raw_rows=1000, rounds=1, read_repeat=1,
)  # fmt: skip
"""Tiny sizes for a smoke run: checks the harness, measures nothing worth reading."""


@dataclass
class Row:
    """One measured row. ``ratios`` maps a reference row's ``id`` to rate / its rate."""

    id: str
    workload: str
    system: str
    what: str
    count: int
    seconds: float
    rate: float
    unit: str
    ratios: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def _event(i: int) -> NewEvent:
    return NewEvent(EVENT_TYPE, {"account": "acc-1", "amount": i, "currency": "EUR"})


def _state(i: int) -> bytes:
    return json.dumps({"account": "acc-1", "amount": i, "currency": "EUR"}).encode()


@contextmanager
def timer() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


def threads(n: int, work: Callable[[int], None]) -> float:
    """Run ``work(k)`` in ``n`` threads started together; the wall time of them all."""
    barrier = threading.Barrier(n + 1)
    failures: list[BaseException] = []

    def body(k: int) -> None:
        barrier.wait()
        try:
            work(k)
        except BaseException as exc:  # reported after the join
            failures.append(exc)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if failures:
        raise failures[0]
    return seconds


# -- SAFE EventStore --------------------------------------------------------------------------


# Each write workload of each system has a database (file) of its own, so the work SQLite
# defers (checkpoints of the write-ahead log) is paid by the workload that caused it.


class Workloads:
    """W1-W6 on one store of ours, opened from a URL (the NATS bench script reuses them)."""

    fill_step = 10_000  # events per append when filling the read workloads' stream
    settle = 0.05  # seconds the live subscriber gets to finish its (empty) catch-up

    def __init__(self, url: str) -> None:
        self.store: Store = open_store(url)
        self.dbs = {w: self.store.create_database(w) for w in ("w1", "w2", "w3")}
        self.round = 0

    def single(self, n: int) -> float:
        self.round += 1
        stream = f"Single-{self.round}"
        db = self.dbs["w1"]
        with timer() as t:
            for i in range(n):
                db.append(stream, [_event(i)], expected_version=i - 1 if i else NO_STREAM)
        return t[0]

    def concurrent(self, writers: int, n: int) -> float:
        self.round += 1
        db, each, r = self.dbs["w2"], n // writers, self.round

        def work(k: int) -> None:
            stream = f"Writer-{r}-{k}"
            for i in range(each):
                db.append(stream, [_event(i)], expected_version=i - 1 if i else NO_STREAM)

        return threads(writers, work)

    def batches(self, batches: int, size: int) -> float:
        self.round += 1
        stream, db = f"Batch-{self.round}", self.dbs["w3"]
        with timer() as t:
            for b in range(batches):
                events = [_event(b * size + i) for i in range(size)]
                db.append(stream, events, expected_version=b * size - 1 if b else NO_STREAM)
        return t[0]

    def fill(self, n: int) -> None:
        self.reads = self.store.create_database("reads")
        step = self.fill_step
        for start in range(0, n, step):
            events = [_event(i) for i in range(start, min(n, start + step))]
            self.reads.append("Account-1", events, expected_version=start - 1 if start else ANY)

    def read_stream(self) -> tuple[int, float]:
        with timer() as t:
            count = sum(1 for _ in self.reads.read_stream("Account-1"))
        return count, t[0]

    def read_all(self) -> tuple[int, float]:
        with timer() as t:
            count = sum(1 for _ in self.reads.read_all())
        return count, t[0]

    def catch_up(self, n: int) -> tuple[int, float]:
        count = 0
        with timer() as t, self.reads.subscribe(idle_timeout=5) as sub:
            for _ in sub:
                count += 1
                if count == n:
                    break
        return count, t[0]

    def live_latency(self, n: int) -> list[float]:
        db = self.store.create_database("live")
        delivered = threading.Semaphore(0)
        latencies: list[float] = []
        ready = threading.Event()

        def subscriber() -> None:
            with db.subscribe(idle_timeout=10) as sub:
                ready.set()
                for event in sub:
                    latencies.append(time.perf_counter() - event.data["t"])
                    delivered.release()
                    if len(latencies) == n:
                        break

        thread = threading.Thread(target=subscriber)
        thread.start()
        ready.wait(10)
        time.sleep(self.settle)
        for i in range(n):
            db.append("Live-1", [NewEvent("Ticked", {"t": time.perf_counter(), "i": i})])
            if not delivered.acquire(timeout=10):
                break
            time.sleep(0.002)
        thread.join(15)
        return latencies

    def close(self) -> None:
        self.store.close()


# -- the eventsourcing library's SQLite recorder ----------------------------------------------


class _EventSourcing:
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

        return StoredEvent(originator, version, TOPIC, _state(version))

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


# -- raw sqlite3 --------------------------------------------------------------------------------


class _Raw:
    def __init__(self, directory: Path) -> None:
        self.single_conn = self._open(directory / "raw-single.sqlite")
        self.bulk_conn = self._open(directory / "raw-bulk.sqlite")
        self.group_path = directory / "raw-group.sqlite"
        self._open(self.group_path).close()
        self.queue_path = directory / "raw-queue.sqlite"
        self._open(self.queue_path).close()
        self.group: GroupCommit[tuple[Any, ...], bool] = GroupCommit(self._commit)
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
                    "INSERT INTO events VALUES (?, ?, ?, ?)", (stream, i, EVENT_TYPE, _state(i))
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
                ((stream, i, EVENT_TYPE, _state(i)) for i in range(n)),
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
                submit((stream, i, EVENT_TYPE, _state(i)))

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
            with self._group_lock:
                self._group_conns.append(conn)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [r.item for r in batch])
        conn.execute("COMMIT")
        for request in batch:
            request.result = True

    def close(self) -> None:
        self.single_conn.close()
        self.bulk_conn.close()
        for conn in self._group_conns:
            conn.close()


# -- the run ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The facts a benchmark figure needs next to it."""
    facts: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }
    for package in ("safe-eventstore", "eventsourcing"):
        try:
            facts[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts[package] = None
    return facts


def run(
    *,
    sizes: Sizes | None = None,
    quick: bool = False,
    directory: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    references: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Run every workload and its references; return the rows, and write them with the
    machine facts as JSON to ``out`` when given.

    ``quick`` uses :data:`QUICK` sizes (a smoke run). The stores live in a temporary
    directory under ``directory`` (default: the system's), removed afterwards.
    ``references=False`` skips the eventsourcing and raw sqlite3 rows.
    """
    s = sizes or (QUICK if quick else Sizes())
    say = progress or (lambda _: None)
    try:
        import eventsourcing.sqlite  # noqa: F401

        have_es = references
    except ImportError:
        have_es = False
    work = Path(tempfile.mkdtemp(prefix="safe-eventstore-bench-", dir=directory))
    ours = Workloads(str(work / "safe-eventstore"))
    es = _EventSourcing(work, s.writers) if have_es else None
    raw = _Raw(work) if references else None
    try:
        rows = _write_rows(s, ours, es, raw, say)
        rows += _read_rows(s, ours, es, say)
        say("W6: live latency")
        rows += latency_rows(ours.live_latency(s.latency))
    finally:
        ours.close()
        if es:
            es.close()
        if raw:
            raw.close()
        shutil.rmtree(work, ignore_errors=True)

    add_ratios(rows, _REFERENCES)
    if out is not None:
        write_json(rows, out, sizes=s, notes={"eventsourcing_synchronous": es and es.synchronous})
    return rows


def _write_rows(
    s: Sizes,
    ours: Workloads,
    es: _EventSourcing | None,
    raw: _Raw | None,
    say: Callable[[str], None],
) -> list[Row]:
    # Disk and CPU speed drift during a run (other processes), so each write workload is
    # cut into rounds and the rounds of all systems are interleaved: every system meets the
    # same conditions. A row's rate is its whole count over its summed time.
    timings: dict[str, list[float]] = {}
    rounds = s.rounds
    single, each, batches = per_round(s)
    bulk_rounds = {0, rounds // 2, rounds - 1}

    def measure(key: str, fn: Callable[[], float]) -> None:
        timings.setdefault(key, []).append(fn())

    for r in range(rounds):
        say(f"writes, round {r + 1} of {rounds}")
        measure("W1", lambda: ours.single(single))
        if es:
            measure("W1-es", lambda: es.single(single))
        if raw:
            measure("raw-1", lambda: raw.single(single))
        measure("W2", lambda: ours.concurrent(s.writers, each * s.writers))
        if es:
            measure("W2-es", lambda: es.concurrent(s.writers, each * s.writers))
        if raw:
            measure("raw-16", lambda: raw.concurrent(s.writers, each * s.writers))
            measure("raw-16q", lambda: raw.queued(s.writers, each * s.writers))
        measure("W3", lambda: ours.batches(batches, s.batch))
        if es:
            measure("W3-es", lambda: es.batches(batches, s.batch))
        if raw and r in bulk_rounds:
            measure("raw-bulk", lambda: raw.bulk(s.raw_rows))

    rows = our_write_rows(timings, s)

    def add(
        key: str, workload: str, system: str, what: str, count: int, unit: str = "events/s"
    ) -> None:
        rows.append(summed_row(timings, key, workload, system, what, count, unit))

    w1_count = single * rounds
    w2_count = each * s.writers * rounds
    w3_count = batches * s.batch * rounds
    if es:
        add("W1-es", "W1", "eventsourcing", "insert_events, 1 event", w1_count)
        add(
            "W2-es", "W2", "eventsourcing", f"insert_events, 1 event, {s.writers} threads", w2_count
        )
        add("W3-es", "W3", "eventsourcing", f"insert_events, {s.batch} events", w3_count)
    if raw:
        add("raw-1", "W1", "sqlite3", "one row per transaction", w1_count, "rows/s")
        add(
            "raw-16", "W2", "sqlite3", f"a row per append, {s.writers} threads, group commit",
            w2_count, "rows/s",
        )  # fmt: skip
        add(
            "raw-16q", "W2", "sqlite3",
            f"a row per append, {s.writers} threads, one committing thread",
            w2_count, "rows/s",
        )  # fmt: skip
        bulk = timings["raw-bulk"]
        seconds = statistics.median(bulk)
        rows.append(
            Row(
                "raw-bulk", "W3", "sqlite3", f"{s.raw_rows:,} rows in one transaction",
                s.raw_rows, seconds, s.raw_rows / seconds, "rows/s",
                notes={"runs": len(bulk), "rate_of": "median run"},
            )
        )  # fmt: skip
    return rows


def per_round(s: Sizes) -> tuple[int, int, int]:
    """Per round of the write workloads: W1's appends, each W2 writer's, W3's batches."""
    return (
        max(1, s.single // s.rounds),
        max(1, s.concurrent // s.writers // s.rounds),
        max(1, s.batches // s.rounds),
    )


def summed_row(
    timings: dict[str, list[float]],
    key: str,
    workload: str,
    system: str,
    what: str,
    count: int,
    unit: str = "events/s",
) -> Row:
    """A write row: its whole count over the summed time of its rounds."""
    seconds = sum(timings[key])
    return Row(key, workload, system, what, count, seconds, count / seconds, unit)


def our_write_rows(timings: dict[str, list[float]], s: Sizes) -> list[Row]:
    """W1-W3 from the timings of their rounds (the counts of :func:`per_round`)."""
    single, each, batches = per_round(s)
    return [
        summed_row(timings, "W1", "W1", "safe-eventstore", "single-event appends, 1 writer",
                   single * s.rounds),
        summed_row(timings, "W2", "W2", "safe-eventstore",
                   f"single-event appends, {s.writers} writers", each * s.writers * s.rounds),
        summed_row(timings, "W3", "W3", "safe-eventstore", f"{s.batch}-event batch appends",
                   batches * s.batch * s.rounds),
    ]  # fmt: skip


ReadWorkload = tuple[str, str, str, str, Callable[[], tuple[int, float]]]
"""A read row to measure: id, workload, system, what, and the run giving (count, seconds)."""


def our_reads(ours: Workloads, events: int) -> list[ReadWorkload]:
    """W4-W6 on our store, filled beforehand with ``ours.fill(events)``."""
    return [
        ("W4", "W4", "safe-eventstore", "read_stream, decoded events", ours.read_stream),
        ("W5", "W5", "safe-eventstore", "read_all, decoded events", ours.read_all),
        (
            "W6", "W6", "safe-eventstore", "subscription catch-up, decoded events",
            lambda: ours.catch_up(events),
        ),
    ]  # fmt: skip


def best_reads(reads: list[ReadWorkload], repeat: int, say: Callable[[str], None]) -> list[Row]:
    """Reads are bound by the CPU: each runs ``repeat`` times, interleaved with the others,
    and the fastest run counts (the one least disturbed by other processes)."""
    best: dict[str, tuple[int, float]] = {}
    for r in range(repeat):
        for key, _, _, what, fn in reads:
            say(f"{key}: {what}, run {r + 1} of {repeat}")
            count, seconds = fn()
            if key not in best or seconds < best[key][1]:
                best[key] = (count, seconds)
    rows = []
    for key, workload, system, what, _ in reads:
        count, seconds = best[key]
        rows.append(Row(key, workload, system, what, count, seconds, count / seconds, "events/s"))
    return rows


def _read_rows(
    s: Sizes, ours: Workloads, es: _EventSourcing | None, say: Callable[[str], None]
) -> list[Row]:
    say(f"reads: storing {s.read:,} events")
    ours.fill(s.read)
    if es:
        es.fill(s.read)
    reads = our_reads(ours, s.read)
    if es:
        reads += [
            ("W4-es", "W4", "eventsourcing", "select_events", es.read_stream),
            ("W5-es", "W5", "eventsourcing", "select_notifications, 1000 a page", es.read_all),
        ]
    return best_reads(reads, s.read_repeat, say)


def latency_rows(latencies: list[float]) -> list[Row]:
    """The W6 live row (p99 as its rate, p50 in its notes); none without latencies."""
    if not latencies:
        return []
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99) - 1)]
    return [
        Row(
            "W6-live", "W6", "safe-eventstore", "live delivery latency, append to event",
            len(ms), sum(ms) / 1000, p99, "ms p99",
            notes={"p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": ms[-1]},
        )
    ]  # fmt: skip


_REFERENCES = {
    "W1": ("W1-es", "raw-1"),
    "W2": ("W2-es", "W1", "raw-16"),
    # how far threads get on this machine when an append costs nothing but its row
    "raw-16": ("raw-1", "W1"),
    "raw-16q": ("raw-1", "W1"),  # the same without the store's group commit
    "W3": ("W3-es", "raw-bulk"),
    "W4": ("W4-es",),
    "W5": ("W5-es",),
    "W6": ("W5-es",),
}


def add_ratios(rows: list[Row], references: dict[str, tuple[str, ...]]) -> None:
    """Sort the rows by workload and set each row's ratio to its reference rows."""
    order = ("W1", "W2", "W3", "W4", "W5", "W6")
    rows.sort(key=lambda r: order.index(r.workload))
    by_id = {r.id: r for r in rows}
    for row in rows:
        for ref in references.get(row.id, ()):
            if ref in by_id and by_id[ref].rate > 0:
                row.ratios[ref] = row.rate / by_id[ref].rate


def write_json(
    rows: list[Row],
    out: str | os.PathLike[str],
    *,
    sizes: Sizes,
    notes: dict[str, Any] | None = None,
) -> None:
    document = {
        "machine": machine(),
        "sizes": asdict(sizes),
        "notes": notes or {},
        "rows": [asdict(replace(r, rate=round(r.rate, 1))) for r in rows],
    }
    Path(out).write_text(json.dumps(document, indent=2) + "\n")


COLUMNS = ("id", "system", "what", "count", "rate", "vs reference")


def table(rows: list[Row]) -> list[tuple[str, ...]]:
    """The rows as strings, in :data:`COLUMNS` order."""
    lines: list[tuple[str, ...]] = []
    for r in rows:
        rate = f"{r.rate:,.2f} {r.unit}" if r.unit.startswith("ms") else f"{r.rate:,.0f} {r.unit}"
        if r.id == "W6-live":
            rate = f"p50 {r.notes['p50_ms']:.2f} ms, p99 {r.notes['p99_ms']:.2f} ms"
        ratios = ", ".join(f"{v:.2f}x {k}" for k, v in r.ratios.items())
        lines.append((r.id, r.system, r.what, f"{r.count:,}", rate, ratios))
    return lines


def format_table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    body = table(rows)
    widths = [max(len(c), *(len(line[i]) for line in body)) for i, c in enumerate(COLUMNS)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(COLUMNS), rule, *(fmt(line) for line in body)])
