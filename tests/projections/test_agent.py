"""The agent on every backend: one active instance per projection (a lease in the store),
standby and take-over, failures recorded and retried, status of what the store holds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

from .bank import Deposited, balances, expected_balances

TTL = 0.6  # short, so a take-over happens quickly; nothing here asserts a duration


def _fill(db: ses.Database, n: int, accounts: int = 4, amount: int = 1) -> None:
    for at in range(0, n, 50):
        streams: dict[str, list[object]] = {}
        for i in range(at, min(at + 50, n)):
            streams.setdefault(f"Account-{i % accounts}", []).append(Deposited(amount))
        db.append_batch([ses.StreamAppend(s, events) for s, events in streams.items()])


def _until(check: Callable[[], bool], step: Callable[[], object], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        step()
        time.sleep(0.02)


def _fragile(flag: dict[str, bool]) -> projections.Projection:
    """Sums deposits, and raises on an amount of 13 while ``flag["broken"]``."""
    p = projections.Projection("fragile", source=projections.category("Account"), initial=0)

    @p.on(Deposited)
    def _deposited(state: int, event: ses.RecordedEvent) -> int:
        if event.data.amount == 13 and flag["broken"]:
            raise ValueError("thirteen")
        return state + event.data.amount

    return p


def _by_name(db: ses.Database) -> dict[str, projections.ProjectionStatus]:
    return {s.name: s for s in projections.status(db)}


def test_an_agent_holds_the_lease_catches_up_and_releases_on_stop(db: ses.Database) -> None:
    _fill(db, 230)
    with projections.Agent(db, [balances()], page_size=50, owner="one") as agent:
        assert agent.run_once() > 0
        while agent.run_once():
            pass
        lease = db.get_lease("projection.balances.v1")
        assert lease is not None and lease.owner == "one"
        assert lease.info["state"] == "running"
        assert lease.info["source"] == {"kind": "category", "name": "Account", "types": None}
        s = _by_name(db)["balances"]
        assert s.state == "running" and s.owner == "one"
        assert s.position == s.head
        assert s.lag_events == 0 and s.lag_exact and s.lag_seconds == 0
    assert db.get_lease("projection.balances.v1") is None  # released on a clean stop
    model = projections.ReadModel(db, balances())
    expected = expected_balances(db)
    assert {k: model.state(k) for k in expected} == expected
    s = _by_name(db)["balances"]
    assert s.state == "stopped" and s.owner is None
    assert s.source == {"kind": "category", "name": "Account", "types": None}  # from the log


def test_status_counts_the_lag_of_a_stopped_projection(db: ses.Database) -> None:
    _fill(db, 40)
    with projections.Agent(db, [balances()], owner="one") as agent:
        agent.run_once()
    _fill(db, 30)
    s = _by_name(db)["balances"]
    assert s.state == "stopped"
    assert s.lag_events == 30 and s.lag_exact
    assert s.lag_seconds is not None and s.lag_seconds >= 0
    assert s.head == db.last_position() and s.position is not None and s.position < s.head


def test_a_standby_agent_takes_over_when_the_holder_stops(db: ses.Database) -> None:
    _fill(db, 100)
    first = projections.Agent(db, [balances()], lease_ttl=TTL, owner="first")
    second = projections.Agent(db, [balances()], lease_ttl=TTL, owner="second")
    try:
        first.run_once()
        second.run_once()
        assert first.states() == {"balances v1": "running"}
        assert second.states() == {"balances v1": "standby"}
        s = _by_name(db)["balances"]
        assert s.owner == "first" and s.standby == 1
        _fill(db, 60)
        first.release()
        assert _by_name(db)["balances"].state == "standby"  # nobody holds it, one waits
        _until(lambda: second.states()["balances v1"] == "running", second.run_once)
        while second.run_once():
            pass
        assert _by_name(db)["balances"].owner == "second"
        model = projections.ReadModel(db, balances())
        expected = expected_balances(db)
        assert {k: model.state(k) for k in expected} == expected
    finally:
        first.close()
        second.close()


def test_an_agent_whose_lease_was_taken_stops_writing_at_once(db: ses.Database) -> None:
    _fill(db, 50)
    stale = projections.Agent(db, [balances()], lease_ttl=TTL, owner="stale")
    fresh = projections.Agent(db, [balances()], lease_ttl=TTL, owner="fresh")
    try:
        stale.run_once()
        # the stale agent pauses past its lease; the other takes over and works
        _until(lambda: fresh.states()["balances v1"] == "running", fresh.run_once)
        _fill(db, 50)
        while fresh.run_once():
            pass
        checkpoint = db.get_checkpoint("projection.balances.v1")
        _fill(db, 50)
        # the stale agent wakes: its renewal is refused before any page is stored
        time.sleep(TTL / 3)
        assert stale.run_once() == 0
        assert stale.states()["balances v1"] == "standby"
        assert db.get_checkpoint("projection.balances.v1") == checkpoint
        while fresh.run_once():
            pass
        model = projections.ReadModel(db, balances())
        expected = expected_balances(db)
        assert {k: model.state(k) for k in expected} == expected
    finally:
        stale.close()
        fresh.close()


def test_a_failing_handler_stops_its_projection_only_until_retried(db: ses.Database) -> None:
    flag = {"broken": True}
    _fill(db, 40)
    db.append("Account-9", [Deposited(13)])
    bad = db.last_position()
    _fill(db, 40)
    seen: list[tuple[str, str, str]] = []
    with projections.Agent(
        db,
        [_fragile(flag), balances()],
        page_size=10,
        owner="one",
        on_state=lambda *change: seen.append(change),
    ) as agent:
        while agent.run_once():
            pass
        assert agent.states() == {"fragile v1": "failed", "balances v1": "running"}
        assert ("fragile v1", "failed") in [c[:2] for c in seen]
        s = _by_name(db)
        assert s["balances"].lag_events == 0  # the other one kept up
        failed = s["fragile"]
        assert failed.state == "failed" and failed.failure is not None
        assert failed.failure.position == bad and failed.failure.stream == "Account-9"
        assert failed.failure.type == "p.Deposited" and "thirteen" in failed.failure.error
        assert "ValueError" in failed.failure.traceback
        assert failed.position is not None and failed.position < bad  # its page not stored
        assert failed.lag_events is not None and failed.lag_events > 40
        # a new agent with the handler fixed stays blocked: the failure is recorded
        flag["broken"] = False
        agent.release()
    with projections.Agent(db, [_fragile(flag)], lease_ttl=TTL, owner="two") as agent:
        agent.run_once()
        assert agent.states() == {"fragile v1": "failed"}
        assert projections.retry(db, "fragile") == [1]
        _until(lambda: agent.states()["fragile v1"] == "running", agent.run_once)
        while agent.run_once():
            pass
    model = projections.ReadModel(db, _fragile(flag))
    sums: dict[str, int] = {}
    for event in db.read_category("Account"):
        sums[event.stream] = sums.get(event.stream, 0) + event.data.amount
    assert {k: model.state(k) for k in sums} == sums
    assert _by_name(db)["fragile"].state == "stopped"
    assert projections.retry(db, "fragile") == []  # not failed: nothing recorded


def test_status_and_retry_of_an_unknown_projection_write_nothing(db: ses.Database) -> None:
    _fill(db, 10)
    before = db.last_position()
    with pytest.raises(projections.ProjectionNotFound):
        projections.status(db, "nothing")
    with pytest.raises(projections.ProjectionNotFound):
        projections.retry(db, "nothing")
    with pytest.raises(projections.ProjectionNotFound):
        projections.retry(db, "not a name")
    assert isinstance(projections.ProjectionNotFound("x"), ses.InvalidInput)
    assert projections.status(db) == []
    assert db.last_position() == before
    with pytest.raises(projections.InvalidProjection):
        projections.Agent(db, [balances()], lease_ttl=0)
    with pytest.raises(projections.DuplicateProjection):
        projections.Agent(db, [balances(), balances()])
    assert db.list_leases() == [] and db.last_position() == before


def test_the_async_agent_runs_takes_over_and_records_failures(db: ses.Database) -> None:
    async def scenario() -> None:
        adb = ses.AsyncDatabase(db)
        _fill(adb.sync, 80)
        adb.sync.append("Account-1", [Deposited(13)])
        flag = {"broken": True}
        first = projections.AsyncAgent(adb, [balances(), _fragile(flag)], lease_ttl=TTL, owner="a1")
        second = projections.AsyncAgent(adb, [balances()], lease_ttl=TTL, owner="a2")
        while await first.run_once():
            pass
        await second.run_once()
        assert first.states() == {"balances v1": "running", "fragile v1": "failed"}
        assert second.states() == {"balances v1": "standby"}
        found = {s.name: s for s in await projections.status_async(adb)}
        assert found["fragile"].state == "failed"
        await first.close()
        stop = asyncio.Event()
        task = asyncio.create_task(second.run(stop))
        deadline = time.monotonic() + 60
        while second.states()["balances v1"] != "running" or (
            (await projections.status_async(adb, "balances"))[0].lag_events
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await second.close()
        assert await projections.retry_async(adb, "fragile") == [1]
        model = projections.AsyncReadModel(adb, balances())
        expected = expected_balances(adb.sync)
        assert {k: await model.state(k) for k in expected} == expected

    asyncio.run(scenario())


def test_run_follows_new_events_until_stopped(db: ses.Database) -> None:
    stop = threading.Event()
    agent = projections.Agent(db, [balances()], lease_ttl=TTL, owner="live")
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        _fill(db, 30)
        model = projections.ReadModel(db, balances())
        _until(lambda: model.state("Account-0") == 8, lambda: None)
    finally:
        stop.set()
        thread.join(30)
        agent.close()
    assert db.get_lease("projection.balances.v1") is None


def test_the_lag_is_a_flagged_lower_bound_past_the_limit(
    db: ses.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safe_eventstore.projections import _status

    counter = projections.Projection("counter", source=projections.whole_database(), initial=0)

    @counter.on(Deposited)
    def _counted(state: int, event: ses.RecordedEvent) -> int:
        return state + 1

    _fill(db, 20)
    with projections.Agent(db, [counter], owner="one") as agent:
        while agent.run_once():
            pass
        _fill(db, 30)
        s = _by_name(db)["counter"]
        # the projection's own entries and log are not source events
        assert s.lag_events == 30 and s.lag_exact and s.head == db.last_position()
        monkeypatch.setattr(_status, "LAG_LIMIT", 10)
        s = _by_name(db)["counter"]
        assert s.lag_events == 10 and not s.lag_exact
        assert s.lag_seconds is not None and s.lag_seconds >= 0
        while agent.run_once():
            pass
        s = _by_name(db)["counter"]
        assert s.lag_events == 0 and s.lag_exact and s.lag_seconds == 0


def test_many_declared_types_stay_out_of_the_lease_info(db: ses.Database) -> None:
    types = [f"Type{i:04d}_with_a_long_name" for i in range(100)]
    wide = projections.Projection("wide", source=projections.category("Account"), types=types)

    @wide.on(types[0])
    def _first(state: object, event: ses.RecordedEvent) -> int:
        return 1

    db.append("Account-1", [ses.NewEvent(types[0], {})])
    with projections.Agent(db, [wide], owner="one") as agent:
        agent.run_once()
        lease = db.get_lease("projection.wide.v1")
        assert lease is not None and lease.info["source"]["type_count"] == 100
        s = _by_name(db)["wide"]
        assert s.source is not None and s.source["types"] == sorted(types)
        assert s.state == "running" and s.lag_events == 0


def test_status_shows_a_rebuild_and_the_version_it_retires(db: ses.Database) -> None:
    _fill(db, 230)
    with projections.Agent(db, [balances(1)], owner="one") as agent:
        while agent.run_once():
            pass
        assert projections.active_version(db, "balances") == 1
    with projections.Agent(db, [balances(1), balances(2)], page_size=10, owner="two") as agent:
        agent.run_once()  # a turn is a bounded number of pages: version 2 is not caught up
        by_version = {s.version: s for s in projections.status(db, "balances")}
        assert by_version[1].state == "running" and by_version[2].state == "rebuilding"
        assert by_version[2].lag_events is not None and by_version[2].lag_events > 0
        while agent.run_once():
            pass
        agent.run_once()  # the retired version is seen as such on the next turn
        assert agent.states() == {"balances v1": "retired", "balances v2": "running"}
        assert projections.active_version(db, "balances") == 2
        by_version = {s.version: s for s in projections.status(db, "balances")}
        assert by_version[1].state == "retired" and by_version[2].state == "running"
    model = projections.ReadModel(db, balances(2))
    expected = expected_balances(db)
    assert {k: model.state(k) for k in expected} == expected
