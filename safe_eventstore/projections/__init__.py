"""The read side on SAFE EventStore: projections whose states are stored as streams,
atomically with their checkpoints, and read back at any point of their history.

::

    import safe_eventstore as ses
    from safe_eventstore import projections

    balances = projections.Projection("balances", source=projections.category("Account"))

    @balances.on(Deposited)
    def _(state: int | None, event: ses.RecordedEvent) -> int:
        return (state or 0) + event.data.amount

    with projections.Runner(db, [balances]) as runner:
        runner.run_once()
    projections.ReadModel(db, balances).state("Account-42")

A :class:`ProcessManager` (a saga) is declared the same way; its handlers also issue
commands through a ``cqrs`` command router, with ids derived from the event, and schedule
commands for later.

Built on the public store API only (docs/projections.md).
"""

from __future__ import annotations

from ._agent import Agent, AsyncAgent
from ._errors import (
    CommandFailed,
    DuplicateProjection,
    HandlerFailed,
    InvalidCommand,
    InvalidProjection,
    InvalidQuery,
    InvalidState,
    ProjectionNotFound,
    QueryTooLarge,
    UnbuiltVersion,
    UnknownEventType,
    UnknownIndex,
)
from ._history import AsyncReadModel, ReadModel, StateEntry
from ._loading import load
from ._log import Failure
from ._process import Context, ProcessManager
from ._projection import Projection
from ._query import QueryPage
from ._runner import AsyncRunner, Runner
from ._source import Source, category, stream, whole_database
from ._status import (
    ProjectionStatus,
    request_rebuild,
    request_rebuild_async,
    retry,
    retry_async,
    status,
    status_async,
)
from ._versions import active_version, active_version_async, promote, promote_async

__all__ = [
    "Agent",
    "AsyncAgent",
    "AsyncReadModel",
    "AsyncRunner",
    "CommandFailed",
    "Context",
    "DuplicateProjection",
    "Failure",
    "HandlerFailed",
    "InvalidCommand",
    "InvalidProjection",
    "InvalidQuery",
    "InvalidState",
    "ProcessManager",
    "Projection",
    "ProjectionNotFound",
    "ProjectionStatus",
    "QueryPage",
    "QueryTooLarge",
    "ReadModel",
    "Runner",
    "Source",
    "StateEntry",
    "UnbuiltVersion",
    "UnknownEventType",
    "UnknownIndex",
    "active_version",
    "active_version_async",
    "category",
    "load",
    "promote",
    "promote_async",
    "request_rebuild",
    "request_rebuild_async",
    "retry",
    "retry_async",
    "status",
    "status_async",
    "stream",
    "whole_database",
]
