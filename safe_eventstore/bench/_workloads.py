"""The workloads W1-W6 on one store of ours, and the sizes and timing tools every row uses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256

from .._database import Database
from .._model import ANY, NO_STREAM, NewEvent
from .._store import Store
from .._store import open as open_store

__all__ = [
    "EVENT_TYPE", "QUICK", "TOPIC", "Sizes", "Workloads", "event", "per_round", "state",
    "threads", "timer",
]  # fmt: skip

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
    commands: int = 5000  # C1-C3: commands
    aggregates: int = 100  # C2, C3: existing aggregates the commands go to
    history: int = 50  # C2, C3: events of each existing aggregate
    long: int = 10_000  # C4: events of the aggregate loaded
    snapshot_every: int = 1000  # C4: events between snapshots
    loads: int = 20  # C4: loads timed
    http_appends: int = 1000  # H1: appends through the HTTP API (and in-process)
    big_stream: int = 1_000_000  # H3: events of the stream whose pages are served
    pages: int = 500  # H3: pages timed


QUICK = Sizes(
    single=20, writers=4, concurrent=40, batches=3, batch=10, read=300, latency=5,
    raw_rows=1000, rounds=1, read_repeat=1, commands=20, aggregates=4, history=5, long=50,
    snapshot_every=10, loads=2, http_appends=10, big_stream=500, pages=8,
)  # fmt: skip
"""Tiny sizes for a smoke run: checks the harness, measures nothing worth reading."""


def event(i: int) -> NewEvent:
    return NewEvent(EVENT_TYPE, {"account": "acc-1", "amount": i, "currency": "EUR"})


def state(i: int) -> bytes:
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


# Each write workload of each system has a database (file) of its own, so the work SQLite
# defers (checkpoints of the write-ahead log) is paid by the workload that caused it.


class Workloads:
    """W1-W6 on one store of ours, opened from a URL (the NATS bench script reuses them)."""

    fill_step = 10_000  # events per append when filling the read workloads' stream
    settle = 0.05  # seconds the live subscriber gets to finish its (empty) catch-up

    def __init__(self, url: str, *, keyfile: str | None = None, key_scope: str = "stream") -> None:
        # with a key file every database is encrypted (the -enc rows)
        self.encrypted = keyfile is not None
        self.key_scope = key_scope
        self.store: Store = open_store(url, keyfile=keyfile)
        self.dbs = {w: self._create(w) for w in ("w1", "w2", "w3")}
        self.round = 0

    def _create(self, name: str) -> Database:
        if not self.encrypted:
            return self.store.create_database(name)
        return self.store.create_database(name, encrypted=True, key_scope=self.key_scope)

    def single(self, n: int) -> float:
        self.round += 1
        stream = f"Single-{self.round}"
        db = self.dbs["w1"]
        with timer() as t:
            for i in range(n):
                db.append(stream, [event(i)], expected_version=i - 1 if i else NO_STREAM)
        return t[0]

    def concurrent(self, writers: int, n: int) -> float:
        self.round += 1
        db, each, r = self.dbs["w2"], n // writers, self.round

        def work(k: int) -> None:
            stream = f"Writer-{r}-{k}"
            for i in range(each):
                db.append(stream, [event(i)], expected_version=i - 1 if i else NO_STREAM)

        return threads(writers, work)

    def batches(self, batches: int, size: int) -> float:
        self.round += 1
        stream, db = f"Batch-{self.round}", self.dbs["w3"]
        with timer() as t:
            for b in range(batches):
                events = [event(b * size + i) for i in range(size)]
                db.append(stream, events, expected_version=b * size - 1 if b else NO_STREAM)
        return t[0]

    def fill(self, n: int) -> None:
        self.reads = self._create("reads")
        step = self.fill_step
        for start in range(0, n, step):
            events = [event(i) for i in range(start, min(n, start + step))]
            self.reads.append("Account-1", events, expected_version=start - 1 if start else ANY)

    def read_stream(self) -> tuple[int, float]:
        with timer() as t:
            count = sum(1 for _ in self.reads.read_stream("Account-1"))
        return count, t[0]

    def opening(self) -> Callable[[], tuple[int, float]]:
        """The W4-open run (an encrypted store, after :meth:`fill`): the scope cipher's
        ``open`` once for each stored payload of the W4 stream, and nothing else."""
        events = list(self.reads.read_stream("Account-1"))
        keys = self.reads._keyring()
        # Sealing is deterministic: sealing the plaintexts again gives the stored
        # ciphertexts, which their addresses confirm.
        sealed = [keys.sealer("Account-1", ())(e.payload) for e in events]
        assert all(sha256(c).hexdigest() == e.address for c, e in zip(sealed, events, strict=True))
        opener = keys.opener("Account-1", ())
        assert opener is not None

        def run() -> tuple[int, float]:
            with timer() as t:
                for payload in sealed:
                    opener(payload)
            return len(sealed), t[0]

        return run

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


def per_round(s: Sizes) -> tuple[int, int, int]:
    """Per round of the write workloads: W1's appends, each W2 writer's, W3's batches."""
    return (
        max(1, s.single // s.rounds),
        max(1, s.concurrent // s.writers // s.rounds),
        max(1, s.batches // s.rounds),
    )
