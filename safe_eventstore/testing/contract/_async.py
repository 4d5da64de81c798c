"""The asyncio API."""

from __future__ import annotations

import asyncio

import pytest

import safe_eventstore as ses

from ._fixtures import PATIENCE, _new, _query


def test_the_async_api_reads_and_appends_events(store_url: str) -> None:
    async def main() -> list[str]:
        async with ses.open_async(store_url) as store:
            db = await store.create_database("asyncdb")
            await db.append_events([ses.NewEvent("A", {}, tags=("t",))])
            with pytest.raises(ses.AppendConditionFailed):
                await db.append_events([ses.NewEvent("B")], condition=ses.AppendCondition())
            assert await db.last_position() == 1
            tagged = ses.AppendCondition(_query(([], ["t"])), after=1)
            await db.append_events([ses.NewEvent("C", {}, tags=("t",))], condition=tagged)
            return [e.type async for e in db.read_events(_query(([], ["t"])))]

    assert asyncio.run(main()) == ["A", "C"]


def test_async_api(store_url: str) -> None:
    async def main() -> None:
        store = await ses.open_async(store_url)
        try:
            db = await store.create_database("asyncdb")
            assert await store.list_databases() == ["asyncdb"]
            with pytest.raises(ses.DatabaseExists):
                await store.create_database("asyncdb")
            with pytest.raises(ses.DatabaseNotFound):
                await store.database("missing")
            first = await db.append(
                "Account-1", [_new("Opened"), _new(amount=5)], expected_version=ses.NO_STREAM
            )
            assert (first.first_version, first.last_version) == (0, 1)
            with pytest.raises(ses.WrongExpectedVersion):
                await db.append("Account-1", [_new(amount=1)], expected_version=ses.NO_STREAM)
            with pytest.raises(ses.InvalidName):
                await db.append("bad name", [_new()])
            await db.append("Account-2", [_new("Opened")])
            assert await db.stream_version("Account-1") == 1
            assert [e.version for e in await db.read_stream("Account-1")] == [0, 1]
            assert [e.stream async for e in db.read_all()] == ["Account-1"] * 2 + ["Account-2"]
            assert len(await db.read_category("Account", from_position=first.position)) == 2
            await db.restructure("Account-1", 1, _new(amount=50), reason="typo")
            assert (await db.read_stream("Account-1"))[1].data == {"amount": 50}
            assert await db.list_streams() == ["Account-1", "Account-2"]
            assert await db.list_categories() == ["Account"]
            assert (await db.verify()).ok
            assert (await db.stats())["events"] == 3
            again = await store.database("asyncdb")
            assert await again.stream_version("Account-2") == 0
        finally:
            await store.close()
        with pytest.raises(ses.StoreClosed):
            await db.stream_version("Account-1")

    asyncio.run(main())


def test_async_subscription(store_url: str) -> None:
    async def main() -> None:
        async with ses.open_async(store_url) as store:
            db = await store.create_database("asyncdb")
            for n in range(3):
                await db.append("Cart-1", [_new("Added", n=n)])

            async def write() -> None:
                for n in range(3, 10):
                    await db.append(("Cart-1", "Other-1")[n % 2], [_new("Added", n=n)])

            got: list[int] = []
            async with db.subscribe(
                category="Cart", checkpoint="async", idle_timeout=PATIENCE
            ) as sub:
                writer = asyncio.create_task(write())
                async for event in sub:
                    got.append(event.data["n"])
                    await sub.save_checkpoint(event.position)
                    if len(got) == 6:
                        break
                await writer
            assert got == [0, 1, 2, 4, 6, 8]
            assert await db.get_checkpoint("async") == sub.position
            await db.append("Cart-1", [_new("Added", n=10)])
            async with db.subscribe(category="Cart", checkpoint="async", idle_timeout=0.2) as sub:
                assert [e.data["n"] async for e in sub] == [10]

    asyncio.run(main())
