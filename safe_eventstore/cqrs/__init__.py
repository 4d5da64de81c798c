"""The write side of CQRS on SAFE EventStore: aggregates, repositories with snapshots, and
command routing with idempotent commands, for sync and asyncio databases.

::

    import safe_eventstore as ses
    from safe_eventstore import cqrs

    @ses.event_type("Deposited")
    @dataclass(frozen=True)
    class Deposited:
        amount: int

    class Account(cqrs.Aggregate):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.balance = 0

        def deposit(self, amount: int) -> None:
            if amount <= 0:
                raise cqrs.DomainError("a deposit must be positive")
            self.record(Deposited(amount))

        @cqrs.when(Deposited)
        def _deposited(self, event: Deposited) -> None:
            self.balance += event.amount

    accounts = cqrs.Repository(db, Account)

Built on the public store API only (docs/cqrs.md).
"""

from __future__ import annotations

from ._aggregate import Aggregate, when
from ._commands import Command, CommandResult
from ._errors import (
    AggregateNotFound,
    DomainError,
    HandlerFailed,
    IllegalStateChange,
    InvalidAggregate,
    UnhandledEvent,
    UnknownCommand,
)
from ._repository import AsyncRepository, Repository
from ._router import AsyncCommandRouter, CommandRouter

__all__ = [
    "Aggregate",
    "AggregateNotFound",
    "AsyncCommandRouter",
    "AsyncRepository",
    "Command",
    "CommandResult",
    "CommandRouter",
    "DomainError",
    "HandlerFailed",
    "IllegalStateChange",
    "InvalidAggregate",
    "Repository",
    "UnhandledEvent",
    "UnknownCommand",
    "when",
]
