"""The P rows: the read side (``safe_eventstore.projections``) on an embedded SQLite store.

=====  ==============================================================================
P1     catch-up of a balance-per-account projection: ``Runner.run_once`` from an empty
       checkpoint over every stored event (``Sizes.read``, round-robin over up to 1,000
       accounts), states and checkpoint stored as the runner stores them
P1-es  the same fold by the ``eventsourcing`` library's ``ProjectionRunner`` into a view on
       its SQLite tracking recorder, over the same events stored by its ``Application``
P2     live lag: a runner follows (``run(stop)`` in a thread); events are appended one at a
       time, each timed from the append's return until a reader sees its state: the
       page's state entry delivered to a subscriber, then ``ReadModel.state`` read back
=====  ==============================================================================

P2 runs on NATS too (``bench --nats``). P1 is compared with P1-es and with W6 (subscription
catch-up, no folding) of the same run.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import projections
from .._database import Database
from .._model import NO_STREAM, NewEvent, RecordedEvent, StreamAppend
from ._rows import ReadWorkload, Row, best_reads, our_reads
from ._workloads import Sizes, Workloads, timer

__all__ = ["REFERENCES", "TARGETS", "accounts", "projection_rows"]

REFERENCES = {"P1": ("P1-es", "W6")}
"""The rows P1 is compared with."""

TARGETS = {"P1": ">= 2.0x P1-es, >= 0.5x W6", "P2": "< 20 ms p99"}

ACCOUNTS = 1000
STATE_TYPE = "ProjectionState"  # the type of a projection's stored state entries
P1_REPEAT = 3  # each catch-up runs this often (a new projection each time); the best counts


def accounts(s: Sizes) -> int:
    """The accounts P1's events are spread over: 1,000, fewer for tiny sizes."""
    return max(1, min(ACCOUNTS, s.read // 100))


def balances(name: str) -> projections.Projection:
    """A balance per account (its stream): the sum of its events' amounts."""
    p = projections.Projection(
        name,
        source=projections.category("Account"),
        types=("Opened", "Deposited"),
        initial=0,
    )

    @p.on("Opened", "Deposited")
    def add(state: int, event: RecordedEvent) -> int:
        return state + int(event.data["amount"])

    return p


def _fill(db: Database, n: int, count: int) -> dict[str, int]:
    """``count`` events over ``n`` accounts, one event per account and round, a batch a
    round; the expected balances."""
    rounds = max(1, count // n)
    expected = dict.fromkeys((f"Account-{k}" for k in range(n)), 0)
    for r in range(rounds):
        kind = "Deposited" if r else "Opened"
        appends = [
            StreamAppend(stream, [NewEvent(kind, {"amount": r + 1})], r - 1 if r else NO_STREAM)
            for stream in expected
        ]
        db.append_batch(appends)
        for stream in expected:
            expected[stream] += r + 1
    return expected


class Catchups:
    """P1: each run folds the stored events into a new projection from an empty checkpoint."""

    def __init__(self, db: Database, expected: dict[str, int]) -> None:
        self.db = db
        self.expected = expected
        self.runs = 0

    def __call__(self) -> tuple[int, float]:
        self.runs += 1
        p = balances(f"balances{self.runs}")
        with timer() as t, projections.Runner(self.db, [p]) as runner:
            applied = runner.run_once()
        model = projections.ReadModel(self.db, p)
        wrong = [k for k, v in self.expected.items() if model.state(k) != v]
        if wrong:
            raise AssertionError(f"P1 folded wrong balances, for {wrong[:3]} and more")
        return applied, t[0]


def projection_rows(
    ours: Workloads,
    work: Path,
    s: Sizes,
    references: bool,
    say: Callable[[str], None],
    *,
    w6: bool,
) -> tuple[list[Row], dict[str, Any]]:
    """P1 (with P1-es when ``references`` and the library is installed) and P2 on ``ours``;
    with ``w6``, W6 too (its stream filled here), interleaved with P1. Notes for the JSON."""
    n = accounts(s)
    say(f"P1: storing {s.read:,} events over {n:,} accounts")
    db = ours.store.create_database("p1")
    expected = _fill(db, n, s.read)
    reads: list[ReadWorkload] = [
        ("P1", "P1", "safe-eventstore", f"projection catch-up, {n:,} account balances",
         Catchups(db, expected)),
    ]  # fmt: skip
    if w6:
        say(f"W6: storing {s.read:,} events")
        ours.fill(s.read)
        reads.append(our_reads(ours, s.read)[2])
    rows = best_reads(reads, min(P1_REPEAT, s.read_repeat), say)
    notes: dict[str, Any] = {}
    es = _es_reference(work, n, s.read, expected, say) if references else None
    if es is not None:
        row, durability = es
        rows.append(row)
        notes["durability-p1-es"] = durability
    say(f"P2: live lag of {s.latency} events")
    rows += lag_rows(ours.store.create_database("p2"), s.latency)
    rows[0].notes["target"] = TARGETS["P1"]
    return rows, notes


def _es_reference(
    work: Path, n: int, count: int, expected: dict[str, int], say: Callable[[str], None]
) -> tuple[Row, str] | None:
    try:
        from ._es_projection import EsProjections
    except ImportError:
        return None
    es = EsProjections(work)
    try:
        say(f"P1-es: storing {count:,} events over {n:,} accounts")
        es_expected = es.fill(n, count)
        say("P1-es: projection catch-up")
        seconds, folded = es.catch_up()
        if folded != es_expected or sorted(folded.values()) != sorted(expected.values()):
            raise AssertionError("P1-es folded other balances than P1")
        what = f"ProjectionRunner catch-up, {n:,} account balances"
        total = n * max(1, count // n)
        return Row("P1-es", "P1", "eventsourcing", what, total, seconds, total / seconds,
                   "events/s"), es.durability  # fmt: skip
    finally:
        es.close()


def lag_rows(db: Database, n: int) -> list[Row]:
    """P2: ``n`` single-event appends while a runner follows; the live lag of each."""
    p = balances("lag")
    model = projections.ReadModel(db, p)
    lags: list[float] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def follow() -> None:
        try:
            with projections.Runner(db, [p]) as runner:
                runner.run(stop, wait=0.2)
        except BaseException as exc:  # reported after the join
            failures.append(exc)

    runner = threading.Thread(target=follow)
    with db.subscribe(from_position=db.last_position() + 1) as seen:
        runner.start()
        try:
            for i in range(n):
                stream = f"Account-{i % 10}"
                result = db.append(stream, [NewEvent("Deposited", {"amount": 1})])
                start = time.perf_counter()
                _await_state(seen, result.position)
                state = model.state(stream)
                lags.append(time.perf_counter() - start)
                if state != i // 10 + 1:
                    raise AssertionError(f"P2 read {state} for {stream}, not {i // 10 + 1}")
                time.sleep(0.002)
        finally:
            stop.set()
            runner.join(30)
    if failures:
        raise failures[0]
    ms = sorted(x * 1000 for x in lags)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99) - 1)]
    what = "live lag, append to the read model's state"
    return [
        Row("P2", "P2", "safe-eventstore", what, len(ms), sum(ms) / 1000, p99, "ms p99",
            notes={"p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(ms[-1], 3),
                   "measured": "append's return to the state entry delivered to a subscriber "
                               "and read back by ReadModel.state", "target": TARGETS["P2"]})
    ]  # fmt: skip


def _await_state(seen: Any, position: int) -> None:
    """Wait until a state entry reflecting source ``position`` is delivered by ``seen``."""
    while True:
        event = seen.get(timeout=30)
        if event is None:
            raise TimeoutError(f"no state for position {position} within 30 s")
        if event.type == STATE_TYPE and event.data["position"] >= position:
            return
