"""Events and projections shared by the read side's tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import safe_eventstore as ses
from safe_eventstore import projections


@ses.event_type("p.Deposited")
@dataclass(frozen=True)
class Deposited:
    amount: int
    day: str = "2026-01-01"


@ses.event_type("p.Withdrawn")
@dataclass(frozen=True)
class Withdrawn:
    amount: int


def balances(version: int = 1) -> projections.Projection:
    """The balance of each account (key: the stream), from the category ``Account``."""
    p = projections.Projection(
        "balances", source=projections.category("Account"), version=version, initial=0
    )

    @p.on(Deposited)
    def _deposited(state: int, event: ses.RecordedEvent) -> int:
        return state + event.data.amount

    @p.on("p.Withdrawn")
    def _withdrawn(state: int, event: ses.RecordedEvent) -> int:
        return state - event.data.amount

    return p


def depositors(version: int = 1) -> projections.Projection:
    """Per day, the accounts that made a deposit, and a total (two keys per event)."""
    p = projections.Projection(
        "depositors", source=projections.category("Account"), version=version, initial={}
    )

    def keys(event: ses.RecordedEvent) -> list[str]:
        return [f"day-{event.data.day}", "total"]

    @p.on(Deposited, key=keys)
    async def _deposited(state: dict[str, Any], event: ses.RecordedEvent) -> dict[str, Any]:
        accounts = sorted(set(state.get("accounts", [])) | {event.stream})
        return {"accounts": accounts, "sum": state.get("sum", 0) + event.data.amount}

    return p


def expected_balances(db: ses.Database) -> dict[str, int]:
    """Balances folded straight from a read of the source (the from-scratch answer)."""
    found: dict[str, int] = {}
    for event in db.read_category("Account"):
        sign = 1 if event.type == "p.Deposited" else -1
        found[event.stream] = found.get(event.stream, 0) + sign * event.data.amount
    return found
