"""The asyncio API: the same store, its calls run in worker threads so the event loop never
blocks. The protocol logic is the sync one; nothing here decides anything."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from ._database import Database, Subscription
from ._documents import DocumentPage
from ._leases import Lease
from ._model import (
    ANY,
    AppendCondition,
    AppendResult,
    NewEvent,
    Query,
    RecordedEvent,
    RecordedEvents,
    StreamAppend,
    StreamsPage,
    VerifyReport,
)
from ._store import Store
from ._store import open as open_sync
from .crypto import EncryptionSettings, KeyProvider

__all__ = [
    "AsyncDatabase",
    "AsyncRecordedEvents",
    "AsyncStore",
    "AsyncSubscription",
    "open_async",
]

P = ParamSpec("P")
R = TypeVar("R")
_BATCH = 1000


async def _run(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await asyncio.to_thread(fn, *args, **kwargs)


def _next_batch(it: Iterator[RecordedEvent]) -> list[RecordedEvent]:
    batch = []
    for event in it:
        batch.append(event)
        if len(batch) >= _BATCH:
            break
    return batch


class AsyncRecordedEvents:
    """A read: ``await`` it for a list, or ``async for`` through it page by page."""

    def __init__(self, events: RecordedEvents) -> None:
        self._events = events

    def __await__(self) -> Generator[Any, None, list[RecordedEvent]]:
        return _run(list, self._events).__await__()

    async def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        it = await _run(iter, self._events)
        while batch := await _run(_next_batch, it):
            for event in batch:
                yield event


class AsyncSubscription:
    """``async with db.subscribe(...) as sub: async for event in sub: ...``"""

    def __init__(self, subscription: Subscription, idle_timeout: float | None) -> None:
        self._sub = subscription
        self._idle = idle_timeout

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncSubscription:
        return self

    async def __anext__(self) -> RecordedEvent:
        event = await self.get(self._idle)
        if event is None:
            raise StopAsyncIteration
        return event

    async def get(self, timeout: float | None = None) -> RecordedEvent | None:
        """The next event within ``timeout`` seconds (forever when ``None``), else ``None``."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            # Wait in short slices so a cancelled task frees its worker thread soon.
            left = 0.5 if deadline is None else min(0.5, deadline - loop.time())
            event = await _run(self._sub.get, max(left, 0.0))
            if event is not None or self._sub.closed:
                return event
            if deadline is not None and loop.time() >= deadline:
                return None

    @property
    def position(self) -> int | None:
        """The position of the last event delivered, ``None`` before the first."""
        return self._sub.position

    async def save_checkpoint(self, position: int | None = None) -> None:
        await _run(self._sub.save_checkpoint, position)

    def close(self) -> None:
        """Stop the subscription; iteration ends."""
        self._sub.close()


