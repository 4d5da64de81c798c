"""A money transfer as a saga: a process manager that debits the source, credits the target,
and compensates when the transfer cannot complete.

A ``Transfer`` aggregate records the request and the outcome; each account decides its own
step and records the outcome, refusals included (``DebitRefused``, ``CreditRefused``), so
the saga reacts to events only. The saga (``transfer_saga()``):

- ``TransferRequested``: schedule a timeout, send ``Debit`` to the source;
- ``TransferDebited``: send ``Credit`` to the target (or, when the transfer timed out
  meanwhile, ``Refund`` to the source); ``DebitRefused``: fail the transfer;
- ``TransferCredited``: complete the transfer, cancel the timeout;
- ``CreditRefused`` (a closed or unknown target): refund the source, then fail;
- ``CreditHeld`` (a large credit waits for review): wait; if the timeout fires first
  (``TransferTimedOut``), send the held credit back (``ReturnCredit``), refund, fail.

Every command carries an id derived from the event that caused it, so a saga run again
after a crash repeats commands that are answered as replays: each step takes effect once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import safe_eventstore as ses
from safe_eventstore import cqrs, projections

from . import (
    Account,
    CreditHeld,
    CreditRefused,
    DebitRefused,
    HeldCreditReturned,
    TransferCredited,
    TransferDebited,
    TransferRefunded,
    routes,
)

__all__ = [
    "TIMEOUT",
    "CompleteTransfer",
    "Credit",
    "Debit",
    "FailTransfer",
    "Refund",
    "ReleaseCredit",
    "RequestTransfer",
    "ReturnCredit",
    "TimeOutTransfer",
    "TransferCase",
    "bank_router",
    "transfer_saga",
]

TIMEOUT = timedelta(minutes=10)
"""How long a transfer may take before the saga gives up and compensates."""


@ses.event_type("bank.TransferRequested")
@dataclass(frozen=True)
class TransferRequested:
    source: str
    target: str
    amount: int


@ses.event_type("bank.TransferCompleted")
@dataclass(frozen=True)
class TransferCompleted:
    pass


@ses.event_type("bank.TransferFailed")
@dataclass(frozen=True)
class TransferFailed:
    reason: str


@ses.event_type("bank.TransferTimedOut")
@dataclass(frozen=True)
class TransferTimedOut:
    pass


class TransferCase(cqrs.Aggregate):
    """A transfer's record: requested, then completed or failed (timed out on the way)."""

    category = "Transfer"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.status = "new"

    def request(self, source: str, target: str, amount: int) -> None:
        if self.status != "new":
            raise cqrs.DomainError(f"transfer {self.id} exists already")
        if amount <= 0 or source == target:
            raise cqrs.DomainError("a transfer moves a positive amount between two accounts")
        self.record(TransferRequested(source, target, amount))

    def time_out(self) -> None:
        # a timeout that comes too late changes nothing: no error, nothing recorded
        if self.status == "requested":
            self.record(TransferTimedOut())

    def complete(self) -> None:
        if self.status not in ("completed", "failed"):
            self.record(TransferCompleted())

    def fail(self, reason: str) -> None:
        if self.status not in ("completed", "failed"):
            self.record(TransferFailed(reason))

    @cqrs.when(TransferRequested)
    def _requested(self, event: TransferRequested) -> None:
        self.status = "requested"

    @cqrs.when(TransferTimedOut)
    def _timed_out(self, event: TransferTimedOut) -> None:
        self.status = "timed out"

    @cqrs.when(TransferCompleted)
    def _completed(self, event: TransferCompleted) -> None:
        self.status = "completed"

    @cqrs.when(TransferFailed)
    def _failed(self, event: TransferFailed) -> None:
        self.status = "failed"


@dataclass(frozen=True)
class RequestTransfer(cqrs.Command):
    source: str
    target: str
    amount: int


@dataclass(frozen=True)
class TimeOutTransfer(cqrs.Command):
    pass


@dataclass(frozen=True)
class CompleteTransfer(cqrs.Command):
    pass


@dataclass(frozen=True)
class FailTransfer(cqrs.Command):
    reason: str


@dataclass(frozen=True)
class Debit(cqrs.Command):
    transfer_id: str
    amount: int


@dataclass(frozen=True)
class Credit(cqrs.Command):
    transfer_id: str
    amount: int


@dataclass(frozen=True)
class ReleaseCredit(cqrs.Command):
    transfer_id: str


@dataclass(frozen=True)
class ReturnCredit(cqrs.Command):
    transfer_id: str


@dataclass(frozen=True)
class Refund(cqrs.Command):
    transfer_id: str
    amount: int


