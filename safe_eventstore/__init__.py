"""SAFE EventStore: an event-sourcing database for Python.

::

    import safe_eventstore as ses

    with ses.open("memory://") as store:
        db = store.create_database("bank")
        db.append("Account-42", [ses.NewEvent("Deposited", {"amount": 100})])
"""

from __future__ import annotations

from ._aio import AsyncDatabase, AsyncRecordedEvents, AsyncStore, AsyncSubscription, open_async
from ._codec import EventTypes, event_type, event_types, upcaster
from ._database import Database, Subscription
from ._documents import DocumentPage, DocumentQuery
from ._exceptions import (
    AppendConditionFailed,
    AppendOutcomeUnknown,
    CheckpointConflict,
    Conflict,
    DatabaseExists,
    DatabaseNotFound,
    EncryptionError,
    EventNotFound,
    EventTooLarge,
    IdempotencyConflict,
    IntegrityError,
    InvalidDocumentQuery,
    InvalidEvent,
    InvalidInput,
    InvalidKeyFile,
    InvalidLease,
    InvalidName,
    InvalidSigningKey,
    InvalidURL,
    KeyRequired,
    NotFound,
    NotSupported,
    SafeEventStoreError,
    ScopeForgotten,
    ScopeNotFound,
    StorageError,
    StoreClosed,
    StoreLocked,
    StoreReadOnly,
    StoreUnavailable,
    StoreWarning,
    StreamNotFound,
    UnknownDocumentIndex,
    UpcastError,
    WrongExpectedVersion,
    WrongKey,
)
from ._inputs import FORGOTTEN_STREAM
from ._leases import Lease
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
from ._signing import create_signing_key
from ._store import Store, open
from .crypto import EncryptionSettings, FileKeyProvider, KeyProvider, create_keyfile

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "FORGOTTEN_STREAM",
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
    "DocumentPage",
    "DocumentQuery",
    "EncryptionError",
    "EncryptionSettings",
    "EventNotFound",
    "EventTooLarge",
    "EventTypes",
    "FileKeyProvider",
    "IdempotencyConflict",
    "IntegrityError",
    "InvalidDocumentQuery",
    "InvalidEvent",
    "InvalidInput",
    "InvalidKeyFile",
    "InvalidLease",
    "InvalidName",
    "InvalidSigningKey",
    "InvalidURL",
    "KeyProvider",
    "KeyRequired",
    "Lease",
    "NewEvent",
    "NotFound",
    "NotSupported",
    "Problem",
    "Query",
    "QueryItem",
    "RecordedEvent",
    "RecordedEvents",
    "SafeEventStoreError",
    "ScopeForgotten",
    "ScopeNotFound",
    "StorageError",
    "Store",
    "StoreClosed",
    "StoreLocked",
    "StoreReadOnly",
    "StoreUnavailable",
    "StoreWarning",
    "StreamAppend",
    "StreamNotFound",
    "StreamsPage",
    "Subscription",
    "UnknownDocumentIndex",
    "UpcastError",
    "VerifyReport",
    "WrongExpectedVersion",
    "WrongKey",
    "category_of",
    "create_keyfile",
    "create_signing_key",
    "event_type",
    "event_types",
    "open",
    "open_async",
    "upcaster",
]
