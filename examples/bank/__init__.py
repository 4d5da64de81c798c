"""A bank on the application toolkit: accounts with deposits, withdrawals and an overdraft
limit, and money transfers that change two accounts in one atomic save.

Deposits changed shape once: the first release stored ``{"amount": ...}`` (euros only); the
current one records a currency too. Stored deposits are never rewritten: the upcaster below
brings the old ones to the current shape whenever they are read.

Run the walk-through with ``python -m examples.bank``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import safe_eventstore as ses
from safe_eventstore import cqrs

OVERDRAFT_LIMIT = 100
"""How far below zero an account's balance may go."""


@ses.event_type("bank.Opened")
@dataclass(frozen=True)
class Opened:
    owner: str


@ses.event_type("bank.Deposited", version=2)
@dataclass(frozen=True)
class Deposited:
    amount: int
    currency: str


@ses.upcaster("bank.Deposited", 1)
def deposits_were_in_euros(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of ``bank.Deposited`` had no currency: the bank took euros only."""
    return {**data, "currency": "EUR"}


@ses.event_type("bank.Withdrawn")
@dataclass(frozen=True)
class Withdrawn:
    amount: int


class Overdrawn(cqrs.DomainError):
    """A withdrawal would take the balance below the overdraft limit."""


class Account(cqrs.Aggregate):
    """A euro account: its state changes only by its events."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner: str | None = None
        self.balance = 0

    # -- commands: check the invariants, then record ------------------------------------

    def open(self, owner: str) -> None:
        if self.owner is not None:
            raise cqrs.DomainError(f"account {self.id} is open already")
        self.record(Opened(owner))

    def deposit(self, amount: int, currency: str = "EUR") -> None:
        self._check_open()
        if amount <= 0:
            raise cqrs.DomainError("a deposit must be positive")
        if currency != "EUR":
            raise cqrs.DomainError(f"account {self.id} takes euros, not {currency}")
        self.record(Deposited(amount, currency))

    def withdraw(self, amount: int) -> None:
        self._check_open()
        if amount <= 0:
            raise cqrs.DomainError("a withdrawal must be positive")
        if self.balance - amount < -OVERDRAFT_LIMIT:
            raise Overdrawn(
                f"account {self.id}: withdrawing {amount} from {self.balance} passes the "
                f"overdraft limit of {OVERDRAFT_LIMIT}"
            )
        self.record(Withdrawn(amount))

    def _check_open(self) -> None:
        if self.owner is None:
            raise cqrs.DomainError(f"account {self.id} is not open")

    # -- how events change the state ----------------------------------------------------

    @cqrs.when(Opened)
    def _opened(self, event: Opened) -> None:
        self.owner = event.owner

    @cqrs.when(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount

    @cqrs.when(Withdrawn)
    def _withdrawn(self, event: Withdrawn) -> None:
        self.balance -= event.amount


@dataclass(frozen=True)
class OpenAccount(cqrs.Command):
    owner: str


@dataclass(frozen=True)
class Deposit(cqrs.Command):
    amount: int
    currency: str = "EUR"


@dataclass(frozen=True)
class Withdraw(cqrs.Command):
    amount: int


@dataclass(frozen=True)
class Transfer(cqrs.Command):
    """Move ``amount`` from the target account to ``to_id``: both or neither."""

    to_id: str
    amount: int


def routes(router: cqrs.CommandRouter | cqrs.AsyncCommandRouter) -> None:
    """The bank's handlers, plain functions that serve the sync and asyncio routers alike."""

    @router.handles(OpenAccount, Account)
    def open_account(command: OpenAccount, account: Account) -> None:
        account.open(command.owner)

    @router.handles(Deposit, Account)
    def deposit(command: Deposit, account: Account) -> int:
        account.deposit(command.amount, command.currency)
        return account.balance

    @router.handles(Withdraw, Account)
    def withdraw(command: Withdraw, account: Account) -> int:
        account.withdraw(command.amount)
        return account.balance

    # the destination is loaded too; the router saves both accounts in one atomic batch
    @router.handles(Transfer, Account, others=lambda command: [(Account, command.to_id)])
    def transfer(command: Transfer, source: Account, destination: Account) -> None:
        if source.id == destination.id:
            raise cqrs.DomainError("a transfer needs two accounts")
        source.withdraw(command.amount)
        destination.deposit(command.amount)


def bank(db: ses.Database) -> tuple[cqrs.CommandRouter, cqrs.Repository[Account]]:
    """A command router with the bank's routes, and a repository to look at accounts."""
    router = cqrs.CommandRouter(db)
    routes(router)
    return router, cqrs.Repository(db, Account)
