"""Reading a projection's states: the current one, and time travel through the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import safe_eventstore as ses

from ._errors import InvalidProjection
from ._json import copy_json
from ._naming import key_stream
from ._projection import Projection
from ._query import MAX_SCAN_KEYS, AsyncDocs, SyncDocs, drive, run_count, run_query

__all__ = ["AsyncReadModel", "ReadModel", "StateEntry"]


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


def _check(projection: Projection, key: object) -> str:
    if not isinstance(projection, Projection):
        raise InvalidProjection(f"not a projection: {projection!r}")
    if not isinstance(key, str) or not key:
        raise InvalidProjection(f"a key is a non-empty string, not {key!r}")
    return key_stream(projection.name, projection.version, key)


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


class ReadModel:
    """The stored states of one projection on a sync :class:`ses.Database`::

        model = projections.ReadModel(db, balances)
        model.state("Account-42")                       # the current state
        model.state("Account-42", at_position=1200)     # after the source events up to 1200
        model.state("Account-42", at=datetime(...))     # after those stored up to then
        model.history("Account-42")                     # every stored state, oldest first

    A key without a stored state has the projection's initial state. The current state is
    one read of the key stream's last entry; time travel reads the key's history."""

    def __init__(self, db: ses.Database, projection: Projection) -> None:
        self.db = db
        self.projection = projection
        self._docs = SyncDocs(db)

    def state(self, key: str, *, at_position: int | None = None, at: datetime | None = None) -> Any:
        """The state of ``key`` now, or as it was at a source position or a time."""
        stream = _check(self.projection, key)
        _target(at_position, at)
        if at_position is None and at is None:
            last = list(self.db.read_stream(stream, backwards=True, limit=1))
            return last[0].data["state"] if last else copy_json(self.projection.initial)
        found = _pick(self.history(key), at_position, at)
        return found.state if found else copy_json(self.projection.initial)

    def history(self, key: str) -> list[StateEntry]:
        """Every stored state of ``key``, oldest first (corrections included)."""
        return [_entry(e) for e in self.db.read_stream(_check(self.projection, key))]

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
        return drive(run_query(self._docs, self.projection, options, self.scan_limit))

    def count(self, where: dict[str, Any] | None = None) -> int:
        """How many keys' current states pass ``where`` (as in :meth:`query`)."""
        return drive(run_count(self._docs, self.projection, where, self.scan_limit))


class AsyncReadModel:
    """The asyncio twin of :class:`ReadModel`."""

    def __init__(self, db: ses.AsyncDatabase, projection: Projection) -> None:
        self.db = db
        self.projection = projection
        self._docs = AsyncDocs(db)

    async def state(
        self, key: str, *, at_position: int | None = None, at: datetime | None = None
    ) -> Any:
        """The state of ``key`` now, or as it was at a source position or a time."""
        stream = _check(self.projection, key)
        _target(at_position, at)
        if at_position is None and at is None:
            last = await self.db.read_stream(stream, backwards=True, limit=1)
            return last[0].data["state"] if last else copy_json(self.projection.initial)
        found = _pick(await self.history(key), at_position, at)
        return found.state if found else copy_json(self.projection.initial)

    async def history(self, key: str) -> list[StateEntry]:
        """Every stored state of ``key``, oldest first (corrections included)."""
        return [_entry(e) for e in await self.db.read_stream(_check(self.projection, key))]

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
        return await run_query(self._docs, self.projection, options, self.scan_limit)

    async def count(self, where: dict[str, Any] | None = None) -> int:
        """How many keys' current states pass ``where`` (as in :meth:`ReadModel.query`)."""
        return await run_count(self._docs, self.projection, where, self.scan_limit)
