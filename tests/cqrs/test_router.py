"""The command router on every backend: routing, ids, idempotent commands, conflicts,
retries and bad input."""

from __future__ import annotations

import uuid

import pytest

import safe_eventstore as ses
from safe_eventstore import cqrs

from .bank import Account, Deposit, Deposited, Open, Transfer, new_id, routes


@pytest.fixture
def router(db: ses.Database) -> cqrs.CommandRouter:
    router = cqrs.CommandRouter(db, retries=3)
    routes(router)
    return router


def _history(db: ses.Database) -> list[tuple[str, int, uuid.UUID]]:
    return [(e.stream, e.version, e.event_id) for e in db.read_all()]


def _balance(db: ses.Database, id: str) -> int:
    return cqrs.Repository(db, Account).get(id).balance


def test_a_command_creates_then_changes_an_aggregate(
    db: ses.Database, router: cqrs.CommandRouter
) -> None:
    id = new_id()
    opened = router.execute(Open(target_id=id, owner="ann", expected_version=ses.NO_STREAM))
    assert opened.value == id and opened.streams == (f"Account-{id}",)
    assert opened.versions == {f"Account-{id}": 0} and not opened.replayed
    result = router.execute(Deposit(target_id=id, amount=5))
    assert result.value == 5
    assert result.results[0].first_version == result.results[0].last_version == 1
    account = cqrs.Repository(db, Account).get(id)
    assert (account.owner, account.balance, account.version) == ("ann", 5, 1)


def test_events_carry_the_command_as_cause_and_its_correlation(
    db: ses.Database, router: cqrs.CommandRouter
) -> None:
    id, other = new_id(), new_id()
    router.execute(Open(target_id=id, owner="ann"))
    correlation = uuid.uuid4()
    command = Transfer(target_id=id, to_id=other, amount=7, correlation_id=correlation)
    router.execute(command)
    own = Deposit(target_id=id, amount=1)
    router.execute(own)
    events = list(db.read_all())[1:]
    assert [e.causation_id for e in events] == [command.command_id] * 2 + [own.command_id]
    assert [e.correlation_id for e in events] == [correlation] * 2 + [own.command_id]
    assert len({e.event_id for e in events}) == 3


def test_a_transfer_saves_both_accounts_in_one_batch(
    db: ses.Database, router: cqrs.CommandRouter
) -> None:
    a, b = new_id(), new_id()
    router.execute(Deposit(target_id=a, amount=50))
    result = router.execute(Transfer(target_id=a, to_id=b, amount=120))
    assert result.streams == (f"Account-{a}", f"Account-{b}")
    assert (_balance(db, a), _balance(db, b)) == (-70, 120)
    before = _history(db)
    with pytest.raises(cqrs.DomainError):
        router.execute(Transfer(target_id=a, to_id=b, amount=31))  # past the overdraft
    assert _history(db) == before


def test_the_same_command_again_records_nothing_and_returns_the_original(
    db: ses.Database, router: cqrs.CommandRouter
) -> None:
    a, b = new_id(), new_id()
    command = Transfer(target_id=a, to_id=b, amount=10)
    first = router.execute(command)
    router.execute(Deposit(target_id=a, amount=1))  # the streams move on
    before = _history(db)
    again = router.execute(command)
    assert _history(db) == before
    assert again.replayed and again.value is None
    assert (again.streams, again.results) == (first.streams, first.results)
    assert (_balance(db, a), _balance(db, b)) == (-9, 10)


def test_a_replay_whose_handler_now_refuses_returns_the_original(
    db: ses.Database, router: cqrs.CommandRouter
) -> None:
    id = new_id()
    command = Open(target_id=id, owner="ann")
    first = router.execute(command)
    router.execute(Deposit(target_id=id, amount=3))
    before = _history(db)
    again = router.execute(command)  # "already open" on the state it finds now
    assert again.replayed and again.results == first.results and again.streams == first.streams
    assert _history(db) == before
    with pytest.raises(cqrs.DomainError, match="open already"):
        router.execute(Open(target_id=id, owner="bob"))  # another command: refused
    assert _history(db) == before


