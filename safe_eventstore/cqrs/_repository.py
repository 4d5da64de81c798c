"""The repositories: sync and asyncio faces over one core that plans the loads and saves
(``_loading``) and keeps the optional cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import Generic, TypeVar

import safe_eventstore as ses

from ._aggregate import Aggregate, copy_of
from ._errors import AggregateNotFound
from ._io import Plan, Version, run, run_async
from ._loading import Saved, check_target, load, replay, save

__all__ = ["AsyncRepository", "Repository"]

A = TypeVar("A", bound=Aggregate)


class Cache:
    """Loaded aggregates by stream, least recently used first out when ``size`` is reached
    (``None``: no bound). ``get``/``put`` keep private copies and hand out copies, so no two
    callers ever share an object; ``take``/``put(owned=True)`` move an entry out and back
    without copying, for a caller (the router) that hands the object to no one else."""

    def __init__(self, size: int | None) -> None:
        self._size = size
        self._items: OrderedDict[str, Aggregate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stream: str) -> Aggregate | None:
        with self._lock:
            found = self._items.get(stream)
            if found is None:
                return None
            self._items.move_to_end(stream)
        return copy_of(found)

    def take(self, stream: str) -> Aggregate | None:
        """Remove and return the entry itself, no copy: the taker owns it and gives it back
        (``put(..., owned=True)``) only once it is the stored state again."""
        with self._lock:
            return self._items.pop(stream, None)

    def holds(self, stream: str) -> bool:
        with self._lock:
            return stream in self._items

    def put(self, aggregate: Aggregate, *, owned: bool = False) -> None:
        """Keep ``aggregate`` (a copy of it, unless the caller hands it over, ``owned``)."""
        kept = aggregate if owned else copy_of(aggregate)
        with self._lock:
            self._items[aggregate.stream] = kept
            self._items.move_to_end(aggregate.stream)
            if self._size is not None and len(self._items) > self._size:
                self._items.popitem(last=False)

    def evict(self, streams: Iterable[str]) -> None:
        with self._lock:
            for stream in streams:
                self._items.pop(stream, None)


def cache_of(option: bool | int) -> Cache | None:
    if option is False:
        return None
    if option is True:
        return Cache(None)
    if isinstance(option, bool) or not isinstance(option, int) or option < 1:
        raise ses.InvalidInput(f"cache must be True, False or a size >= 1, not {option!r}")
    return Cache(option)


class Core(Generic[A]):
    """What both repositories do, as plans: load (through the cache), save (keeping the
    cache right: a saved aggregate is cached at its new version, a conflict evicts)."""

    def __init__(self, cls: type[A], cache: bool | int) -> None:
        if not isinstance(cls, type) or not issubclass(cls, Aggregate) or cls is Aggregate:
            raise ses.InvalidInput(f"a repository is of an Aggregate subclass, not {cls!r}")
        self.cls = cls
        self.cache = cache_of(cache)

    def get_or_new(self, id: str) -> Plan[A]:
        """The aggregate at its last version; a new one (version ``NO_STREAM``) if none."""
        cache = self.cache
        if cache is not None:
            stream = f"{self.cls.category}-{id}" if isinstance(id, str) else None
            found = cache.get(stream) if stream is not None else None
            if found is not None:
                # one look at the stream's head (cheaper than a read) tells whether others
                # stored events since; only then are they read
                before = found.version
                if (yield Version(found.stream)) != before:
                    yield from replay(found, before + 1)
                    cache.put(found)
                return found  # type: ignore[return-value]
        aggregate = yield from load(self.cls, id)
        if cache is not None and aggregate.version != ses.NO_STREAM:
            cache.put(aggregate)
        return aggregate

    def take(self, id: str, check: bool) -> Plan[tuple[A, bool]]:
        """For the router: the aggregate at its last version (a new one if none), taken out
        of the cache when it is there, uncopied: the router owns it and hands it back by
        :meth:`remember` once saved. Without ``check`` a cached aggregate comes as it is,
        and the second value says so (``True``: not verified against the store); the
        router's save expects its version, which is the check."""
        cache = self.cache
        if cache is not None and isinstance(id, str):
            found = cache.take(f"{self.cls.category}-{id}")
            if found is not None:
                if not check:
                    return found, True  # type: ignore[return-value]
                before = found.version
                if (yield Version(found.stream)) != before:
                    yield from replay(found, before + 1)
                return found, False  # type: ignore[return-value]
        return (yield from load(self.cls, id)), False

    def holds(self, id: str) -> bool:
        """Whether the cache holds the aggregate (so its stream exists)."""
        cache = self.cache
        return cache is not None and cache.holds(f"{self.cls.category}-{id}")

    def get(self, id: str, version: int | None, at: datetime | None) -> Plan[A]:
        check_target(version, at)
        if version is None and at is None:
            aggregate = yield from self.get_or_new(id)
        else:
            aggregate = yield from load(self.cls, id, version=version, at=at)
        if aggregate.version == ses.NO_STREAM:
            when = "" if version is None and at is None else " at the time asked for"
            raise AggregateNotFound(f"{aggregate.stream} has no events{when}")
        if version is not None and aggregate.version != version:
            raise ses.EventNotFound(f"{aggregate.stream} has no event of version {version}")
        return aggregate

    def save(self, aggregates: Iterable[Aggregate], plan: Plan[Saved]) -> Plan[Saved]:
        try:
            saved = yield from plan
        except ses.WrongExpectedVersion:
            self.forget(aggregates)
            raise
        self.remember(saved)
        return saved

    def forget(self, aggregates: Iterable[Aggregate]) -> None:
        if self.cache is not None:
            self.cache.evict(a.stream for a in aggregates)

    def remember(self, saved: Saved, *, owned: bool = False) -> None:
        """Cache the saved aggregates of this class (``owned``: the caller hands them over
        and keeps no reference, so no copy is taken)."""
        if self.cache is None:
            return
        if saved.replayed:  # the in-memory state is not what the store holds
            self.cache.evict(a.stream for a in saved.aggregates)
            return
        for aggregate in saved.aggregates:
            if type(aggregate) is self.cls:
                self.cache.put(aggregate, owned=owned)


