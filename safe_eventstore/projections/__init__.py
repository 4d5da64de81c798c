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

from ._errors import (
    DuplicateProjection,
    HandlerFailed,
    InvalidProjection,
    InvalidQuery,
    InvalidState,
    QueryTooLarge,
    UnknownEventType,
    UnknownIndex,
)
from ._history import AsyncReadModel, ReadModel, StateEntry
from ._projection import Projection
from ._query import QueryPage
from ._runner import AsyncRunner, Runner
from ._source import Source, category, stream, whole_database

__all__ = [
    "AsyncReadModel",
    "AsyncRunner",
    "DuplicateProjection",
    "HandlerFailed",
    "InvalidProjection",
    "InvalidQuery",
    "InvalidState",
    "Projection",
    "QueryPage",
    "QueryTooLarge",
    "ReadModel",
    "Runner",
    "Source",
    "StateEntry",
    "UnknownEventType",
    "UnknownIndex",
    "category",
    "stream",
    "whole_database",
]
