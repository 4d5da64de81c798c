"""The router's short paths on every backend: creating commands that write without a read,
and cached aggregates trusted until their save says otherwise. The store calls a command
makes are recorded by driving the router's plan with a recording step in between."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore import cqrs
from safe_eventstore.cqrs._io import Plan, run

from .bank import Account, Deposit, Open, Transfer, deposit, new_id, open_account, transfer


@dataclass(frozen=True)
class Mirror(cqrs.Command):
    """Deposit into the target the balance another account has (read, not changed)."""

    source_id: str


def mirror(cmd: Mirror, target: Account, source: Account) -> int:
    target.deposit(source.balance)
    return source.balance


def _router(db: ses.Database, *, cache: bool = False, retries: int = 3) -> cqrs.CommandRouter:
    router = cqrs.CommandRouter(db, retries=retries, cache=cache)
    router.handles(Open, Account, creates=True)(open_account)
    router.handles(Deposit, Account)(deposit)
    router.handles(Transfer, Account, others=lambda cmd: [(Account, cmd.to_id)])(transfer)
    router.handles(Mirror, Account, others=lambda cmd: [(Account, cmd.source_id)])(mirror)
    return router


def _recorded(plan: Plan[Any], seen: list[str]) -> Generator[Any, Any, Any]:
    send: Any = None
    error: Exception | None = None
    while True:
        try:
            request = plan.throw(error) if error is not None else plan.send(send)
        except StopIteration as done:
            return done.value
        seen.append(type(request).__name__)
        try:
            send, error = (yield request), None
        except Exception as exc:
            send, error = None, exc


def _execute(
    db: ses.Database, router: cqrs.CommandRouter, command: cqrs.Command
) -> tuple[cqrs.CommandResult, list[str]]:
    """Execute ``command`` through ``router``; its result and the store calls it made."""
    seen: list[str] = []
    result = run(db, _recorded(router._core.execute(command), seen))
    return result, seen


def _history(db: ses.Database) -> list[tuple[str, int, uuid.UUID]]:
    return [(e.stream, e.version, e.event_id) for e in db.read_all()]


def _balance(db: ses.Database, id: str) -> int:
    return cqrs.Repository(db, Account).get(id).balance


@pytest.mark.parametrize("cache", [False, True])
def test_a_creating_command_writes_without_a_read_and_a_repeat_writes_nothing(
    db: ses.Database, cache: bool
) -> None:
    router = _router(db, cache=cache)
    id = new_id()
    stream = f"Account-{id}"
    command = Open(target_id=id, owner="ann")
    first, calls = _execute(db, router, command)
    assert calls == ["Append"]
    assert (first.value, first.versions, first.replayed) == (id, {stream: 0}, False)
    history = _history(db)
    again, _ = _execute(db, router, command)
    assert (again.streams, again.results) == (first.streams, first.results)
    assert _history(db) == history  # nothing written
    router.execute(Deposit(target_id=id, amount=5))
    history = _history(db)
    for executing in (router, _router(db, cache=cache)):  # the same router, another one
        late = executing.execute(command)
        assert (late.streams, late.results) == (first.streams, first.results)
        assert _history(db) == history
    assert router.execute(Deposit(target_id=id, amount=1)).versions == {stream: 2}
    assert _balance(db, id) == 6 and [v for s, v, _ in _history(db) if s == stream] == [0, 1, 2]


def test_a_creating_command_on_an_existing_stream_takes_the_ordinary_path(
    db: ses.Database,
) -> None:
    router = _router(db)
    id = new_id()
    router.execute(Open(target_id=id, owner="ann"))
    history = _history(db)
    with pytest.raises(cqrs.DomainError, match="open already"):
        router.execute(Open(target_id=id, owner="bob"))  # loaded, decided again: refused
    with pytest.raises(ses.WrongExpectedVersion):
        router.execute(Open(target_id=id, owner="bob", expected_version=ses.NO_STREAM))
    assert _history(db) == history
    opened = Open(target_id=new_id(), owner="cy", expected_version=ses.NO_STREAM)
    assert router.execute(opened).versions == {f"Account-{opened.target_id}": 0}

    creating = cqrs.CommandRouter(db)  # a command that creates or changes
    creating.handles(Deposit, Account, creates=True)(deposit)
    result = creating.execute(Deposit(target_id=id, amount=7))
    assert (result.value, result.versions) == (7, {f"Account-{id}": 1})
    fresh = creating.execute(Deposit(target_id=new_id(), amount=3))
    assert fresh.value == 3 and list(fresh.versions.values()) == [0]


def test_a_creating_route_refuses_a_bad_option_and_a_bad_id(db: ses.Database) -> None:
    router = cqrs.CommandRouter(db)
    with pytest.raises(ses.InvalidInput, match="creates"):
        router.handles(Open, Account, creates="yes")  # type: ignore[arg-type]
    router.handles(Open, Account, creates=True)(open_account)
    with pytest.raises(ses.InvalidName):
        router.execute(Open(target_id="a b/c\n", owner="ann"))
    assert _history(db) == []


def test_a_cached_aggregate_is_trusted_and_a_stale_one_loses_no_update(db: ses.Database) -> None:
    first, second = _router(db, cache=True), _router(db, cache=True)
    id = new_id()
    stream = f"Account-{id}"
    first.execute(Open(target_id=id, owner="ann"))
    first.execute(Deposit(target_id=id, amount=1))  # cached in the first router at 1
    second.execute(Deposit(target_id=id, amount=10))  # loaded, cached in the second at 2
    result, calls = _execute(db, second, Deposit(target_id=id, amount=100))
    assert calls == ["Append"] and result.value == 111  # trusted: no read at all
    result, calls = _execute(db, first, Deposit(target_id=id, amount=1000))
    assert calls[0] == "Append" and "Read" in calls  # stale: a conflict, then a load
    assert result.value == 1111 and result.versions == {stream: 4}
    result, calls = _execute(db, first, Deposit(target_id=id, amount=1))
    assert calls == ["Append"] and result.value == 1112
    assert [v for s, v, _ in _history(db) if s == stream] == [0, 1, 2, 3, 4, 5]
    assert _balance(db, id) == 1112

    # the second router's entry is stale now: the caller's expected version decides
    with pytest.raises(ses.WrongExpectedVersion):
        second.execute(Deposit(target_id=id, amount=1, expected_version=3))
    done = second.execute(Deposit(target_id=id, amount=2, expected_version=5))
    assert done.versions == {stream: 6} and _balance(db, id) == 1114
    assert [v for s, v, _ in _history(db) if s == stream] == [0, 1, 2, 3, 4, 5, 6]


def test_a_stale_cached_aggregate_is_not_the_ground_of_a_refusal_or_a_decision(
    db: ses.Database,
) -> None:
    first, second = _router(db, cache=True), _router(db, cache=True, retries=0)
    source, target = new_id(), new_id()
    for id in (source, target):
        second.execute(Open(target_id=id, owner=id))
        second.execute(Deposit(target_id=id, amount=1))  # cached in the second router
    first.execute(Deposit(target_id=source, amount=499))  # the second's entry is stale
    # on the stale balance (1) the overdraft limit refuses 300; on the stored one (500) not
    second.execute(Transfer(target_id=source, to_id=target, amount=300))
    assert (_balance(db, source), _balance(db, target)) == (200, 301)

    first.execute(Deposit(target_id=source, amount=50))  # stale again in the second
    result = second.execute(Mirror(target_id=target, source_id=source))  # read, not written
    assert result.value == 250 and _balance(db, target) == 551


def test_the_async_router_takes_the_same_short_paths(store_url: str) -> None:
    async def body(db: ses.AsyncDatabase) -> tuple[cqrs.CommandResult, ...]:
        router = cqrs.AsyncCommandRouter(db, cache=True)
        router.handles(Open, Account, creates=True)(open_account)
        router.handles(Deposit, Account)(deposit)
        id = new_id()
        command = Open(target_id=id, owner="ann")
        opened = await router.execute(command)
        repeated = await router.execute(command)
        deposited = await router.execute(Deposit(target_id=id, amount=4))
        return opened, repeated, deposited

    async def main() -> tuple[cqrs.CommandResult, ...]:
        async with ses.open_async(store_url) as store:
            return await body(await store.create_database("bank"))

    opened, repeated, deposited = asyncio.run(main())
    assert repeated.results == opened.results
    assert deposited.value == 4 and list(deposited.versions.values()) == [1]
