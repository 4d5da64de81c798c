"""A small process manager for the timer tests: an opened task schedules a reminder at the
time its event names; closing the task cancels it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import safe_eventstore as ses
from safe_eventstore import cqrs, projections


@ses.event_type("tasks.Opened")
@dataclass(frozen=True)
class TaskOpened:
    due: str  # ISO datetime


@ses.event_type("tasks.Closed")
@dataclass(frozen=True)
class TaskClosed:
    pass


@ses.event_type("tasks.Reminded")
@dataclass(frozen=True)
class Reminded:
    pass


class Task(cqrs.Aggregate):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.reminders = 0

    def remind(self) -> None:
        self.record(Reminded())

    @cqrs.when(TaskOpened, TaskClosed)
    def _changed(self, event: Any) -> None:
        pass

    @cqrs.when(Reminded)
    def _reminded(self, event: Reminded) -> None:
        self.reminders += 1


@dataclass(frozen=True)
class Remind(cqrs.Command):
    pass


def task_router(db: ses.Database | ses.AsyncDatabase) -> Any:
    router: cqrs.CommandRouter | cqrs.AsyncCommandRouter
    if isinstance(db, ses.AsyncDatabase):
        router = cqrs.AsyncCommandRouter(db)
    else:
        router = cqrs.CommandRouter(db)

    @router.handles(Remind, Task)
    def remind(command: Remind, task: Task) -> None:
        task.remind()

    return router


def reminders(clock: Callable[[], datetime] | None = None) -> projections.ProcessManager:
    pm = projections.ProcessManager(
        "reminders",
        source=projections.category("Task"),
        router=task_router,
        initial="new",
        clock=clock,
    )

    @pm.on(TaskOpened)
    def opened(state: str, event: ses.RecordedEvent, ctx: projections.Context) -> str:
        task = event.stream.split("-", 1)[1]
        ctx.schedule(Remind(target_id=task), at=datetime.fromisoformat(event.data.due), name="r")
        return "open"

    @pm.on(TaskClosed)
    def closed(state: str, event: ses.RecordedEvent, ctx: projections.Context) -> str:
        ctx.cancel("r")
        return "closed"

    return pm


def reminded(db: ses.Database, task: str) -> int:
    return sum(e.type == "tasks.Reminded" for e in db.read_stream(f"Task-{task}"))
