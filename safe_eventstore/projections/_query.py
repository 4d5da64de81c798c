"""Queries of a projection's current states by the fields it declares (``indexes=``).

Where the database keeps documents (SQLite, memory; never an encrypted database), the runner
writes each key's current state as the document ``key`` of the collection
``projection.<name>.v<version>``, in the batch of the page that changed it, and declares the
projection's indexes on that collection: a query is a document query. Elsewhere (NATS, an
encrypted database) a query scans the current states of the key streams, up to a limit of
keys, and applies the same :class:`ses.DocumentQuery` to them. The logic is written once as
coroutines over a sync or an asyncio database, like the folding."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import safe_eventstore as ses

from ._errors import (
    InvalidProjection,
    InvalidQuery,
    InvalidState,
    ProjectionNotFound,
    QueryTooLarge,
    UnknownIndex,
)
from ._log import log_stream
from ._naming import checkpoint_name, state_category
from ._projection import Projection

__all__ = [
    "MAX_SCAN_KEYS",
    "AsyncDocs",
    "Docs",
    "QueryPage",
    "SyncDocs",
    "collection_of",
    "docs_of",
    "documents_of",
    "drive",
    "prepare",
    "run_count",
    "run_query",
]

MAX_SCAN_KEYS = 10_000
"""Without documents (NATS, an encrypted database), a query reads the last entry of every
key stream of the projection; above this many keys it is refused with QueryTooLarge."""

T = TypeVar("T")
QueryPage = ses.DocumentPage


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine over a sync database: its awaits never suspend."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a sync read suspended")


class Docs:
    """The document and stream calls a query needs (coroutines; see SyncDocs, AsyncDocs)."""

    supported: bool
    ready = False  # the projection's indexes were found declared (they stay so)
    known: frozenset[int] = frozenset()  # versions found in the store (they stay so)

    async def indexes(self, collection: str) -> tuple[str, ...]:
        raise NotImplementedError

    async def declare(self, collection: str, fields: tuple[str, ...]) -> None:
        raise NotImplementedError

    async def checkpoint(self, name: str) -> int | None:
        raise NotImplementedError

    async def query(self, collection: str, query: dict[str, Any]) -> ses.DocumentPage:
        raise NotImplementedError

    async def count(self, collection: str, where: Any) -> int:
        raise NotImplementedError

    async def streams(self, category: str, after: str | None, limit: int) -> ses.StreamsPage:
        raise NotImplementedError

    async def last(self, stream: str) -> ses.RecordedEvent | None:
        raise NotImplementedError


class SyncDocs(Docs):
    def __init__(self, db: ses.Database) -> None:
        self.db = db
        self.supported = db.supports_documents

    async def indexes(self, collection: str) -> tuple[str, ...]:
        return self.db.document_indexes(collection)

    async def declare(self, collection: str, fields: tuple[str, ...]) -> None:
        self.db.declare_document_index(collection, fields)

    async def checkpoint(self, name: str) -> int | None:
        return self.db.get_checkpoint(name)

    async def query(self, collection: str, query: dict[str, Any]) -> ses.DocumentPage:
        return self.db.query_documents(collection, **query)

    async def count(self, collection: str, where: Any) -> int:
        return self.db.count_documents(collection, where)

    async def streams(self, category: str, after: str | None, limit: int) -> ses.StreamsPage:
        return self.db.list_streams(category, after=after, limit=limit)

    async def last(self, stream: str) -> ses.RecordedEvent | None:
        return next(iter(self.db.read_stream(stream, backwards=True, limit=1)), None)


class AsyncDocs(Docs):
    def __init__(self, db: ses.AsyncDatabase) -> None:
        self.db = db
        self.supported = db.supports_documents

    async def indexes(self, collection: str) -> tuple[str, ...]:
        return await self.db.document_indexes(collection)

    async def declare(self, collection: str, fields: tuple[str, ...]) -> None:
        await self.db.declare_document_index(collection, fields)

    async def checkpoint(self, name: str) -> int | None:
        return await self.db.get_checkpoint(name)

    async def query(self, collection: str, query: dict[str, Any]) -> ses.DocumentPage:
        return await self.db.query_documents(collection, **query)

    async def count(self, collection: str, where: Any) -> int:
        return await self.db.count_documents(collection, where)

    async def streams(self, category: str, after: str | None, limit: int) -> ses.StreamsPage:
        return await self.db.list_streams(category, after=after, limit=limit)

    async def last(self, stream: str) -> ses.RecordedEvent | None:
        found = await self.db.read_stream(stream, backwards=True, limit=1)
        return found[0] if found else None


def docs_of(io: object) -> Docs | None:
    """The document calls on the database of a folder's I/O (``None``: none known)."""
    db = getattr(io, "db", None)
    if isinstance(db, ses.AsyncDatabase):
        return AsyncDocs(db)
    return SyncDocs(db) if isinstance(db, ses.Database) else None


