"""The one exception tree of SAFE EventStore.

Every error the store raises on purpose derives from :class:`SafeEventStoreError`;
backends translate their drivers' errors (``sqlite3``, ``nats``) into it::

    SafeEventStoreError
    ├── InvalidInput (also ValueError)      bad input, rejected before anything is written
    │   ├── InvalidName                     a database, stream, type or checkpoint name
    │   ├── InvalidEvent                    unserialisable data, a malformed id, bad options
    │   │   └── EventTooLarge               over the store's configured event size limit
    │   ├── InvalidURL                      a store URL that cannot be opened
    │   ├── InvalidSigningKey               a signing or public key that cannot be used
    │   ├── InvalidLease                    a lease's owner, ttl or info (its name: InvalidName)
    │   ├── InvalidDocumentQuery            a document query, index or collection that is wrong
    │   │   └── UnknownDocumentIndex        a query of a field the collection did not declare
    │   └── InvalidKeyFile                  a master key file missing, malformed or in the way
    ├── Conflict
    │   ├── WrongExpectedVersion            the optimistic concurrency check failed
    │   ├── IdempotencyConflict             a batch repeats only some event ids already stored
    │   ├── CheckpointConflict              an append's checkpoint would not move forward
    │   ├── AppendConditionFailed           an event matching the append's condition exists
    │   ├── DatabaseExists
    │   └── ScopeForgotten                  a write to (or forget of) a forgotten key scope
    ├── NotFound (also LookupError)
    │   ├── DatabaseNotFound
    │   ├── StreamNotFound
    │   ├── EventNotFound
    │   └── ScopeNotFound                   no data key of that scope (forget)
    ├── IntegrityError                      stored bytes fail their hash (or their cipher's tag)
    ├── UpcastError                         a stored event cannot be brought to its current shape
    ├── EncryptionError                     an encrypted database's keys cannot be used
    │   ├── KeyRequired                     no master key given for an encrypted database
    │   └── WrongKey                        the master key does not open the database's keys
    ├── StoreClosed                         the store or subscription was closed
    └── StorageError                        the backend failed (disk, lock timeout, I/O)
        ├── StoreUnavailable                the backend cannot be reached in time
        │   ├── StoreLocked                 another process held a lock past the timeout
        │   └── AppendOutcomeUnknown        an append may or may not be stored: retry it
        ├── StoreReadOnly                   a write to a store opened read-only
        └── NotSupported                    the backend lacks an optional part of the contract

Warnings: :class:`StoreWarning` (a ``UserWarning``), for a store that works but is not as
it should be (its files readable by other users).
"""

from __future__ import annotations

__all__ = [
    "AppendConditionFailed",
    "AppendOutcomeUnknown",
    "CheckpointConflict",
    "Conflict",
    "DatabaseExists",
    "DatabaseNotFound",
    "EncryptionError",
    "EventNotFound",
    "EventTooLarge",
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
    "KeyRequired",
    "NotFound",
    "NotSupported",
    "SafeEventStoreError",
    "ScopeForgotten",
    "ScopeNotFound",
    "StorageError",
    "StoreClosed",
    "StoreLocked",
    "StoreReadOnly",
    "StoreUnavailable",
    "StoreWarning",
    "StreamNotFound",
    "UnknownDocumentIndex",
    "UpcastError",
    "WrongExpectedVersion",
    "WrongKey",
]


class SafeEventStoreError(Exception):
    """The root of every error SAFE EventStore raises."""


class InvalidInput(SafeEventStoreError, ValueError):
    """Input was rejected before anything was written."""


class InvalidName(InvalidInput):
    """A database, stream, event type or checkpoint name breaks the naming rule."""


class InvalidEvent(InvalidInput):
    """An event (or an option of an append) cannot be stored as given."""


