"""The asyncio twins on every backend: the same domain code and handlers, the same
behaviour as the sync repository and router."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

import safe_eventstore as ses
from safe_eventstore import cqrs

from .bank import Account, Deposit, Deposited, Ledger, Open, Transfer, new_id, routes

T = TypeVar("T")


def _run(store_url: str, body: Callable[[ses.AsyncDatabase], Awaitable[T]]) -> T:
    async def main() -> T:
        async with ses.open_async(store_url) as store:
            return await body(await store.create_database("bank"))

    return asyncio.run(main())


def test_the_async_repository_saves_loads_and_travels_in_time(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> None:
        repo = cqrs.AsyncRepository(db, Ledger, cache=True)
        ledger = Ledger(new_id())
        ledger.open("ann")
        for n in range(1, 25):
            ledger.deposit(n)
        [result] = await repo.save(ledger)
        assert (result.last_version, ledger.version, ledger.pending) == (24, 24, ())
        middle = datetime.now(UTC)
        loaded = await repo.get(ledger.id)
        loaded.deposit(100)
        await repo.save(loaded)
        assert (await repo.get(ledger.id)).balance == 300 + 100
        assert (await repo.get(ledger.id, version=3)).balance == 6
        assert (await repo.get(ledger.id, at=middle)).balance == 300
        snapshots = await db.read_stream(f"Ledger.snapshot-{ledger.id}")
        assert [e.metadata["version"] for e in snapshots] == [24]
        with pytest.raises(cqrs.AggregateNotFound):
            await repo.get("nobody")

    _run(store_url, body)


def test_an_async_stale_save_conflicts_writes_nothing_and_evicts(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> None:
        repo = cqrs.AsyncRepository(db, Account, cache=True)
        account = Account(new_id())
        account.deposit(1)
        await repo.save(account)
        first, second = await repo.get(account.id), await repo.get(account.id)
        first.deposit(2)
        second.deposit(3)
        await repo.save(first)
        before = await db.read_all()
        with pytest.raises(ses.WrongExpectedVersion):
            await repo.save(second)
        assert await db.read_all() == before
        assert (await repo.get(account.id)).balance == 3

    _run(store_url, body)


def test_the_async_router_runs_the_same_handlers(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> None:
        router = cqrs.AsyncCommandRouter(db, retries=3)
        routes(router)
        a, b = new_id(), new_id()
        opened = await router.execute(Open(target_id=a, owner="ann"))
        assert opened.value == a
        command = Transfer(target_id=a, to_id=b, amount=30)
        first = await router.execute(command)
        assert first.streams == (f"Account-{a}", f"Account-{b}")
        before = await db.read_all()
        again = await router.execute(command)
        assert again.replayed and again.results == first.results
        assert (
            await router.execute(Open(target_id=a, owner="ann", command_id=opened.command_id))
        ).replayed
        assert await db.read_all() == before
        assert [e.causation_id for e in before[1:]] == [command.command_id] * 2
        with pytest.raises(cqrs.DomainError):
            await router.execute(Transfer(target_id=a, to_id=b, amount=71))
        with pytest.raises(cqrs.UnknownCommand):
            await router.execute(cqrs.Command(target_id=a))
        with pytest.raises(ses.WrongExpectedVersion):
            await router.execute(Deposit(target_id=a, amount=1, expected_version=0))
        assert await db.read_all() == before
        repo = cqrs.AsyncRepository(db, Account)
        assert ((await repo.get(a)).balance, (await repo.get(b)).balance) == (-30, 30)

    _run(store_url, body)


class RivalFirst:
    """A database on which another writer appends to ``stream`` just before the first
    batch append: a real conflict, at a known moment."""

    def __init__(self, db: ses.AsyncDatabase, stream: str) -> None:
        self.db = db
        self.stream = stream
        self.rivals = 0

    async def append_batch(self, appends: list[ses.StreamAppend]) -> list[ses.AppendResult]:
        if not self.rivals:
            self.rivals += 1
            await self.db.append(self.stream, [Deposited(100)])
        return await self.db.append_batch(appends)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_the_async_router_retries_a_conflict(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> None:
        id = new_id()
        rival = RivalFirst(db, f"Account-{id}")
        router = cqrs.AsyncCommandRouter(rival, retries=1)  # type: ignore[arg-type]
        calls: list[int] = []

        @router.handles(Deposit, Account)
        def deposit(cmd: Deposit, account: Account) -> int:
            calls.append(account.version)
            account.deposit(cmd.amount)
            return account.balance

        result = await router.execute(Deposit(target_id=id, amount=5))
        assert (calls, result.value, rival.rivals) == ([ses.NO_STREAM, 0], 105, 1)
        stored = await db.read_stream(f"Account-{id}")
        assert [e.data for e in stored] == [Deposited(100), Deposited(5)]

    _run(store_url, body)