def test_a_replay_whose_handler_now_decides_nothing_returns_the_original(
    db: ses.Database,
) -> None:
    router = cqrs.CommandRouter(db)

    @router.handles(Deposit, Account)
    def top_up(cmd: Deposit, account: Account) -> str:
        if account.balance < 100:
            account.deposit(cmd.amount)
            return "topped up"
        return "enough"

    id = new_id()
    command = Deposit(target_id=id, amount=150)
    first = router.execute(command)
    assert first.value == "topped up"
    before = _history(db)
    again = router.execute(command)
    assert again.replayed and again.results == first.results
    assert _history(db) == before
    nothing = router.execute(Deposit(target_id=id, amount=150))
    assert (nothing.value, nothing.results, nothing.replayed) == ("enough", (), False)


@pytest.mark.parametrize("cache", [False, True])
def test_a_conflict_reloads_and_runs_the_handler_again(db: ses.Database, cache: bool) -> None:
    router = cqrs.CommandRouter(db, retries=3, cache=cache)
    other = cqrs.Repository(db, Account)
    calls: list[int] = []

    @router.handles(Deposit, Account)
    def racing(cmd: Deposit, account: Account) -> int:
        calls.append(account.version)
        if len(calls) == 1:  # another writer gets in between the load and the save
            rival = other.get(account.id)
            rival.deposit(100)
            other.save(rival)
        account.deposit(cmd.amount)
        return account.balance

    id = new_id()
    cqrs.Repository(db, Account).save(_account(id, 1))
    result = router.execute(Deposit(target_id=id, amount=5))
    assert calls == [0, 1] and result.value == 106
    assert [e.data for e in db.read_stream(f"Account-{id}")][1:] == [
        Deposited(100),
        Deposited(5),
    ]
    router.execute(Deposit(target_id=id, amount=1))  # from the cache, when there is one
    assert calls == [0, 1, 2] and _balance(db, id) == 107


def test_retries_run_out_and_the_conflict_goes_to_the_caller(db: ses.Database) -> None:
    router = cqrs.CommandRouter(db, retries=2)
    other = cqrs.Repository(db, Account)
    calls: list[int] = []

    @router.handles(Deposit, Account)
    def always_late(cmd: Deposit, account: Account) -> None:
        calls.append(account.version)
        rival = other.get(account.id)
        rival.deposit(1)
        other.save(rival)
        account.deposit(cmd.amount)

    id = new_id()
    other.save(_account(id, 1))
    with pytest.raises(ses.WrongExpectedVersion):
        router.execute(Deposit(target_id=id, amount=5))
    assert calls == [0, 1, 2]
    assert _balance(db, id) == 4  # the rival's deposits only


def test_an_expected_version_is_checked_and_its_conflict_not_retried(
    db: ses.Database, router: cqrs.CommandRouter
) -> None:
    id = new_id()
    router.execute(Deposit(target_id=id, amount=1))
    before = _history(db)
    with pytest.raises(ses.WrongExpectedVersion) as caught:
        router.execute(Deposit(target_id=id, amount=1, expected_version=3))
    assert (caught.value.expected, caught.value.actual) == (3, 0)
    with pytest.raises(ses.WrongExpectedVersion):
        router.execute(Open(target_id=id, owner="ann", expected_version=ses.NO_STREAM))
    assert _history(db) == before
    checked = Deposit(target_id=id, amount=1, expected_version=0)
    first = router.execute(checked)
    again = router.execute(checked)  # the target is at 1 now: found as done, not a conflict
    assert again.replayed and again.results == first.results

    strict = cqrs.CommandRouter(db, retries=3)
    other = cqrs.Repository(db, Account)
    calls: list[int] = []

    @strict.handles(Deposit, Account)
    def racing(cmd: Deposit, account: Account) -> None:
        calls.append(account.version)
        rival = other.get(account.id)
        rival.deposit(100)
        other.save(rival)
        account.deposit(cmd.amount)

    with pytest.raises(ses.WrongExpectedVersion):
        strict.execute(Deposit(target_id=id, amount=5, expected_version=1))
    assert calls == [1]


