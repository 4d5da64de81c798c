"""An application written with the ``eventsourcing`` library, storing its events in SAFE
EventStore; then dynamic consistency boundaries in the store itself.

Run it with ``python examples/eventsourcing_app.py`` (needs ``safe-eventstore[eventsourcing]``);
the store lives in a temporary directory.
"""

from __future__ import annotations

import tempfile
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

import safe_eventstore as ses


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class Bank(Application[UUID]):
    def open_account(self, owner: str) -> UUID:
        account = Account(owner)
        self.save(account)
        return account.id

    def deposit(self, account_id: UUID, amount: int) -> None:
        account: Account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)


with tempfile.TemporaryDirectory() as directory:
    url = f"sqlite://{directory}/store"
    bank = Bank(
        env={"PERSISTENCE_MODULE": "safe_eventstore.eventsourcing", "SAFE_EVENTSTORE_URL": url}
    )
    account_id = bank.open_account("Ann")
    bank.deposit(account_id, 100)
    print("balance:", bank.repository.get(account_id).balance)
    for n in bank.notification_log.select(start=1, limit=10):
        print("notification", n.id, n.topic, "version", n.originator_version)
    bank.close()

    # The same events, seen through the store's own API.
    with ses.open(url) as store:
        db = store.database("bank")
        for e in db.read_stream(f"Aggregate-{account_id}"):
            print("stream", e.stream, "version", e.version, e.type, e.metadata)
        print("verified:", db.verify().ok)

        # Dynamic consistency boundaries: a seat may be booked once.
        seat = ses.Query([ses.QueryItem(types=["SeatBooked"], tags=["seat-12A"])])
        seen = db.last_position()
        condition = ses.AppendCondition(seat, after=seen)
        db.append_events(
            [ses.NewEvent("SeatBooked", {"by": "Ann"}, tags=("seat-12A",))], condition=condition
        )
        try:
            db.append_events(
                [ses.NewEvent("SeatBooked", {"by": "Bob"}, tags=("seat-12A",))], condition=condition
            )
        except ses.AppendConditionFailed:
            print("Bob's booking refused: seat-12A was booked after position", seen)
        print("bookings:", [e.data for e in db.read_events(seat)])
