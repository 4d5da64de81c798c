"""Versions, positions and reads: ``read_stream``, ``read_all``, categories, paging of events
and of stream names."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import safe_eventstore as ses

from ._fixtures import _new, _take


def test_versions_start_at_zero_and_positions_at_one(db: ses.Database) -> None:
    first = db.append("Account-1", [_new(amount=1), _new(amount=2)], expected_version=ses.NO_STREAM)
    events = db.read_stream("Account-1")
    assert [e.version for e in events] == [0, 1]
    assert events[0].position == 1
    assert events[0].position < events[1].position
    assert (first.first_version, first.last_version, first.position) == (0, 1, events[1].position)
    second = db.append("Account-2", [_new(amount=3)])
    assert (second.first_version, second.last_version) == (0, 0)
    assert second.position > first.position
    assert db.stream_version("Account-1") == 1
    assert db.stream_version("Account-2") == 0
    assert db.stream_version("Account-3") is None
    assert list(db.read_stream("Account-3")) == []


def test_positions_strictly_increase_across_streams(db: ses.Database) -> None:
    results = [db.append(f"Account-{n % 3}", [_new(n=n)]) for n in range(12)]
    positions = [r.position for r in results]
    assert positions == sorted(set(positions))
    everything = db.read_all()
    assert [e.position for e in everything] == positions
    assert [e.data for e in everything] == [{"n": n} for n in range(12)]
    assert [e.version for e in everything] == [n // 3 for n in range(12)]


def test_from_position_is_inclusive(db: ses.Database) -> None:
    for n in range(8):
        db.append(f"Cart-{n % 2}", [_new("Added", n=n)])
    everything = db.read_all()[:]
    third = everything[2].position
    assert db.read_all(from_position=third) == everything[2:]
    assert db.read_all(from_position=third, limit=3) == everything[2:5]
    assert db.read_all(from_position=everything[-1].position + 1) == []
    cart1 = [e for e in everything if e.stream == "Cart-1"]
    assert db.read_category("Cart", from_position=cart1[1].position) == [
        e for e in everything if e.position >= cart1[1].position
    ]
    with db.subscribe(from_position=third) as sub:
        assert _take(sub, len(everything) - 2) == everything[2:]
        assert sub.get(timeout=0) is None
    with db.subscribe(stream="Cart-1", from_position=cart1[1].position) as sub:
        assert _take(sub, len(cart1) - 1) == cart1[1:]
        assert sub.get(timeout=0) is None


def test_read_stream_window(db: ses.Database) -> None:
    db.append("Ledger-1", [_new(n=n) for n in range(10)])

    def versions(**options: Any) -> list[int]:
        return [e.version for e in db.read_stream("Ledger-1", **options)]

    assert versions() == list(range(10))
    assert versions(from_version=4) == list(range(4, 10))
    assert versions(from_version=4, limit=3) == [4, 5, 6]
    assert versions(from_version=10) == []
    assert versions(limit=0) == []
    assert versions(backwards=True) == list(range(9, -1, -1))
    assert versions(backwards=True, from_version=4) == [4, 3, 2, 1, 0]
    assert versions(backwards=True, limit=2) == [9, 8]


def test_event_fields_round_trip(db: ses.Database) -> None:
    event_id, correlation_id, causation_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    data = {"total": 12.5, "items": ["book", "pen"], "gift": None, "note": "Grüße 🎁"}
    before = datetime.now(UTC)
    result = db.append(
        "Order-7",
        [
            ses.NewEvent(
                "Placed",
                data,
                metadata={"user": "ann", "ip": "10.0.0.1"},
                event_id=event_id,
                correlation_id=correlation_id,
                causation_id=causation_id,
                tags=("vip", "eu"),
            ),
            ses.NewEvent("Paid", {}, event_id=str(causation_id)),  # type: ignore[arg-type]
        ],
    )
    placed, paid = db.read_stream("Order-7")
    assert placed.stream == "Order-7"
    assert placed.category == "Order"
    assert placed.type == "Placed"
    assert placed.data == data
    assert placed.metadata == {"user": "ann", "ip": "10.0.0.1"}
    assert placed.event_id == event_id
    assert placed.correlation_id == correlation_id
    assert placed.causation_id == causation_id
    assert placed.tags == ("vip", "eu")
    assert placed.version == 0
    assert placed.kind == "event"
    assert placed.restructured is False
    assert placed.codec == "json"
    assert json.loads(placed.payload) == data
    assert placed.address == hashlib.sha256(placed.payload).hexdigest()
    assert placed.timestamp.tzinfo is not None
    assert before - timedelta(minutes=5) < placed.timestamp < before + timedelta(minutes=5)
    assert paid.event_id == causation_id  # given as a string
    assert paid.metadata == {}
    assert paid.correlation_id is None and paid.causation_id is None
    assert paid.position == result.position
    assert paid.timestamp >= placed.timestamp
    assert db.read_all()[:] == [placed, paid]
    assert db.read_category("Order")[:] == [placed, paid]


def test_read_all_filters_by_type(db: ses.Database) -> None:
    db.append("Account-1", [_new("Opened"), _new("Deposited"), _new("Withdrawn")])
    db.append("Account-2", [_new("Opened"), _new("Deposited")])
    assert [(e.stream, e.type) for e in db.read_all(types=["Opened"])] == [
        ("Account-1", "Opened"),
        ("Account-2", "Opened"),
    ]
    assert len(db.read_all(types=["Deposited", "Withdrawn"])) == 3
    assert db.read_all(types=["Closed"]) == []


def test_databases_are_isolated(store: ses.Store) -> None:
    bank = store.create_database("bank")
    shop = store.create_database("shop")
    bank.append("Account-1", [_new("Opened")])
    shop.append("Order-1", [_new("Placed"), _new("Paid")])
    assert [e.position for e in bank.read_all()] == [1]
    assert [e.stream for e in shop.read_all()] == ["Order-1", "Order-1"]
    assert shop.read_all()[0].position == 1
    assert bank.list_streams() == ["Account-1"]
    assert shop.stream_version("Account-1") is None
    bank.save_checkpoint("reader", 1)
    assert shop.get_checkpoint("reader") is None
    assert store.database("bank").read_all() == bank.read_all()


def test_the_category_is_the_part_before_the_first_dash(db: ses.Database) -> None:
    assert ses.category_of("Account-42") == "Account"
    assert ses.category_of("Account-42-x") == "Account"
    assert ses.category_of("Account") == "Account"
    for stream in ("Account-1", "Account-2-x", "Account", "Accounting-1", "Order-1"):
        db.append(stream, [_new("Opened", stream=stream)])
    assert db.list_categories() == ["Account", "Accounting", "Order"]
    assert [e.stream for e in db.read_category("Account")] == [
        "Account-1",
        "Account-2-x",
        "Account",
    ]
    assert db.read_all()[1].category == "Account"
    assert db.list_streams(category="Account") == ["Account", "Account-1", "Account-2-x"]
    assert db.list_streams(category="Nothing") == []
    assert db.read_category("Nothing") == []


def test_list_streams_pages_in_sorted_order(db: ses.Database) -> None:
    names = [f"Account-{n:02d}" for n in range(7)] + ["Order-1", "Order-2"]
    for name in reversed(names):
        db.append(name, [_new("Opened")])
    assert db.list_streams() == names
    pages, after = [], None
    while page := db.list_streams(after=after, limit=2):
        pages.append(page)
        after = page[-1]
    assert [name for page in pages for name in page] == names
    assert all(len(page) == 2 for page in pages[:-1])
    assert db.list_streams("Order") == ["Order-1", "Order-2"]
    assert db.list_streams("Account", after="Account-04", limit=10) == ["Account-05", "Account-06"]


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
