"""Which version of a projection serves its readers, and the switch after a rebuild.

Every version of a projection keeps its own states and checkpoint (``_naming``), so a new
version is built beside the old one. The version that serves readers is recorded in the
stream ``projection.<name>.active``: entries ``ProjectionPromoted {"version", "position",
"at"}``, the last one wins. Each promotion is appended at the expected version of that
stream (compare-and-set), so two runners that finish the same rebuild at once record one
promotion: the loser reads the winner's record and has nothing left to do.

The runner works a projection whose version is the active one or newer (a rebuild), and
promotes a newer one when a pass found nothing more to read for it; a version older than the
active one is retired and not worked. Readers read the active version while the one they
were given is newer (still being built), so they never see a half-built read model."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import safe_eventstore as ses

from ._errors import InvalidProjection, UnbuiltVersion
from ._naming import NAME, PREFIX, checkpoint_name
from ._projection import Projection

__all__ = [
    "PROMOTED_TYPE",
    "Active",
    "AsyncRunnerVersions",
    "RunnerVersions",
    "ServingVersion",
    "active_stream",
    "active_version",
    "active_version_async",
    "promote",
    "promote_async",
]

PROMOTED_TYPE = "ProjectionPromoted"
log = logging.getLogger("safe_eventstore.projections")

# How long a runner trusts the active version it read before reading it again
RECHECK = 1.0


def active_stream(name: str) -> str:
    """The stream recording the promotions of projection ``name``."""
    return f"{PREFIX}{name}.active"


@dataclass(frozen=True)
class Active:
    """The active version as read (``None``: never promoted) and the version of the stream
    it was read from, the expected version of the next promotion."""

    version: int | None
    stream_version: int


def _active_of(last: ses.RecordedEvent | None) -> Active:
    if last is None:
        return Active(None, ses.NO_STREAM)
    return Active(int(last.data["version"]), last.version)


def _name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidProjection(
            f"invalid projection name {name!r}: use 1-64 letters, digits and '_'"
        )
    return name


def check_version(version: object) -> int:
    """``version`` if it is a version number (a whole number from 1), else a typed error."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidProjection(f"invalid version {version!r}: a whole number from 1")
    return version


def _promotion(version: int, position: int | None) -> ses.NewEvent:
    data = {"version": version, "position": position, "at": datetime.now(UTC).isoformat()}
    return ses.NewEvent(PROMOTED_TYPE, data)


def _read_active(db: ses.Database, name: str) -> Active:
    return _active_of(
        next(iter(db.read_stream(active_stream(name), backwards=True, limit=1)), None)
    )


async def _read_active_async(db: ses.AsyncDatabase, name: str) -> Active:
    found = await db.read_stream(active_stream(name), backwards=True, limit=1)
    return _active_of(found[0] if found else None)


def active_version(db: ses.Database, name: str) -> int | None:
    """The version of projection ``name`` that serves its readers: the last one promoted,
    ``None`` when none ever was (readers then read the version they are given)::

        projections.active_version(db, "balances")   # 2 once version 2 has caught up
    """
    if not isinstance(db, ses.Database):
        raise InvalidProjection("active_version needs a ses.Database (see active_version_async)")
    return _read_active(db, _name(name)).version


async def active_version_async(db: ses.AsyncDatabase, name: str) -> int | None:
    """The asyncio twin of :func:`active_version`."""
    if not isinstance(db, ses.AsyncDatabase):
        raise InvalidProjection("active_version_async needs a ses.AsyncDatabase")
    return (await _read_active_async(db, _name(name))).version


def _guard(name: str, version: int, position: int | None) -> None:
    if position is None:
        raise UnbuiltVersion(
            f"projection {name!r} version {version} has no checkpoint: it was never built, "
            "so it cannot serve readers"
        )


def promote(db: ses.Database, name: str, version: int) -> None:
    """Make ``version`` of projection ``name`` the one that serves readers, by hand (a roll
    back to an older version, for one). The version must have been built (a stored
    checkpoint), else :class:`UnbuiltVersion`. A version older than a newer one deployed in a
    runner is promoted again by that runner when it next catches up: roll back by deploying
    the old version alone, or pin readers (``ReadModel(..., version=N)``)."""
    if not isinstance(db, ses.Database):
        raise InvalidProjection("promote needs a ses.Database (an AsyncDatabase: promote_async)")
    name, version = _name(name), check_version(version)
    position = db.get_checkpoint(checkpoint_name(name, version))
    _guard(name, version, position)
    while (active := _read_active(db, name)).version != version:
        try:
            db.append(
                active_stream(name),
                [_promotion(version, position)],
                expected_version=active.stream_version,
            )
        except ses.WrongExpectedVersion:
            continue  # another promotion came first: look again
        log.info("projection %r: version %d promoted by hand", name, version)
        return


