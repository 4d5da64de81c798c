"""The repository on every backend: replay, save, conflicts, the cache, time travel."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

import safe_eventstore as ses
from safe_eventstore import cqrs

from .bank import Account, Deposited, new_id


def _opened(repo: cqrs.Repository[Account], *amounts: int) -> Account:
    account = Account(new_id())
    account.open("ann")
    for amount in amounts:
        account.deposit(amount)
    repo.save(account)
    return account


def test_save_appends_the_pending_events_and_get_replays_them(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Account)
    account = Account(new_id())
    assert (account.version, account.pending, account.stream) == (
        ses.NO_STREAM,
        (),
        f"Account-{account.id}",
    )
    account.open("ann")
    account.deposit(5)
    assert account.pending == (account.pending[0], Deposited(5))
    [result] = repo.save(account)
    assert (result.first_version, result.last_version) == (0, 1)
    assert (account.version, account.pending) == (1, ())
    loaded = repo.get(account.id)
    assert (loaded.owner, loaded.balance, loaded.version) == ("ann", 5, 1)
    assert [e.type for e in db.read_stream(account.stream)] == ["t.Opened", "t.Deposited"]


def test_a_stale_save_conflicts_and_writes_nothing(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Account)
    account = _opened(repo, 10)
    first, second = repo.get(account.id), repo.get(account.id)
    first.deposit(1)
    second.deposit(2)
    repo.save(first)
    before = list(db.read_all())
    with pytest.raises(ses.WrongExpectedVersion):
        repo.save(second)
    assert list(db.read_all()) == before
    assert second.pending == (Deposited(2),)  # still there: the caller may reload and retry
    assert repo.get(account.id).balance == 11


def test_several_aggregates_are_saved_in_one_atomic_batch(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Account)
    a, b = _opened(repo), _opened(repo)
    stale = repo.get(b.id)
    b.deposit(1)
    repo.save(b)
    a.deposit(5)
    stale.deposit(5)
    before = list(db.read_all())
    with pytest.raises(ses.WrongExpectedVersion):
        repo.save(a, stale)
    assert list(db.read_all()) == before  # a's event was not written either
    fresh = repo.get(b.id)
    fresh.deposit(5)
    results = repo.save(a, fresh)
    assert [r.last_version for r in results] == [1, 2]
    assert {e.position for e in db.read_all()} >= {results[0].position}


def test_get_of_an_aggregate_without_events_is_not_found(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Account)
    with pytest.raises(cqrs.AggregateNotFound) as caught:
        repo.get("nobody")
    assert isinstance(caught.value, ses.NotFound)


def test_time_travel_by_version_and_by_time(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Account)
    account = _opened(repo, 1, 2)
    middle = datetime.now(UTC)
    account.deposit(4)
    repo.save(account)
    assert repo.get(account.id, version=0).balance == 0
    assert repo.get(account.id, version=2).balance == 3
    assert repo.get(account.id, at=middle).balance == 3
    assert repo.get(account.id, at=datetime.now(UTC)).balance == 7
    with pytest.raises(cqrs.AggregateNotFound):
        repo.get(account.id, at=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(ses.EventNotFound):
        repo.get(account.id, version=4)
    with pytest.raises(ses.InvalidInput):
        repo.get(account.id, version=1, at=middle)
    with pytest.raises(ses.InvalidInput):
        repo.get(account.id, at=datetime(2000, 1, 1))  # naive


@pytest.mark.parametrize("cache", [True, 2])
def test_the_cache_hands_out_copies_and_never_serves_a_stale_version(
    db: ses.Database, cache: bool | int
) -> None:
    repo = cqrs.Repository(db, Account, cache=cache)
    other = cqrs.Repository(db, Account)  # another writer, beside the cache
    account = _opened(repo, 10)
    one, two = repo.get(account.id), repo.get(account.id)
    assert one is not two and one.__dict__ == two.__dict__
    one.deposit(1)
    assert two.pending == () and two.balance == 10
    writer = other.get(account.id)
    writer.deposit(100)
    other.save(writer)
    assert repo.get(account.id).balance == 110  # the cache read what was stored since
    with pytest.raises(ses.WrongExpectedVersion):
        repo.save(one)  # loaded before the other writer's save
    again = repo.get(account.id)
    assert (again.balance, again.version) == (110, 2)
    again.deposit(1)
    repo.save(again)
    assert repo.get(account.id).balance == 111


def test_a_stored_event_the_aggregate_has_no_handler_for_fails_the_load(
    db: ses.Database,
) -> None:
    repo = cqrs.Repository(db, Account)
    account = _opened(repo, 1)
    db.append(account.stream, [ses.NewEvent("t.Renamed", {"owner": "bob"})])
    with pytest.raises(cqrs.UnhandledEvent, match=r"t\.Renamed"):
        repo.get(account.id)


@ses.event_type("t.Credited")
class Credited(pydantic.BaseModel):
    amount: int


class Credit(cqrs.Aggregate):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.total = 0

    def credit(self, amount: int) -> None:
        self.record(Credited(amount=amount))

    @cqrs.when(Credited)
    def _credited(self, event: Credited) -> None:
        self.total += event.amount


def test_events_may_be_pydantic_models(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Credit)
    credit = Credit(new_id())
    credit.credit(4)
    credit.credit(5)
    repo.save(credit)
    assert repo.get(credit.id).total == 9
