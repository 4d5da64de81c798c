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

Built on the public store API only (docs/projections.md).
"""

from __future__ import annotations

from ._agent import Agent, AsyncAgent
from ._errors import (
    DuplicateProjection,
    HandlerFailed,
    InvalidProjection,
    InvalidState,
    ProjectionNotFound,
    UnbuiltVersion,
    UnknownEventType,
)
from ._history import AsyncReadModel, ReadModel, StateEntry
from ._loading import load
from ._log import Failure
from ._projection import Projection
from ._runner import AsyncRunner, Runner
from ._source import Source, category, stream, whole_database
from ._status import ProjectionStatus, retry, retry_async, status, status_async
from ._versions import active_version, active_version_async, promote, promote_async

__all__ = [
    "Agent",
    "AsyncAgent",
    "AsyncReadModel",
    "AsyncRunner",
    "DuplicateProjection",
    "Failure",
    "HandlerFailed",
    "InvalidProjection",
    "InvalidState",
    "Projection",
    "ProjectionNotFound",
    "ProjectionStatus",
    "ReadModel",
    "Runner",
    "Source",
    "StateEntry",
    "UnbuiltVersion",
    "UnknownEventType",
    "active_version",
    "active_version_async",
    "category",
    "load",
    "promote",
    "promote_async",
    "retry",
    "retry_async",
    "status",
    "status_async",
    "stream",
    "whole_database",
]
