"""An append of one NewEvent leaves its draft to the SQLite group's leader (``Write.later``):
it is made there, in the leader's loop over the batch, and an event refused there fails its
own append alone, with the error it would have had on its own thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore._writing import Writer
from safe_eventstore.storage.sqlite import SqliteStorage

from ._batches import in_one_batch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ses.Store]:
    with ses.open(str(tmp_path / "store"), max_event_size=1000) as store:
        store.create_database("bank")
        yield store


def _rows(store: ses.Store) -> list[tuple[Any, ...]]:
    assert isinstance(store.storage, SqliteStorage)
    path = store.storage._path("bank")
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM entries ORDER BY position").fetchall()
    finally:
        conn.close()


def test_the_drafts_of_a_batch_are_made_by_its_leader(
    store: ses.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = store.database("bank")
    made_on: list[tuple[str, int]] = []  # (event type, thread)
    draft = Writer.draft

    def recorded(self: Writer, event: Any, *args: Any, **kwargs: Any) -> Any:
        made_on.append((event.type, threading.get_ident()))
        return draft(self, event, *args, **kwargs)

    monkeypatch.setattr(Writer, "draft", recorded)
    singles: list[Callable[[], object]] = [
        lambda i=i: db.append(f"Account-{i}", [ses.NewEvent("Opened", {"n": i})]) for i in range(5)
    ]
    # an append of several events is drafted by its own thread, before it queues
    two = [ses.NewEvent("Named", {"n": 1}), ses.NewEvent("Named", {"n": 2})]
    results = in_one_batch(store, [*singles, lambda: db.append("Account-9", two)])
    assert all(isinstance(r, ses.AppendResult) for r in results)
    leaders = {thread for name, thread in made_on if name == "Opened"}
    others = {thread for name, thread in made_on if name == "Named"}
    assert len(made_on) == 7 and len(leaders) == 1 and len(others) == 1
    assert leaders != others
    positions = sorted(r.position for r in results if isinstance(r, ses.AppendResult))
    assert positions == [1, 2, 3, 4, 5, 7]  # the two events end at 7
    assert [e.data for e in db.read_stream("Account-4")] == [{"n": 4}]
    assert [e.data for e in db.read_stream("Account-9")] == [{"n": 1}, {"n": 2}]
    assert db.verify().ok


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (ses.NewEvent("Deposited", {1: "a key that is not a str"}), ses.InvalidEvent),
        (ses.NewEvent("Deposited", {"amount": float("nan")}), ses.InvalidEvent),
        (ses.NewEvent("Deposited", {"memo": "x" * 2000}), ses.EventTooLarge),
        (ses.NewEvent("not a type name", {}), ses.InvalidName),
        (ses.NewEvent("Deposited", {}, metadata={"$schema": "x"}), ses.InvalidEvent),
    ],
)
def test_an_event_refused_by_the_leader_fails_its_own_append_alone(
    store: ses.Store, event: ses.NewEvent, error: type[Exception]
) -> None:
    db = store.database("bank")
    db.append("Account-0", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM)
    before = _rows(store)
    with pytest.raises(error):  # alone: the same error as in a batch of others
        db.append("Account-1", [event], expected_version=ses.NO_STREAM)
    assert _rows(store) == before
    calls: list[Callable[[], object]] = [
        lambda: db.append("Account-0", [ses.NewEvent("Deposited", {"n": 1})], expected_version=0),
        lambda: db.append("Account-1", [event], expected_version=ses.NO_STREAM),
        lambda: db.append("Account-2", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM),
    ]
    results = in_one_batch(store, calls)
    assert isinstance(results[1], error)
    assert isinstance(results[0], ses.AppendResult) and isinstance(results[2], ses.AppendResult)
    assert db.list_streams() == ["Account-0", "Account-2"]
    assert db.stream_version("Account-0") == 1
    assert db.verify().ok
    # the refused event's stream was left as it was: it can be written now
    ok = db.append("Account-1", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM)
    assert (ok.first_version, ok.last_version) == (0, 0)


def test_a_retry_of_an_append_drafted_by_the_leader_is_found(store: ses.Store) -> None:
    db = store.database("bank")
    same = [ses.NewEvent("Opened", {"n": 1})]
    calls: list[Callable[[], object]] = [
        lambda: db.append("Account-1", same, expected_version=ses.NO_STREAM),
        lambda: db.append("Account-2", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM),
    ]
    first = in_one_batch(store, calls)[0]
    assert isinstance(first, ses.AppendResult)
    before = _rows(store)
    # the same call again (its acknowledgement lost, say), alone and within a batch
    assert db.append("Account-1", same, expected_version=ses.NO_STREAM) == first
    again = in_one_batch(
        store,
        [
            lambda: db.append("Account-1", same, expected_version=ses.NO_STREAM),
            lambda: db.append("Account-1", same, expected_version=ses.NO_STREAM),
        ],
    )
    assert again == [first, first]
    assert _rows(store) == before