async def promote_async(db: ses.AsyncDatabase, name: str, version: int) -> None:
    """The asyncio twin of :func:`promote`."""
    if not isinstance(db, ses.AsyncDatabase):
        raise InvalidProjection("promote_async needs a ses.AsyncDatabase")
    name, version = _name(name), check_version(version)
    position = await db.get_checkpoint(checkpoint_name(name, version))
    _guard(name, version, position)
    while (active := await _read_active_async(db, name)).version != version:
        try:
            await db.append(
                active_stream(name),
                [_promotion(version, position)],
                expected_version=active.stream_version,
            )
        except ses.WrongExpectedVersion:
            continue
        log.info("projection %r: version %d promoted by hand", name, version)
        return


def _retired(projection: Projection, active: Active, told: set[tuple[str, int]]) -> bool:
    if active.version is None or projection.version >= active.version:
        return False
    if (projection.name, projection.version) not in told:
        told.add((projection.name, projection.version))
        log.info(
            "projection %r: version %d is retired (version %d is active); not worked",
            projection.name,
            projection.version,
            active.version,
        )
    return True


def _owed(projection: Projection, active: Active) -> bool:
    """Whether ``projection``, caught up, is to be promoted: no version is active yet, or an
    older one is."""
    return active.version is None or active.version < projection.version


class _Known:
    """The active versions a runner has read, each trusted for ``recheck`` seconds: a stale
    answer only delays a retirement (a version worked a moment longer) or makes a promotion's
    compare-and-set fail and read again, so a pass of a live runner need not read them."""

    def __init__(self, recheck: float) -> None:
        self.recheck = recheck
        self.found: dict[str, tuple[float, Active]] = {}
        self.told: set[tuple[str, int]] = set()

    def fresh(self, name: str) -> Active | None:
        found = self.found.get(name)
        if found is None or time.monotonic() - found[0] >= self.recheck:
            return None
        return found[1]

    def keep(self, name: str, active: Active, read_at: float) -> Active:
        self.found[name] = (read_at, active)
        return active

    def retired(self, projection: Projection, active: Active) -> bool:
        return _retired(projection, active, self.told)

    def adopted(self, name: str, version: int, result: ses.AppendResult) -> Active:
        log.info("projection %r: version %d, built before, recorded as active", name, version)
        return self.keep(name, Active(version, result.last_version), time.monotonic())

    def promoted(self, projection: Projection, result: ses.AppendResult) -> None:
        p = projection
        self.keep(p.name, Active(p.version, result.last_version), time.monotonic())
        self.told.discard((p.name, p.version))
        log.info("projection %r: version %d caught up and promoted", p.name, p.version)


class RunnerVersions:
    """What a sync runner asks about versions, once per pass and projection: whether to work
    it (``works``: not retired) and, once it has caught up, to promote it if it is a rebuild
    (``caught_up``), with a compare-and-set on the ``.active`` stream."""

    def __init__(self, db: ses.Database, *, recheck: float = RECHECK) -> None:
        self.db = db
        self.known = _Known(recheck)

    def _active(self, name: str) -> Active:
        found = self.known.fresh(name)
        if found is None:
            now = time.monotonic()
            found = self.known.keep(name, _read_active(self.db, name), now)
        return found

    def works(self, projection: Projection) -> bool:
        active = self._active(projection.name)
        if active.version is None and projection.version > 1:
            active = self._adopt(projection)
        return not self.known.retired(projection, active)

    def _adopt(self, projection: Projection) -> Active:
        """With no version recorded, record the newest older version that was built (before
        versions were recorded) as the active one, so a rebuild beside it starts as one."""
        p = projection
        for version in range(p.version - 1, 0, -1):
            position = self.db.get_checkpoint(checkpoint_name(p.name, version))
            if position is None:
                continue
            event = _promotion(version, position)
            try:
                result = self.db.append(
                    active_stream(p.name), [event], expected_version=ses.NO_STREAM
                )
            except ses.WrongExpectedVersion:
                break  # another runner recorded one first
            return self.known.adopted(p.name, version, result)
        now = time.monotonic()
        return self.known.keep(p.name, _read_active(self.db, p.name), now)

    def caught_up(self, projection: Projection) -> None:
        p = projection
        active = self._active(p.name)
        while _owed(p, active):
            position = self.db.get_checkpoint(checkpoint_name(p.name, p.version))
            event = _promotion(p.version, position)
            stream, expected = active_stream(p.name), active.stream_version
            try:
                result = self.db.append(stream, [event], expected_version=expected)
            except ses.WrongExpectedVersion:
                # another runner promoted first (or our answer was stale): read and decide again
                now = time.monotonic()
                active = self.known.keep(p.name, _read_active(self.db, p.name), now)
                continue
            self.known.promoted(p, result)
            return


