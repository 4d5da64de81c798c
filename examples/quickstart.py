"""Typed events in an embedded SQLite store: append, read, correct a mistake, verify.

Run it with ``python examples/quickstart.py``; the store lives in a temporary directory.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import safe_eventstore as ses


@ses.event_type("Deposited")
@dataclass
class Deposited:
    amount: int


@ses.event_type("Withdrawn")
@dataclass
class Withdrawn:
    amount: int


def balance(events: ses.RecordedEvents) -> int:
    total = 0
    for event in events:
        if isinstance(event.data, Deposited):
            total += event.data.amount
        elif isinstance(event.data, Withdrawn):
            total -= event.data.amount
    return total


def main() -> None:
    with tempfile.TemporaryDirectory() as directory, ses.open(f"sqlite://{directory}") as store:
        db = store.create_database("bank")

        # One atomic batch; NO_STREAM makes it fail if Account-42 already has events.
        db.append("Account-42", [Deposited(100), Withdrawn(30)], expected_version=ses.NO_STREAM)
        # Optimistic concurrency: this append only succeeds if version 1 is still the last.
        db.append("Account-42", [Deposited(500)], expected_version=1)

        for event in db.read_stream("Account-42"):
            print(event.version, event.position, event.type, event.data)
        print("balance:", balance(db.read_stream("Account-42")))

        # The last deposit was 50, not 500: a restructure corrects reads, keeps history.
        db.restructure("Account-42", 2, Deposited(50), reason="typo: 500 for 50")
        print("balance after the correction:", balance(db.read_stream("Account-42")))
        for event in db.read_stream("Account-42", raw=True):
            print("  raw:", event.kind, event.version, event.data)

        report = db.verify()
        print("verify:", "ok" if report.ok else report.problems, f"({report.entries} entries)")
        assert balance(db.read_stream("Account-42")) == 120


if __name__ == "__main__":
    main()
