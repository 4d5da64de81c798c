"""Reading a projection's states: the current one, and time travel through the history."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import safe_eventstore as ses

from ._errors import InvalidProjection
from ._json import copy_json
from ._naming import checkpoint_name, key_stream
from ._projection import Projection
from ._query import MAX_SCAN_KEYS, AsyncDocs, SyncDocs, drive, run_count, run_query
from ._versions import ServingVersion

__all__ = ["AsyncReadModel", "ReadModel", "StateEntry"]

# How long a read model trusts the active version it read (docs/projections.md)
ACTIVE_CACHE = 1.0


@dataclass(frozen=True)
class StateEntry:
    """One stored state of a key: ``state`` after the source events up to ``position``
    (stored at source time ``at``); ``correction`` when a restructure of a source event
    changed it; ``version`` is the entry's version in the key's stream."""

    key: str
    state: Any
    position: int
    at: datetime
    correction: bool
    version: int


def _entry(event: ses.RecordedEvent) -> StateEntry:
    d = event.data
    at = datetime.fromisoformat(d["at"])
    return StateEntry(d["key"], d["state"], d["position"], at, d["correction"], event.version)


def _check(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidProjection(f"a key is a non-empty string, not {key!r}")
    return key


def _target(at_position: int | None, at: datetime | None) -> None:
    if at_position is not None and at is not None:
        raise InvalidProjection("give at_position= or at=, not both")
    if at_position is not None and (
        isinstance(at_position, bool) or not isinstance(at_position, int)
    ):
        raise InvalidProjection(f"at_position is a whole number, not {at_position!r}")
    if at is not None and (not isinstance(at, datetime) or at.utcoffset() is None):
        raise InvalidProjection("at= is a timezone-aware datetime")


def _pick(
    entries: list[StateEntry], at_position: int | None, at: datetime | None
) -> StateEntry | None:
    found = None
    for entry in entries:
        if at_position is not None and entry.position > at_position:
            break
        if at is not None and entry.at > at:
            break
        found = entry
    return found


def _wait_deadline(position: object, timeout: object) -> float:
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise InvalidProjection(f"a position is a whole number from 0, not {position!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
        raise InvalidProjection(f"invalid timeout {timeout!r}: seconds, from 0")
    return time.monotonic() + float(timeout)


def _pauses(deadline: float) -> Iterator[float]:
    """The pauses between looks at a checkpoint: short at first (a live projection is
    usually a few milliseconds behind), longer later, the last look at the deadline."""
    pause = 0.002
    while True:
        left = deadline - time.monotonic()
        yield max(min(pause, left), 0.0)
        if left <= 0:
            return
        pause = min(pause * 2, 0.05)


def _as_version(projection: Projection, version: int) -> Projection:
    """``projection`` as seen at the version read: queries during a rebuild read the
    serving (older) version's documents, with its declared indexes as stored."""
    if version == projection.version:
        return projection
    served = copy.copy(projection)
    served.version = version
    return served


