"""The bank, step by step: ``python -m examples.bank``."""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta

import safe_eventstore as ses
from safe_eventstore import cqrs, projections

from . import (
    Account,
    CloseAccount,
    Deposit,
    OpenAccount,
    Overdrawn,
    Transfer,
    Withdraw,
    bank,
)
from .transfers import RequestTransfer, bank_router, transfer_saga


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        # The bank's first release stored deposits without a currency. (An empty registry
        # stands in for its code here: nothing of the current shapes is registered in it.)
        with ses.open(directory, event_types=ses.EventTypes()) as first_release:
            db = first_release.create_database("bank")
            db.append(
                "Account-dora",
                [ses.NewEvent("bank.Opened", {"owner": "Dora"}),
                 ses.NewEvent("bank.Deposited", {"amount": 70})],
            )  # fmt: skip

        with ses.open(directory) as store:
            run(store.database("bank"))
            run_saga(store.create_database("saga"))


def run(db: ses.Database) -> None:
    router, accounts = bank(db)
    router.execute(OpenAccount(target_id="ann", owner="Ann"))
    router.execute(OpenAccount(target_id="bob", owner="Bob"))
    balance = router.execute(Deposit(target_id="ann", amount=300)).value
    print(f"Ann deposits 300: balance {balance}")

    deposit = Deposit(target_id="bob", amount=50)
    router.execute(deposit)
    again = router.execute(deposit)  # a retry after a timeout, say: recorded once
    print(f"Bob's deposit sent twice: replayed={again.replayed}, stored once")

    result = router.execute(Transfer(target_id="ann", to_id="bob", amount=120))
    print(f"Ann transfers 120 to Bob, one atomic save of {', '.join(result.streams)}")

    try:
        router.execute(Withdraw(target_id="bob", amount=400))
    except Overdrawn as refused:
        print(f"refused, nothing stored: {refused}")
    try:
        router.execute(Transfer(target_id="bob", to_id="ann", amount=1000))
    except cqrs.DomainError as refused:
        print(f"refused, neither account changed: {refused}")

    for id in ("ann", "bob"):
        account = accounts.get(id)
        print(f"{account.owner}: balance {account.balance} at version {account.version}")

    # Dora's deposit was stored by the first release, without a currency: read now, it has
    # the current shape, while the stored bytes stay as they were written.
    old = db.read_stream("Account-dora")[1]
    print(f"Dora's deposit as stored: {old.payload.decode()}, as read: {old.data}")
    router.execute(Withdraw(target_id="dora", amount=20))
    print(f"Dora: balance {accounts.get('dora').balance}")
    assert db.verify().ok


def run_saga(db: ses.Database) -> None:
    """Transfers as a saga: each step its own command, compensated when it cannot finish."""
    router = bank_router(db)
    for id, owner in (("eve", "Eve"), ("finn", "Finn"), ("gus", "Gus")):
        router.execute(OpenAccount(target_id=id, owner=owner))
    router.execute(Deposit(target_id="eve", amount=300))
    router.execute(CloseAccount(target_id="gus"))
    timeout = timedelta(seconds=1)  # short, to see it fire
    saga = transfer_saga(timeout)
    requests = {
        "t1": ("eve", "finn", 50),  # debit, credit, done
        "t2": ("eve", "gus", 30),  # the credit is refused (closed): refund
        "t3": ("eve", "finn", 250),  # the credit is held for review; nobody releases it
        "t4": ("finn", "eve", 500),  # the debit is refused (overdraft)
    }
    for id, (source, target, amount) in requests.items():
        router.execute(RequestTransfer(target_id=id, source=source, target=target, amount=amount))
    with projections.Runner(db, [saga]) as runner:
        runner.run_once()
        states = projections.ReadModel(db, saga)
        print("after one run:", {id: states.state(id)["step"] for id in requests})
        time.sleep(timeout.total_seconds())  # runner.run(stop) would wake for it by itself
        runner.run_once()  # fires the timeout of t3: its held credit goes back, refund
        again = runner.run_once()
    for id in requests:
        state = states.state(id)
        print(
            f"transfer {id}: {state['step']}" + (f" ({state['reason']})" if state["reason"] else "")
        )
    print(f"a run after the end applies {again} events: nothing is issued twice")
    accounts = cqrs.Repository(db, Account)
    balances = {id: accounts.get(id).balance for id in ("eve", "finn", "gus")}
    print(f"balances {balances}, total {sum(balances.values())}: money conserved")


if __name__ == "__main__":
    main()