class AsyncRunnerVersions:
    """The asyncio twin of :class:`RunnerVersions`."""

    def __init__(self, db: ses.AsyncDatabase, *, recheck: float = RECHECK) -> None:
        self.db = db
        self.known = _Known(recheck)

    async def _active(self, name: str) -> Active:
        found = self.known.fresh(name)
        if found is None:
            now = time.monotonic()
            found = self.known.keep(name, await _read_active_async(self.db, name), now)
        return found

    async def works(self, projection: Projection) -> bool:
        active = await self._active(projection.name)
        if active.version is None and projection.version > 1:
            active = await self._adopt(projection)
        return not self.known.retired(projection, active)

    async def _adopt(self, projection: Projection) -> Active:
        p = projection
        for version in range(p.version - 1, 0, -1):
            position = await self.db.get_checkpoint(checkpoint_name(p.name, version))
            if position is None:
                continue
            event = _promotion(version, position)
            stream = active_stream(p.name)
            try:
                result = await self.db.append(stream, [event], expected_version=ses.NO_STREAM)
            except ses.WrongExpectedVersion:
                break
            return self.known.adopted(p.name, version, result)
        now = time.monotonic()
        return self.known.keep(p.name, await _read_active_async(self.db, p.name), now)

    async def caught_up(self, projection: Projection) -> None:
        p = projection
        active = await self._active(p.name)
        while _owed(p, active):
            position = await self.db.get_checkpoint(checkpoint_name(p.name, p.version))
            event = _promotion(p.version, position)
            stream, expected = active_stream(p.name), active.stream_version
            try:
                result = await self.db.append(stream, [event], expected_version=expected)
            except ses.WrongExpectedVersion:
                now = time.monotonic()
                active = self.known.keep(p.name, await _read_active_async(self.db, p.name), now)
                continue
            self.known.promoted(p, result)
            return


class ServingVersion:
    """The version a read model reads: the pinned one, else the given projection's version,
    or the active one while the given version is newer (a rebuild not yet caught up). The
    active version is read again when the last read is older than ``cache`` seconds."""

    def __init__(self, projection: Projection, pinned: object, cache: object) -> None:
        if not isinstance(projection, Projection):
            raise InvalidProjection(f"not a projection: {projection!r}")
        self.projection = projection
        self.pinned = None if pinned is None else check_version(pinned)
        if isinstance(cache, bool) or not isinstance(cache, int | float) or not cache >= 0:
            raise InvalidProjection(f"invalid cache {cache!r}: seconds, from 0")
        self.cache = float(cache)
        self._found: tuple[float, int] | None = None

    def fixed(self) -> int | None:
        """The version to read without asking the store, if it is known."""
        if self.pinned is not None:
            return self.pinned
        if self._found is not None and time.monotonic() - self._found[0] < self.cache:
            return self._found[1]
        return None

    def settle(self, active: Active, read_at: float) -> int:
        """The version to read, given the active version read at ``read_at``."""
        given = self.projection.version
        version = active.version if active.version is not None and active.version < given else given
        self._found = (read_at, version)
        return version

    def read(self, db: ses.Database) -> int:
        found = self.fixed()
        if found is not None:
            return found
        now = time.monotonic()
        return self.settle(_read_active(db, self.projection.name), now)

    async def read_async(self, db: ses.AsyncDatabase) -> int:
        found = self.fixed()
        if found is not None:
            return found
        now = time.monotonic()
        return self.settle(await _read_active_async(db, self.projection.name), now)