class ReadModel:
    """The stored states of one projection on a sync :class:`ses.Database`::

        model = projections.ReadModel(db, balances)
        model.state("Account-42")                       # the current state
        model.state("Account-42", at_position=1200)     # after the source events up to 1200
        model.state("Account-42", at=datetime(...))     # after those stored up to then
        model.history("Account-42")                     # every stored state, oldest first

    A key without a stored state has the projection's initial state. The current state is
    one read of the key stream's last entry; time travel reads the key's history.

    While ``projection`` is a new version still being built, the active (older, complete)
    version is read, until the new one is promoted; its states may have the old shape.
    ``version=N`` pins the version read. The active version is read again when the last
    read of it is older than ``cache`` seconds (1 by default; ``0``: on every call)."""

    def __init__(
        self,
        db: ses.Database,
        projection: Projection,
        *,
        version: int | None = None,
        cache: float = ACTIVE_CACHE,
    ) -> None:
        self.db = db
        self.projection = projection
        self.serving = ServingVersion(projection, version, cache)
        self._docs = SyncDocs(db)

    def _stream(self, key: object) -> str:
        key = _check(key)
        return key_stream(self.projection.name, self.serving.read(self.db), key)

    def state(self, key: str, *, at_position: int | None = None, at: datetime | None = None) -> Any:
        """The state of ``key`` now, or as it was at a source position or a time."""
        _target(at_position, at)
        stream = self._stream(key)
        if at_position is None and at is None:
            last = list(self.db.read_stream(stream, backwards=True, limit=1))
            return last[0].data["state"] if last else copy_json(self.projection.initial)
        found = _pick(self.history(key), at_position, at)
        return found.state if found else copy_json(self.projection.initial)

    def history(self, key: str) -> list[StateEntry]:
        """Every stored state of ``key``, oldest first (corrections included)."""
        return [_entry(e) for e in self.db.read_stream(self._stream(key))]

    def wait(self, position: int, *, timeout: float = 5.0) -> bool:
        """Wait until the version read has applied the source up to ``position`` (the
        position of an event of its source, for example an append's): read-your-writes
        after a command. True once its checkpoint reached it; False after ``timeout``
        seconds."""
        deadline = _wait_deadline(position, timeout)
        name = self.projection.name
        for pause in _pauses(deadline):
            found = self.db.get_checkpoint(checkpoint_name(name, self.serving.read(self.db)))
            if found is not None and found >= position:
                return True
            time.sleep(pause)
        return False

    #: without documents (NATS, an encrypted database) a query scans up to this many keys
    scan_limit = MAX_SCAN_KEYS

    def query(
        self,
        where: dict[str, Any] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> ses.DocumentPage:
        """A page of the current states by the projection's ``indexes``::

            page = model.query({"balance": (">=", 100), "owner": "ann"}, order_by="balance")
            page.items                   # [(key, state), ...], at most ``limit``
            model.query(..., after=page.next)  # the next page (None: there is none)

        ``where`` maps an indexed field (or ``"key"``) to a value or to ``(op, value)`` with
        ``op`` in ``== != < <= > >=``, or to a list of them; order by an indexed field or
        ``"key"`` (the default), the key breaking ties (docs/projections.md: queries).
        Only keys with a stored state are found. A field not in ``indexes`` is
        :class:`UnknownIndex`; other bad input :class:`InvalidQuery`."""
        options = {
            "where": where, "order_by": order_by, "descending": descending, "limit": limit,
            "after": after,
        }  # fmt: skip
        served = _as_version(self.projection, self.serving.read(self.db))
        return drive(run_query(self._docs, served, options, self.scan_limit))

    def count(self, where: dict[str, Any] | None = None) -> int:
        """How many keys' current states pass ``where`` (as in :meth:`query`)."""
        served = _as_version(self.projection, self.serving.read(self.db))
        return drive(run_count(self._docs, served, where, self.scan_limit))


class AsyncReadModel:
    """The asyncio twin of :class:`ReadModel`."""

    def __init__(
        self,
        db: ses.AsyncDatabase,
        projection: Projection,
        *,
        version: int | None = None,
        cache: float = ACTIVE_CACHE,
    ) -> None:
        self.db = db
        self.projection = projection
        self.serving = ServingVersion(projection, version, cache)
        self._docs = AsyncDocs(db)

    async def _stream(self, key: object) -> str:
        key = _check(key)
        return key_stream(self.projection.name, await self.serving.read_async(self.db), key)

    async def state(
        self, key: str, *, at_position: int | None = None, at: datetime | None = None
    ) -> Any:
        """The state of ``key`` now, or as it was at a source position or a time."""
        _target(at_position, at)
        stream = await self._stream(key)
        if at_position is None and at is None:
            last = await self.db.read_stream(stream, backwards=True, limit=1)
            return last[0].data["state"] if last else copy_json(self.projection.initial)
        found = _pick(await self.history(key), at_position, at)
        return found.state if found else copy_json(self.projection.initial)

    async def history(self, key: str) -> list[StateEntry]:
        """Every stored state of ``key``, oldest first (corrections included)."""
        return [_entry(e) for e in await self.db.read_stream(await self._stream(key))]

    async def wait(self, position: int, *, timeout: float = 5.0) -> bool:
        """The asyncio twin of :meth:`ReadModel.wait`."""
        deadline = _wait_deadline(position, timeout)
        name = self.projection.name
        for pause in _pauses(deadline):
            version = await self.serving.read_async(self.db)
            found = await self.db.get_checkpoint(checkpoint_name(name, version))
            if found is not None and found >= position:
                return True
            await asyncio.sleep(pause)
        return False

    #: without documents (NATS, an encrypted database) a query scans up to this many keys
    scan_limit = MAX_SCAN_KEYS

    async def query(
        self,
        where: dict[str, Any] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> ses.DocumentPage:
        """A page of the current states by the projection's ``indexes`` (see
        :meth:`ReadModel.query`)."""
        options = {
            "where": where, "order_by": order_by, "descending": descending, "limit": limit,
            "after": after,
        }  # fmt: skip
        served = _as_version(self.projection, await self.serving.read_async(self.db))
        return await run_query(self._docs, served, options, self.scan_limit)

    async def count(self, where: dict[str, Any] | None = None) -> int:
        """How many keys' current states pass ``where`` (as in :meth:`ReadModel.query`)."""
        served = _as_version(self.projection, await self.serving.read_async(self.db))
        return await run_count(self._docs, served, where, self.scan_limit)
