"""The application examples as modules (a front end imports them): their invariants on the
stores of the contract, sync and asyncio."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import safe_eventstore as ses
from examples import bank, notebook
from examples.bank import transfers
from safe_eventstore import cqrs, projections


@pytest.fixture(params=["memory", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ses.Database]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'store'}"
    with ses.open(url) as store:
        yield store.create_database("examples")


def test_a_note_of_more_than_100_characters_is_refused_and_writes_nothing(
    db: ses.Database,
) -> None:
    router, notebooks = notebook.notebook_app(db)
    assert router.execute(notebook.AddNote(target_id="n1", text="x" * 100)).value == 1
    with pytest.raises(notebook.NoteTooLong):
        router.execute(notebook.AddNote(target_id="n1", text="y" * 101))
    with pytest.raises(cqrs.DomainError):
        router.execute(notebook.AddNote(target_id="n1", text="   "))
    assert notebooks.get("n1").notes == ["x" * 100]
    [event] = db.read_stream("NoteBook-n1")
    assert event.type == "notebook.NoteAdded" and event.data == notebook.NoteAdded("x" * 100)


def test_the_notebook_runs_on_an_asyncio_router(tmp_path: Path) -> None:
    async def main() -> list[str]:
        async with ses.open_async(f"sqlite://{tmp_path / 'store'}") as store:
            db = await store.create_database("notes")
            router = cqrs.AsyncCommandRouter(db)
            notebook.routes(router)
            await router.execute(notebook.AddNote(target_id="a", text="one"))
            await router.execute(notebook.AddNote(target_id="a", text="two"))
            return (await cqrs.AsyncRepository(db, notebook.NoteBook).get("a")).notes

    assert asyncio.run(main()) == ["one", "two"]


def test_a_refused_transfer_changes_neither_account(db: ses.Database) -> None:
    router, accounts = bank.bank(db)
    for id in ("a", "b"):
        router.execute(bank.OpenAccount(target_id=id, owner=id))
    router.execute(bank.Deposit(target_id="a", amount=50))
    before = db.last_position()
    with pytest.raises(bank.Overdrawn):
        router.execute(bank.Transfer(target_id="a", to_id="b", amount=151))
    assert db.last_position() == before
    result = router.execute(bank.Transfer(target_id="a", to_id="b", amount=150))
    assert result.streams == ("Account-a", "Account-b")
    assert (accounts.get("a").balance, accounts.get("b").balance) == (-100, 150)
    with pytest.raises(bank.Overdrawn):
        router.execute(bank.Withdraw(target_id="a", amount=1))


def test_old_deposits_read_in_the_current_shape(db: ses.Database) -> None:
    router, accounts = bank.bank(db)
    router.execute(bank.OpenAccount(target_id="old", owner="Old"))
    db.append(
        "Account-old", [ses.NewEvent("bank.Deposited", {"amount": 5}, metadata={"$schema": 1})]
    )
    router.execute(bank.Deposit(target_id="old", amount=7))
    deposits = [e for e in db.read_stream("Account-old") if e.type == "bank.Deposited"]
    assert [e.data for e in deposits] == [bank.Deposited(5, "EUR"), bank.Deposited(7, "EUR")]
    assert [e.payload for e in deposits] == [b'{"amount":5}', b'{"amount":7,"currency":"EUR"}']
    assert accounts.get("old").balance == 12
    with pytest.raises(cqrs.DomainError, match="takes euros"):
        router.execute(bank.Deposit(target_id="old", amount=1, currency="USD"))


def test_the_transfer_saga_conserves_money_and_takes_each_step_once(db: ses.Database) -> None:
    router = transfers.bank_router(db)
    for id in ("a", "b", "c"):
        router.execute(bank.OpenAccount(target_id=id, owner=id))
    router.execute(bank.Deposit(target_id="a", amount=500))
    router.execute(bank.CloseAccount(target_id="c"))
    requests = [("a", "b", 120), ("a", "c", 40), ("b", "a", 400), ("a", "b", 300), ("b", "x", 5)]
    for n, (source, target, amount) in enumerate(requests):
        command = transfers.RequestTransfer(
            target_id=f"t{n}", source=source, target=target, amount=amount
        )
        router.execute(command)
    # the held credit of t3 (over the review limit) is released before the timeout
    saga = transfers.transfer_saga(timedelta(hours=1))
    with projections.Runner(db, [saga]) as runner:
        runner.run_once()
        router.execute(transfers.ReleaseCredit(target_id="b", transfer_id="t3"))
        runner.run_once()
        assert runner.run_once() == 0
    accounts = cqrs.Repository(db, bank.Account)
    balances = {id: accounts.get(id).balance for id in ("a", "b", "c")}
    assert sum(balances.values()) == 500  # money conserved
    assert balances == {"a": 500 - 120 - 300, "b": 120 + 300, "c": 0}
    model = projections.ReadModel(db, saga)
    steps = [model.state(f"t{n}")["step"] for n in range(len(requests))]
    assert steps == ["completed", "failed", "failed", "completed", "failed"]
    # each step of each transfer once: no debit, credit or refund twice
    events = [e for e in db.read_all() if not e.stream.startswith("projection.")]
    done = Counter((e.stream, e.type, getattr(e.data, "transfer_id", None)) for e in events)
    assert max(n for (_, _, t), n in done.items() if t is not None) == 1
    # the timers of the transfers that ended were cancelled: none is left to fire
    timers = Counter(e.type for e in db.read_stream("projection.transfers.v1.timers-all"))
    assert timers == {"ProcessTimerScheduled": 5, "ProcessTimerCancelled": 5}
