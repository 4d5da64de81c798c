"""Scheduled commands of a process manager, stored in a stream of its own.

A process manager ``transfers`` at version 1 keeps its timers in the stream
``projection.transfers.v1.timers-all``: a ``ProcessTimerScheduled`` entry is stored in the
same batch as the page (states and checkpoint) whose handler scheduled it; a
``ProcessTimerCancelled`` entry likewise; a ``ProcessTimerFired`` entry after the runner has
executed the timer's command. The pending timers are those scheduled and neither fired nor
cancelled: read back from the stream when a runner starts, so they survive restarts."""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

import safe_eventstore as ses
from safe_eventstore import cqrs

from ._errors import InvalidCommand
from ._naming import state_category

__all__ = [
    "CANCELLED",
    "FIRED",
    "SCHEDULED",
    "Timer",
    "TimerBook",
    "decode_command",
    "encode_command",
    "timers_stream",
]

SCHEDULED = "ProcessTimerScheduled"
FIRED = "ProcessTimerFired"
CANCELLED = "ProcessTimerCancelled"


def timers_stream(name: str, version: int) -> str:
    return f"{state_category(name, version)}.timers-all"


def _resolve(path: str) -> Any:
    module, _, qualname = path.partition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found


def encode_command(command: cqrs.Command) -> dict[str, Any]:
    """The stored form of a command: its class's import path and its fields as JSON values;
    refused (:class:`InvalidCommand`) unless it reads back equal, so a timer stored now can
    be fired by another process later."""
    cls = type(command)
    path = f"{cls.__module__}:{cls.__qualname__}"
    if _resolve(path) is not cls:
        raise InvalidCommand(
            f"cannot schedule {cls.__qualname__}: a scheduled command's class must be "
            "importable by its module and name (defined at module level)"
        )
    try:
        fields = msgspec.to_builtins(command)
        back = msgspec.convert(fields, cls)
    except (TypeError, ValueError, msgspec.MsgspecError) as exc:
        raise InvalidCommand(f"cannot store {command!r} for later: {exc}") from None
    if back != command:
        raise InvalidCommand(f"cannot store {command!r} for later: it does not read back equal")
    return {"type": path, "fields": fields}


def decode_command(stored: dict[str, Any]) -> cqrs.Command:
    """The command of a stored timer (:class:`InvalidCommand` when its class is gone)."""
    cls = _resolve(stored["type"])
    if not isinstance(cls, type) or not issubclass(cls, cqrs.Command):
        raise InvalidCommand(f"the command class {stored['type']!r} does not import")
    try:
        command: cqrs.Command = msgspec.convert(stored["fields"], cls)
    except (TypeError, ValueError, msgspec.MsgspecError) as exc:
        raise InvalidCommand(f"a stored {stored['type']} no longer reads: {exc}") from None
    return command


@dataclass(frozen=True)
class Timer:
    """A scheduled command: ``id`` is the command id it is executed with."""

    id: uuid.UUID
    key: str
    name: str | None
    due: datetime
    command: dict[str, Any]
    event_id: uuid.UUID

    def data(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "key": self.key,
            "name": self.name,
            "due": self.due.isoformat(),
            "command": self.command,
            "event_id": str(self.event_id),
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Timer:
        due = datetime.fromisoformat(data["due"])
        return cls(
            uuid.UUID(data["id"]),
            data["key"],
            data["name"],
            due,
            data["command"],
            uuid.UUID(data["event_id"]),
        )


def entry(kind: str, timer: Timer) -> ses.NewEvent:
    """A timer's entry, with an id derived from the timer: a batch retried after an unknown
    outcome is answered with the original result, never stored twice."""
    data = timer.data() if kind == SCHEDULED else {"id": str(timer.id), "key": timer.key}
    return ses.NewEvent(kind, data, event_id=uuid.uuid5(timer.id, kind))


class TimerBook:
    """The pending timers of one process manager and the version of its timers stream."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.loaded = False
        self.version = ses.NO_STREAM
        self.pending: dict[uuid.UUID, Timer] = {}

    def reset(self) -> None:
        self.loaded = False
        self.version = ses.NO_STREAM
        self.pending.clear()

    def load(self, entries: list[ses.RecordedEvent]) -> None:
        """Fold the stored entries of the timers stream (read in full: every timer ever)."""
        self.reset()
        for e in entries:
            if e.kind != "event":
                continue
            self.version = e.version
            if e.type == SCHEDULED:
                timer = Timer.of(e.data)
                self.pending[timer.id] = timer
            elif e.type in (FIRED, CANCELLED):
                self.pending.pop(uuid.UUID(e.data["id"]), None)
        self.loaded = True

    def named(self, key: str, name: str) -> list[Timer]:
        return [t for t in self.pending.values() if t.key == key and t.name == name]

    def due(self, now: datetime) -> list[Timer]:
        found = [t for t in self.pending.values() if t.due <= now]
        return sorted(found, key=lambda t: (t.due, str(t.id)))

    def next_due(self) -> datetime | None:
        return min((t.due for t in self.pending.values()), default=None)
