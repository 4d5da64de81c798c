"""What the console's tests share: reading a form token from a page, and a small shop."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient

import safe_eventstore as ses


def form_token(client: TestClient, path: str = "/") -> str:
    """The form token of the client's session, as a page of the console shows it."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "no form token on the page"
    return found.group(1)


def shop(db: ses.Database) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An order placed, paid (caused by the order) and shipped (caused by the payment), one
    correlation id; a restructured order. Returns (correlation, placed id, paid id)."""
    corr, placed, paid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    db.append(
        "Order-1",
        [ses.NewEvent("OrderPlaced", {"total": 10}, event_id=placed, correlation_id=corr)],
    )
    db.append(
        "Payment-1",
        [
            ses.NewEvent(
                "PaymentReceived",
                {"amount": 10},
                event_id=paid,
                correlation_id=corr,
                causation_id=placed,
            )
        ],
    )
    db.append(
        "Shipment-1",
        [ses.NewEvent("OrderShipped", {}, correlation_id=corr, causation_id=paid)],
    )
    db.append("Order-2", [ses.NewEvent("OrderPlaced", {"total": 5000})])
    db.restructure("Order-2", 0, ses.NewEvent("OrderPlaced", {"total": 50}), reason="typo")
    return corr, placed, paid