class EventTooLarge(InvalidEvent):
    """An event's payload and metadata exceed the store's ``max_event_size``."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"event of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class InvalidURL(InvalidInput):
    """A store URL names an unknown scheme or carries bad options."""


class InvalidSigningKey(InvalidInput):
    """A signing key (private) or public key that is missing, unreadable or not an Ed25519
    key in PEM form, or signing asked of a backend that does not store signatures."""


class InvalidLease(InvalidInput):
    """A lease's owner, time to live or info breaks its rule (``take_lease``): nothing is
    written. A bad lease name raises :class:`InvalidName`."""


class InvalidDocumentQuery(InvalidInput):
    """A document query, index declaration or collection name that cannot be used as given
    (an unknown operator, a value of the wrong kind, a bad ``after`` token or limit)."""


class UnknownDocumentIndex(InvalidDocumentQuery):
    """A document query names a field its collection has not declared an index on."""


class Conflict(SafeEventStoreError):
    """The request contradicts what is stored."""


class WrongExpectedVersion(Conflict):
    """The stream's version is not the one the append expected.

    ``actual`` is the stream's last version, or ``None`` when the stream has no events.
    """

    def __init__(self, stream: str, expected: int, actual: int | None) -> None:
        super().__init__(
            f"stream {stream!r}: expected version {_describe(expected)}, "
            f"actual {'no stream' if actual is None else actual}"
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class IdempotencyConflict(Conflict):
    """A batch repeats some, but not all, event ids already stored in the stream."""


class CheckpointConflict(Conflict):
    """An append carried a checkpoint that is not ahead of the stored one."""


class AppendConditionFailed(Conflict):
    """An event matching an append's condition was stored after the condition's position."""


class DatabaseExists(Conflict):
    """``create_database`` named a database that already exists."""


class NotFound(SafeEventStoreError, LookupError):
    """Something named does not exist."""


class DatabaseNotFound(NotFound):
    """No database of that name exists in the store."""


class StreamNotFound(NotFound):
    """No stream of that name exists in the database."""


class EventNotFound(NotFound):
    """No event of that version exists in the stream."""


class IntegrityError(SafeEventStoreError):
    """Stored bytes do not match the hash that addresses or chains them."""


class UpcastError(SafeEventStoreError):
    """A stored event of an older schema version could not be upcast on reading: an upcaster
    is missing from the chain, one raised, or the result does not fit the registered class.

    ``type`` and ``stored_version`` name the event type and the schema version it was stored
    at; ``stream``, ``version`` and ``position`` say where it is (``None`` when the upcast
    was asked for outside a read).
    """

    def __init__(
        self,
        type: str,
        stored_version: int,
        problem: str,
        *,
        stream: str | None = None,
        version: int | None = None,
        position: int | None = None,
    ) -> None:
        where = "" if stream is None else f" at {stream}@{version} (position {position})"
        super().__init__(
            f"cannot upcast event type {type!r} stored at schema version {stored_version}"
            f"{where}: {problem}"
        )
        self.type = type
        self.stored_version = stored_version
        self.problem = problem
        self.stream = stream
        self.version = version
        self.position = position


class StoreClosed(SafeEventStoreError):
    """The store, database handle or subscription has been closed."""


class StorageError(SafeEventStoreError):
    """The storage backend failed (disk full, I/O error, lock held too long, ...)."""


class StoreUnavailable(StorageError):
    """The storage backend could not be reached or did not answer in time."""


class StoreLocked(StoreUnavailable):
    """A write waited longer than the store's ``lock_timeout`` for a lock another process
    held (SQLite: the database file's write lock)."""


class AppendOutcomeUnknown(StoreUnavailable):
    """An append was sent, but no answer came back (a timeout, a lost connection), and the
    store's own retries could not find out in time whether it was stored.

    Retrying the same call with the same event objects is safe: events keep their ids, so
    an append that was stored after all returns its original result and stores nothing
    twice. Raised by the NATS backend.
    """


class StoreReadOnly(StorageError):
    """A write to a store (or database file) that this process may only read: no write
    permission, or a read-only file system. Reads work; the message names the path."""


class StoreWarning(UserWarning):
    """The store works, but something about it is not as it should be: for example a
    SQLite store whose files users other than its owner may read."""


class InvalidKeyFile(InvalidInput):
    """A master key file is missing or malformed, or ``keys init`` would overwrite one."""


class ScopeForgotten(Conflict):
    """A key scope was forgotten: its events cannot be written to again, nor forgotten twice."""


class ScopeNotFound(NotFound):
    """No data key of that scope exists in the database (nothing was ever written to it)."""


class EncryptionError(SafeEventStoreError):
    """An encrypted database's keys cannot be used."""


class KeyRequired(EncryptionError):
    """An encrypted database was read or written without a master key (give ``keyfile=``,
    ``key_provider=`` or ``$SAFE_EVENTSTORE_KEYFILE``)."""


class WrongKey(EncryptionError):
    """The master key given is not the one that wraps the database's data keys."""


class NotSupported(StorageError):
    """The backend does not implement an optional part of the storage contract (a
    third-party backend without key storage, say)."""


def _describe(expected: int) -> str:
    names = {-1: "NO_STREAM", -2: "ANY", -4: "STREAM_EXISTS"}
    return names.get(expected, str(expected))
