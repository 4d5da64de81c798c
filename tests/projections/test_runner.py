"""Runners on every backend: states folded exactly once, stored as streams in the same
batch as the checkpoint, one batch per page; resumed from the stored state; followed live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

from .bank import Deposited, Withdrawn, balances, depositors, expected_balances

CHECKPOINT = "projection.balances.v1"


def _fill(db: ses.Database, n: int, accounts: int = 5, start: int = 0) -> None:
    """``n`` events over ``accounts`` accounts, in batches of 50 (one per stream each)."""
    for at in range(start, start + n, 50):
        streams: dict[str, list[object]] = {}
        for i in range(at, min(at + 50, start + n)):
            day = f"2026-01-0{i % 3 + 1}"
            event = Withdrawn(1) if i % 7 == 3 else Deposited(i % 10 + 1, day=day)
            streams.setdefault(f"Account-{i % accounts}", []).append(event)
        db.append_batch([ses.StreamAppend(s, events) for s, events in streams.items()])


def _until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the read model did not catch up"
        time.sleep(0.02)


def test_a_catch_up_folds_every_event_once_with_one_batch_per_page(db: ses.Database) -> None:
    _fill(db, 230)
    db.append("Other-1", [Deposited(1000)])  # outside the source
    p = balances()
    with projections.Runner(db, [p], page_size=100) as runner:
        assert runner.run_once() == 230
        assert runner.run_once() == 0
    model = projections.ReadModel(db, p)
    expected = expected_balances(db)
    assert {s: model.state(s) for s in expected} == expected
    assert model.state("Other-1") == 0  # the initial state: never touched
    last_source = max(e.position for e in db.read_category("Account"))
    assert db.get_checkpoint(CHECKPOINT) == last_source
    # 230 events in pages of 100: every account changed in each of the 3 pages, so each key
    # stream holds 3 entries, not one per event
    for stream in expected:
        history = model.history(stream)
        assert len(history) == 3
        assert history[-1].state == expected[stream]
        assert [h.position for h in history] == sorted(h.position for h in history)
    own = [s for s in db.list_categories() if s.startswith("projection.")]
    assert sorted(own) == ["projection.balances.active", CHECKPOINT]  # promoted, and states


def test_a_new_runner_resumes_from_the_stored_states(db: ses.Database) -> None:
    _fill(db, 120)
    with projections.Runner(db, [balances()]) as runner:
        runner.run_once()
    _fill(db, 80, start=120)
    with projections.Runner(db, [balances()]) as runner:
        assert runner.run_once() == 80
    model = projections.ReadModel(db, balances())
    expected = expected_balances(db)
    assert {s: model.state(s) for s in expected} == expected


def test_keys_per_day_async_handlers_under_the_sync_runner(db: ses.Database) -> None:
    _fill(db, 60, accounts=4)
    p = depositors()
    with projections.Runner(db, [p, balances()], page_size=25) as runner:
        applied = runner.run_once()
    model = projections.ReadModel(db, p)
    deposits = [e for e in db.read_category("Account") if e.type == "p.Deposited"]
    assert applied == len(deposits) + 60  # depositors handle deposits only
    total = model.state("total")
    assert total["sum"] == sum(e.data.amount for e in deposits)
    assert total["accounts"] == sorted({e.stream for e in deposits})
    day = model.state("day-2026-01-02")
    assert day["sum"] == sum(e.data.amount for e in deposits if e.data.day == "2026-01-02")


def test_a_runner_that_fell_behind_another_starts_again_from_the_stored_checkpoint(
    db: ses.Database,
) -> None:
    _fill(db, 40)
    first = projections.Runner(db, [balances()], page_size=10)
    second = projections.Runner(db, [balances()], page_size=10)
    try:
        first.run_once()
        _fill(db, 40, start=40)
        second.run_once()  # moves the checkpoint and states past what ``first`` knows
        _fill(db, 40, start=80)
        first.run_once()  # its first page conflicts; it resumes from the stored checkpoint
        second.run_once()
    finally:
        first.close()
        second.close()
    model = projections.ReadModel(db, balances())
    expected = expected_balances(db)
    assert {s: model.state(s) for s in expected} == expected


def test_a_runner_whose_page_overlaps_one_stored_by_another_folds_nothing_twice(
    db: ses.Database,
) -> None:
    """``later`` subscribed from the start, then ``first`` stored a short page; ``later``'s
    page covers it and goes further, and it loads its keys after that store: their states
    already reflect part of its page, though its checkpoint would move forward."""
    later = projections.Runner(db, [balances()], page_size=40)
    failing = projections.Projection("balances", source=projections.category("Account"), initial=0)
    seen = [0]

    @failing.on(Deposited, Withdrawn)
    def _(state: int, event: ses.RecordedEvent) -> int:
        seen[0] += 1
        if seen[0] > 10:
            raise RuntimeError("stop after the first page")
        sign = 1 if event.type == "p.Deposited" else -1
        return state + sign * event.data.amount

    try:
        assert later.run_once() == 0  # subscribed, nothing to read yet
        _fill(db, 40, accounts=4)
        with projections.Runner(db, [failing], page_size=10) as first:
            with pytest.raises(projections.HandlerFailed):
                first.run_once()
        assert db.get_checkpoint(CHECKPOINT) is not None  # one short page stored
        later.run_once()
    finally:
        later.close()
    model = projections.ReadModel(db, balances())
    expected = expected_balances(db)
    assert {s: model.state(s) for s in expected} == expected


def test_stream_and_whole_database_sources_and_method_handlers(db: ses.Database) -> None:
    class Counter:
        def __init__(self) -> None:
            self.calls = 0

        def count(self, state: int, event: ses.RecordedEvent) -> int:
            self.calls += 1
            return state + 1

    counter = Counter()
    one = projections.Projection("one", source=projections.stream("Account-1"), initial=0)
    one.on(Deposited, Withdrawn)(counter.count)
    everything = projections.Projection(
        "everything", source=projections.whole_database(), key=lambda e: "all", initial=0
    )
    everything.on(Deposited, Withdrawn)(counter.count)
    _fill(db, 30, accounts=3)
    db.append("Other-1", [Deposited(1)])
    with projections.Runner(db, [one, everything]) as runner:
        runner.run_once()
        runner.run_once()  # the state entries of ``everything`` are not its source
    assert projections.ReadModel(db, one).state("Account-1") == 10
    assert projections.ReadModel(db, everything).state("all") == 31
    assert counter.calls == 41


def test_a_types_filter_reads_untyped_events_by_name(db: ses.Database) -> None:
    p = projections.Projection(
        "opened", source=projections.category("Account"), types=["Opened"], initial=[]
    )

    @p.on("Opened", key=lambda e: "owners")
    def _opened(state: list[str], event: ses.RecordedEvent) -> list[str]:
        return [*state, event.data["owner"]]

    db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"}), Deposited(5)])
    db.append("Account-2", [ses.NewEvent("Opened", {"owner": "bob"})])
    with projections.Runner(db, [p]) as runner:
        assert runner.run_once() == 2
    assert projections.ReadModel(db, p).state("owners") == ["ann", "bob"]


def test_keys_that_are_not_plain_names_are_hashed_into_stream_names(db: ses.Database) -> None:
    p = projections.Projection("odd", source=projections.category("Account"), initial=0)
    p.on(Deposited, key=lambda e: f"owner / {e.data.amount} é")(lambda s, e: s + 1)
    db.append("Account-1", [Deposited(1), Deposited(1), Deposited(2)])
    with projections.Runner(db, [p]) as runner:
        runner.run_once()
    model = projections.ReadModel(db, p)
    assert model.state("owner / 1 é") == 2
    assert model.state("owner / 2 é") == 1
    streams = list(db.list_streams("projection.odd.v1"))
    assert len(streams) == 2 and all("-~" in s for s in streams)


def test_run_follows_live_appends_until_stopped(db: ses.Database) -> None:
    _fill(db, 10)
    stop = threading.Event()
    runner = projections.Runner(db, [balances()])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(stop, wait=0.2)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    model = projections.ReadModel(db, balances())
    try:
        _until(lambda: model.state("Account-0") == expected_balances(db)["Account-0"])
        for n in range(5):
            db.append("Account-9", [Deposited(n + 1)])
        _until(lambda: model.state("Account-9") == 15)
    finally:
        stop.set()
        thread.join(30)
        runner.close()
    assert not thread.is_alive() and not errors
    assert db.get_checkpoint(CHECKPOINT) == max(e.position for e in db.read_category("Account"))


@pytest.mark.parametrize("page_size", [0, -1, True, "10"])
def test_a_bad_page_size_is_refused(db: ses.Database, page_size: object) -> None:
    with pytest.raises(projections.InvalidProjection):
        projections.Runner(db, [balances()], page_size=page_size)  # type: ignore[arg-type]


def test_the_default_page_is_large_only_where_the_backend_takes_large_batches(
    store_url: str, db: ses.Database
) -> None:
    large = not store_url.startswith("nats://")
    assert db.large_batches is large
    _fill(db, 230)
    p = balances()
    with projections.Runner(db, [p]) as runner:
        assert runner.page_size == (100_000 if large else 100)
        assert runner.run_once() == 230
    # one page on SQLite and memory: each key's state stored once; three pages on NATS
    history = projections.ReadModel(db, p).history("Account-0")
    assert len(history) == (1 if large else 3)
    assert history[-1].state == expected_balances(db)["Account-0"]
