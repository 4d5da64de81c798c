"""The aggregate base class on its own: the state guard, dispatch, ids, class checks."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

import safe_eventstore as ses
from safe_eventstore import cqrs

from .bank import Account, Deposited, Ledger, Withdrawn


def test_record_applies_the_event_and_keeps_it_pending() -> None:
    account = Account("7")
    account.deposit(5)
    account.withdraw(2)
    assert (account.balance, account.version) == (3, ses.NO_STREAM)
    assert account.pending == (Deposited(5), Withdrawn(2))
    assert (account.id, account.stream) == ("7", "Account-7")
    assert Ledger("7").stream == "Ledger-7"


def test_an_invariant_raises_before_anything_is_recorded() -> None:
    account = Account("7")
    with pytest.raises(cqrs.DomainError):
        account.withdraw(101)
    assert account.pending == () and account.balance == 0
    assert issubclass(cqrs.DomainError, ses.SafeEventStoreError)


def test_state_changes_only_in_init_and_handlers() -> None:
    account = Account("7")
    with pytest.raises(cqrs.IllegalStateChange):
        account.balance = 1_000_000
    with pytest.raises(cqrs.IllegalStateChange):
        del account.balance
    with pytest.raises(cqrs.IllegalStateChange):
        account.brand_new = 1
    assert account.balance == 0 and "brand_new" not in vars(account)

    class Sneaky(Account):
        def deposit(self, amount: int) -> None:
            self.balance += amount  # decides and changes state itself: refused

    with pytest.raises(cqrs.IllegalStateChange) as caught:
        Sneaky("1").deposit(5)
    assert isinstance(caught.value, AttributeError)


def test_the_base_attributes_cannot_be_assigned() -> None:
    class Renamer(Account):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.version = 5

    with pytest.raises(cqrs.IllegalStateChange):
        Renamer("1")


def test_record_is_for_command_methods_only() -> None:
    class EagerInit(Account):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.record(Deposited(1))

    with pytest.raises(cqrs.IllegalStateChange):
        EagerInit("1")

    class Echo(Account):
        @cqrs.when(Deposited)
        def _deposited(self, event: Deposited) -> None:
            self.record(Withdrawn(event.amount))

    with pytest.raises(cqrs.IllegalStateChange):
        Echo("1").deposit(1)


def test_an_event_without_a_handler_is_refused() -> None:
    @ses.event_type("t.Unhandled")
    @dataclass(frozen=True)
    class Unhandled:
        n: int

    account = Account("7")
    with pytest.raises(cqrs.UnhandledEvent) as caught:
        account.record(Unhandled(1))
    assert isinstance(caught.value, ses.InvalidEvent)
    with pytest.raises(cqrs.UnhandledEvent):
        account.record({"amount": 1})
    assert account.pending == ()


@pytest.mark.parametrize("id", ["", "a b", "a/b", "x" * 300, "tab\there", 42, None, "é\u200b"])
def test_an_id_that_makes_an_invalid_stream_name_is_refused(id: object) -> None:
    with pytest.raises(ses.InvalidName):
        Account(id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "Account-1",
        "Account-a-b",
        "Account-$x",
        "Account-1 2",
        "Account-a/b",
        "Account-\x00",
        "Account-" + "x" * 247,
        "Account-" + "x" * 248,
        "Account-é",
    ],
)
def test_the_id_check_agrees_with_the_store(name: str) -> None:
    """The aggregate checks names by the store's rule; both must give the same answer."""
    id = name.removeprefix("Account-")
    try:
        Account(id)
        ours = None
    except ses.InvalidName:
        ours = ses.InvalidName
    with ses.open("memory://") as store:
        db = store.create_database("names")
        try:
            db.stream_version(name)
            theirs = None
        except ses.InvalidName:
            theirs = ses.InvalidName
    assert ours is theirs


def test_snapshots_make_the_id_rule_cover_the_snapshot_stream() -> None:
    Account("x" * 247)
    with pytest.raises(ses.InvalidName):
        Ledger("x" * 247)  # Ledger.snapshot-<id> would be too long


def test_class_definitions_are_checked() -> None:
    class NotTyped:
        pass

    with pytest.raises(cqrs.InvalidAggregate):
        cqrs.when(NotTyped)
    with pytest.raises(cqrs.InvalidAggregate):
        cqrs.when()
    with pytest.raises(cqrs.InvalidAggregate):

        class Twice(cqrs.Aggregate):
            @cqrs.when(Deposited)
            def _one(self, event: Deposited) -> None: ...

            @cqrs.when(Deposited)
            def _two(self, event: Deposited) -> None: ...

    with pytest.raises(cqrs.InvalidAggregate):

        class Dashed(cqrs.Aggregate):
            category = "Bank-Account"

    with pytest.raises(cqrs.InvalidAggregate):

        class Often(cqrs.Aggregate):
            snapshot_every = 0

    assert issubclass(cqrs.InvalidAggregate, ses.InvalidInput)


def test_an_event_class_the_store_cannot_encode_is_refused_at_definition() -> None:
    @dataclass(frozen=True)
    class Opaque:
        handle: object()  # type: ignore[valid-type]  (no JSON form)

    with pytest.raises(ses.InvalidEvent):
        cqrs.when(Opaque)


def test_a_handler_class_is_registered_for_replay() -> None:
    @dataclass(frozen=True)
    class Fresh:
        n: int

    cqrs.when(Fresh)
    assert ses.event_types.get("Fresh") is Fresh
    cqrs.when(Deposited)  # registered under its own name already: left alone
    assert ses.event_types.get("t.Deposited") is Deposited


def test_a_subclass_inherits_and_may_override_handlers() -> None:
    class Doubling(Account):
        @cqrs.when(Deposited)
        def _deposited(self, event: Deposited) -> None:
            self.balance += 2 * event.amount

    doubling = Doubling("1")
    doubling.deposit(5)
    doubling.withdraw(1)
    assert doubling.balance == 9
    assert Doubling.category == "Doubling"


def test_a_deep_copy_shares_nothing() -> None:
    account = Account("7")
    account.deposit(5)
    twin = copy.deepcopy(account)
    assert vars(twin) == vars(account) and twin.pending == account.pending
    twin.deposit(1)
    assert (account.balance, len(account.pending)) == (5, 1)
    with pytest.raises(cqrs.IllegalStateChange):
        twin.balance = 0
