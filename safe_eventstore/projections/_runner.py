"""Runners: catch projections up, then follow new events as they are appended."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import safe_eventstore as ses

from ._errors import DuplicateProjection, InvalidProjection
from ._folding import Folder, StateAhead
from ._io import AsyncIO, SyncIO
from ._process_folding import ProcessFolder, make_folder
from ._projection import Projection
from ._versions import AsyncRunnerVersions, RunnerVersions

__all__ = ["AsyncRunner", "Runner"]

# What another writer of the same projection causes: someone stored this page (or a later
# one) first. Exactly-once holds either way; the runner resumes from what is stored.
_LOST_RACE = (
    ses.WrongExpectedVersion,
    ses.CheckpointConflict,
    ses.IdempotencyConflict,
    StateAhead,
)

# NATS stores an atomic batch of at most some 300 events: a page makes one state entry per
# key it changes (per event and key with history="event"), so 100 source events with one key
# each stay inside that on every backend.
PAGE_SIZE = 100
# Where a batch may be large (SQLite, memory), a catch-up page folds many events of a key
# into one state entry: the entries written, not the events read, are what a page costs.
LARGE_PAGE_SIZE = 100_000
# A page of the sync runner also ends after about this many seconds, so that a slow handler
# cannot keep a page (and an agent's lease renewal, between pages) waiting for long.
PAGE_SECONDS = 1.0


def _page_size(page_size: int | None, large_batches: bool) -> int:
    if page_size is None:
        return LARGE_PAGE_SIZE if large_batches else PAGE_SIZE
    return page_size


def _events(
    sub: ses.Subscription, first: ses.RecordedEvent, limit: int
) -> Iterator[ses.RecordedEvent]:
    """``first``, then the subscription's next stored events, up to ``limit`` in all or
    until :data:`PAGE_SECONDS` have passed (looked at every 256 events)."""
    yield first
    deadline = time.monotonic() + PAGE_SECONDS
    count = 1
    while count < limit:
        if not count & 255 and time.monotonic() > deadline:
            return
        event = sub.get(timeout=0)
        if event is None:
            return
        count += 1
        yield event


def _limit(folder: Folder, page_size: int) -> int:
    """The page of one folder: a process manager's stays small whatever the runner's, since
    each of its events may execute commands (a long page would outlast an agent's lease)."""
    return min(page_size, PAGE_SIZE) if isinstance(folder, ProcessFolder) else page_size


def _checked(projections: Iterable[Projection], page_size: int) -> list[Projection]:
    found = list(projections)
    names: set[tuple[str, int]] = set()
    for p in found:
        if not isinstance(p, Projection):
            raise InvalidProjection(f"not a projection: {p!r}")
        # two versions of one projection may run side by side: a rebuild beside the old one
        if (p.name, p.version) in names:
            raise DuplicateProjection(f"two projections named {p.name!r} at version {p.version}")
        names.add((p.name, p.version))
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise InvalidProjection(f"invalid page_size {page_size!r}: a whole number from 1")
    return found


def _timeout(folders: list[Folder], wait: float) -> float:
    """How long a live runner may sleep: ``wait``, or less when a timer is due sooner."""
    for folder in folders:
        if isinstance(folder, ProcessFolder) and (due := folder.seconds_to_due()) is not None:
            wait = max(0.0, min(wait, due))
    return wait


def _options(folder: Folder) -> dict[str, Any]:
    source = folder.projection.source.subscribe_options()
    return {"checkpoint": folder.checkpoint_name, "restructures": True, **source}


class Runner:
    """Keeps projections up to date on a sync :class:`ses.Database`::

        with projections.Runner(db, [balances]) as runner:
            runner.run_once()        # catch up, then return
            runner.run(stop)         # catch up, then follow until stop (a threading.Event)

    Each projection reads through its own subscription from its stored checkpoint and
    stores each page of up to ``page_size`` source events as one atomic batch (its key
    states and its checkpoint). By default a page is 10,000 events where the backend takes
    large batches (``db.large_batches``: SQLite, memory), else 100 (NATS). Async handlers
    are run on a private event loop; inside asyncio, use :class:`AsyncRunner`. A handler
    that raises stops the runner with :class:`HandlerFailed`, with nothing of that page
    stored; the next run reads the page again."""

    def __init__(
        self,
        db: ses.Database,
        projections: Iterable[Projection],
        *,
        page_size: int | None = None,
    ) -> None:
        if not isinstance(db, ses.Database):
            raise InvalidProjection("Runner needs a ses.Database (AsyncRunner an AsyncDatabase)")
        self.db = db
        self.page_size = page_size = _page_size(page_size, db.large_batches)
        io = SyncIO(db)
        self.folders = [make_folder(p, io, db) for p in _checked(projections, page_size)]
        self._subs: dict[str, ses.Subscription] = {}
        self._loop: asyncio.Runner | None = None
        self._versions = RunnerVersions(db)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the subscriptions and the private event loop."""
        for sub in self._subs.values():
            sub.close()
        self._subs.clear()
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def _page(self, folder: Folder) -> Iterator[ses.RecordedEvent] | None:
        """The next page as an iterator that reads its events while they are folded (so a
        long page holds no events); ``None`` when there is nothing to read. A page ends after
        ``page_size`` events or about :data:`PAGE_SECONDS`, whichever comes first."""
        sub = self._subs.get(folder.checkpoint_name)
        if sub is None:
            sub = self.db.subscribe(**_options(folder))
            self._subs[folder.checkpoint_name] = sub
        first = sub.get(timeout=0)
        if first is None:
            return None
        return _events(sub, first, _limit(folder, self.page_size))

    def _step(self, folder: Folder) -> int | None:
        """Apply one page; ``None`` when there was nothing to read."""
        events = self._page(folder)
        if events is None and not isinstance(folder, ProcessFolder):
            return None
        loop = self._private_loop(folder)
        try:
            if isinstance(folder, ProcessFolder) and events is None:
                return loop.run(folder.fire_due())  # nothing to read: fire due timers
            return loop.run(folder.apply(events or []))
        except _LOST_RACE:
            # another writer moved the checkpoint or a state: start again from what is stored
            self._restart(folder)
            return 0
        except BaseException:
            # the subscription is past the page that was not stored: the next run must read
            # it again from the stored checkpoint, never skip it
            self._restart(folder)
            raise

    def _private_loop(self, folder: Folder) -> asyncio.Runner:
        """The event loop the sync runner runs its folds on (handlers may be coroutines);
        inside a running loop this is an error: the sync runner would block it."""
        if self._loop is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                self._loop = asyncio.Runner()
            else:
                self._restart(folder)
                raise InvalidProjection("inside a running event loop, use AsyncRunner")
        return self._loop

    def _restart(self, folder: Folder) -> None:
        folder.reset()
        sub = self._subs.pop(folder.checkpoint_name, None)
        if sub is not None:  # an agent also drops a projection it has not started
            sub.close()

    def run_once(self) -> int:
        """Apply every source event stored now to every projection; how many were applied.
        A version older than the active one is retired (not worked); a newer one is promoted
        once it has caught up (docs/projections.md, "Rebuilding without downtime")."""
        total = 0
        for folder in self.folders:
            if not self._versions.works(folder.projection):
                continue
            while (applied := self._step(folder)) is not None:
                total += applied
            self._versions.caught_up(folder.projection)
        return total

    def run(self, stop: threading.Event, *, wait: float = 1.0) -> None:
        """Catch up, then follow new events until ``stop`` is set (checked at least every
        ``wait`` seconds; an append wakes the runner at once)."""
        with self.db.subscribe(from_position=self.db.last_position() + 1) as wake:
            while not stop.is_set():
                # drain the wake-ups first: an append after this is seen by the catch-up or
                # left in ``wake``, so none is lost (our own writes wake us once, harmlessly)
                while wake.get(timeout=0) is not None:
                    pass
                if self.run_once() == 0 and not stop.is_set():
                    wake.get(timeout=_timeout(self.folders, wait))


class AsyncRunner:
    """The asyncio twin of :class:`Runner`, on an :class:`ses.AsyncDatabase`: ``await
    run_once()``, ``await run(stop)`` with an :class:`asyncio.Event`."""

    def __init__(
        self,
        db: ses.AsyncDatabase,
        projections: Iterable[Projection],
        *,
        page_size: int | None = None,
    ) -> None:
        if not isinstance(db, ses.AsyncDatabase):
            raise InvalidProjection("AsyncRunner needs a ses.AsyncDatabase")
        self.db = db
        self.page_size = page_size = _page_size(page_size, db.large_batches)
        io = AsyncIO(db)
        self.folders = [make_folder(p, io, db) for p in _checked(projections, page_size)]
        self._subs: dict[str, ses.AsyncSubscription] = {}
        self._versions = AsyncRunnerVersions(db)

    async def __aenter__(self) -> AsyncRunner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the subscriptions."""
        for sub in self._subs.values():
            sub.close()
        self._subs.clear()

    async def _page(self, folder: Folder) -> list[ses.RecordedEvent]:
        sub = self._subs.get(folder.checkpoint_name)
        if sub is None:
            sub = self.db.subscribe(**_options(folder))
            self._subs[folder.checkpoint_name] = sub
        page: list[ses.RecordedEvent] = []
        limit = _limit(folder, self.page_size)
        while len(page) < limit and (event := await sub.get(timeout=0)) is not None:
            page.append(event)
        return page

    async def _step(self, folder: Folder) -> int | None:
        page = await self._page(folder)
        if not page and not isinstance(folder, ProcessFolder):
            return None
        try:
            if isinstance(folder, ProcessFolder) and not page:
                return await folder.fire_due()  # nothing to read: fire due timers
            return await folder.apply(page)
        except _LOST_RACE:
            self._restart(folder)
            return 0
        except BaseException:
            self._restart(folder)  # never skip the page that was not stored
            raise

    def _restart(self, folder: Folder) -> None:
        folder.reset()
        sub = self._subs.pop(folder.checkpoint_name, None)
        if sub is not None:  # an agent also drops a projection it has not started
            sub.close()

    async def run_once(self) -> int:
        """Apply every source event stored now to every projection; how many were applied
        (versions retired and promoted as in :meth:`Runner.run_once`)."""
        total = 0
        for folder in self.folders:
            if not await self._versions.works(folder.projection):
                continue
            while (applied := await self._step(folder)) is not None:
                total += applied
            await self._versions.caught_up(folder.projection)
        return total

    async def run(self, stop: asyncio.Event, *, wait: float = 1.0) -> None:
        """Catch up, then follow new events until ``stop`` is set."""
        start = await self.db.last_position() + 1
        async with self.db.subscribe(from_position=start) as wake:
            while not stop.is_set():
                while await wake.get(timeout=0) is not None:
                    pass
                if await self.run_once() == 0 and not stop.is_set():
                    await wake.get(timeout=_timeout(self.folders, wait))
