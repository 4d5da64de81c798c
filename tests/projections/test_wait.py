"""Read-your-writes: a read model waits until its projection has applied a position."""

from __future__ import annotations

import asyncio
import threading

import pytest

import safe_eventstore as ses
from safe_eventstore import projections


def _counts() -> projections.Projection:
    p = projections.Projection(
        "counts", source=projections.category("Tally"), types=["Ticked"], initial=0
    )

    @p.on("Ticked")
    def _(state: int, event: ses.RecordedEvent) -> int:
        return state + 1

    return p


def test_wait_returns_once_a_running_agent_applied_the_position(db: ses.Database) -> None:
    counts = _counts()
    model = projections.ReadModel(db, counts)
    first = db.append("Tally-1", [ses.NewEvent("Ticked", {})])
    assert model.wait(first.position, timeout=0) is False  # nobody runs it yet
    stop = threading.Event()
    with projections.Agent(db, [counts], owner="w") as agent:
        worker = threading.Thread(target=agent.run, args=(stop,), kwargs={"wait": 0.1})
        worker.start()
        try:
            for n in range(2, 6):
                written = db.append("Tally-1", [ses.NewEvent("Ticked", {})])
                assert model.wait(written.position, timeout=30)
                assert model.state("Tally-1") == n
        finally:
            stop.set()
            worker.join()


def test_wait_refuses_bad_input(db: ses.Database) -> None:
    model = projections.ReadModel(db, _counts())
    for bad in (-1, "3", True, 1.5):
        with pytest.raises(projections.InvalidProjection):
            model.wait(bad)  # type: ignore[arg-type]
    for timeout in (-1, "1", True):
        with pytest.raises(projections.InvalidProjection):
            model.wait(0, timeout=timeout)  # type: ignore[arg-type]


def test_the_async_wait(store_url: str) -> None:
    async def scenario() -> None:
        counts = _counts()
        store = await ses.open_async(store_url)
        adb = await store.create_database("bank")
        model = projections.AsyncReadModel(adb, counts)
        written = await adb.append("Tally-1", [ses.NewEvent("Ticked", {})])
        assert await model.wait(written.position, timeout=0) is False
        async with projections.AsyncRunner(adb, [counts]) as runner:
            await runner.run_once()
        assert await model.wait(written.position, timeout=1)
        assert await model.state("Tally-1") == 1
        await store.close()

    asyncio.run(scenario())
