"""What the store says of its projections: position, head, lag, state, rate and failure;
and the retry of a failed one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import safe_eventstore as ses

from ._errors import ProjectionNotFound
from ._log import (
    LOG_WINDOW,
    Failure,
    last_failure,
    last_source,
    log_stream,
    parse_lease_name,
    parse_log_stream,
    retry_entry,
)
from ._naming import NAME, PREFIX
from ._refold import request_entry
from ._versions import active_version

__all__ = [
    "LAG_LIMIT",
    "ProjectionStatus",
    "request_rebuild",
    "request_rebuild_async",
    "retry",
    "retry_async",
    "status",
    "status_async",
]

# Source events counted at most for one projection's lag: beyond it the lag is a lower
# bound (``lag_exact`` false), so a status never reads a whole far-behind source.
LAG_LIMIT = 10_000
STANDBY = ".standby."


@dataclass(frozen=True)
class ProjectionStatus:
    """One projection version as the store shows it.

    ``state``: ``failed`` (a recorded failure not retried), ``retired`` (a newer version is
    active), ``rebuilding`` (running, at a version above the active one, see
    :func:`active_version`), ``running`` (an agent holds its lease), ``standby``
    (nobody holds its lease, an agent waits to take it over), ``stopped`` (no agent).
    ``position``: its checkpoint (``None`` before its first page). ``head``: the position
    of the latest event of its source. ``lag_events``: source events after the checkpoint
    (exact when ``lag_exact``, else at least this many: counting stops at
    :data:`LAG_LIMIT`). ``lag_seconds``: now minus the time of the oldest source event not
    applied yet, 0 when caught up. ``head`` and the lags are ``None`` when no agent ever
    recorded the source. ``events_per_second``, ``owner``: from the running agent's lease.
    ``standby``: how many other agents wait to take over. ``failure``: the recorded
    failure that stops it."""

    name: str
    version: int
    state: str
    position: int | None
    head: int | None
    lag_events: int | None
    lag_exact: bool
    lag_seconds: float | None
    events_per_second: float | None
    owner: str | None
    standby: int
    source: dict[str, Any] | None
    failure: Failure | None
    lease_expires_at: datetime | None


def _backwards(db: ses.Database, source: dict[str, Any]) -> Iterator[ses.RecordedEvent]:
    kind, name, types = source["kind"], str(source.get("name")), source.get("types")
    if kind == "stream":
        return iter(db.read_stream(name, backwards=True, limit=LAG_LIMIT))
    if kind == "category":
        return iter(db.read_category(name, backwards=True, limit=LAG_LIMIT, types=types))
    return iter(db.read_all(backwards=True, limit=LAG_LIMIT, types=types))


def _reads(source: dict[str, Any], event: ses.RecordedEvent) -> bool:
    types = source.get("types")
    if event.stream.startswith(PREFIX):
        return False
    return types is None or event.type in types


def _oldest_after(db: ses.Database, source: dict[str, Any], after: int) -> datetime | None:
    """The time of the first source event after ``after`` (category and database sources;
    a stream is read by version, so it has no cheap position start)."""
    kind, types = source["kind"], source.get("types")
    if kind == "stream":
        return None
    if kind == "category":
        read = db.read_category(
            source["name"], from_position=after + 1, limit=LAG_LIMIT, types=types
        )
    else:
        read = db.read_all(from_position=after + 1, limit=LAG_LIMIT, types=types)
    return next((e.timestamp for e in read if _reads(source, e)), None)


def _lag(
    db: ses.Database, source: dict[str, Any], position: int | None, now: datetime
) -> tuple[int | None, int, bool, float]:
    """``(head, lag in events, exact, lag in seconds)``: the source read backwards from
    its head down to the checkpoint, at most :data:`LAG_LIMIT` entries."""
    after = position or 0
    head: int | None = None
    lag, scanned, exact = 0, 0, False
    oldest: datetime | None = None
    for event in _backwards(db, source):
        scanned += 1
        if not _reads(source, event):
            continue
        if head is None:
            head = event.position
        if event.position <= after:
            exact = True
            break
        lag += 1
        oldest = event.timestamp
    else:
        exact = scanned < LAG_LIMIT
    if not exact:
        oldest = _oldest_after(db, source, after) or oldest
    seconds = 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
    return head, lag, exact, round(seconds, 3)


def _known(db: ses.Database) -> tuple[set[tuple[str, int]], dict[str, int], list[ses.Lease]]:
    checkpoints = db.list_checkpoints()
    leases = db.list_leases()
    found: set[tuple[str, int]] = set()
    for name in checkpoints:
        parsed = parse_lease_name(name)
        if parsed is not None:
            found.add(parsed)
    for lease in leases:
        parsed = parse_lease_name(lease.name.split(STANDBY)[0])
        if parsed is not None:
            found.add(parsed)
    for category in db.list_categories():
        parsed = parse_log_stream(category)
        if parsed is not None:
            found.add(parsed)
    return found, checkpoints, leases


def _one(
    db: ses.Database,
    name: str,
    version: int,
    checkpoints: dict[str, int],
    leases: list[ses.Lease],
    now: datetime,
) -> ProjectionStatus:
    base = f"{PREFIX}{name}.v{version}"
    log = list(db.read_stream(log_stream(name, version), backwards=True, limit=LOG_WINDOW))
    failure = last_failure(log)
    live = [x for x in leases if not x.expired(now)]
    lease = next((x for x in live if x.name == base), None)
    waiting = sum(1 for x in live if x.name.startswith(base + STANDBY))
    info = lease.info if lease is not None else {}
    source = last_source(log) or info.get("source")
    position = checkpoints.get(base)
    head, lag, exact, seconds = None, None, False, None
    if source is not None:
        head, lag, exact, seconds = _lag(db, source, position, now)
    active = active_version(db, name)
    if failure is not None:
        state = "failed"
    elif active is not None and version < active:
        state = "retired"
    elif lease is not None:
        newer = active is not None and version > active
        state = "rebuilding" if newer or info.get("state") == "rebuilding" else "running"
    else:
        state = "standby" if waiting else "stopped"
    rate = info.get("events_per_second") if lease is not None else None
    return ProjectionStatus(
        name=name,
        version=version,
        state=state,
        position=position,
        head=head,
        lag_events=lag,
        lag_exact=exact,
        lag_seconds=seconds,
        events_per_second=None if rate is None else float(rate),
        owner=None if lease is None else lease.owner,
        standby=waiting,
        source=source,
        failure=failure,
        lease_expires_at=None if lease is None else lease.expires_at,
    )


def status(db: ses.Database, name: str | None = None) -> list[ProjectionStatus]:
    """Every projection the store knows of (a checkpoint, a lease or a log named
    ``projection.<name>.v<version>``), by name and version; only those named ``name`` if
    given (:class:`ProjectionNotFound` when there is none). Reads only."""
    found, checkpoints, leases = _known(db)
    if name is not None:
        found = {(n, v) for n, v in found if n == name}
        if not found:
            raise ProjectionNotFound(f"no projection {name!r} in database {db.name!r}")
    now = datetime.now(UTC)
    return [_one(db, n, v, checkpoints, leases, now) for n, v in sorted(found)]


async def status_async(db: ses.AsyncDatabase, name: str | None = None) -> list[ProjectionStatus]:
    """The asyncio twin of :func:`status` (its reads run in a worker thread)."""
    return await asyncio.to_thread(status, db.sync, name)


def _versions_of(db: ses.Database, name: str, version: int | None) -> list[int]:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ProjectionNotFound(f"no projection {name!r}: a name is 1-64 letters, digits, '_'")
    found, _, _ = _known(db)
    versions = sorted(v for n, v in found if n == name and version in (None, v))
    if not versions:
        which = repr(name) if version is None else f"{name!r} v{version}"
        raise ProjectionNotFound(f"no projection {which} in database {db.name!r}")
    return versions


def retry(db: ses.Database, name: str, *, version: int | None = None) -> list[int]:
    """Resume a failed projection: record a retry in its log (every failed version, or
    ``version``), which the agent holding it sees within a third of its lease time; the
    versions retried (none when none was failed). An unknown projection is
    :class:`ProjectionNotFound`, with nothing written."""
    versions = _versions_of(db, name, version)
    retried = []
    for v in versions:
        stream = log_stream(name, v)
        if last_failure(list(db.read_stream(stream, backwards=True, limit=LOG_WINDOW))):
            db.append(stream, [retry_entry()])
            retried.append(v)
    return retried


def request_rebuild(db: ses.Database, name: str, *, version: int | None = None) -> list[int]:
    """Ask the agent holding projection ``name`` to rebuild it in place: fold its source
    again from the start with the handlers it runs, and correct every key whose stored
    state differs (readers keep reading; each correction is in the key's history). Every
    version the store knows of, or ``version``; the versions asked. The agent sees the
    request within a third of its lease time and records when it is done. An unknown
    projection is :class:`ProjectionNotFound`, with nothing written."""
    versions = _versions_of(db, name, version)
    for v in versions:
        db.append(log_stream(name, v), [request_entry()])
    return versions


async def request_rebuild_async(
    db: ses.AsyncDatabase, name: str, *, version: int | None = None
) -> list[int]:
    """The asyncio twin of :func:`request_rebuild`."""
    return await asyncio.to_thread(request_rebuild, db.sync, name, version=version)


async def retry_async(db: ses.AsyncDatabase, name: str, *, version: int | None = None) -> list[int]:
    """The asyncio twin of :func:`retry`."""
    return await asyncio.to_thread(retry, db.sync, name, version=version)
