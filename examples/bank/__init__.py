"""A bank on the application toolkit: accounts with deposits, withdrawals and an overdraft
limit, and money transfers made two ways:

- ``Transfer``: one command that changes both accounts in one atomic save (``others=``).
  The simplest and strongest way, when both accounts live in one database, so that one
  ``append_batch`` can hold them.
- a transfer saga (``examples.bank.transfers``): a process manager debits the source, then
  credits the target, each a command of its own, and compensates (refunds the source) when
  the credit is refused or the transfer does not complete in time. The way for steps that
  cannot share one transaction: accounts in different databases or services, or a step
  that waits on someone (here a large credit held for review). Each step is atomic; the
  whole is made consistent by the saga, not by one batch.

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

REVIEW_LIMIT = 200
"""A transfer credit above this is held for review before it reaches the account."""


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


@ses.event_type("bank.Closed")
@dataclass(frozen=True)
class Closed:
    pass


# The steps of a transfer saga on an account. A refusal the saga must react to is recorded
# as an event (not raised): the saga sees it in its source like any other outcome.


@ses.event_type("bank.TransferDebited")
@dataclass(frozen=True)
class TransferDebited:
    transfer_id: str
    amount: int


@ses.event_type("bank.DebitRefused")
@dataclass(frozen=True)
class DebitRefused:
    transfer_id: str
    reason: str


@ses.event_type("bank.TransferCredited")
@dataclass(frozen=True)
class TransferCredited:
    transfer_id: str
    amount: int


@ses.event_type("bank.CreditRefused")
@dataclass(frozen=True)
class CreditRefused:
    transfer_id: str
    reason: str


@ses.event_type("bank.CreditHeld")
@dataclass(frozen=True)
class CreditHeld:
    transfer_id: str
    amount: int


@ses.event_type("bank.HeldCreditReturned")
@dataclass(frozen=True)
class HeldCreditReturned:
    transfer_id: str
    amount: int


@ses.event_type("bank.TransferRefunded")
@dataclass(frozen=True)
class TransferRefunded:
    transfer_id: str
    amount: int


class Overdrawn(cqrs.DomainError):
    """A withdrawal would take the balance below the overdraft limit."""


class Account(cqrs.Aggregate):
    """A euro account: its state changes only by its events."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner: str | None = None
        self.closed = False
        self.balance = 0
        self.held: tuple[tuple[str, int], ...] = ()  # (transfer id, amount) held for review

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

    def close(self) -> None:
        self._check_open()
        self.record(Closed())

    def _refusal(self, amount: int) -> str | None:
        if self.owner is None:
            return f"no account {self.id}"
        if self.closed:
            return f"account {self.id} is closed"
        if amount <= 0:
            return "a transfer must be positive"
        return None

    def _check_open(self) -> None:
        if self.owner is None or self.closed:
            raise cqrs.DomainError(f"account {self.id} is not open")

    # -- the steps of a transfer saga: each decided by the account, refusals recorded ---

    def debit(self, transfer_id: str, amount: int) -> None:
        reason = self._refusal(amount)
        if reason is None and self.balance - amount < -OVERDRAFT_LIMIT:
            reason = f"account {self.id}: {amount} passes the overdraft limit"
        if reason is not None:
            self.record(DebitRefused(transfer_id, reason))
        else:
            self.record(TransferDebited(transfer_id, amount))

    def credit(self, transfer_id: str, amount: int) -> None:
        reason = self._refusal(amount)
        if reason is not None:
            self.record(CreditRefused(transfer_id, reason))
        elif amount > REVIEW_LIMIT:
            self.record(CreditHeld(transfer_id, amount))
        else:
            self.record(TransferCredited(transfer_id, amount))

    def release_credit(self, transfer_id: str) -> None:
        """A reviewer lets a held credit through."""
        for held, amount in self.held:
            if held == transfer_id:
                self.record(TransferCredited(transfer_id, amount))
                return
        raise cqrs.DomainError(f"account {self.id} holds no credit of transfer {transfer_id}")

    def return_credit(self, transfer_id: str) -> None:
        """Send a held credit back (nothing if it is not held: released, or returned)."""
        for held, amount in self.held:
            if held == transfer_id:
                self.record(HeldCreditReturned(transfer_id, amount))

    def refund(self, transfer_id: str, amount: int) -> None:
        self.record(TransferRefunded(transfer_id, amount))

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

    @cqrs.when(Closed)
    def _closed(self, event: Closed) -> None:
        self.closed = True

    @cqrs.when(TransferDebited)
    def _debited(self, event: TransferDebited) -> None:
        self.balance -= event.amount

    @cqrs.when(TransferCredited)
    def _credited(self, event: TransferCredited) -> None:
        self.balance += event.amount
        self.held = tuple(h for h in self.held if h[0] != event.transfer_id)

    @cqrs.when(CreditHeld)
    def _held(self, event: CreditHeld) -> None:
        self.held = (*self.held, (event.transfer_id, event.amount))

    @cqrs.when(HeldCreditReturned)
    def _returned(self, event: HeldCreditReturned) -> None:
        self.held = tuple(h for h in self.held if h[0] != event.transfer_id)

    @cqrs.when(TransferRefunded)
    def _refunded(self, event: TransferRefunded) -> None:
        self.balance += event.amount

    @cqrs.when(DebitRefused, CreditRefused)
    def _refused(self, event: DebitRefused | CreditRefused) -> None:
        pass


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
class CloseAccount(cqrs.Command):
    pass


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

    @router.handles(CloseAccount, Account)
    def close_account(command: CloseAccount, account: Account) -> None:
        account.close()

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
