"""Rebuilds without downtime on every backend: a new version of a projection is built beside
the served one, readers keep getting the old complete states until the new version has caught
up and is promoted (one promotion, however many runners race), and the old version is then
retired."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

from .bank import Deposited, Withdrawn, balances, expected_balances

ACTIVE = "projection.balances.active"
PAGE = 50


def _fill(db: ses.Database, n: int, accounts: int = 7, start: int = 0) -> None:
    for at in range(start, start + n, 50):
        streams: dict[str, list[object]] = {}
        for i in range(at, min(at + 50, start + n)):
            event = Withdrawn(1) if i % 5 == 3 else Deposited(i % 10 + 1)
            streams.setdefault(f"Account-{i % accounts}", []).append(event)
        db.append_batch([ses.StreamAppend(s, events) for s, events in streams.items()])


def totals(on_event: Any = None) -> projections.Projection:
    """Version 2 of ``balances``, with another fold (and another state shape): the balance
    and the number of movements. ``on_event(event)`` is called before each event is folded."""
    p = projections.Projection(
        "balances",
        source=projections.category("Account"),
        version=2,
        initial={"balance": 0, "moves": 0},
    )

    def fold(sign: int, state: dict[str, int], event: ses.RecordedEvent) -> dict[str, int]:
        if on_event is not None:
            on_event(event)
        return {"balance": state["balance"] + sign * event.data.amount, "moves": state["moves"] + 1}

    p.on(Deposited)(lambda state, event: fold(1, state, event))
    p.on(Withdrawn)(lambda state, event: fold(-1, state, event))
    return p


def expected_totals(db: ses.Database) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for event in db.read_category("Account"):
        sign = 1 if event.type == "p.Deposited" else -1
        now = found.get(event.stream, {"balance": 0, "moves": 0})
        found[event.stream] = {
            "balance": now["balance"] + sign * event.data.amount,
            "moves": now["moves"] + 1,
        }
    return found


def _promotions(db: ses.Database) -> list[int]:
    return [e.data["version"] for e in db.read_stream(ACTIVE)]


def _built_v1(db: ses.Database) -> None:
    _fill(db, 230)
    with projections.Runner(db, [balances()], page_size=PAGE) as runner:
        assert runner.run_once() == 230
    # an existing version 1 with no promotion recorded is promoted on its first catch-up
    assert projections.active_version(db, "balances") == 1


def test_readers_get_the_complete_old_states_on_every_page_of_a_rebuild(
    db: ses.Database,
) -> None:
    assert projections.active_version(db, "balances") is None
    _built_v1(db)
    reader = projections.ReadModel(db, totals(), cache=0)
    pages: list[int | None] = []  # the checkpoints of version 2 the reader was checked at
    last: list[object] = ["unchecked"]

    def check(event: ses.RecordedEvent) -> None:
        # before each event version 2 folds: whenever a page of it has been stored since
        # the last look, the reader must still get version 1's complete states (the current
        # ones), never the half-built version 2
        stored = db.get_checkpoint("projection.balances.v2")
        if stored != last[0]:
            last[0] = stored
            expected = expected_balances(db)
            assert {s: reader.state(s) for s in expected} == expected
            pages.append(stored)
        if len(pages) == 3:
            pages.append(-1)
            raise RuntimeError("stop the rebuild in the middle")

    with projections.Runner(db, [balances(), totals(check)], page_size=PAGE) as runner:
        with pytest.raises(projections.HandlerFailed):
            runner.run_once()
    assert pages[0] is None and len(pages) == 4  # not started, then two pages stored
    assert projections.active_version(db, "balances") == 1

    # version 1 goes on being updated and served while version 2 is not caught up
    _fill(db, 120, start=230)
    last[0] = "unchecked"
    with projections.Runner(db, [balances(), totals(check)], page_size=PAGE) as runner:
        runner.run_once()
    # resumed from its checkpoint (page 2), then pages 3 to 6 of 7; page 7 is checked below
    assert pages[4] == pages[2] and len(pages) == 9
    assert pages[4:] == sorted(pages[4:])  # type: ignore[type-var]
    assert projections.active_version(db, "balances") == 2
    assert _promotions(db) == [1, 2]
    promoted = next(iter(db.read_stream(ACTIVE, backwards=True, limit=1)))
    assert promoted.type == "ProjectionPromoted"
    assert promoted.data["position"] == db.get_checkpoint("projection.balances.v2")

    assert {s: reader.state(s) for s in expected_totals(db)} == expected_totals(db)
    assert reader.history("Account-1")[-1].state == expected_totals(db)["Account-1"]
    # the old version is kept, and can be read by pinning it, or by its own projection
    pinned = projections.ReadModel(db, totals(), version=1)
    assert {s: pinned.state(s) for s in expected_balances(db)} == expected_balances(db)
    old = projections.ReadModel(db, balances())
    assert old.state("Account-2") == expected_balances(db)["Account-2"]


def test_a_version_built_before_versions_were_recorded_serves_during_a_rebuild(
    db: ses.Database,
) -> None:
    _fill(db, 120)
    expected = expected_balances(db)
    last = db.last_position()
    at = datetime.now(UTC).isoformat()
    # what a runner that recorded no versions left: states and a checkpoint, nothing active
    db.append_batch(
        [
            ses.StreamAppend(
                f"projection.balances.v1-{key}",
                [
                    ses.NewEvent(
                        "ProjectionState",
                        {
                            "key": key,
                            "state": state,
                            "position": last,
                            "at": at,
                            "correction": False,
                        },
                    )
                ],
            )
            for key, state in expected.items()
        ],
        checkpoint=("projection.balances.v1", last),
    )
    assert projections.active_version(db, "balances") is None
    # no record: a reader reads the version it is given
    assert projections.ReadModel(db, balances()).state("Account-1") == expected["Account-1"]
    reader = projections.ReadModel(db, totals(), cache=0)
    checked: list[int | None] = []

    def check(event: ses.RecordedEvent) -> None:
        stored = db.get_checkpoint("projection.balances.v2")
        if not checked or stored != checked[-1]:
            assert {s: reader.state(s) for s in expected} == expected
            checked.append(stored)

    # version 2 deployed alone: the runner records version 1 as active first, then rebuilds
    with projections.Runner(db, [totals(check)], page_size=PAGE) as runner:
        assert runner.run_once() == 120
    assert len(checked) == 3  # before the first page, after the first and the second
    assert _promotions(db) == [1, 2]
    assert {s: reader.state(s) for s in expected} == expected_totals(db)


def test_a_retired_version_is_not_worked_and_a_restart_keeps_the_new_one(
    db: ses.Database,
) -> None:
    _built_v1(db)
    with projections.Runner(db, [totals()], page_size=PAGE) as runner:
        assert runner.run_once() == 230  # deployed alone: built, then promoted
    assert projections.active_version(db, "balances") == 2
    v1_checkpoint = db.get_checkpoint("projection.balances.v1")
    v1_state = projections.ReadModel(db, balances()).state("Account-3")

    _fill(db, 40, start=230)
    # only the new version works: the 40 new events once, the retired version never
    runs = [([balances()], 0), ([balances(), totals()], 40), ([totals(), balances()], 0)]
    for deployed, applied in runs:
        with projections.Runner(db, deployed, page_size=PAGE) as runner:
            assert runner.run_once() == applied
        assert db.get_checkpoint("projection.balances.v1") == v1_checkpoint
        assert projections.ReadModel(db, balances()).state("Account-3") == v1_state
        assert projections.active_version(db, "balances") == 2
        assert _promotions(db) == [1, 2]  # a restart promotes nothing again
    reader = projections.ReadModel(db, totals())
    assert reader.state("Account-3") == expected_totals(db)["Account-3"]


def test_a_restart_of_the_store_keeps_the_promoted_version(store_url: str) -> None:
    with ses.open(store_url) as store:
        db = store.create_database("bank")
        _built_v1(db)
        with projections.Runner(db, [balances(), totals()]) as runner:
            runner.run_once()
        assert projections.active_version(db, "balances") == 2
        if store_url.startswith("memory"):
            return  # nothing outlives a memory store
    with ses.open(store_url) as store:
        db = store.database("bank")
        assert projections.active_version(db, "balances") == 2
        _fill(db, 10, start=230)
        with projections.Runner(db, [balances(), totals()]) as runner:
            assert runner.run_once() == 10
        assert _promotions(db) == [1, 2]
        reader = projections.ReadModel(db, totals())
        assert reader.state("Account-0") == expected_totals(db)["Account-0"]


def test_two_runners_racing_to_promote_record_one_promotion(
    db: ses.Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Runner ``b`` reads the active version, then (inside its first handler call) runner
    ``a`` builds and promotes version 2 before ``b`` has stored a page: ``b``'s pages and its
    promotion both lose the race, and ``b`` finds version 2 already active."""
    _built_v1(db)
    adb = ses.AsyncDatabase(db)

    async def race() -> None:
        a = projections.AsyncRunner(adb, [totals()], page_size=PAGE)
        b_projection = projections.Projection(
            "balances",
            source=projections.category("Account"),
            version=2,
            initial={"balance": 0, "moves": 0},
        )
        first = [True]

        @b_projection.on(Deposited, Withdrawn)
        async def _(state: dict[str, int], event: ses.RecordedEvent) -> dict[str, int]:
            if first[0]:
                first[0] = False
                assert await a.run_once() == 230
                assert await projections.active_version_async(adb, "balances") == 2
            sign = 1 if event.type == "p.Deposited" else -1
            return {
                "balance": state["balance"] + sign * event.data.amount,
                "moves": state["moves"] + 1,
            }

        async with a, projections.AsyncRunner(adb, [b_projection], page_size=PAGE) as b:
            await b.run_once()
            assert not first[0]  # the race happened

    with caplog.at_level(logging.INFO, logger="safe_eventstore.projections"):
        asyncio.run(race())
    assert _promotions(db) == [1, 2]
    assert sum("caught up and promoted" in r.getMessage() for r in caplog.records) == 1
    reader = projections.ReadModel(db, totals())
    assert {s: reader.state(s) for s in expected_totals(db)} == expected_totals(db)


