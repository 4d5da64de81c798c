"""Reads of the database API over test backends: a backend that reads backwards itself is asked
to, and damaged data is reported only after every intact event before it (SQLite files altered
behind the store's back, a backend that cannot read some pages). What every backend must do
is in the storage contract, ``safe_eventstore.testing.contract``."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.base import Entry
from safe_eventstore.storage.memory import MemoryStorage
from safe_eventstore.testing.contract._backwards import _mixed, _positions

# -- backwards -----------------------------------------------------------------------------


class _ReadsBackwards(MemoryStorage):
    """A backend whose ``read_all`` reads backwards itself."""

    def __init__(self) -> None:
        super().__init__()
        self.backwards_calls = 0

    def read_all(  # type: ignore[override]
        self, db: str, *, from_position: int, limit: int, backwards: bool = False, **filters: Any
    ) -> list[Entry]:
        if not backwards:
            return super().read_all(db, from_position=from_position, limit=limit, **filters)
        self.backwards_calls += 1
        every = super().read_all(db, from_position=1, limit=10**9, **filters)
        return [e for e in reversed(every) if e.position <= from_position][:limit]


def _database(storage: MemoryStorage) -> ses.Database:
    storage.create_database("bank")
    return ses.Database(storage, "bank", event_types=ses.EventTypes(), max_event_size=1 << 20)


def test_a_backend_that_reads_backwards_is_asked_to() -> None:
    storage = _ReadsBackwards()
    db = _database(storage)
    _mixed(db, 1200)
    assert _positions(db.read_all(backwards=True)) == list(range(1200, 0, -1))
    assert storage.backwards_calls == 2
    assert len(db.read_category("Order", backwards=True)) == 300


# -- damaged data ------------------------------------------------------------------------------


def _until_damage(events: Iterable[ses.RecordedEvent]) -> list[int]:
    """The positions delivered before the read raised its IntegrityError."""
    got: list[int] = []
    with pytest.raises(ses.IntegrityError):
        for event in events:
            got.append(event.position)
    return got


def _seed_and_damage(directory: Path) -> None:
    """Positions 1-3 Account-1 v0-2, 4 Account-2 v0, 5-6 Account-1 v3-4; then the payload of
    Account-1 v3 (position 5) altered behind the store's back."""
    with ses.open(f"sqlite://{directory}") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Deposited", {"amount": i}) for i in range(3)])
        db.append("Account-2", [ses.NewEvent("Opened", {"owner": "bob"})])
        db.append("Account-1", [ses.NewEvent("Deposited", {"amount": i}) for i in (3, 4)])
    with contextlib.closing(sqlite3.connect(directory / "bank.sqlite3")) as conn, conn:
        # a small payload is kept in its entry's row (schema 7)
        conn.execute("UPDATE entries SET data = ? WHERE position = 5", (b'{"amount":1000000}',))


def test_a_damaged_payload_comes_after_the_intact_events_before_it(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    _seed_and_damage(directory)
    with ses.open(f"sqlite://{directory}") as store:
        db = store.database("bank")
        assert _until_damage(db.read_stream("Account-1")) == [1, 2, 3]
        assert _until_damage(db.read_all()) == [1, 2, 3, 4]
        assert _until_damage(db.read_category("Account")) == [1, 2, 3, 4]
        assert _until_damage(db.read_all(backwards=True)) == [6]
        assert _until_damage(db.read_stream("Account-1", backwards=True)) == [6]
        assert _until_damage(db.read_events()) == [1, 2, 3, 4]


def test_a_subscription_delivers_the_intact_events_then_raises(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    _seed_and_damage(directory)
    with ses.open(f"sqlite://{directory}") as store:
        db = store.database("bank")
        sub = db.subscribe(idle_timeout=0)
        assert _until_damage(sub) == [1, 2, 3, 4]
        with pytest.raises(ses.IntegrityError):  # delivery cannot pass the damage
            sub.get(0)
        assert sub.position == 4
        with db.subscribe(category="Account", from_position=3, idle_timeout=0) as sub:
            assert _until_damage(sub) == [3, 4]


class _DamagedPages(MemoryStorage):
    """A backend that cannot read any page holding the entry at position ``damaged``."""

    def __init__(self, damaged: int) -> None:
        super().__init__()
        self.damaged = damaged

    def _checked(self, entries: list[Entry]) -> list[Entry]:
        if any(e.position == self.damaged for e in entries):
            raise ses.IntegrityError(f"the entry at position {self.damaged} cannot be decoded")
        return entries

    def read_stream(self, db: str, stream: str, **options: Any) -> list[Entry]:  # type: ignore[override]
        return self._checked(super().read_stream(db, stream, **options))

    def read_all(self, db: str, **options: Any) -> list[Entry]:  # type: ignore[override]
        return self._checked(super().read_all(db, **options))

    def read_query(self, db: str, query: ses.Query, **options: Any) -> list[Entry]:  # type: ignore[override]
        return self._checked(super().read_query(db, query, **options))


READS: dict[str, Callable[[ses.Database], Iterable[ses.RecordedEvent]]] = {
    "read_stream": lambda db: db.read_stream("Account-1"),
    "read_all": lambda db: db.read_all(),
    "read_category": lambda db: db.read_category("Account"),
    "read_events": lambda db: db.read_events(),
    "subscribe": lambda db: db.subscribe(idle_timeout=0),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_a_page_the_backend_cannot_read_still_yields_the_events_before_it(read: str) -> None:
    db = _database(_DamagedPages(damaged=4))
    db.append("Account-1", [ses.NewEvent("Deposited", {"amount": i}) for i in range(6)])
    assert _until_damage(READS[read](db)) == [1, 2, 3]