def collection_of(p: Projection) -> str:
    return state_category(p.name, p.version)


async def prepare(io: object, p: Projection) -> str | None:
    """Before a runner stores a projection's first page: the collection its states go to as
    documents (its indexes declared), or ``None`` when they go to none."""
    docs = docs_of(io) if p.indexes else None
    if docs is None or not docs.supported:
        return None
    collection = collection_of(p)
    declared = await docs.indexes(collection)
    if not declared and await docs.checkpoint(checkpoint_name(p.name, p.version)) is not None:
        # its stored states have no documents: a query would silently miss them
        raise InvalidProjection(
            f"projection {p.name!r} version {p.version} was built without indexes: declare "
            "indexes with a new version (which builds its states and documents afresh)"
        )
    if set(p.indexes) - set(declared):
        await docs.declare(collection, p.indexes)
    return collection


def documents_of(p: Projection, states: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The documents of a page: each changed key's new state, which must be a JSON object
    when the projection declares indexes (checked before anything is written)."""
    for key, state in states.items():
        if not isinstance(state, dict):
            raise InvalidState(
                f"projection {p.name!r} declares indexes, so a state is a JSON object; "
                f"key {key!r} has {state!r}"
            )
    return {collection_of(p): dict(states)}


def _query(p: Projection, options: dict[str, Any]) -> ses.DocumentQuery:
    if not isinstance(p, Projection):
        raise InvalidProjection(f"not a projection: {p!r}")
    if not p.indexes:
        raise UnknownIndex(f"projection {p.name!r} declares no indexes: it answers key lookups")
    try:
        query = ses.DocumentQuery(**options)
    except ses.InvalidDocumentQuery as exc:
        raise InvalidQuery(str(exc)) from None
    unknown = sorted(query.fields - set(p.indexes))
    if unknown:
        raise UnknownIndex(
            f"projection {p.name!r} has no index on {', '.join(unknown)} "
            f"(declared: {', '.join(p.indexes)}; 'key' is always queryable)"
        )
    return query


async def _scan(docs: Docs, p: Projection, limit: int) -> list[tuple[str, Any]]:
    """Every key's current state, read from the last entry of each key stream."""
    category = state_category(p.name, p.version)
    found: list[tuple[str, Any]] = []
    after: str | None = None
    while True:
        page = await docs.streams(category, after, 1000)
        if len(found) + len(page) > limit:
            raise QueryTooLarge(
                f"projection {p.name!r} has more than {limit} keys: without documents "
                "(NATS, an encrypted database) a query scans every key, up to that many"
            )
        for stream in page:
            last = await docs.last(stream)
            if last is not None:
                found.append((last.data["key"], last.data["state"]))
        if page.next_after is None:
            return found
        after = page.next_after


async def _documents_ready(docs: Docs, p: Projection) -> bool:
    """Whether the store's collection has the projection's indexes; a projection never run
    has no states yet (its answers are empty)."""
    if docs.ready:
        return True
    declared = set(await docs.indexes(collection_of(p)))
    if set(p.indexes) <= declared:
        docs.ready = True
        return True
    if await docs.checkpoint(checkpoint_name(p.name, p.version)) is None:
        return False
    raise UnknownIndex(
        f"projection {p.name!r}: the store has not declared its indexes "
        f"{', '.join(sorted(set(p.indexes) - declared))} yet: its runner does that (a "
        "version built without indexes needs a new version)"
    )


async def _check_known(docs: Docs, p: Projection) -> None:
    """A query of a projection the store knows nothing of (no checkpoint, no agent's log) is
    an error, not an empty answer: the name or version may be wrong, or it never ran."""
    if p.version in docs.known:
        return
    stored = await docs.checkpoint(checkpoint_name(p.name, p.version)) is not None
    if not stored and await docs.last(log_stream(p.name, p.version)) is None:
        raise ProjectionNotFound(
            f"projection {p.name!r} version {p.version} has never run in this database (no "
            "checkpoint, no agent): there is nothing to query yet"
        )
    docs.known = docs.known | {p.version}


async def run_query(
    docs: Docs, p: Projection, options: dict[str, Any], scan_limit: int
) -> ses.DocumentPage:
    query = _query(p, options)
    await _check_known(docs, p)
    if docs.supported:
        if not await _documents_ready(docs, p):
            return ses.DocumentPage([], None)
        return await docs.query(collection_of(p), options)
    return query.select(await _scan(docs, p, scan_limit))


async def run_count(docs: Docs, p: Projection, where: Any, scan_limit: int) -> int:
    query = _query(p, {"where": where})
    await _check_known(docs, p)
    if docs.supported:
        if not await _documents_ready(docs, p):
            return 0
        return await docs.count(collection_of(p), where)
    return query.count(await _scan(docs, p, scan_limit))
