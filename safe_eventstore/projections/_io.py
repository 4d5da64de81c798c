"""The store calls the read side needs, as coroutines over a sync or an asyncio database:
the folding logic is written once (in ``_folding``) and awaits these."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import safe_eventstore as ses

from ._source import Source

__all__ = ["AsyncIO", "StoreIO", "SyncIO"]

PAGE = 1000


class StoreIO(Protocol):
    async def last_entry(self, stream: str) -> ses.RecordedEvent | None: ...

    async def raw(self, stream: str) -> list[ses.RecordedEvent]: ...

    async def append_batch(
        self,
        appends: list[ses.StreamAppend],
        checkpoint: tuple[str, int] | None,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> list[ses.AppendResult]: ...

    async def get_checkpoint(self, name: str) -> int | None: ...

    def source_pages(self, source: Source, upto: int) -> AsyncIterator[list[ses.RecordedEvent]]: ...

    async def streams(self, category: str) -> list[str]: ...


def _read(reader: Any, source: Source, start: int) -> Any:
    """The read of ``source`` from position (or, for a stream, version) ``start``."""
    if source.kind == "stream":
        return reader.read_stream(source.name, from_version=start, limit=PAGE)
    if source.kind == "category":
        return reader.read_category(source.name, from_position=start, limit=PAGE)
    return reader.read_all(from_position=start, limit=PAGE)


def _next_start(source: Source, page: list[ses.RecordedEvent]) -> int:
    last = page[-1]
    return last.version + 1 if source.kind == "stream" else last.position + 1


class SyncIO:
    """The calls on a sync :class:`ses.Database` (they block; the coroutines never wait)."""

    def __init__(self, db: ses.Database) -> None:
        self.db = db

    async def last_entry(self, stream: str) -> ses.RecordedEvent | None:
        return next(iter(self.db.read_stream(stream, backwards=True, limit=1)), None)

    async def raw(self, stream: str) -> list[ses.RecordedEvent]:
        return list(self.db.read_stream(stream, raw=True))

    async def append_batch(
        self,
        appends: list[ses.StreamAppend],
        checkpoint: tuple[str, int] | None,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> list[ses.AppendResult]:
        return self.db.append_batch(appends, checkpoint=checkpoint, documents=documents)

    async def get_checkpoint(self, name: str) -> int | None:
        return self.db.get_checkpoint(name)

    async def source_pages(
        self, source: Source, upto: int
    ) -> AsyncIterator[list[ses.RecordedEvent]]:
        start = 0 if source.kind == "stream" else 1
        while True:
            page = [e for e in _read(self.db, source, start) if e.position <= upto]
            if not page:
                return
            yield page
            start = _next_start(source, page)

    async def streams(self, category: str) -> list[str]:
        found: list[str] = []
        after = None
        while True:
            page = self.db.list_streams(category, after=after, limit=1000)
            found += page
            if page.next_after is None:
                return found
            after = page.next_after


class AsyncIO:
    """The same calls on an :class:`ses.AsyncDatabase`."""

    def __init__(self, db: ses.AsyncDatabase) -> None:
        self.db = db

    async def last_entry(self, stream: str) -> ses.RecordedEvent | None:
        found = await self.db.read_stream(stream, backwards=True, limit=1)
        return found[0] if found else None

    async def raw(self, stream: str) -> list[ses.RecordedEvent]:
        return await self.db.read_stream(stream, raw=True)

    async def append_batch(
        self,
        appends: list[ses.StreamAppend],
        checkpoint: tuple[str, int] | None,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> list[ses.AppendResult]:
        return await self.db.append_batch(appends, checkpoint=checkpoint, documents=documents)

    async def get_checkpoint(self, name: str) -> int | None:
        return await self.db.get_checkpoint(name)

    async def source_pages(
        self, source: Source, upto: int
    ) -> AsyncIterator[list[ses.RecordedEvent]]:
        start = 0 if source.kind == "stream" else 1
        while True:
            page = [e for e in await _read(self.db, source, start) if e.position <= upto]
            if not page:
                return
            yield page
            start = _next_start(source, page)

    async def streams(self, category: str) -> list[str]:
        found: list[str] = []
        after = None
        while True:
            page = await self.db.list_streams(category, after=after, limit=1000)
            found += page
            if page.next_after is None:
                return found
            after = page.next_after
