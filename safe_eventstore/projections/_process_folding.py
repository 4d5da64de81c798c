"""Folding pages for a process manager, and firing its timers.

A page is folded as a projection's is (state per key, from the cache or the key stream's
last entry), each handler call collecting the commands it sends and the timers it sets or
cancels. Then, in this order:

1. every command sent in the page is executed through the router, in event order;
2. one ``append_batch`` stores the key states, the timer entries and the checkpoint.

A crash between 1 and 2 leaves the checkpoint where it was: the next run folds the same
page again, sends the same commands with the same (derived) ids, and the router answers
each with its original result. So a command may be delivered more than once, and takes
effect once."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import safe_eventstore as ses
from safe_eventstore import cqrs

from ._errors import CommandFailed, HandlerFailed, InvalidProjection
from ._folding import Folder, Pending, StateAhead
from ._io import StoreIO
from ._json import copy_json
from ._process import Context, ProcessManager, Router
from ._projection import Projection
from ._timers import CANCELLED, FIRED, SCHEDULED, Timer, TimerBook, decode_command, entry
from ._timers import timers_stream as timers_stream_name

__all__ = ["ProcessFolder", "make_folder"]


def make_folder(
    projection: Projection, io: StoreIO, db: ses.Database | ses.AsyncDatabase
) -> Folder:
    """The folder a runner uses for ``projection`` on ``db`` (which ``io`` reads and writes):
    a :class:`ProcessFolder` for a process manager, with its router for ``db``, else a
    plain :class:`Folder`."""
    if isinstance(projection, ProcessManager):
        return ProcessFolder(projection, io, projection.router_for(db), db)
    return Folder(projection, io)


class _PageTimers:
    """The timer changes of the page being folded, applied to the book once it is stored."""

    def __init__(self, book: TimerBook) -> None:
        self.book = book
        self.new: dict[Any, Timer] = {}
        self.cancelled: dict[Any, Timer] = {}

    def cancel(self, key: str, name: str) -> None:
        for timer in list(self.new.values()):
            if timer.key == key and timer.name == name:
                del self.new[timer.id]
        for timer in self.book.named(key, name):
            self.cancelled[timer.id] = timer

    def entries(self) -> list[ses.NewEvent]:
        return [entry(SCHEDULED, t) for t in self.new.values()] + [
            entry(CANCELLED, t) for t in self.cancelled.values()
        ]

    def commit(self, version: int) -> None:
        for timer in self.cancelled.values():
            self.book.pending.pop(timer.id, None)
        self.book.pending.update(self.new)
        self.book.version = version


class ProcessFolder(Folder):
    """The fold of one process manager: a projection's fold, plus its commands and timers."""

    projection: ProcessManager

    def __init__(
        self,
        projection: ProcessManager,
        io: StoreIO,
        router: Router,
        db: ses.Database | ses.AsyncDatabase,
    ) -> None:
        super().__init__(projection, io)
        self.router = router
        self.db = db
        self.timers = TimerBook(timers_stream_name(projection.name, projection.version))

    def reset(self) -> None:
        super().reset()
        self.timers.reset()

    async def _timers(self) -> TimerBook:
        if not self.timers.loaded:
            self.timers.load(await self.io.raw(self.timers.stream))
        return self.timers

    async def _handle(self, state: Any, event: ses.RecordedEvent, ctx: Context) -> Any:
        fn: Any = self.projection.handlers[event.type][0]  # (state, event, ctx)
        try:
            result = fn(state, event, ctx)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            raise HandlerFailed(self.projection.name, event, exc) from exc
        return copy_json(result)

    async def _execute(self, command: cqrs.Command) -> None:
        result = self.router.execute(command)
        if inspect.isawaitable(result):
            await result

    async def apply(self, events: Iterable[ses.RecordedEvent]) -> int:
        """Fold a page, execute the commands it sent, then store its states, timer entries
        and checkpoint in one batch; how many events were applied. Restructure entries are
        passed over: a command issued cannot be taken back by a correction."""
        page = list(events)  # small pages (at most 100 events)
        book = await self._timers()
        changes = _PageTimers(book)
        pending: dict[str, list[Pending]] = {}
        sends: list[tuple[cqrs.Command, ses.RecordedEvent]] = []
        applied = 0
        for event in page:
            if event.kind == "restructure" or not self._handled(event):
                continue
            for key in self._keys(self.projection.handlers[event.type][1], event):
                steps = pending.setdefault(key, [])
                state = steps[-1].state if steps else (await self._load(key))[0]
                if len(steps) == 0 and self.reflects.get(key, 0) >= event.position:
                    raise StateAhead(key)  # another runner stored this event's page first
                ctx = Context(self.projection, event, key)
                new = await self._handle(state, event, ctx)
                sends.extend((command, event) for command in ctx.issued.sends)
                for change in ctx.issued.changes:
                    if isinstance(change, str):
                        changes.cancel(key, change)
                    else:
                        changes.new[change.id] = change
                steps.append(Pending(new, event.position, event.timestamp))
            applied += 1
        for command, event in sends:
            try:
                await self._execute(command)
            except Exception as exc:
                raise CommandFailed(self.projection.name, event, command, exc) from exc
        await self._store_page(pending, changes, page[-1].position)
        return applied

    async def _store_page(
        self, pending: dict[str, list[Pending]], changes: _PageTimers, last: int
    ) -> None:
        keys = sorted(pending)
        appends = await self._state_appends(keys, pending, last)
        timer_entries = changes.entries()
        if timer_entries:
            book = changes.book
            appends.append(ses.StreamAppend(book.stream, timer_entries, book.version))
        results = await self.io.append_batch(appends, (self.checkpoint_name, last))
        for key, result in zip(keys, results, strict=False):
            self.cache[key] = (pending[key][-1].state, result.last_version)
            self.reflects[key] = pending[key][-1].position
        if timer_entries:
            changes.commit(results[-1].last_version)

    def _now(self) -> datetime:
        now = self.projection.clock()
        if not isinstance(now, datetime) or now.utcoffset() is None:
            raise InvalidProjection(f"clock() gave {now!r}, not a timezone-aware datetime")
        return now

    def seconds_to_due(self) -> float | None:
        """How long until the earliest pending timer is due, by the process manager's
        clock (``None``: no timer, or the timers not read yet)."""
        due = self.timers.next_due() if self.timers.loaded else None
        return None if due is None else (due - self._now()).total_seconds()

    async def fire_due(self, now: datetime | None = None) -> int | None:
        """Execute the command of every timer due at ``now`` (by default the clock's time),
        earliest first, then record them fired; how many fired, ``None`` if none was due."""
        book = await self._timers()
        due = book.due(now or self._now())
        if not due:
            return None
        fired: list[Timer] = []
        failure: tuple[Timer, Exception] | None = None
        for timer in due:
            try:
                await self._execute(decode_command(timer.command))
            except Exception as exc:
                failure = (timer, exc)
                break
            fired.append(timer)
        # the timers that fired are recorded even when a later one failed; a crash before
        # this append fires them again, with the same ids: no effect twice
        if fired:
            await self._record_fired(fired)
        if failure is not None:
            timer, error = failure
            event = await self._schedule_entry(timer)
            if event is None:
                raise error
            name = self.projection.name
            raise CommandFailed(name, event, timer.command["type"], error) from error
        return len(fired)

    async def _record_fired(self, fired: list[Timer]) -> None:
        book = self.timers
        events = [entry(FIRED, t) for t in fired]
        append = ses.StreamAppend(book.stream, events, expected_version=book.version)
        [result] = await self._append(append)
        for timer in fired:
            book.pending.pop(timer.id, None)
        book.version = result.last_version

    async def _append(self, append: ses.StreamAppend) -> list[ses.AppendResult]:
        """An append without a checkpoint (the firing of timers does not move it)."""
        if isinstance(self.db, ses.AsyncDatabase):
            return await self.db.append_batch([append])
        return self.db.append_batch([append])

    async def _schedule_entry(self, timer: Timer) -> ses.RecordedEvent | None:
        """The stored entry that scheduled ``timer`` (named by a failure of its command)."""
        wanted = entry(SCHEDULED, timer).event_id
        for event in await self.io.raw(self.timers.stream):
            if event.event_id == wanted:
                return event
        return None