def test_a_rollback_promotes_a_built_older_version(db: ses.Database) -> None:
    _built_v1(db)
    with projections.Runner(db, [totals()]) as runner:
        runner.run_once()
    reader = projections.ReadModel(db, totals(), cache=0)
    assert reader.state("Account-1") == expected_totals(db)["Account-1"]
    projections.promote(db, "balances", 1)
    assert projections.active_version(db, "balances") == 1
    projections.promote(db, "balances", 1)  # already active: nothing recorded
    assert _promotions(db) == [1, 2, 1]
    _fill(db, 30, start=230)
    with projections.Runner(db, [balances()]) as runner:
        assert runner.run_once() == 30  # worked again, from where it was retired
    assert reader.state("Account-1") == expected_balances(db)["Account-1"]


def test_the_async_reader_reads_the_active_version_during_a_rebuild(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> None:
        for n in range(20):
            await db.append(f"Account-{n % 2}", [Deposited(n + 1)])
        async with projections.AsyncRunner(db, [balances()]) as runner:
            await runner.run_once()
        assert await projections.active_version_async(db, "balances") == 1
        reader = projections.AsyncReadModel(db, totals(), cache=0)
        assert await reader.state("Account-0") == sum(n + 1 for n in range(0, 20, 2))
        async with projections.AsyncRunner(db, [totals()], page_size=7) as runner:
            assert await runner.run_once() == 20
        assert await projections.active_version_async(db, "balances") == 2
        assert await reader.state("Account-0") == {
            "balance": sum(n + 1 for n in range(0, 20, 2)),
            "moves": 10,
        }
        pinned = projections.AsyncReadModel(db, totals(), version=1)
        assert (await pinned.history("Account-1"))[-1].state == sum(n + 1 for n in range(1, 20, 2))
        await projections.promote_async(db, "balances", 1)
        assert await reader.state("Account-0") == sum(n + 1 for n in range(0, 20, 2))

    async def main() -> None:
        async with ses.open_async(store_url) as store:
            await body(await store.create_database("bank"))

    asyncio.run(main())


def test_bad_versions_are_typed_errors_and_nothing_is_written(db: ses.Database) -> None:
    db.append("Account-1", [Deposited(5)])
    before = db.last_position()
    p = balances()
    for bad in (0, -1, True, "2", 1.0, 2.5):
        with pytest.raises(projections.InvalidProjection):
            projections.ReadModel(db, p, version=bad)  # type: ignore[arg-type]
        with pytest.raises(projections.InvalidProjection):
            projections.promote(db, "balances", bad)  # type: ignore[arg-type]
    for cache in (-1, "1", True, float("nan")):
        with pytest.raises(projections.InvalidProjection):
            projections.ReadModel(db, p, cache=cache)  # type: ignore[arg-type]
    with pytest.raises(projections.InvalidProjection):
        projections.ReadModel(db, "balances")  # type: ignore[arg-type]
    for name in ("", "bad name", "a-b", 3, None):
        with pytest.raises(projections.InvalidProjection):
            projections.active_version(db, name)  # type: ignore[arg-type]
        with pytest.raises(projections.InvalidProjection):
            projections.promote(db, name, 1)  # type: ignore[arg-type]
    with pytest.raises(projections.InvalidProjection):
        projections.active_version(ses.AsyncDatabase(db), "balances")  # type: ignore[arg-type]
    with pytest.raises(projections.InvalidProjection):
        asyncio.run(projections.active_version_async(db, "balances"))  # type: ignore[arg-type]
    with pytest.raises(projections.UnbuiltVersion, match="never built"):
        projections.promote(db, "balances", 1)  # no checkpoint: never built
    assert isinstance(projections.UnbuiltVersion("x"), ses.InvalidInput)
    assert db.last_position() == before
    assert _promotions(db) == []