class AsyncDatabase:
    """The coroutine twin of :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.sync = db
        self.name = db.name

    async def append(
        self, stream: str, events: Iterable[NewEvent | Any], *, expected_version: int = ANY
    ) -> AppendResult:
        return await _run(self.sync.append, stream, list(events), expected_version=expected_version)

    async def append_batch(
        self,
        appends: Iterable[StreamAppend],
        *,
        checkpoint: tuple[str, int] | None = None,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> list[AppendResult]:
        return await _run(
            self.sync.append_batch, list(appends), checkpoint=checkpoint, documents=documents
        )

    @property
    def supports_documents(self) -> bool:
        """Whether the database keeps documents (see :attr:`Database.supports_documents`)."""
        return self.sync.supports_documents

    async def declare_document_index(self, collection: str, fields: Iterable[str]) -> None:
        await _run(self.sync.declare_document_index, collection, list(fields))

    async def document_indexes(self, collection: str) -> tuple[str, ...]:
        return await _run(self.sync.document_indexes, collection)

    async def get_document(self, collection: str, key: str) -> Any:
        return await _run(self.sync.get_document, collection, key)

    async def query_documents(
        self, collection: str, where: dict[str, Any] | None = None, **options: Any
    ) -> DocumentPage:
        return await _run(self.sync.query_documents, collection, where, **options)

    async def count_documents(self, collection: str, where: dict[str, Any] | None = None) -> int:
        return await _run(self.sync.count_documents, collection, where)

    async def append_events(
        self, events: Iterable[NewEvent | Any], *, condition: AppendCondition | None = None
    ) -> AppendResult:
        return await _run(self.sync.append_events, list(events), condition=condition)

    async def restructure(
        self,
        stream: str,
        version: int,
        replacement: NewEvent | Any | None = None,
        *,
        reason: str,
        event_id: uuid.UUID | str | None = None,
        timestamp: datetime | None = None,
    ) -> AppendResult:
        return await _run(
            self.sync.restructure, stream, version, replacement, reason=reason,
            event_id=event_id, timestamp=timestamp,
        )  # fmt: skip

    # The read options (from_version, from_position, limit, types, backwards, raw, after)
    # pass through to the sync reads, which check them.
    def read_stream(self, stream: str, **options: Any) -> AsyncRecordedEvents:
        return AsyncRecordedEvents(self.sync.read_stream(stream, **options))

    def read_category(self, category: str, **options: Any) -> AsyncRecordedEvents:
        return AsyncRecordedEvents(self.sync.read_category(category, **options))

    def read_all(self, **options: Any) -> AsyncRecordedEvents:
        return AsyncRecordedEvents(self.sync.read_all(**options))

    def read_events(self, query: Query | None = None, **options: Any) -> AsyncRecordedEvents:
        return AsyncRecordedEvents(self.sync.read_events(query, **options))

    async def last_position(self) -> int:
        return await _run(self.sync.last_position)

    async def stream_version(self, stream: str) -> int | None:
        return await _run(self.sync.stream_version, stream)

    async def list_categories(self) -> list[str]:
        return await _run(self.sync.list_categories)

    async def list_streams(self, category: str | None = None, **options: Any) -> StreamsPage:
        return await _run(self.sync.list_streams, category, **options)

    async def get_checkpoint(self, name: str) -> int | None:
        return await _run(self.sync.get_checkpoint, name)

    async def save_checkpoint(self, name: str, position: int) -> None:
        await _run(self.sync.save_checkpoint, name, position)

    async def list_checkpoints(self) -> dict[str, int]:
        return await _run(self.sync.list_checkpoints)

    async def delete_checkpoint(self, name: str) -> bool:
        return await _run(self.sync.delete_checkpoint, name)

    async def take_lease(
        self, name: str, owner: str, *, ttl: float, info: Mapping[str, Any] | None = None
    ) -> Lease | None:
        """Take or renew a lease (see :meth:`Database.take_lease`)."""
        return await _run(self.sync.take_lease, name, owner, ttl=ttl, info=info)

    async def release_lease(self, name: str, owner: str) -> bool:
        """Free a lease ``owner`` holds (see :meth:`Database.release_lease`)."""
        return await _run(self.sync.release_lease, name, owner)

    async def get_lease(self, name: str) -> Lease | None:
        """The stored lease ``name``, expired or not."""
        return await _run(self.sync.get_lease, name)

    async def list_leases(self) -> list[Lease]:
        """Every lease held or expired, sorted by name."""
        return await _run(self.sync.list_leases)

    def subscribe(self, *, idle_timeout: float | None = None, **options: Any) -> AsyncSubscription:
        return AsyncSubscription(self.sync.subscribe(**options), idle_timeout)

    async def verify(
        self,
        *,
        public_key: Any = None,
        progress: Callable[[VerifyReport], None] | None = None,
    ) -> VerifyReport:
        return await _run(self.sync.verify, public_key=public_key, progress=progress)

    @property
    def encrypted(self) -> bool:
        """Whether the database's payloads are encrypted."""
        return self.sync.encrypted

    @property
    def large_batches(self) -> bool:
        """Whether one atomic batch may hold many thousands of events on this backend."""
        return self.sync.large_batches

    def key_scope(self, stream: str) -> str:
        """The key scope of the events of ``stream``."""
        return self.sync.key_scope(stream)

    async def forget(self, scope: str) -> None:
        """Forget a key scope (see :meth:`Database.forget`)."""
        await _run(self.sync.forget, scope)

    async def rotate_master_key(self, provider: KeyProvider) -> int:
        """Re-wrap the data keys under a new master key (see
        :meth:`Database.rotate_master_key`)."""
        return await _run(self.sync.rotate_master_key, provider)

    async def stats(self) -> dict[str, float]:
        return await _run(self.sync.stats)


class AsyncStore:
    """The coroutine twin of :class:`Store`; get one with :func:`open_async`."""

    def __init__(self, store: Store) -> None:
        self.sync = store
        self.url = store.url

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def create_database(
        self,
        name: str,
        *,
        encrypted: bool = False,
        key_scope: str = "stream",
        encrypt_metadata: bool = False,
    ) -> AsyncDatabase:
        """Create a database (see :meth:`Store.create_database`)."""
        return AsyncDatabase(
            await _run(
                self.sync.create_database,
                name,
                encrypted=encrypted,
                key_scope=key_scope,
                encrypt_metadata=encrypt_metadata,
            )
        )

    async def encryption(self, name: str) -> EncryptionSettings | None:
        """How database ``name`` is encrypted; ``None`` when it is not."""
        return await _run(self.sync.encryption, name)

    async def rotate_master_key(self, provider: KeyProvider) -> dict[str, int]:
        """Re-wrap every encrypted database's data keys (see
        :meth:`Store.rotate_master_key`)."""
        return await _run(self.sync.rotate_master_key, provider)

    async def list_databases(self) -> list[str]:
        """The names of the store's databases, sorted."""
        return await _run(self.sync.list_databases)

    async def database(self, name: str, *, without_key: bool = False) -> AsyncDatabase:
        return AsyncDatabase(await _run(self.sync.database, name, without_key=without_key))

    async def close(self) -> None:
        """Close the store and its connections."""
        await _run(self.sync.close)


class _Opening:
    """What :func:`open_async` returns: await it, or use it in ``async with``."""

    def __init__(self, url: str | None, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._store: AsyncStore | None = None

    async def _open(self) -> AsyncStore:
        return AsyncStore(await _run(open_sync, self._url, **self._options))

    def __await__(self) -> Generator[Any, None, AsyncStore]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncStore:
        self._store = await self._open()
        return self._store

    async def __aexit__(self, *exc: object) -> None:
        if self._store is not None:
            await self._store.close()


def open_async(url: str | None = None, **options: Any) -> _Opening:
    """Open a store for asyncio code; the same URLs and options as :func:`safe_eventstore.open`.

    ::

        async with ses.open_async("memory://") as store:
            db = await store.create_database("bank")
            await db.append("Account-1", [ses.NewEvent("Opened", {})])
    """
    return _Opening(url, options)