def test_bad_input_gets_a_typed_error_and_writes_nothing(
    db: ses.Database, router: cqrs.CommandRouter
) -> None:
    id = new_id()
    router.execute(Deposit(target_id=id, amount=1))
    before = _history(db)

    class Unknown(cqrs.Command):
        pass

    with pytest.raises(cqrs.UnknownCommand) as unknown:
        router.execute(Unknown(target_id=id))
    assert isinstance(unknown.value, ses.InvalidInput)
    with pytest.raises(ses.InvalidName):
        router.execute(Deposit(target_id="no spaces", amount=1))
    with pytest.raises(ses.InvalidName):
        router.execute(Transfer(target_id=id, to_id="a/b", amount=1))
    with pytest.raises(cqrs.DomainError):
        router.execute(Deposit(target_id=id, amount=-1))
    with pytest.raises(ses.InvalidInput):
        router.execute(Deposit(target_id=id, amount=1, command_id="not a uuid"))  # type: ignore[arg-type]
    assert _history(db) == before


def test_a_failing_handler_is_wrapped_and_writes_nothing(db: ses.Database) -> None:
    router = cqrs.CommandRouter(db)

    @router.handles(Deposit, Account)
    def broken(cmd: Deposit, account: Account) -> None:
        account.deposit(cmd.amount)
        raise KeyError("bug")

    with pytest.raises(cqrs.HandlerFailed) as caught:
        router.execute(Deposit(target_id=new_id(), amount=1))
    assert isinstance(caught.value.__cause__, KeyError)
    assert list(db.read_all()) == []


def test_an_event_that_cannot_be_stored_writes_nothing(db: ses.Database) -> None:
    router = cqrs.CommandRouter(db)

    @router.handles(Deposit, Account)
    def fractional(cmd: Deposit, account: Account) -> None:
        account.deposit(cmd.amount)
        account.record(Deposited(1.5))  # type: ignore[arg-type]  (declared int)

    with pytest.raises(ses.InvalidEvent):
        router.execute(Deposit(target_id=new_id(), amount=1))
    assert list(db.read_all()) == []


def test_routes_are_checked(db: ses.Database, router: cqrs.CommandRouter) -> None:
    with pytest.raises(ses.InvalidInput):
        router.handles(Deposit, Account)
    with pytest.raises(ses.InvalidInput):
        router.handles(dict, Account)  # type: ignore[arg-type]
    with pytest.raises(ses.InvalidInput):
        router.handles(Open, dict)  # type: ignore[arg-type]
    with pytest.raises(ses.InvalidInput):
        cqrs.CommandRouter(db, retries=-1)

    class Ping(cqrs.Command):
        pass

    async def coroutine(cmd: Ping, account: Account) -> None: ...

    with pytest.raises(ses.InvalidInput, match="plain function"):
        router.handles(Ping, Account)(coroutine)


def test_a_failing_others_is_wrapped_and_writes_nothing(db: ses.Database) -> None:
    router = cqrs.CommandRouter(db)

    def others(cmd: Deposit) -> list[tuple[type[Account], str]]:
        raise LookupError("no such account")

    router.handles(Deposit, Account, others=others)(lambda cmd, account, *rest: None)
    with pytest.raises(cqrs.HandlerFailed) as caught:
        router.execute(Deposit(target_id=new_id(), amount=1))
    assert isinstance(caught.value.__cause__, LookupError)
    assert list(db.read_all()) == []


def _account(id: str, amount: int) -> Account:
    account = Account(id)
    account.deposit(amount)
    return account