def transfer_routes(router: cqrs.CommandRouter | cqrs.AsyncCommandRouter) -> None:
    """The handlers of the transfer commands (one account, or one transfer, each)."""

    @router.handles(RequestTransfer, TransferCase)
    def request(command: RequestTransfer, case: TransferCase) -> None:
        case.request(command.source, command.target, command.amount)

    @router.handles(TimeOutTransfer, TransferCase)
    def time_out(command: TimeOutTransfer, case: TransferCase) -> None:
        case.time_out()

    @router.handles(CompleteTransfer, TransferCase)
    def complete(command: CompleteTransfer, case: TransferCase) -> None:
        case.complete()

    @router.handles(FailTransfer, TransferCase)
    def fail(command: FailTransfer, case: TransferCase) -> None:
        case.fail(command.reason)

    @router.handles(Debit, Account)
    def debit(command: Debit, account: Account) -> None:
        account.debit(command.transfer_id, command.amount)

    @router.handles(Credit, Account)
    def credit(command: Credit, account: Account) -> None:
        account.credit(command.transfer_id, command.amount)

    @router.handles(ReleaseCredit, Account)
    def release(command: ReleaseCredit, account: Account) -> None:
        account.release_credit(command.transfer_id)

    @router.handles(ReturnCredit, Account)
    def return_credit(command: ReturnCredit, account: Account) -> None:
        account.return_credit(command.transfer_id)

    @router.handles(Refund, Account)
    def refund(command: Refund, account: Account) -> None:
        account.refund(command.transfer_id, command.amount)


def bank_router(db: ses.Database | ses.AsyncDatabase) -> Any:
    """A router with every route of the bank, of the database's kind (sync or asyncio): the
    saga's ``router=``, so one declaration serves both runners."""
    router: cqrs.CommandRouter | cqrs.AsyncCommandRouter
    if isinstance(db, ses.AsyncDatabase):
        router = cqrs.AsyncCommandRouter(db)
    else:
        router = cqrs.CommandRouter(db)
    routes(router)
    transfer_routes(router)
    return router


def _transfer_of(event: ses.RecordedEvent) -> str:
    """The saga's key: the transfer id (an account event names it in its data)."""
    if event.category == "Transfer":
        return event.stream.split("-", 1)[1]
    transfer_id: str = event.data.transfer_id
    return transfer_id


State = dict[str, Any]
Ctx = projections.Context


def transfer_saga(
    timeout: timedelta = TIMEOUT, router: Any = bank_router
) -> projections.ProcessManager:
    """The transfer process manager; its state per transfer is ``{"step", "source",
    "target", "amount", "reason"}``."""
    saga = projections.ProcessManager(
        "transfers",
        source=projections.whole_database(),
        key=_transfer_of,
        initial={},
        router=router,
    )

    @saga.on(TransferRequested)
    def requested(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        data: TransferRequested = event.data
        ctx.schedule(TimeOutTransfer(target_id=ctx.key), after=timeout, name="timeout")
        ctx.send(Debit(target_id=data.source, transfer_id=ctx.key, amount=data.amount))
        return {"step": "debiting", "source": data.source, "target": data.target,
                "amount": data.amount, "reason": None}  # fmt: skip

    @saga.on(TransferDebited)
    def debited(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        if state["step"] == "timed out":  # the debit came after the timeout: give it back
            return _refund(state, ctx, "timed out")
        ctx.send(Credit(target_id=state["target"], transfer_id=ctx.key, amount=state["amount"]))
        return {**state, "step": "crediting"}

    @saga.on(DebitRefused)
    def debit_refused(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        ctx.cancel("timeout")
        ctx.send(FailTransfer(target_id=ctx.key, reason=event.data.reason))
        return {**state, "step": "failed", "reason": event.data.reason}

    @saga.on(TransferCredited)
    def credited(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        ctx.cancel("timeout")
        ctx.send(CompleteTransfer(target_id=ctx.key))
        return {**state, "step": "completed"}

    @saga.on(CreditRefused)
    def credit_refused(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        ctx.cancel("timeout")
        return _refund(state, ctx, event.data.reason)

    @saga.on(CreditHeld)
    def held(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        return {**state, "step": "held"}

    @saga.on(TransferTimedOut)
    def timed_out(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        if state["step"] == "held":
            ctx.send(ReturnCredit(target_id=state["target"], transfer_id=ctx.key))
            return {**state, "step": "returning"}
        if state["step"] == "debiting":  # the debit's outcome is still to come
            return {**state, "step": "timed out"}
        return state

    @saga.on(HeldCreditReturned)
    def returned(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        return _refund(state, ctx, "timed out")

    @saga.on(TransferRefunded)
    def refunded(state: State, event: ses.RecordedEvent, ctx: Ctx) -> State:
        ctx.send(FailTransfer(target_id=ctx.key, reason=state["reason"]))
        return {**state, "step": "failed"}

    return saga


def _refund(state: State, ctx: Ctx, reason: str) -> State:
    ctx.send(Refund(target_id=state["source"], transfer_id=ctx.key, amount=state["amount"]))
    return {**state, "step": "refunding", "reason": reason}
