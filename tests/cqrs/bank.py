"""A small domain for the tests: accounts with an overdraft limit, opened by a command, and
transfers between two accounts saved in one batch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec

import safe_eventstore as ses
from safe_eventstore import cqrs


@ses.event_type("t.Opened")
@dataclass(frozen=True)
class Opened:
    owner: str


@ses.event_type("t.Deposited")
@dataclass(frozen=True)
class Deposited:
    amount: int


@ses.event_type("t.Withdrawn")
class Withdrawn(msgspec.Struct, frozen=True):
    amount: int


class Account(cqrs.Aggregate):
    category = "Account"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner: str | None = None
        self.balance = 0
        self.deposits = 0

    def open(self, owner: str) -> None:
        if self.owner is not None:
            raise cqrs.DomainError(f"account {self.id} is open already")
        self.record(Opened(owner))

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise cqrs.DomainError("a deposit must be positive")
        self.record(Deposited(amount))

    def withdraw(self, amount: int) -> None:
        if amount > self.balance + 100:
            raise cqrs.DomainError("the overdraft limit is 100")
        self.record(Withdrawn(amount))

    @cqrs.when(Opened)
    def _opened(self, event: Opened) -> None:
        self.owner = event.owner

    @cqrs.when(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount
        self.deposits += 1

    @cqrs.when(Withdrawn)
    def _withdrawn(self, event: Withdrawn) -> None:
        self.balance -= event.amount


class Ledger(Account):
    """Accounts with snapshots every 10 events."""

    category = "Ledger"
    snapshot_every = 10


@dataclass(frozen=True)
class Open(cqrs.Command):
    owner: str


@dataclass(frozen=True)
class Deposit(cqrs.Command):
    amount: int


@dataclass(frozen=True)
class Transfer(cqrs.Command):
    to_id: str
    amount: int


def open_account(cmd: Open, account: Account) -> str:
    account.open(cmd.owner)
    return account.id


def deposit(cmd: Deposit, account: Account) -> int:
    account.deposit(cmd.amount)
    return account.balance


def transfer(cmd: Transfer, source: Account, destination: Account) -> None:
    source.withdraw(cmd.amount)
    destination.deposit(cmd.amount)


def routes(router: cqrs.CommandRouter | cqrs.AsyncCommandRouter) -> None:
    """The bank's handlers, the same plain functions for both routers."""
    router.handles(Open, Account)(open_account)
    router.handles(Deposit, Account)(deposit)
    router.handles(Transfer, Account, others=lambda cmd: [(Account, cmd.to_id)])(transfer)


def new_id() -> str:
    return uuid.uuid4().hex[:12]
