"""SAFE EventStore: an event-sourcing database for Python.

::

    import safe_eventstore as ses

    with ses.open("memory://") as store:
        db = store.create_database("bank")
        db.append("Account-42", [ses.NewEvent("Deposited", {"amount": 100})])
"""

from __future__ import annotations

from ._aio import AsyncDatabase, AsyncRecordedEvents, AsyncStore, AsyncSubscription, open_async
from ._codec import EventTypes, event_type, event_types
from ._database import Database, Subscription
from ._exceptions import (
    AppendConditionFailed,
    AppendOutcomeUnknown,
    CheckpointConflict,
    Conflict,
    DatabaseExists,
    DatabaseNotFound,
    EventNotFound,
    EventTooLarge,
    IdempotencyConflict,
    IntegrityError,
    InvalidEvent,
    InvalidInput,
    InvalidName,
    InvalidURL,
    NotFound,
    SafeEventStoreError,
    StorageError,
    StoreClosed,
    StoreLocked,
    StoreReadOnly,
    StoreUnavailable,
    StreamNotFound,
    WrongExpectedVersion,
)
from ._model import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendCondition,
    AppendResult,
    NewEvent,
    Problem,
    Query,
    QueryItem,
    RecordedEvent,
    RecordedEvents,
    StreamAppend,
    StreamsPage,
    VerifyReport,
)
from ._names import category_of
from ._store import Store, open

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendCondition",
    "AppendConditionFailed",
    "AppendOutcomeUnknown",
    "AppendResult",
    "AsyncDatabase",
    "AsyncRecordedEvents",
    "AsyncStore",
    "AsyncSubscription",
    "CheckpointConflict",
    "Conflict",
    "Database",
    "DatabaseExists",
    "DatabaseNotFound",
    "EventNotFound",
    "EventTooLarge",
    "EventTypes",
    "IdempotencyConflict",
    "IntegrityError",
    "InvalidEvent",
    "InvalidInput",
    "InvalidName",
    "InvalidURL",
    "NewEvent",
    "NotFound",
    "Problem",
    "Query",
    "QueryItem",
    "RecordedEvent",
    "RecordedEvents",
    "SafeEventStoreError",
    "StorageError",
    "Store",
    "StoreClosed",
    "StoreLocked",
    "StoreReadOnly",
    "StoreUnavailable",
    "StreamAppend",
    "StreamNotFound",
    "StreamsPage",
    "Subscription",
    "VerifyReport",
    "WrongExpectedVersion",
    "category_of",
    "event_type",
    "event_types",
    "open",
    "open_async",
]
