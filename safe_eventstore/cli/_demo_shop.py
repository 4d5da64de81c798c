"""The demo's shop: a few thousand events in several categories, for the console to show.

Orders are placed, paid, reserved from stock and shipped (a few cancelled), by customers who
register and move house. Each order's events share a correlation id and name their cause,
so the console's event pages have chains and trees to show; the timestamps spread the shop's
day over the past hours, so the event-rate chart has a shape.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import safe_eventstore as ses

__all__ = ["ORDERS", "fill_shop"]

ORDERS = 800
CUSTOMERS = 60
SKUS = ["apple", "bread", "cheese", "dates", "eggs", "figs", "grapes", "honey"]
ORDERS_PER_BATCH = 50
HOURS = 6


class _Batch:
    def __init__(self) -> None:
        self.streams: dict[str, list[ses.NewEvent]] = {}

    def add(
        self,
        stream: str,
        type: str,
        data: dict[str, Any],
        at: datetime,
        *,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        event_id = uuid.uuid4()
        event = ses.NewEvent(
            type,
            data,
            event_id=event_id,
            timestamp=at,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        self.streams.setdefault(stream, []).append(event)
        return event_id

    def store(self, db: ses.Database) -> None:
        if self.streams:
            db.append_batch([ses.StreamAppend(s, events) for s, events in self.streams.items()])
        self.streams = {}


def _when(i: int, start: datetime, rng: random.Random) -> datetime:
    # A busier middle of the day: time runs slower there, so orders bunch up.
    share = i / ORDERS
    bent = share + 0.08 * math.sin(2 * math.pi * share)
    return start + timedelta(seconds=bent * HOURS * 3600 + rng.uniform(0, 30))


def fill_shop(db: ses.Database, seed: int = 7) -> int:
    """Append the shop's events to ``db``; how many events were appended."""
    rng = random.Random(seed)
    # The day ends an hour ago, so every shipment (half an hour after its order) is past.
    start = datetime.now(UTC) - timedelta(hours=HOURS + 1)
    count = 0
    batch = _Batch()
    for c in range(CUSTOMERS):
        at = start + timedelta(seconds=c)
        batch.add(f"Customer-{c}", "CustomerRegistered", {"name": f"customer {c}"}, at)
        count += 1
    batch.store(db)
    for i in range(ORDERS):
        at = _when(i, start, rng)
        customer, sku = rng.randrange(CUSTOMERS), rng.choice(SKUS)
        quantity = rng.randint(1, 5)
        corr = uuid.uuid4()
        placed = batch.add(
            f"Order-{i}",
            "OrderPlaced",
            {"customer": f"Customer-{customer}", "sku": sku, "quantity": quantity},
            at,
            correlation_id=corr,
        )
        batch.add(
            f"Inventory-{sku}",
            "ItemReserved",
            {"order": f"Order-{i}", "quantity": quantity},
            at + timedelta(milliseconds=40),
            correlation_id=corr,
            causation_id=placed,
        )
        count += 2
        if rng.random() < 0.06:
            batch.add(
                f"Order-{i}", "OrderCancelled", {"reason": "changed mind"},
                at + timedelta(seconds=20), correlation_id=corr, causation_id=placed,
            )  # fmt: skip
            count += 1
        else:
            paid = batch.add(
                f"Payment-{i}", "PaymentReceived", {"amount": quantity * 3, "currency": "EUR"},
                at + timedelta(seconds=5), correlation_id=corr, causation_id=placed,
            )  # fmt: skip
            batch.add(
                f"Shipment-{i}", "OrderShipped", {"carrier": rng.choice(["post", "courier"])},
                at + timedelta(minutes=30), correlation_id=corr, causation_id=paid,
            )  # fmt: skip
            count += 2
        if rng.random() < 0.05:
            batch.add(
                f"Customer-{customer}", "AddressChanged", {"city": rng.choice(["Oslo", "Riga"])},
                at + timedelta(seconds=1),
            )  # fmt: skip
            count += 1
        if i % ORDERS_PER_BATCH == ORDERS_PER_BATCH - 1:
            batch.store(db)
    batch.store(db)
    return count
