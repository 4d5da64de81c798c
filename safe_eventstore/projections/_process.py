"""Process managers (sagas): projections whose handlers also issue commands.

A :class:`ProcessManager` is declared like a :class:`Projection` (its state per key is
stored the same way, with its checkpoint); its handlers get a :class:`Context` to send
commands now (``ctx.send``) or later (``ctx.schedule``). The commands are collected while a
page is folded, with ids derived from the event that caused them, and executed by the
folding (``_process_folding``) before the page's states and checkpoint are stored."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import safe_eventstore as ses
from safe_eventstore import cqrs

from ._errors import InvalidCommand, InvalidProjection
from ._projection import KeyFunction, Projection, _by_stream
from ._source import Source
from ._timers import Timer, encode_command

__all__ = ["Context", "ProcessManager", "Router", "command_id"]

Router = cqrs.CommandRouter | cqrs.AsyncCommandRouter
RouterFactory = Callable[[Any], Router]
H = TypeVar("H", bound=Callable[..., Any])

_IDS = uuid.UUID("0b7e4c1e-5d2a-4c8f-9a61-3f0d2b8e7a15")


def command_id(name: str, key: str, event: ses.RecordedEvent, what: str, index: int) -> uuid.UUID:
    """The id of the ``index``-th command (``what``: ``"send"`` or ``"timer"``) a process
    manager's handler issued for ``key`` on ``event``: the same on every re-run of the page,
    so the command router answers a repeat with the original result. The version is left
    out on purpose: a new version of the process manager reading the same events again
    issues the same ids, and its repeats of the old one's commands take no effect."""
    return uuid.uuid5(_IDS, f"{name}/{key}@{event.event_id}#{what}{index}")


@dataclass
class Issued:
    """What one handler call issued: commands to send, timers set, and the timers set and
    the timer names cancelled in the order of the calls (a cancel affects what came before)."""

    sends: list[cqrs.Command] = dataclasses.field(default_factory=list)
    timers: list[Timer] = dataclasses.field(default_factory=list)
    changes: list[Timer | str] = dataclasses.field(default_factory=list)


class Context:
    """Given to a process manager's handler with the event: ``send`` a command, ``schedule``
    one for later, ``cancel`` a scheduled one. Nothing is executed during the call: the
    commands of a page are executed after the page is folded, before it is stored."""

    def __init__(self, manager: ProcessManager, event: ses.RecordedEvent, key: str) -> None:
        self.manager = manager
        self.event = event
        self.key = key
        self.issued = Issued()

    def _derive(self, command: object, what: str, index: int) -> cqrs.Command:
        if not isinstance(command, cqrs.Command):
            raise InvalidCommand(f"a process manager issues cqrs.Command objects, not {command!r}")
        cid = command_id(self.manager.name, self.key, self.event, what, index)
        correlation = command.correlation_id or self.event.correlation_id
        try:
            return dataclasses.replace(command, command_id=cid, correlation_id=correlation)
        except (TypeError, ValueError) as exc:
            raise InvalidCommand(f"cannot derive the id of {command!r}: {exc}") from None

    def send(self, command: cqrs.Command) -> uuid.UUID:
        """Issue ``command`` (its ``command_id`` is replaced by one derived from this event,
        key and the command's index in this call); returns that id."""
        derived = self._derive(command, "send", len(self.issued.sends))
        self.issued.sends.append(derived)
        return derived.command_id

    def schedule(
        self,
        command: cqrs.Command,
        *,
        at: datetime | None = None,
        after: timedelta | None = None,
        name: str | None = None,
    ) -> uuid.UUID:
        """Issue ``command`` when it is due: ``at`` a timezone-aware datetime, or ``after`` a
        timedelta from this event's timestamp (so a re-run computes the same time). ``name``
        lets :meth:`cancel` find it. Stored with this page; fired once in effect by the
        runner when due. Returns the command id it will carry."""
        if (at is None) == (after is None):
            raise InvalidCommand("schedule() needs one of at= (a datetime) or after= (a timedelta)")
        if at is not None:
            if not isinstance(at, datetime) or at.utcoffset() is None:
                raise InvalidCommand(f"at= is a timezone-aware datetime, not {at!r}")
            due = at
        else:
            if not isinstance(after, timedelta):
                raise InvalidCommand(f"after= is a timedelta, not {after!r}")
            due = self.event.timestamp + after
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidCommand(f"a timer name is a non-empty string, not {name!r}")
        derived = self._derive(command, "timer", len(self.issued.timers))
        encoded = encode_command(derived)
        timer = Timer(derived.command_id, self.key, name, due, encoded, self.event.event_id)
        self.issued.timers.append(timer)
        self.issued.changes.append(timer)
        return derived.command_id

    def cancel(self, name: str) -> None:
        """Cancel this key's timers named ``name`` that have not fired (stored, or scheduled
        earlier in this page); nothing if there are none."""
        if not isinstance(name, str) or not name:
            raise InvalidCommand(f"a timer name is a non-empty string, not {name!r}")
        self.issued.changes.append(name)


