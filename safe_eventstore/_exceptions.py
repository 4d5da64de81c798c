"""The one exception tree of SAFE EventStore.

Every error the store raises on purpose derives from :class:`SafeEventStoreError`;
backends translate their drivers' errors (``sqlite3``, ``nats``) into it::

    SafeEventStoreError
    ├── InvalidInput (also ValueError)      bad input, rejected before anything is written
    │   ├── InvalidName                     a database, stream, type or checkpoint name
    │   ├── InvalidEvent                    unserialisable data, a malformed id, bad options
    │   │   └── EventTooLarge               over the store's configured event size limit
    │   └── InvalidURL                      a store URL that cannot be opened
    ├── Conflict
    │   ├── WrongExpectedVersion            the optimistic concurrency check failed
    │   ├── IdempotencyConflict             a batch repeats only some event ids already stored
    │   ├── CheckpointConflict              an append's checkpoint would not move forward
    │   ├── AppendConditionFailed           an event matching the append's condition exists
    │   └── DatabaseExists
    ├── NotFound (also LookupError)
    │   ├── DatabaseNotFound
    │   ├── StreamNotFound
    │   └── EventNotFound
    ├── IntegrityError                      stored bytes do not match their hash
    ├── StoreClosed                         the store or subscription was closed
    └── StorageError                        the backend failed (disk, lock timeout, I/O)
        ├── StoreUnavailable                the backend cannot be reached in time
        │   ├── StoreLocked                 another process held a lock past the timeout
        │   └── AppendOutcomeUnknown        an append may or may not be stored: retry it
        └── StoreReadOnly                   a write to a store opened read-only
"""

from __future__ import annotations

__all__ = [
    "AppendConditionFailed",
    "AppendOutcomeUnknown",
    "CheckpointConflict",
    "Conflict",
    "DatabaseExists",
    "DatabaseNotFound",
    "EventNotFound",
    "EventTooLarge",
    "IdempotencyConflict",
    "IntegrityError",
    "InvalidEvent",
    "InvalidInput",
    "InvalidName",
    "InvalidURL",
    "NotFound",
    "SafeEventStoreError",
    "StorageError",
    "StoreClosed",
    "StoreLocked",
    "StoreReadOnly",
    "StoreUnavailable",
    "StreamNotFound",
    "WrongExpectedVersion",
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


def _describe(expected: int) -> str:
    names = {-1: "NO_STREAM", -2: "ANY", -4: "STREAM_EXISTS"}
    return names.get(expected, str(expected))
