"""A subscription that keeps account balances, follows live appends and resumes from a
checkpoint after a restart.

Run it with ``python examples/subscription.py``; the store lives in a temporary directory.
"""

from __future__ import annotations

import tempfile
import threading
import time

import safe_eventstore as ses


def apply(balances: dict[str, int], event: ses.RecordedEvent) -> None:
    sign = {"Deposited": 1, "Withdrawn": -1}.get(event.type, 0)
    balances[event.stream] = balances.get(event.stream, 0) + sign * event.data["amount"]


def project(db: ses.Database, balances: dict[str, int], idle: float) -> int:
    """Apply every Account event after the checkpoint; stop after ``idle`` quiet seconds."""
    delivered = 0
    with db.subscribe(category="Account", checkpoint="balances", idle_timeout=idle) as sub:
        for event in sub:
            apply(balances, event)
            sub.save_checkpoint(event.position)  # after the work: at-least-once delivery
            delivered += 1
    return delivered


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite://{directory}"
        balances: dict[str, int] = {}  # a real read model would be stored with the checkpoint

        with ses.open(url) as store:
            db = store.create_database("bank")
            db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 100})])
            db.append("Account-2", [ses.NewEvent("Deposited", {"amount": 20})])

            def teller() -> None:  # another thread appends while the projection runs
                time.sleep(0.1)
                db.append("Account-1", [ses.NewEvent("Withdrawn", {"amount": 30})])

            writer = threading.Thread(target=teller)
            writer.start()
            delivered = project(db, balances, idle=0.5)  # catches up, then follows live
            writer.join()
            print(f"first run: {delivered} events, balances {balances}")

        # A restart: the store is reopened and the projection resumes after its checkpoint.
        with ses.open(url) as store:
            db = store.database("bank")
            db.append("Account-2", [ses.NewEvent("Deposited", {"amount": 5})])
            delivered = project(db, balances, idle=0.1)
            print(f"after the restart: {delivered} new event, balances {balances}")
            print("checkpoint 'balances' is at position", db.get_checkpoint("balances"))
            assert balances == {"Account-1": 70, "Account-2": 25} and delivered == 1


if __name__ == "__main__":
    main()
