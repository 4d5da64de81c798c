"""Reads of the database API: backwards through the whole database or a category, paging of
stream names, listing and resetting checkpoints, and damaged data reported only after every
intact event before it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.base import Entry
from safe_eventstore.storage.memory import MemoryStorage


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ses.Store]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'store'}"
    with ses.open(url) as store:
        yield store


@pytest.fixture
def db(store: ses.Store) -> ses.Database:
    return store.create_database("bank")


def _positions(events: Iterable[ses.RecordedEvent]) -> list[int]:
    return [e.position for e in events]


def _mixed(db: ses.Database, count: int) -> None:
    """``count`` events over three categories, in batches, in an interleaved order."""
    names = ["Account-1", "Order-1", "Account-2", "Customer-1"]
    for start in range(0, count, 50):
        stream = names[(start // 50) % len(names)]
        kinds = ["Opened", "Deposited", "Withdrawn"]
        db.append(
            stream,
            [ses.NewEvent(kinds[i % 3], {"i": i}) for i in range(start, min(start + 50, count))],
        )


# -- backwards -----------------------------------------------------------------------------


def test_read_all_backwards_is_read_all_reversed(db: ses.Database) -> None:
    _mixed(db, 2300)  # more than two pages
    forwards = _positions(db.read_all())
    assert _positions(db.read_all(backwards=True)) == forwards[::-1]
    assert _positions(db.read_all(backwards=True, limit=3)) == forwards[::-1][:3]
    assert _positions(db.read_all(backwards=True, limit=0)) == []


def test_backwards_from_position_means_at_or_below(db: ses.Database) -> None:
    _mixed(db, 200)
    assert _positions(db.read_all(from_position=120, backwards=True, limit=3)) == [120, 119, 118]
    assert _positions(db.read_all(from_position=2, backwards=True)) == [2, 1]
    assert _positions(db.read_all(from_position=0, backwards=True)) == []
    assert _positions(db.read_all(from_position=10**6, backwards=True, limit=1)) == [200]


def test_read_category_backwards_with_a_type_filter(db: ses.Database) -> None:
    _mixed(db, 2300)
    wanted = [
        e.position
        for e in db.read_all()
        if e.stream.startswith("Account-") and e.type in ("Opened", "Withdrawn")
    ]
    got = db.read_category("Account", backwards=True, types=["Opened", "Withdrawn"])
    assert _positions(got) == wanted[::-1]
    below = wanted[len(wanted) // 2]
    got = db.read_category(
        "Account", backwards=True, types=["Opened", "Withdrawn"], from_position=below
    )
    assert _positions(got) == [p for p in wanted[::-1] if p <= below]


def test_backwards_reads_apply_restructures(db: ses.Database) -> None:
    db.append("Account-1", [ses.NewEvent("Opened"), ses.NewEvent("Deposited", {"amount": 5})])
    db.append("Order-1", [ses.NewEvent("Placed")])
    db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 7})])
    db.restructure("Account-1", 1, ses.NewEvent("Fee", {"amount": 5}), reason="was a fee")
    db.restructure("Account-1", 2, reason="entered twice")
    back = db.read_all(backwards=True)
    assert [(e.stream, e.version, e.type) for e in back] == [
        ("Order-1", 0, "Placed"),
        ("Account-1", 1, "Fee"),
        ("Account-1", 0, "Opened"),
    ]
    assert back[1].restructured
    assert [e.version for e in db.read_all(backwards=True, types=["Fee"])] == [1]
    assert list(db.read_all(backwards=True, types=["Deposited"])) == []
    assert [e.type for e in db.read_category("Account", backwards=True)] == ["Fee", "Opened"]
    assert [e.type for e in db.read_category("Account", backwards=True, limit=1)] == ["Fee"]


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


def test_backwards_through_the_async_api(store: ses.Store) -> None:
    db = store.create_database("bank")
    _mixed(db, 30)

    async def main() -> None:
        adb = ses.AsyncDatabase(db)
        assert _positions(await adb.read_all(backwards=True, limit=2)) == [30, 29]
        assert _positions(await adb.read_category("Account", backwards=True)) == list(
            range(30, 0, -1)
        )
        assert _positions([e async for e in adb.read_all(backwards=True)]) == list(range(30, 0, -1))

    asyncio.run(main())


# -- list_streams pages -----------------------------------------------------------------------


def test_list_streams_says_whether_more_streams_follow(db: ses.Database) -> None:
    names = [f"Account-{i:02}" for i in range(7)]
    for name in names:
        db.append(name, [ses.NewEvent("Opened")])
    page = db.list_streams(limit=3)
    assert isinstance(page, ses.StreamsPage)
    assert page == names[:3] and len(page) == 3 and list(page) == names[:3]
    assert page.next_after == "Account-02"
    seen = list(page)
    while page.next_after is not None:
        page = db.list_streams(after=page.next_after, limit=3)
        seen.extend(page)
    assert seen == names
    assert page == ["Account-06"]
    exact = db.list_streams(limit=7)
    assert exact == names and exact.next_after is None
    assert db.list_streams(limit=100).next_after is None
    assert db.list_streams("Nothing").next_after is None


def test_an_empty_page_still_says_whether_more_follow(db: ses.Database) -> None:
    assert db.list_streams(limit=0).next_after is None
    db.append("Account-1", [ses.NewEvent("Opened")])
    empty = db.list_streams(limit=0)
    assert empty == [] and empty.next_after == ""
    assert db.list_streams(after=empty.next_after) == ["Account-1"]
    assert db.list_streams(after="Account-0", limit=0).next_after == "Account-0"


def test_list_streams_through_the_async_api(db: ses.Database) -> None:
    for name in ("A-1", "A-2", "A-3"):
        db.append(name, [ses.NewEvent("Opened")])

    async def main() -> None:
        page = await ses.AsyncDatabase(db).list_streams(limit=2)
        assert page == ["A-1", "A-2"] and page.next_after == "A-2"

    asyncio.run(main())


# -- listing and resetting checkpoints ---------------------------------------------------------


def _check_listing_and_reset(db: ses.Database) -> None:
    db.append("Account-1", [ses.NewEvent("Opened"), ses.NewEvent("Deposited")])
    assert db.list_checkpoints() == {}
    db.save_checkpoint("printer", 2)
    db.save_checkpoint("mailer", 1)
    assert db.list_checkpoints() == {"mailer": 1, "printer": 2}
    assert db.delete_checkpoint("printer") is True
    assert db.delete_checkpoint("printer") is False
    assert db.list_checkpoints() == {"mailer": 1}
    assert db.get_checkpoint("printer") is None
    with db.subscribe(checkpoint="printer", idle_timeout=0) as sub:  # starts over
        assert [e.version for e in sub] == [0, 1]
    with pytest.raises(ses.InvalidName):
        db.delete_checkpoint("$bad")


def test_checkpoints_are_listed_and_reset(db: ses.Database) -> None:
    _check_listing_and_reset(db)


def test_checkpoints_through_the_async_api() -> None:
    db = _database(MemoryStorage())
    db.append("Account-1", [ses.NewEvent("Opened")])

    async def main() -> None:
        adb = ses.AsyncDatabase(db)
        await adb.save_checkpoint("printer", 1)
        assert await adb.list_checkpoints() == {"printer": 1}
        assert await adb.delete_checkpoint("printer") is True
        assert await adb.list_checkpoints() == {}

    asyncio.run(main())


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
        conn.execute(
            "UPDATE payloads SET data = ? WHERE address = "
            "(SELECT address FROM entries WHERE position = 5)",
            (b'{"amount":1000000}',),
        )


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
