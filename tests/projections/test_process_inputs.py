"""Bad input to process managers: typed errors, and nothing issued or written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

import safe_eventstore as ses
from examples.bank import Deposit, OpenAccount, Withdraw
from examples.bank.transfers import bank_router
from safe_eventstore import cqrs, projections

from .tasks import Remind, TaskOpened, task_router

Ctx = projections.Context


def _manager(router: Any = bank_router) -> projections.ProcessManager:
    return projections.ProcessManager(
        "bad", source=projections.category("Task"), router=router, initial=0
    )


def test_a_declaration_that_cannot_work_is_refused() -> None:
    pm = _manager()
    with pytest.raises(projections.InvalidProjection, match="callable"):
        pm.on(TaskOpened)(42)  # type: ignore[type-var]
    with pytest.raises(projections.UnknownEventType):
        pm.on("tasks.NoSuchEvent")
    for router in (42, cqrs.CommandRouter, None):
        with pytest.raises(projections.InvalidProjection, match="router="):
            _manager(router)
    with pytest.raises(projections.InvalidProjection, match="clock="):
        projections.ProcessManager(
            "bad",
            source=projections.category("Task"),
            router=bank_router,
            clock=1,  # type: ignore[arg-type]
        )


def test_a_router_of_the_wrong_kind_is_refused_by_the_runner(db: ses.Database) -> None:
    async_router = cqrs.AsyncCommandRouter(db)  # type: ignore[arg-type]
    with pytest.raises(projections.InvalidProjection, match="CommandRouter"):
        projections.Runner(db, [_manager(async_router)])
    with pytest.raises(projections.InvalidProjection, match="router"):
        projections.Runner(db, [_manager(lambda db: 1 / 0)])
    assert db.list_checkpoints() == {}


@dataclass(frozen=True)
class NotACommand:
    target_id: str


def _local_command() -> cqrs.Command:
    @dataclass(frozen=True)
    class Local(cqrs.Command):
        pass

    return Local(target_id="a")


AWARE = datetime(2030, 1, 1).astimezone()
BAD_CALLS: dict[str, Callable[[Ctx], object]] = {
    "send of a non-command": lambda ctx: ctx.send(NotACommand("a")),  # type: ignore[arg-type]
    "send of a string": lambda ctx: ctx.send("Remind a"),  # type: ignore[arg-type]
    "schedule without a time": lambda ctx: ctx.schedule(Remind(target_id="a")),
    "schedule with two times": lambda ctx: ctx.schedule(
        Remind(target_id="a"), at=AWARE, after=timedelta(1)
    ),
    "a naive datetime": lambda ctx: ctx.schedule(Remind(target_id="a"), at=datetime(2030, 1, 1)),
    "after= not a timedelta": lambda ctx: ctx.schedule(Remind(target_id="a"), after=5),  # type: ignore[arg-type]
    "schedule of a non-command": lambda ctx: ctx.schedule(NotACommand("a"), at=AWARE),  # type: ignore[arg-type]
    "a command class that cannot be imported": lambda ctx: ctx.schedule(_local_command(), at=AWARE),
    "an empty timer name": lambda ctx: ctx.schedule(Remind(target_id="a"), at=AWARE, name=""),
    "cancel of an empty name": lambda ctx: ctx.cancel(""),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_sends_and_schedules_are_typed_errors_with_nothing_written(
    db: ses.Database, case: str
) -> None:
    pm = _manager(task_router)

    @pm.on(TaskOpened)
    def opened(state: int, event: ses.RecordedEvent, ctx: Ctx) -> int:
        ctx.send(Remind(target_id="b"))  # a good one first: it must not be issued either
        BAD_CALLS[case](ctx)
        return state + 1

    db.append("Task-a", [TaskOpened(AWARE.isoformat())])
    before = db.last_position()
    with projections.Runner(db, [pm]) as runner:
        with pytest.raises(projections.HandlerFailed) as failed:
            runner.run_once()
    assert isinstance(failed.value.__cause__, projections.InvalidCommand)
    assert isinstance(failed.value.__cause__, ses.InvalidInput)
    assert db.last_position() == before
    assert db.list_checkpoints() == {}


@dataclass(frozen=True)
class Unrouted(cqrs.Command):
    pass


@pytest.mark.parametrize("kind", ["domain", "unknown"])
def test_a_command_the_router_refuses_fails_the_page(db: ses.Database, kind: str) -> None:
    """A domain refusal raised by a command handler is a failure of the process manager (the
    page is not stored, the runner stops); a refusal the saga must react to is recorded as
    an event by the aggregate instead."""
    router = bank_router(db)
    router.execute(OpenAccount(target_id="a", owner="A"))
    commands: dict[str, cqrs.Command] = {
        "domain": Withdraw(target_id="a", amount=1000),  # Overdrawn, raised
        "unknown": Unrouted(target_id="a"),  # no route
    }
    pm = projections.ProcessManager(
        "refused", source=projections.category("Task"), router=bank_router, initial=0
    )

    @pm.on(TaskOpened)
    def opened(state: int, event: ses.RecordedEvent, ctx: Ctx) -> int:
        ctx.send(Deposit(target_id="a", amount=5))
        ctx.send(commands[event.data.due])
        return state + 1

    db.append(f"Task-{kind}", [TaskOpened(kind)])
    cause = cqrs.DomainError if kind == "domain" else cqrs.UnknownCommand
    for _ in range(2):
        with projections.Runner(db, [pm]) as runner:
            with pytest.raises(projections.CommandFailed) as failed:
                runner.run_once()
        assert isinstance(failed.value, projections.HandlerFailed)
        assert isinstance(failed.value.__cause__, cause)
        assert failed.value.event.stream == f"Task-{kind}"
        assert db.list_checkpoints() == {}
    # the deposit before the refused command took effect once, however often it was sent
    deposits = [e for e in db.read_stream("Account-a") if e.type == "bank.Deposited"]
    assert len(deposits) == 1