def _now() -> datetime:
    return datetime.now(UTC)


class ProcessManager(Projection):
    """A process manager (saga): reacts to events by issuing commands, and keeps a state per
    key, stored like a projection's (with its checkpoint, in one batch per page)::

        transfers = projections.ProcessManager(
            "transfers", source=projections.category("Transfer"), router=make_router
        )

        @transfers.on(TransferRequested)
        def requested(state, event, ctx):
            ctx.send(Debit(target_id=event.data.source, amount=event.data.amount))
            ctx.schedule(TimeOut(target_id=event.stream), after=timedelta(minutes=5))
            return {"step": "debiting"}

    ``router``: a ``cqrs.CommandRouter`` (for :class:`Runner`), a ``cqrs.AsyncCommandRouter``
    (for :class:`AsyncRunner`), or a function of the runner's database returning one (so one
    declaration serves either runner, and an agent that opens the database). The other
    options are a projection's (``history``, too). ``clock``: the function giving the time
    timers are due by (by default the system clock, in UTC). Handlers are
    ``handler(state, event, ctx) -> new state``, sync or async; see docs/projections.md,
    "Process managers"."""

    def __init__(
        self,
        name: str,
        *,
        source: Source,
        router: Router | RouterFactory,
        version: int = 1,
        types: Iterable[str] | None = None,
        key: KeyFunction = _by_stream,
        initial: Any = None,
        history: str = "page",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(
            name,
            source=source,
            version=version,
            types=types,
            key=key,
            initial=initial,
            history=history,
        )
        if not isinstance(router, cqrs.CommandRouter | cqrs.AsyncCommandRouter) and (
            isinstance(router, type) or not callable(router)
        ):
            raise InvalidProjection(
                "router= is a cqrs.CommandRouter, a cqrs.AsyncCommandRouter, or a function "
                f"of the database returning one; not {router!r}"
            )
        if clock is not None and not callable(clock):
            raise InvalidProjection("clock= is a function returning a timezone-aware datetime")
        self.router = router
        self.clock = clock or _now

    def __repr__(self) -> str:
        return f"ProcessManager({self.name!r}, version={self.version})"

    def on(self, *event_types: object, key: KeyFunction | None = None) -> Callable[[H], H]:
        """Declare the handler of events of ``event_types``: ``handler(state, event, ctx) ->
        new state`` (a plain function, bound method or coroutine function), where ``ctx`` is
        the :class:`Context` to issue commands through. Checked as :meth:`Projection.on`."""
        return super().on(*event_types, key=key)

    def router_for(self, db: ses.Database | ses.AsyncDatabase) -> Router:
        """The router this process manager issues its commands through on ``db``: checked
        to be of the runner's kind (sync or asyncio)."""
        router = self.router
        if not isinstance(router, cqrs.CommandRouter | cqrs.AsyncCommandRouter):
            try:
                router = router(db)
            except ses.SafeEventStoreError:
                raise
            except Exception as exc:
                raise InvalidProjection(
                    f"process manager {self.name!r}: router({db!r}) failed: {exc!r}"
                ) from exc
        wanted = (
            cqrs.AsyncCommandRouter if isinstance(db, ses.AsyncDatabase) else cqrs.CommandRouter
        )
        if not isinstance(router, wanted):
            raise InvalidProjection(
                f"process manager {self.name!r} needs a cqrs.{wanted.__name__} on this "
                f"runner, not {router!r}"
            )
        return router
