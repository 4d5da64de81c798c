"""Bad input and typed errors: names, existing and missing databases, a closed store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import safe_eventstore as ses

from ._fixtures import DATABASE, PATIENCE, _Background, _new, _snapshot

# -- names -------------------------------------------------------------------------------------

_BAD_DATABASE_NAMES = [
    "",
    "../x",
    "..",
    ".",
    "a/b",
    "a\\b",
    "x" * 300,
    "x" * 65,
    "Bank",
    "BANK",
    "bank db",
    " bank",
    "bank\n",
    "bank\x00",
    ".bank",
    "-bank",
    "_bank",
    "bänk",
    "bank.sqlite3",
    "bank:1",
    None,
    42,
]


@pytest.mark.parametrize("name", _BAD_DATABASE_NAMES)
def test_invalid_database_names_are_refused(store: ses.Store, name: Any) -> None:
    store.create_database("bank")
    before = store.list_databases()
    with pytest.raises(ses.InvalidName):
        store.create_database(name)
    with pytest.raises(ses.InvalidName):
        store.database(name)
    assert store.list_databases() == before


def test_racing_creators_make_one_database(store: ses.Store) -> None:
    outcomes: list[object] = []
    start = threading.Barrier(6)

    def create() -> None:
        start.wait(PATIENCE)
        try:
            outcomes.append(store.create_database("bank"))
        except ses.DatabaseExists as exc:
            outcomes.append(exc)

    for thread in [_Background(create) for _ in range(6)]:
        thread.join()
    assert sum(isinstance(o, ses.Database) for o in outcomes) == 1
    assert sum(isinstance(o, ses.DatabaseExists) for o in outcomes) == 5
    assert store.list_databases() == ["bank"]


def test_valid_database_names(store: ses.Store) -> None:
    names = ["a", "0", "bank", "bank-2", "my_bank", "x" * 64, "2024-archive"]
    for name in names:
        store.create_database(name).append("Probe-1", [_new("Probed", name=name)])
    assert store.list_databases() == sorted(names)
    for name in names:
        assert store.database(name).read_all()[0].data == {"name": name}


_BAD_STREAM_NAMES = [
    "",
    " ",
    "Account 1",
    " Account-1",
    "Account-1\n",
    "Acc\tount-1",
    "Account-1\x00",
    "\x7f",
    "Account-\u200b1",
    "Account/1",
    "/",
    "x" * 256,
    "$all",
    "-1",
    42,
    b"Account-1",
]


@pytest.mark.parametrize("name", _BAD_STREAM_NAMES, ids=repr)
def test_invalid_stream_names_are_refused(db: ses.Database, name: Any) -> None:
    db.append("Account-1", [_new("Opened")])
    before = _snapshot(db)
    calls: list[Callable[[], object]] = [
        lambda: db.append(name, [_new("Opened")]),
        lambda: db.append_batch([ses.StreamAppend(name, [_new("Opened")])]),
        lambda: db.read_stream(name),
        lambda: db.stream_version(name),
        lambda: db.restructure(name, 0, None, reason="bad name"),
        lambda: db.subscribe(stream=name),
        lambda: db.subscribe(category=name),
        lambda: db.read_category(name),
        lambda: db.subscribe(checkpoint=name),
        lambda: db.save_checkpoint(name, 1),
        lambda: db.append("Account-1", [ses.NewEvent(name, {})]),
    ]
    for call in calls:
        with pytest.raises(ses.InvalidName):
            call()
    assert _snapshot(db) == before


def test_valid_stream_names(db: ses.Database) -> None:
    names = ["x" * 255, "Café-1", "日本-1", "Account-42-x", "Account", "a.b:c_d-1", "A-"]
    for name in names:
        db.append(name, [_new("Opened")], expected_version=ses.NO_STREAM)
    assert sorted(db.list_streams()) == sorted(names)
    for name in names:
        (event,) = db.read_stream(name)
        assert (event.stream, event.version) == (name, 0)
        assert event.category == ses.category_of(name)


# -- errors ------------------------------------------------------------------------------------


def test_database_exists_and_database_not_found(store: ses.Store) -> None:
    assert store.list_databases() == []
    store.create_database("shop")
    store.create_database("bank")
    with pytest.raises(ses.DatabaseExists) as exists:
        store.create_database("bank")
    with pytest.raises(ses.DatabaseNotFound) as missing:
        store.database("vault")
    assert isinstance(exists.value, ses.SafeEventStoreError)
    assert isinstance(missing.value, ses.SafeEventStoreError)
    assert store.list_databases() == ["bank", "shop"]


def test_a_closed_store_refuses_work(store: ses.Store, db: ses.Database) -> None:
    db.append("Account-1", [_new("Opened")])
    reader = db.read_all()  # a read made before closing, iterated after
    store.close()
    store.close()  # closing twice is harmless
    calls: list[Callable[[], object]] = [
        lambda: db.append("Account-1", [_new("Deposited")]),
        lambda: db.append_batch([ses.StreamAppend("Account-1", [_new("Deposited")])]),
        lambda: list(db.read_stream("Account-1")),
        lambda: list(db.read_stream("Account-1", raw=True)),
        lambda: list(db.read_all()),
        lambda: list(db.read_category("Account")),
        lambda: list(reader),
        lambda: db.stream_version("Account-1"),
        lambda: db.restructure("Account-1", 0, None, reason="closed"),
        db.list_streams,
        db.list_categories,
        db.verify,
        db.stats,
        lambda: db.get_checkpoint("reader"),
        lambda: db.save_checkpoint("reader", 1),
        lambda: db.subscribe().get(timeout=0),
        lambda: store.create_database("other"),
        lambda: store.database(DATABASE),
        store.list_databases,
    ]
    for call in calls:
        with pytest.raises(ses.StoreClosed):
            call()


def test_closing_the_store_stops_a_blocked_subscriber(store: ses.Store, db: ses.Database) -> None:
    db.append("Account-1", [_new("Opened")])
    outcome: list[object] = []

    def follow() -> None:
        try:
            with db.subscribe() as sub:
                outcome.extend(e.type for e in sub)
        except ses.StoreClosed as exc:
            outcome.append(exc)

    follower = _Background(follow)
    deadline = time.monotonic() + PATIENCE
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    store.close()
    follower.join()
    assert outcome[0] == "Opened"
    assert len(outcome) == 1 or isinstance(outcome[1], ses.StoreClosed)
