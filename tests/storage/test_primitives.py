"""Storage primitives the database layer and the CLI build on, on every backend: reading
the whole database backwards, listing and deleting checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.base import Storage

from ..conftest import fresh_store


@pytest.fixture(params=["memory", "sqlite", "nats"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ses.Store]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'store'}"
    else:
        url = next(fresh_store(request, "single"))
    with ses.open(url) as store:
        store.create_database("bank")
        yield store


def _fill(store: ses.Store) -> ses.Database:
    """Account-1 v0-v2 and Order-1 v0-v1 interleaved, a restructure, then Account-2 v0."""
    db = store.database("bank")
    db.append("Account-1", [ses.NewEvent("Opened")])
    db.append("Order-1", [ses.NewEvent("Placed")])
    db.append("Account-1", [ses.NewEvent("Deposited", {"n": 1})])
    db.append("Order-1", [ses.NewEvent("Shipped")])
    db.append("Account-1", [ses.NewEvent("Deposited", {"n": 2})])
    db.restructure("Account-1", 1, None, reason="a duplicate")
    db.append("Account-2", [ses.NewEvent("Opened")])
    return db


def _positions(storage: Storage, **options: object) -> list[int]:
    return [e.position for e in storage.read_all("bank", **options)]  # type: ignore[arg-type]


def _all(storage: Storage, **options: object) -> list[int]:
    """Every position the filter selects, read forwards (positions need not be dense)."""
    return _positions(storage, from_position=0, limit=10**6, **options)


def test_read_all_backwards_from_a_position(store: ses.Store) -> None:
    _fill(store)
    s = store.storage
    p = _all(s)  # the positions of the six events
    assert len(p) == 6
    assert _positions(s, from_position=p[5], limit=100, backwards=True) == p[::-1]
    assert _positions(s, from_position=p[3], limit=100, backwards=True) == p[3::-1]
    assert _positions(s, from_position=p[4], limit=2, backwards=True) == [p[4], p[3]]
    assert _positions(s, from_position=10**6, limit=3, backwards=True) == p[:2:-1]
    assert _positions(s, from_position=0, limit=10, backwards=True) == []
    assert _positions(s, from_position=p[3], limit=0, backwards=True) == []
    assert _positions(s, from_position=p[3], limit=100) == p[3:]  # forwards, unchanged


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
def test_read_all_backwards_keeps_the_filters(store: ses.Store, options: dict[str, object]) -> None:
    _fill(store)
    s = store.storage
    forwards = _all(s, **options)
    assert (
        _positions(s, from_position=10**6, limit=100, backwards=True, **options) == (forwards[::-1])
    )
    if len(forwards) > 1:
        top = forwards[-2]
        assert _positions(s, from_position=top, limit=1, backwards=True, **options) == [top]


def test_read_all_backwards_gives_payloads_and_restructures(store: ses.Store) -> None:
    _fill(store)
    (last,) = store.storage.read_all("bank", from_position=10**6, limit=1, backwards=True)
    assert last.payload is not None and last.stream == "Account-2"
    entries = store.storage.read_all(
        "bank", from_position=10**6, limit=2, restructures=True, backwards=True
    )
    assert [e.kind for e in entries] == [0, 1]


def test_read_all_backwards_over_many_pages(store: ses.Store) -> None:
    db = store.database("bank")
    for n in range(30):
        db.append_batch([ses.StreamAppend(f"Bulk-{n}", [ses.NewEvent("E")] * 40)])
    db.append("Sparse-1", [ses.NewEvent("E")])  # far above the rest of its category
    s = store.storage
    every = _all(s)
    assert len(every) == 1201
    assert _positions(s, from_position=10**6, limit=2000, backwards=True) == every[::-1]
    bulk = _all(s, stream="Bulk-0")
    assert (
        _positions(s, stream="Bulk-0", from_position=10**6, limit=3, backwards=True)
        == (bulk[:-4:-1])
    )
    assert _positions(s, category="Sparse", from_position=10**6, limit=5, backwards=True) == [
        every[-1]
    ]


def test_list_and_delete_checkpoints(store: ses.Store) -> None:
    db = _fill(store)
    s = store.storage
    assert s.list_checkpoints("bank") == {}
    s.save_checkpoint("bank", "projector", 3)
    s.save_checkpoint("bank", "émail sender", 5)  # escaped in NATS subjects
    long = "Long" + "é" * 200  # hashed in NATS subjects
    s.save_checkpoint("bank", long, 2)
    db.append_batch([], checkpoint=("tracker", 4))  # saved with an append
    assert s.list_checkpoints("bank") == {
        "Long" + "é" * 200: 2,
        "projector": 3,
        "tracker": 4,
        "émail sender": 5,
    }
    assert list(s.list_checkpoints("bank")) == sorted(s.list_checkpoints("bank"))
    assert s.delete_checkpoint("bank", "projector") is True
    assert s.delete_checkpoint("bank", "projector") is False
    assert s.delete_checkpoint("bank", "never") is False
    assert s.get_checkpoint("bank", "projector") is None
    assert "projector" not in s.list_checkpoints("bank")
    assert s.delete_checkpoint("bank", long) is True
    assert s.list_checkpoints("bank") == {"tracker": 4, "émail sender": 5}


def test_a_deleted_checkpoint_starts_afresh(store: ses.Store) -> None:
    db = _fill(store)
    s = store.storage
    db.append_batch([], checkpoint=("tracker", 5))
    with pytest.raises(ses.CheckpointConflict):
        db.append_batch([], checkpoint=("tracker", 2))
    assert s.delete_checkpoint("bank", "tracker")
    db.append_batch([], checkpoint=("tracker", 2))  # no longer behind the deleted one
    assert s.get_checkpoint("bank", "tracker") == 2
    s.save_checkpoint("bank", "tracker", 3)
    assert s.list_checkpoints("bank") == {"tracker": 3}


def test_checkpoint_listing_needs_the_database(store: ses.Store) -> None:
    with pytest.raises(ses.DatabaseNotFound):
        store.storage.list_checkpoints("nothere")
    with pytest.raises(ses.DatabaseNotFound):
        store.storage.delete_checkpoint("nothere", "cp")
