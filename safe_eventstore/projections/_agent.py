"""The agent: runners that work a projection only while they hold its lease.

The logic is written once, as coroutines over :class:`_Ops` (the store and runner calls it
needs); the sync :class:`Agent` drives it with calls that never suspend, the
:class:`AsyncAgent` awaits it on the caller's event loop."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

import safe_eventstore as ses

from ._errors import HandlerFailed, InvalidProjection, InvalidState
from ._folding import Folder
from ._log import (
    failure_entry,
    last_failure,
    last_source,
    log_stream,
    source_of,
    started_entry,
)
from ._naming import checkpoint_name
from ._refold import rebuild_entry, rebuild_pending, refold
from ._runner import _LOST_RACE as LOST_RACE
from ._runner import PAGE_SIZE, AsyncRunner, Runner, _timeout

__all__ = ["LEASE_TTL", "Agent", "AsyncAgent", "StateCallback", "lease_name", "standby_name"]

LEASE_TTL = 5.0
RATE_WINDOW = 10.0  # seconds of history behind the published events/s
# pages a projection works in one turn before the others get theirs
TURN = 20

StateCallback = Callable[[str, str, str], None]


def lease_name(name: str, version: int) -> str:
    return checkpoint_name(name, version)


def standby_name(name: str, version: int, owner: str) -> str:
    digest = hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{lease_name(name, version)}.standby.{digest}"


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Ops(Protocol):
    async def take(
        self, name: str, owner: str, ttl: float, info: dict[str, Any]
    ) -> ses.Lease | None: ...

    async def release(self, name: str, owner: str) -> None: ...

    async def holder(self, name: str) -> str | None: ...

    async def log(self, stream: str) -> list[ses.RecordedEvent]: ...

    async def record(self, stream: str, entry: ses.NewEvent) -> None: ...

    async def step(self, folder: Folder) -> int | None: ...

    def drop(self, folder: Folder) -> None: ...

    async def works(self, folder: Folder) -> bool: ...

    async def caught_up(self, folder: Folder) -> None: ...

    async def refold(self, folder: Folder, request: ses.RecordedEvent) -> tuple[int, int]: ...


class _Slot:
    """What the agent knows of one projection."""

    def __init__(self, folder: Folder, owner: str) -> None:
        p = folder.projection
        self.folder = folder
        self.label = f"{p.name} v{p.version}"
        self.lease = lease_name(p.name, p.version)
        self.standby = standby_name(p.name, p.version, owner)
        self.log = log_stream(p.name, p.version)
        self.source = source_of(p)
        # a lease's info is small (4 KiB): a long list of types stays in the log only
        types = self.source["types"]
        self.brief = self.source
        if types is not None and len(",".join(types)) > 1000:
            self.brief = {**self.source, "types": None, "type_count": len(types)}
        self.state = "starting"
        self.held = False
        self.waiting = False  # holds its standby lease
        self.next_check = 0.0
        self.window: deque[tuple[float, int]] = deque()
        self.since = time.monotonic()
        self.rebuild: ses.RecordedEvent | None = None  # a rebuild asked for, not done yet

    def count(self, applied: int) -> None:
        now = time.monotonic()
        self.window.append((now, applied))
        while self.window and self.window[0][0] < now - RATE_WINDOW:
            self.window.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        while self.window and self.window[0][0] < now - RATE_WINDOW:
            self.window.popleft()
        span = min(RATE_WINDOW, max(now - self.since, 1e-3))
        return round(sum(n for _, n in self.window) / span, 1)


class _Core:
    def __init__(
        self,
        ops: _Ops,
        folders: list[Folder],
        *,
        ttl: float,
        owner: str,
        on_state: StateCallback | None,
    ) -> None:
        self.ops = ops
        self.ttl = ttl
        self.owner = owner
        self.on_state = on_state
        self.slots = [_Slot(f, owner) for f in folders]

    @property
    def tick(self) -> float:
        """How often leases are renewed, and standby projections checked."""
        return self.ttl / 3

    def _info(self, slot: _Slot) -> dict[str, Any]:
        return {
            "state": slot.state,
            "events_per_second": slot.rate(),
            "source": slot.brief,
            "owner": self.owner,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }

    def _set(self, slot: _Slot, state: str, detail: str = "") -> None:
        if state != slot.state:
            slot.state = state
            if self.on_state is not None:
                self.on_state(slot.label, state, detail)

    async def round(self) -> int:
        """One turn of every projection: leases checked when due, pages applied."""
        total = 0
        for slot in self.slots:
            total += await self._work(slot)
        return total

    async def _work(self, slot: _Slot) -> int:
        if not await self._hold(slot) or slot.state not in ("running", "retired"):
            return 0
        # versions as the runner treats them: an older one than the active is retired
        if not await self.ops.works(slot.folder):
            self._set(slot, "retired", "a newer version is active")
            return 0
        self._set(slot, "running")
        if slot.rebuild is not None:
            await self._rebuild(slot, slot.rebuild)
            return 0
        applied = 0
        for _ in range(TURN):
            try:
                n = await self.ops.step(slot.folder)
            except HandlerFailed as failed:
                await self._fail(slot, failed.event, failed.__cause__ or failed)
                break
            except InvalidState as invalid:
                if invalid.event is None:
                    raise
                await self._fail(slot, invalid.event, invalid)
                break
            if n is None:
                await self.ops.caught_up(slot.folder)  # a rebuild that caught up is promoted
                break
            applied += n
            slot.count(n)
            # a long catch-up renews between pages, and stops the moment the lease is lost
            if time.monotonic() >= slot.next_check and not await self._hold(slot):
                break
        return applied

    async def _hold(self, slot: _Slot) -> bool:
        """Take or renew the lease when due; whether this agent holds it."""
        now = time.monotonic()
        if now < slot.next_check:
            return slot.held
        slot.next_check = now + self.tick
        lease = await self.ops.take(slot.lease, self.owner, self.ttl, self._info(slot))
        if lease is None:
            await self._stand_by(slot)
            return False
        entries = await self.ops.log(slot.log)  # read once a check: failures, retries, asks
        if not slot.held:
            await self._took(slot, entries)
        elif slot.state == "failed" and last_failure(entries) is None:
            self._set(slot, "running", "retried")
            await self.ops.take(slot.lease, self.owner, self.ttl, self._info(slot))
        if slot.state != "failed":
            slot.rebuild = rebuild_pending(entries)
        return True

    async def _rebuild(self, slot: _Slot, request: ses.RecordedEvent) -> None:
        """Rebuild a projection in place as asked (``_refold``), then record it done."""
        self._set(slot, "rebuilding", "in place, as asked")
        await self.ops.take(slot.lease, self.owner, self.ttl, self._info(slot))
        try:
            corrected, upto = await self.ops.refold(slot.folder, request)
        except HandlerFailed as failed:
            await self._fail(slot, failed.event, failed.__cause__ or failed)
            return
        except LOST_RACE:
            self.ops.drop(slot.folder)  # another writer came first: asked again next turn
            self._set(slot, "running", "rebuild interrupted, to be tried again")
            return
        slot.rebuild = None
        self.ops.drop(slot.folder)
        await self.ops.record(slot.log, rebuild_entry(request, corrected, upto))
        self._set(slot, "running", f"rebuilt: {corrected} keys corrected")
        await self.ops.take(slot.lease, self.owner, self.ttl, self._info(slot))

    async def _stand_by(self, slot: _Slot) -> None:
        if slot.held:
            # lost: someone else holds it now; what this agent had read is stale
            slot.held = False
            self.ops.drop(slot.folder)
        if slot.state != "standby":
            holder = await self.ops.holder(slot.lease)
            self._set(slot, "standby", f"held by {holder}" if holder else "")
        info = {"state": "standby", "owner": self.owner, "pid": os.getpid()}
        info["host"] = socket.gethostname()
        slot.waiting = await self.ops.take(slot.standby, self.owner, self.ttl, info) is not None

    async def _took(self, slot: _Slot, entries: list[ses.RecordedEvent]) -> None:
        slot.held = True
        self.ops.drop(slot.folder)  # resume from what is stored, whoever wrote it
        if slot.waiting:
            await self.ops.release(slot.standby, self.owner)
            slot.waiting = False
        if last_source(entries) != slot.source:
            await self.ops.record(slot.log, started_entry(slot.folder.projection, self.owner))
        failure = last_failure(entries)
        if failure is not None:
            detail = f"{failure.type} at position {failure.position}: {failure.error}"
            self._set(slot, "failed", detail + " (waiting for a retry)")
        else:
            slot.since = time.monotonic()
            self._set(slot, "running")
        await self.ops.take(slot.lease, self.owner, self.ttl, self._info(slot))

    async def _fail(self, slot: _Slot, event: ses.RecordedEvent, cause: BaseException) -> None:
        await self.ops.record(slot.log, failure_entry(event, cause, self.owner))
        detail = f"{event.type} at position {event.position}: {cause!r}"
        self._set(slot, "failed", detail)
        slot.next_check = 0.0  # publish the failed state now

    async def release(self) -> None:
        """Give up every lease this agent holds (a clean stop)."""
        for slot in self.slots:
            if slot.held:
                await self.ops.release(slot.lease, self.owner)
                slot.held = False
                self.ops.drop(slot.folder)
            if slot.waiting:
                await self.ops.release(slot.standby, self.owner)
                slot.waiting = False
            slot.next_check = 0.0
            self._set(slot, "stopped")


def _check(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0.1 <= ttl <= 3600:
        raise InvalidProjection(f"invalid lease_ttl {ttl!r}: seconds from 0.1 to 3600")
    return float(ttl)


def _drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine whose awaits never suspend (the sync store's calls block instead)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a store call of the sync agent suspended")


class _SyncOps:
    def __init__(self, db: ses.Database, runner: Runner) -> None:
        self.db = db
        self.runner = runner

    async def take(
        self, name: str, owner: str, ttl: float, info: dict[str, Any]
    ) -> ses.Lease | None:
        return self.db.take_lease(name, owner, ttl=ttl, info=info)

    async def release(self, name: str, owner: str) -> None:
        self.db.release_lease(name, owner)

    async def holder(self, name: str) -> str | None:
        lease = self.db.get_lease(name)
        return None if lease is None else lease.owner

    async def log(self, stream: str) -> list[ses.RecordedEvent]:
        return list(self.db.read_stream(stream, backwards=True, limit=100))

    async def record(self, stream: str, entry: ses.NewEvent) -> None:
        self.db.append(stream, [entry])

    async def step(self, folder: Folder) -> int | None:
        return self.runner._step(folder)

    def drop(self, folder: Folder) -> None:
        self.runner._restart(folder)

    async def works(self, folder: Folder) -> bool:
        return self.runner._versions.works(folder.projection)

    async def caught_up(self, folder: Folder) -> None:
        self.runner._versions.caught_up(folder.projection)

    async def refold(self, folder: Folder, request: ses.RecordedEvent) -> tuple[int, int]:
        # on the runner's loop, as a page is (handlers may be coroutines)
        result: tuple[int, int] = self.runner._private_loop(folder).run(refold(folder, request))
        return result


class Agent:
    """Runs projections until stopped, each on one agent at a time, on a sync
    :class:`ses.Database`::

        with projections.Agent(db, [balances, depositors], lease_ttl=5.0) as agent:
            agent.run(stop)          # until stop (a threading.Event) is set

    Before working a projection the agent takes its lease ``projection.<name>.v<version>``
    in the store and renews it every ``lease_ttl / 3`` seconds (between pages too). A
    projection whose lease another agent holds is on standby: checked every ``lease_ttl /
    3`` seconds and taken over once that lease expires. A renewal refused means another
    agent took over: the projection is dropped at once. A handler that raises stops its
    projection only; the failure is recorded in the projection's log (see :func:`status`)
    and the projection stays failed, here and in any agent started later, until
    :func:`retry`. ``on_state(projection, state, detail)`` is called on every change of a
    projection's state (``running``, ``standby``, ``failed``, ``retired``: a newer version is
    active, ``stopped``). Versions are treated as the runner treats them: a rebuild is
    promoted once it has caught up, an older version than the active one is not worked."""

    def __init__(
        self,
        db: ses.Database,
        projections: Iterable[Any],
        *,
        page_size: int = PAGE_SIZE,
        lease_ttl: float = LEASE_TTL,
        owner: str | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        ttl = _check(lease_ttl)
        self.runner = Runner(db, projections, page_size=page_size)
        self.db = db
        self.owner = owner or default_owner()
        ops = _SyncOps(db, self.runner)
        self._core = _Core(ops, self.runner.folders, ttl=ttl, owner=self.owner, on_state=on_state)

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def states(self) -> dict[str, str]:
        """The state of each projection here, by ``"<name> v<version>"``."""
        return {slot.label: slot.state for slot in self._core.slots}

    def run_once(self) -> int:
        """One turn: take or renew leases when due, and apply what is stored to the
        projections held (a bounded number of pages each); how many events were applied."""
        applied: int = _drive(self._core.round())
        return applied

    def run(self, stop: threading.Event, *, wait: float = 1.0) -> None:
        """Work the projections until ``stop`` is set, then release their leases."""
        try:
            with self.db.subscribe(from_position=self.db.last_position() + 1) as wake:
                while not stop.is_set():
                    while wake.get(timeout=0) is not None:
                        pass
                    if self.run_once() == 0 and not stop.is_set():
                        wake.get(timeout=_timeout(self.runner.folders, min(wait, self._core.tick)))
        finally:
            self.release()

    def release(self) -> None:
        """Release every lease this agent holds (its projections go to standby agents)."""
        _drive(self._core.release())

    def close(self) -> None:
        """Release the leases and close the runner."""
        try:
            self.release()
        finally:
            self.runner.close()


class _AsyncOps:
    def __init__(self, db: ses.AsyncDatabase, runner: AsyncRunner) -> None:
        self.db = db
        self.runner = runner

    async def take(
        self, name: str, owner: str, ttl: float, info: dict[str, Any]
    ) -> ses.Lease | None:
        return await self.db.take_lease(name, owner, ttl=ttl, info=info)

    async def release(self, name: str, owner: str) -> None:
        await self.db.release_lease(name, owner)

    async def holder(self, name: str) -> str | None:
        lease = await self.db.get_lease(name)
        return None if lease is None else lease.owner

    async def log(self, stream: str) -> list[ses.RecordedEvent]:
        return await self.db.read_stream(stream, backwards=True, limit=100)

    async def record(self, stream: str, entry: ses.NewEvent) -> None:
        await self.db.append(stream, [entry])

    async def step(self, folder: Folder) -> int | None:
        return await self.runner._step(folder)

    def drop(self, folder: Folder) -> None:
        self.runner._restart(folder)

    async def works(self, folder: Folder) -> bool:
        return await self.runner._versions.works(folder.projection)

    async def caught_up(self, folder: Folder) -> None:
        await self.runner._versions.caught_up(folder.projection)

    async def refold(self, folder: Folder, request: ses.RecordedEvent) -> tuple[int, int]:
        return await refold(folder, request)


class AsyncAgent:
    """The asyncio twin of :class:`Agent`, on an :class:`ses.AsyncDatabase`: ``await
    run(stop)`` with an :class:`asyncio.Event`, ``await run_once()``, ``await close()``."""

    def __init__(
        self,
        db: ses.AsyncDatabase,
        projections: Iterable[Any],
        *,
        page_size: int = PAGE_SIZE,
        lease_ttl: float = LEASE_TTL,
        owner: str | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        ttl = _check(lease_ttl)
        self.runner = AsyncRunner(db, projections, page_size=page_size)
        self.db = db
        self.owner = owner or default_owner()
        ops = _AsyncOps(db, self.runner)
        self._core = _Core(ops, self.runner.folders, ttl=ttl, owner=self.owner, on_state=on_state)

    async def __aenter__(self) -> AsyncAgent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def states(self) -> dict[str, str]:
        """The state of each projection here, by ``"<name> v<version>"``."""
        return {slot.label: slot.state for slot in self._core.slots}

    async def run_once(self) -> int:
        """One turn, as :meth:`Agent.run_once`."""
        return await self._core.round()

    async def run(self, stop: asyncio.Event, *, wait: float = 1.0) -> None:
        """Work the projections until ``stop`` is set, then release their leases."""
        try:
            start = await self.db.last_position() + 1
            async with self.db.subscribe(from_position=start) as wake:
                while not stop.is_set():
                    while await wake.get(timeout=0) is not None:
                        pass
                    if await self.run_once() == 0 and not stop.is_set():
                        await wake.get(
                            timeout=_timeout(self.runner.folders, min(wait, self._core.tick))
                        )
        finally:
            await self.release()

    async def release(self) -> None:
        """Release every lease this agent holds."""
        await self._core.release()

    async def close(self) -> None:
        """Release the leases and close the runner."""
        try:
            await self.release()
        finally:
            self.runner.close()
