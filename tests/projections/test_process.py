"""Process managers on every backend: the bank's transfer saga, commands that take effect
once when a page runs again, timers that fire once across restarts, and the asyncio runner."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import safe_eventstore as ses
from examples.bank import Account, CloseAccount, Deposit, OpenAccount, routes
from examples.bank.transfers import RequestTransfer, bank_router, transfer_routes, transfer_saga
from safe_eventstore import cqrs, projections

from .tasks import Remind, TaskClosed, TaskOpened, reminded, reminders, task_router

CHECKPOINT = "projection.transfers.v1"
REQUESTS = {
    "t1": ("eve", "finn", 50),  # completes
    "t2": ("eve", "gus", 30),  # credit refused (closed): refunded
    "t3": ("eve", "finn", 250),  # credit held for review: times out, refunded
    "t4": ("finn", "eve", 500),  # debit refused
    "t5": ("finn", "zed", 20),  # credit refused (no such account): refunded
}
OUTCOMES = {
    "t1": ("completed", None),
    "t2": ("failed", "account gus is closed"),
    "t3": ("failed", "timed out"),
    "t4": ("failed", "account finn: 500 passes the overdraft limit"),
    "t5": ("failed", "no account zed"),
}


def _bank(router: Any) -> None:
    for id, owner in (("eve", "Eve"), ("finn", "Finn"), ("gus", "Gus")):
        router.execute(OpenAccount(target_id=id, owner=owner))
    router.execute(Deposit(target_id="eve", amount=300))
    router.execute(CloseAccount(target_id="gus"))
    for id, (source, target, amount) in REQUESTS.items():
        router.execute(RequestTransfer(target_id=id, source=source, target=target, amount=amount))


def _business(db: ses.Database) -> list[ses.RecordedEvent]:
    return [e for e in db.read_all() if not e.stream.startswith("projection.")]


def check_saga(db: ses.Database) -> None:
    """Every transfer ended as it should, each step took effect once, money is conserved."""
    model = projections.ReadModel(db, transfer_saga())
    found = {id: (model.state(id)["step"], model.state(id)["reason"]) for id in REQUESTS}
    assert found == OUTCOMES
    accounts = cqrs.Repository(db, Account)
    balances = {id: accounts.get(id).balance for id in ("eve", "finn", "gus")}
    assert balances == {"eve": 250, "finn": 50, "gus": 0}
    steps = Counter((e.stream, e.type, getattr(e.data, "transfer_id", None)) for e in _business(db))
    transfer_steps = {k: n for k, n in steps.items() if k[2] is not None}
    assert set(transfer_steps.values()) == {1}, transfer_steps
    for id in REQUESTS:
        kinds = [e.type for e in db.read_stream(f"Transfer-{id}")]
        assert kinds[0] == "bank.TransferRequested" and len(kinds) in (2, 3)
        assert kinds[-1] == ("bank.TransferCompleted" if id == "t1" else "bank.TransferFailed")


def test_the_transfer_saga_debits_credits_and_compensates(db: ses.Database) -> None:
    _bank(bank_router(db))
    # a timeout of 0: due at once, fired when the runner has caught up, so only the held
    # transfer (t3) is still open then; the others cancelled theirs
    saga = transfer_saga(timedelta(0))
    with projections.Runner(db, [saga], page_size=7) as runner:
        assert runner.run_once() > 0
        check_saga(db)
        before = db.last_position()
        assert runner.run_once() == 0
    with projections.Runner(db, [transfer_saga(timedelta(0))]) as runner:
        assert runner.run_once() == 0
    assert db.last_position() == before
    timers = [e.type for e in db.read_stream("projection.transfers.v1.timers-all")]
    assert Counter(timers) == {
        "ProcessTimerScheduled": 5,
        "ProcessTimerCancelled": 4,
        "ProcessTimerFired": 1,
    }


class LosesAnswers(cqrs.CommandRouter):
    """A router whose ``fail``-th execution takes effect and then fails, as a lost answer or
    a crash would; it records what each execution answered."""

    def __init__(self, db: ses.Database, fail: int) -> None:
        super().__init__(db)
        routes(self)
        transfer_routes(self)
        self.fail = fail
        self.results: list[cqrs.CommandResult] = []

    def execute(self, command: cqrs.Command) -> cqrs.CommandResult:
        result = super().execute(command)
        self.results.append(result)
        if len(self.results) == self.fail:
            raise ConnectionError("the answer was lost")
        return result


@pytest.mark.parametrize("fail", [1, 4, 9])
def test_a_page_run_again_issues_its_commands_again_and_nothing_takes_effect_twice(
    db: ses.Database, fail: int
) -> None:
    _bank(bank_router(db))
    routers: list[LosesAnswers] = []

    def router(db: ses.Database) -> LosesAnswers:
        routers.append(LosesAnswers(db, 0 if routers else fail))  # the first one fails
        return routers[-1]

    with projections.Runner(db, [transfer_saga(timedelta(0), router)], page_size=7) as runner:
        with pytest.raises(projections.CommandFailed) as failed:
            runner.run_once()
    assert isinstance(failed.value, projections.HandlerFailed)
    assert isinstance(failed.value.__cause__, ConnectionError)
    stored = db.get_checkpoint(CHECKPOINT)
    assert stored is None or stored < failed.value.event.position  # that page is not stored
    with projections.Runner(db, [transfer_saga(timedelta(0), router)], page_size=7) as runner:
        runner.run_once()
    check_saga(db)
    first, again = routers[0].results, routers[1].results
    # the commands of the page that was not stored were issued again with the same ids, and
    # answered with their original results (those of the pages stored before were not)
    redone = {r.command_id: r for r in again}
    repeated = [r for r in first if r.command_id in redone]
    assert repeated and repeated[-1] is first[-1]
    assert all(redone[r.command_id].replayed for r in repeated if r.streams)
    assert all(redone[r.command_id].results == r.results for r in repeated)


def test_timers_survive_a_restart_and_fire_once(store: ses.Store) -> None:
    db = store.create_database("tasks")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    now = [start]
    for task, hours in (("a", 1), ("b", 2), ("c", 1)):
        db.append(f"Task-{task}", [TaskOpened((start + timedelta(hours=hours)).isoformat())])
    db.append("Task-d", [TaskOpened(start.isoformat()), TaskClosed()])
    with projections.Runner(db, [reminders(lambda: now[0])]) as runner:
        assert runner.run_once() == 5  # nothing is due yet
        db.append("Task-c", [TaskClosed()])
        assert runner.run_once() == 1
    # d's timer was cancelled in the page that set it: never stored; c's is cancelled
    assert [reminded(db, t) for t in "abcd"] == [0, 0, 0, 0]
    stored = [e.type for e in db.read_stream("projection.reminders.v1.timers-all")]
    assert stored == ["ProcessTimerScheduled"] * 3 + ["ProcessTimerCancelled"]

    now[0] = start + timedelta(minutes=90)  # a new runner, later: the stored timers fire
    with projections.Runner(db, [reminders(lambda: now[0])]) as runner:
        assert runner.run_once() == 1  # a fired (the Reminded it caused is passed over)
        assert runner.run_once() == 0
    assert [reminded(db, t) for t in "abc"] == [1, 0, 0]

    now[0] = start + timedelta(hours=3)
    for _ in range(2):
        with projections.Runner(db, [reminders(lambda: now[0])]) as runner:
            runner.run_once()
    assert [reminded(db, t) for t in "abcd"] == [1, 1, 0, 0]


def test_a_live_runner_wakes_for_the_next_due_timer(db: ses.Database) -> None:
    due = datetime.now(UTC) + timedelta(seconds=0.3)
    db.append("Task-a", [TaskOpened(due.isoformat())])
    stop = threading.Event()
    with projections.Runner(db, [reminders()]) as runner:
        # wait=60: nothing but the timer's due time can wake the runner in time
        thread = threading.Thread(target=runner.run, args=(stop,), kwargs={"wait": 60})
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while reminded(db, "a") == 0:
                assert time.monotonic() < deadline, "the timer did not fire"
                time.sleep(0.02)
        finally:
            stop.set()
            db.append("Task-x", [TaskClosed()])  # wake the runner to see stop
            thread.join(30)
    assert reminded(db, "a") == 1


def test_a_live_agent_wakes_for_the_next_due_timer(db: ses.Database) -> None:
    due = datetime.now(UTC) + timedelta(seconds=0.3)
    db.append("Task-a", [TaskOpened(due.isoformat())])
    stop = threading.Event()
    # a long lease and wait=60: nothing but the timer's due time wakes the agent in time
    with projections.Agent(db, [reminders()], lease_ttl=300, owner="timer") as agent:
        thread = threading.Thread(target=agent.run, args=(stop,), kwargs={"wait": 60})
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while reminded(db, "a") == 0:
                assert time.monotonic() < deadline, "the timer did not fire"
                time.sleep(0.02)
        finally:
            stop.set()
            db.append("Task-x", [TaskClosed()])  # wake the agent to see stop
            thread.join(30)
    assert reminded(db, "a") == 1


def test_the_async_runner_runs_the_saga_on_an_async_router(store_url: str) -> None:
    async def main() -> None:
        async with ses.open_async(store_url) as store:
            db = await store.create_database("bank")
            router = bank_router(db)
            assert isinstance(router, cqrs.AsyncCommandRouter)
            for id, owner in (("eve", "Eve"), ("finn", "Finn"), ("gus", "Gus")):
                await router.execute(OpenAccount(target_id=id, owner=owner))
            await router.execute(Deposit(target_id="eve", amount=300))
            await router.execute(CloseAccount(target_id="gus"))
            for id, (source, target, amount) in REQUESTS.items():
                command = RequestTransfer(target_id=id, source=source, target=target, amount=amount)
                await router.execute(command)
            saga = transfer_saga(timedelta(0))
            async with projections.AsyncRunner(db, [saga], page_size=5) as runner:
                assert await runner.run_once() > 0
                assert await runner.run_once() == 0
            model = projections.AsyncReadModel(db, saga)
            assert {id: (await model.state(id))["step"] for id in REQUESTS} == {
                id: step for id, (step, _) in OUTCOMES.items()
            }
            accounts = cqrs.AsyncRepository(db, Account)
            balances = [(await accounts.get(id)).balance for id in ("eve", "finn", "gus")]
            assert balances == [250, 50, 0]

    asyncio.run(main())


def test_a_cancel_takes_back_the_timers_set_before_it_in_the_same_call(db: ses.Database) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    now = [start]
    pm = projections.ProcessManager(
        "rescheduled",
        source=projections.category("Task"),
        router=task_router,
        initial=0,
        clock=lambda: now[0],
    )

    @pm.on(TaskOpened)
    def opened(state: int, event: ses.RecordedEvent, ctx: projections.Context) -> int:
        due = datetime.fromisoformat(event.data.due)
        ctx.schedule(Remind(target_id="gone"), at=due, name="r")
        ctx.cancel("r")  # takes back the timer above
        ctx.schedule(Remind(target_id="a"), at=due + timedelta(hours=1), name="r")
        return state + 1

    db.append("Task-a", [TaskOpened(start.isoformat())])
    now[0] = start + timedelta(hours=2)
    with projections.Runner(db, [pm]) as runner:
        runner.run_once()
    assert reminded(db, "a") == 1
    assert "Task-gone" not in db.list_streams()