class Repository(Generic[A]):
    """Loads and saves the aggregates of one class in a database.

    ::

        accounts = cqrs.Repository(db, Account)
        account = accounts.get("42")
        account.deposit(5)
        accounts.save(account)

    ``cache=True`` (or a maximum number of aggregates) keeps loaded and saved aggregates
    in memory and hands out copies; a ``get`` from the cache asks for the stream's last
    version and reads only the events stored after the cached one (usually none). A
    conflict on save evicts the aggregates of that save, so the next ``get`` loads them
    afresh.
    """

    def __init__(self, db: ses.Database, aggregate: type[A], *, cache: bool | int = False) -> None:
        self._db = db
        self._core = Core(aggregate, cache)

    def get(self, id: str, *, version: int | None = None, at: datetime | None = None) -> A:
        """The aggregate with this id at its last version; with ``version``, its state after
        that event; with ``at`` (a timezone-aware datetime), its state as of then.

        Raises :class:`AggregateNotFound` when it has no events (up to there), and
        ``ses.EventNotFound`` for a ``version`` beyond its last."""
        return run(self._db, self._core.get(id, version, at))

    def save(self, *aggregates: Aggregate) -> list[ses.AppendResult]:
        """Append the pending events of ``aggregates`` in one atomic batch, each stream
        expected at the version its aggregate was loaded at; a result per aggregate that had
        pending events. A conflict raises :class:`ses.WrongExpectedVersion` and writes
        nothing. Afterwards ``pending`` is empty and ``version`` is the stored one."""
        return run(self._db, self._core.save(aggregates, save(aggregates))).results


class AsyncRepository(Generic[A]):
    """The asyncio twin of :class:`Repository`, for databases of ``ses.open_async``."""

    def __init__(
        self, db: ses.AsyncDatabase, aggregate: type[A], *, cache: bool | int = False
    ) -> None:
        self._db = db
        self._core = Core(aggregate, cache)

    async def get(self, id: str, *, version: int | None = None, at: datetime | None = None) -> A:
        """As :meth:`Repository.get`."""
        return await run_async(self._db, self._core.get(id, version, at))

    async def save(self, *aggregates: Aggregate) -> list[ses.AppendResult]:
        """As :meth:`Repository.save`."""
        return (await run_async(self._db, self._core.save(aggregates, save(aggregates)))).results
