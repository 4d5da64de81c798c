"""Commands and what executing one gives back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import safe_eventstore as ses

__all__ = ["Command", "CommandResult", "event_id_for"]


@dataclass(frozen=True, kw_only=True)
class Command:
    """The base of commands: subclass it as a frozen dataclass with the command's fields.

    ::

        @dataclass(frozen=True)
        class Deposit(cqrs.Command):
            amount: int

        router.execute(Deposit(target_id="42", amount=5))

    ``command_id`` identifies the command: executing it again (after a timeout, say) with
    the same id records nothing new and returns the original outcome. ``expected_version``,
    when given, must be the target's version, else ``ses.WrongExpectedVersion``.
    ``correlation_id`` is passed on to the events; ``None``: the command id starts a new
    correlation."""

    target_id: str
    command_id: uuid.UUID = field(default_factory=uuid.uuid4)
    expected_version: int | None = None
    correlation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class CommandResult:
    """The outcome of a command.

    ``value`` is what the handler returned; ``results`` the append result of each stream
    written, in the order of ``streams``; ``replayed`` is true when the command had taken
    effect before (the same command id) and nothing new was stored: then ``results`` are
    the original ones and ``value`` is ``None`` (the handler's answer on the changed state
    would not be the original one)."""

    command_id: uuid.UUID
    value: Any = None
    streams: tuple[str, ...] = ()
    results: tuple[ses.AppendResult, ...] = ()
    replayed: bool = False

    @property
    def versions(self) -> dict[str, int]:
        """The last version the command's events took in each stream it wrote."""
        return {s: r.last_version for s, r in zip(self.streams, self.results, strict=True)}


def event_id_for(command_id: uuid.UUID, stream: str, index: int) -> uuid.UUID:
    """The id of the ``index``-th event a command writes to ``stream``: the same on every
    execution, so the store recognises a repeated execution as a retry."""
    return uuid.uuid5(command_id, f"{stream}#{index}")
