"""Reading backwards: the storage's ``read_all`` from a position down, with every filter, and
the database's ``read_all`` and ``read_category``, which page backwards over it.

Positions only strictly increase (a backend may leave gaps), so the expected positions are
the ones a forward read gives, never numbers counted from one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.base import Storage

from ._fixtures import DATABASE, _fill

# -- the storage primitive -------------------------------------------------------------------


def _entries(storage: Storage, *, from_position: int, limit: int, **options: Any) -> list[int]:
    """The positions of the entries ``read_all`` of the storage gives."""
    entries = storage.read_all(DATABASE, from_position=from_position, limit=limit, **options)
    return [e.position for e in entries]


def _all(storage: Storage, **options: Any) -> list[int]:
    """Every position the filter selects, read forwards (positions need not be dense)."""
    return _entries(storage, from_position=0, limit=10**6, **options)


def test_read_all_backwards_from_a_position(store: ses.Store, db: ses.Database) -> None:
    _fill(db)
    s = store.storage
    p = _all(s)  # the positions of the six events
    assert len(p) == 6
    assert _entries(s, from_position=p[5], limit=100, backwards=True) == p[::-1]
    assert _entries(s, from_position=p[3], limit=100, backwards=True) == p[3::-1]
    assert _entries(s, from_position=p[4], limit=2, backwards=True) == [p[4], p[3]]
    assert _entries(s, from_position=10**6, limit=3, backwards=True) == p[:2:-1]
    assert _entries(s, from_position=0, limit=10, backwards=True) == []
    assert _entries(s, from_position=p[3], limit=0, backwards=True) == []
    assert _entries(s, from_position=p[3], limit=100) == p[3:]  # forwards, unchanged


@pytest.mark.parametrize(
    "options",
    [
        {"stream": "Account-1"},
        {"category": "Account"},
        {"category": "Order"},
        {"types": ("Opened",)},
        {"stream": "Account-1", "restructures": True},
        {"types": ("Placed",), "restructures": True},
        {"stream": "Nobody-1"},
    ],
)
def test_read_all_backwards_keeps_the_filters(
    store: ses.Store, db: ses.Database, options: dict[str, Any]
) -> None:
    _fill(db)
    s = store.storage
    forwards = _all(s, **options)
    assert (
        _entries(s, from_position=10**6, limit=100, backwards=True, **options) == (forwards[::-1])
    )
    if len(forwards) > 1:
        top = forwards[-2]
        assert _entries(s, from_position=top, limit=1, backwards=True, **options) == [top]


def test_read_all_backwards_gives_payloads_and_restructures(
    store: ses.Store, db: ses.Database
) -> None:
    _fill(db)
    (last,) = store.storage.read_all(DATABASE, from_position=10**6, limit=1, backwards=True)
    assert last.payload is not None and last.stream == "Account-2"
    entries = store.storage.read_all(
        DATABASE, from_position=10**6, limit=2, restructures=True, backwards=True
    )
    assert [e.kind for e in entries] == [0, 1]


def test_read_all_backwards_over_many_pages(store: ses.Store, db: ses.Database) -> None:
    for n in range(30):
        db.append_batch([ses.StreamAppend(f"Bulk-{n}", [ses.NewEvent("E") for _ in range(40)])])
    db.append("Sparse-1", [ses.NewEvent("E")])  # far above the rest of its category
    s = store.storage
    every = _all(s)
    assert len(every) == 1201
    assert _entries(s, from_position=10**6, limit=2000, backwards=True) == every[::-1]
    bulk = _all(s, stream="Bulk-0")
    assert (
        _entries(s, stream="Bulk-0", from_position=10**6, limit=3, backwards=True) == (bulk[:-4:-1])
    )
    assert _entries(s, category="Sparse", from_position=10**6, limit=5, backwards=True) == [
        every[-1]
    ]


# -- the database API ------------------------------------------------------------------------


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


def test_read_all_backwards_is_read_all_reversed(db: ses.Database) -> None:
    _mixed(db, 2300)  # more than two pages
    forwards = _positions(db.read_all())
    assert _positions(db.read_all(backwards=True)) == forwards[::-1]
    assert _positions(db.read_all(backwards=True, limit=3)) == forwards[::-1][:3]
    assert _positions(db.read_all(backwards=True, limit=0)) == []


def test_backwards_from_position_means_at_or_below(db: ses.Database) -> None:
    _mixed(db, 200)
    p = [0, *_positions(db.read_all())]  # p[n] is the position of the n-th event
    assert _positions(db.read_all(from_position=p[120], backwards=True, limit=3)) == [
        p[120],
        p[119],
        p[118],
    ]
    assert _positions(db.read_all(from_position=p[2], backwards=True)) == [p[2], p[1]]
    between = p[2] + 1  # the position of the next event, or one no event has (a gap)
    assert _positions(db.read_all(from_position=between, backwards=True, limit=1)) == [
        max(q for q in p[1:] if q <= between)
    ]
    assert _positions(db.read_all(from_position=0, backwards=True)) == []
    assert _positions(db.read_all(from_position=10**6, backwards=True, limit=1)) == [p[200]]


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


def test_backwards_through_the_async_api(db: ses.Database) -> None:
    _mixed(db, 30)
    every = _positions(db.read_all())[::-1]

    async def main() -> None:
        adb = ses.AsyncDatabase(db)
        assert _positions(await adb.read_all(backwards=True, limit=2)) == every[:2]
        assert _positions(await adb.read_category("Account", backwards=True)) == every
        assert _positions([e async for e in adb.read_all(backwards=True)]) == every

    asyncio.run(main())
