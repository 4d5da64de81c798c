"""The asyncio twins on every backend: the same projections, the same stored states."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

from .bank import Deposited, Withdrawn, balances, depositors

T = TypeVar("T")


def _run(store_url: str, body: Callable[[ses.AsyncDatabase], Awaitable[T]]) -> T:
    async def main() -> T:
        async with ses.open_async(store_url) as store:
            return await body(await store.create_database("bank"))

    return asyncio.run(main())


def test_the_async_runner_folds_resumes_and_travels_in_time(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> None:
        for n in range(30):
            await db.append(f"Account-{n % 3}", [Deposited(n + 1), Withdrawn(1)])
        async with projections.AsyncRunner(db, [balances(), depositors()], page_size=7) as run:
            assert await run.run_once() == 60 + 30
        mark = await db.last_position()
        await db.append("Account-0", [Deposited(1000)])
        async with projections.AsyncRunner(db, [balances(), depositors()]) as run:
            assert await run.run_once() == 2
        model = projections.AsyncReadModel(db, balances())
        sums = [sum(n + 1 for n in range(30) if n % 3 == k) - 10 for k in range(3)]
        assert await model.state("Account-0") == sums[0] + 1000
        assert await model.state("Account-0", at_position=mark) == sums[0]
        assert [await model.state(f"Account-{k}") for k in (1, 2)] == sums[1:]
        total = await projections.AsyncReadModel(db, depositors()).state("total")
        assert total["sum"] == sum(range(1, 31)) + 1000
        history = await model.history("Account-0")
        assert history[-1].state == sums[0] + 1000

    _run(store_url, body)


def test_the_async_runner_follows_live_appends_until_stopped(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> None:
        p = projections.Projection("live", source=projections.category("Account"), initial=0)

        @p.on(Deposited)
        async def _(state: int, event: ses.RecordedEvent) -> int:
            await asyncio.sleep(0)
            return state + event.data.amount

        stop = asyncio.Event()
        runner = projections.AsyncRunner(db, [p])
        task = asyncio.create_task(runner.run(stop, wait=0.2))
        model = projections.AsyncReadModel(db, p)
        for n in range(5):
            await db.append("Account-1", [Deposited(n + 1)])
        async with asyncio.timeout(30):
            while await model.state("Account-1") != 15:
                await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 30)
        runner.close()

    _run(store_url, body)


def test_the_async_runner_refuses_a_sync_database(db: ses.Database) -> None:
    with pytest.raises(projections.InvalidProjection):
        projections.AsyncRunner(db, [balances()])  # type: ignore[arg-type]


def test_the_sync_runner_inside_an_event_loop_is_a_typed_error(db: ses.Database) -> None:
    db.append("Account-1", [Deposited(1)])

    async def body() -> None:
        with projections.Runner(db, [balances()]) as runner:
            with pytest.raises(projections.InvalidProjection, match="AsyncRunner"):
                runner.run_once()

    asyncio.run(body())
    assert db.list_checkpoints() == {}
