"""Loading and saving aggregates, as sans-IO plans (see ``_io``): shared by the sync and
asyncio repositories and by the command routers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import safe_eventstore as ses

from . import _snapshots as snapshots
from ._aggregate import Aggregate, set_state, set_version, take_pending
from ._io import Append, Plan, Read

__all__ = ["IdsFor", "check_target", "load", "replay", "save"]

A = TypeVar("A", bound=Aggregate)
PAGE = 1000
SNAPSHOT_PAGE = 20

IdsFor = Callable[[str, int], uuid.UUID]
"""The event id of the ``n``-th event a save writes to ``stream`` (the command router
derives them from the command id)."""


def check_target(version: int | None, at: datetime | None) -> None:
    if version is not None and at is not None:
        raise ses.InvalidInput("give version= or at=, not both")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 0
    ):
        raise ses.InvalidInput(f"version must be an int >= 0, not {version!r}")
    if at is not None and (not isinstance(at, datetime) or at.utcoffset() is None):
        raise ses.InvalidInput(f"at must be a timezone-aware datetime, not {at!r}")


def load(
    cls: type[A], id: str, *, version: int | None = None, at: datetime | None = None
) -> Plan[A]:
    """The aggregate's state after event ``version`` (or as of ``at``; by default its last
    one): a new aggregate (version ``NO_STREAM``) when there is no event up to there."""
    aggregate = cls(id)  # checks the id before any read
    if cls.snapshot_every is not None:
        snapshot = yield from _snapshot(cls, version, at, id)
        if snapshot is not None:
            set_state(aggregate, snapshot.state, snapshot.version)
            start, anchor = snapshot.version, snapshot.event_id
            if (yield from replay(aggregate, start, version=version, at=at, anchor=anchor)):
                return aggregate
            aggregate = cls(id)
    yield from replay(aggregate, 0, version=version, at=at)
    return aggregate


def replay(
    aggregate: Aggregate,
    start: int,
    *,
    version: int | None = None,
    at: datetime | None = None,
    anchor: str | None = None,
) -> Plan[bool]:
    """Apply the aggregate's stored events from version ``start`` on (up to ``version``, or
    those stored up to ``at``), a page at a time. With ``anchor``, the event at ``start`` is
    the one a snapshot was taken after: it must have that id (else ``False``, nothing
    applied) and is not applied again."""
    while version is None or start <= version:
        size = PAGE if version is None else min(PAGE, version - start + 1)
        page: list[ses.RecordedEvent] = yield Read(aggregate.stream, from_version=start, limit=size)
        events = page if at is None else [e for e in page if e.timestamp <= at]
        later = len(events) < len(page)  # the rest was stored after ``at``
        if anchor is not None:
            if not events or events[0].version != start or str(events[0].event_id) != anchor:
                return False
            events = events[1:]
            anchor = None
        aggregate._cqrs_replay(events)
        if len(page) < size or later:
            break
        start = page[-1].version + 1
    return True


def _snapshot(
    cls: type[A], version: int | None, at: datetime | None, id: str
) -> Plan[snapshots.Snapshot | None]:
    """The latest usable snapshot at or before the target (``None``: replay from the start)."""
    stream = snapshots.snapshot_stream(cls.category, id)
    if version is None and at is None:
        latest: list[ses.RecordedEvent] = yield Read(stream, backwards=True, limit=1)
        return snapshots.restore(cls, latest[0]) if latest else None
    start: int | None = None
    while True:
        page: list[ses.RecordedEvent] = yield Read(
            stream, from_version=start, backwards=True, limit=SNAPSHOT_PAGE
        )
        for entry in page:
            taken = snapshots.version_of(entry)
            if taken is None or (version is not None and taken > version):
                continue
            if at is not None and entry.timestamp > at:
                continue
            found = snapshots.restore(cls, entry)
            if found is not None:
                return found
        if len(page) < SNAPSHOT_PAGE or page[-1].version == 0:
            return None
        start = page[-1].version - 1


def _new_event(event: Any, event_id: uuid.UUID | None, causes: Causes | None) -> ses.NewEvent:
    name = ses.event_types.name_of(event)
    if name is None:  # @when admits typed classes only; this is a guard, not a path
        raise ses.InvalidEvent(f"cannot store {type(event).__name__}: it is not a typed event")
    if causes is None:
        return ses.NewEvent(name, event, event_id=event_id)
    return ses.NewEvent(
        name,
        event,
        event_id=event_id,
        causation_id=causes.causation_id,
        correlation_id=causes.correlation_id,
    )


class Causes:
    """The causation and correlation ids a command gives the events it records."""

    __slots__ = ("causation_id", "correlation_id")

    def __init__(self, causation_id: uuid.UUID, correlation_id: uuid.UUID) -> None:
        self.causation_id = causation_id
        self.correlation_id = correlation_id


class Saved:
    """What a save stored: the results of the aggregates' streams, in the order given, and
    whether every one was an idempotent retry of an earlier save (nothing new stored)."""

    __slots__ = ("aggregates", "replayed", "results")

    def __init__(
        self, aggregates: list[Aggregate], results: list[ses.AppendResult], replayed: bool
    ) -> None:
        self.aggregates = aggregates
        self.results = results
        self.replayed = replayed


def save(
    aggregates: Sequence[Aggregate],
    *,
    ids_for: IdsFor | None = None,
    causes: Causes | None = None,
) -> Plan[Saved]:
    """Append the pending events of ``aggregates`` in one atomic batch, each stream expected
    at the version its aggregate was loaded at; snapshots ride in the same batch."""
    writes: list[ses.StreamAppend] = []
    extra: list[ses.StreamAppend] = []
    saving: list[Aggregate] = []
    seen: set[str] = set()
    for aggregate in aggregates:
        if not isinstance(aggregate, Aggregate):
            raise ses.InvalidInput(f"save takes aggregates, not {type(aggregate).__name__}")
        if aggregate.stream in seen:
            raise ses.InvalidInput(f"{aggregate.stream} is given twice in one save")
        seen.add(aggregate.stream)
        pending = aggregate._cqrs_pending
        if not pending:
            continue
        stream = aggregate.stream
        ids = [ids_for(stream, n) if ids_for else None for n in range(len(pending))]
        before, after = aggregate.version, aggregate.version + len(pending)
        if snapshots.wanted(aggregate, before, after):
            # the last event needs an id known before the write, for the snapshot to name
            last = ids[-1] = ids[-1] or uuid.uuid4()
            snapshot = snapshots.encode(aggregate, after, last)
            if snapshot is not None:
                extra.append(ses.StreamAppend(snapshots.stream_of(aggregate), [snapshot]))
        events = [_new_event(e, i, causes) for e, i in zip(pending, ids, strict=True)]
        writes.append(ses.StreamAppend(stream, events, expected_version=before))
        saving.append(aggregate)
    if not writes:
        return Saved([], [], False)
    try:
        results: list[ses.AppendResult] = yield Append(writes + extra)
    except ses.InvalidEvent:
        if not extra:
            raise
        # a snapshot too large for the store must not cost the save: it goes without
        results = yield Append(writes)
    results = results[: len(writes)]
    replayed = True
    for aggregate, result in zip(saving, results, strict=True):
        if result.first_version == aggregate.version + 1:
            replayed = False
        take_pending(aggregate)
        set_version(aggregate, result.last_version)
    return Saved(saving, results, replayed)
