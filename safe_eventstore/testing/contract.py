"""The storage contract of SAFE EventStore, as pytest tests any backend can run.

Every backend must show the same properties (docs: "Properties every backend must show"):
atomic batches, an expected-version check that is atomic with the write, strictly increasing
positions with no late arrivals, acknowledged appends that survive a crash, deduplicated
content-addressed payloads, subscriptions that are woken by the backend and resume from
checkpoints, typed errors raised before anything is written, and dynamic consistency
boundaries (events selected by type and tag, appends whose condition is checked atomically
with the write, against every client's events). This module states them once, through the
public store API, so that every backend is held to the same tests.

Reuse it by importing it into a test module and naming a store::

    # tests/test_my_backend.py
    import pytest
    from safe_eventstore.testing.contract import *  # noqa: F403

    @pytest.fixture
    def store_url(tmp_path):
        return f"sqlite://{tmp_path / 'store'}"

``store_url`` must name a fresh, empty store for every test, in a form that
:func:`safe_eventstore.open` understands, in this process and in the child processes some
tests start. From it the suite builds two fixtures:

``store``
    the store opened once from ``store_url``, closed after the test. Override it when your
    store must be opened some other way (it must still be fresh and empty).
``db``
    the database ``"contract"`` created in ``store``.

Tests that start other processes (racing writers, a writer killed with SIGKILL, a
subscriber process that restarts) skip when ``store.storage.shared_across_processes`` is
false, saying that the backend is confined to one process; tests that need other clients
(a second handle, racing threads on handles of their own) open ``store_url`` again when it is
shared, and use ``store`` for every client when it is not. No test skips for any other
reason. The suite needs ``pytest`` and ``hypothesis``; it closes every store and
subscription it opens, so it runs cleanly under ``filterwarnings = error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import safe_eventstore as ses

DATABASE = "contract"
MiB = 1024 * 1024
PATIENCE = 30.0
"""Seconds a test waits for something that should happen at once: generous on purpose, it
only turns a hang into a failure."""


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[ses.Store]:
    """The store under test, opened once per test from ``store_url``."""
    opened = ses.open(store_url)
    yield opened
    opened.close()


@pytest.fixture
def db(store: ses.Store) -> ses.Database:
    """A fresh database in the store under test."""
    return store.create_database(DATABASE)


# -- helpers ---------------------------------------------------------------------------------


def _new(type: str = "Deposited", **data: Any) -> ses.NewEvent:
    return ses.NewEvent(type, data)


def _unique(name: str) -> str:
    """An event type name no other test uses: the type registry is global to the process."""
    return f"{name}.{uuid.uuid4().hex[:12]}"


def _history(db: ses.Database) -> list[tuple[str, int, int, uuid.UUID]]:
    return [(e.stream, e.version, e.position, e.event_id) for e in db.read_all()]


def _snapshot(db: ses.Database) -> tuple[Any, ...]:
    """Everything an append could change, to show that a refused one changed nothing."""
    streams = db.list_streams(limit=10_000)
    raw = {
        s: [(e.kind, e.version, e.position, e.event_id) for e in db.read_stream(s, raw=True)]
        for s in streams
    }
    versions = {s: db.stream_version(s) for s in streams}
    return _history(db), db.stats(), raw, versions, db.list_categories()


def _take(sub: ses.Subscription, count: int) -> list[ses.RecordedEvent]:
    """The next ``count`` events of a subscription, each of which must arrive in time."""
    events: list[ses.RecordedEvent] = []
    for _ in range(count):
        event = sub.get(timeout=PATIENCE)
        assert event is not None, f"only {len(events)} of {count} events arrived"
        events.append(event)
    return events


def _shared(store: ses.Store) -> None:
    """Skip a test that needs other processes when the backend lives in this one only."""
    if not store.storage.shared_across_processes:
        scheme = store.url.partition("://")[0] or store.url
        pytest.skip(f"{scheme} is confined to one process")


class _Background:
    """Runs a function in a thread after ``delay`` seconds; ``join`` re-raises its error."""

    def __init__(self, fn: Callable[[], object], delay: float = 0.0) -> None:
        self._fn = fn
        self._delay = delay
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            time.sleep(self._delay)
            self._fn()
        except BaseException as exc:
            self._error = exc

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> None:
        self._thread.join(PATIENCE)
        assert not self._thread.is_alive(), "the background thread did not finish"
        if self._error is not None:
            raise self._error


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    """Start a child Python process running ``script`` with ``args``."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> list[str]:
    """Wait for a child process; its stdout lines, after checking that it succeeded."""
    out, err = proc.communicate(timeout=PATIENCE * 2)
    assert proc.returncode == 0, f"child process failed ({proc.returncode}):\n{err}"
    return out.splitlines()


# -- appending: versions, positions, expected versions, atomic batches -----------------------


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


def test_expected_version_no_stream(db: ses.Database) -> None:
    result = db.append("Order-1", [_new("Placed")], expected_version=ses.NO_STREAM)
    assert result.first_version == 0
    with pytest.raises(ses.WrongExpectedVersion) as info:
        db.append("Order-1", [_new("Placed")], expected_version=ses.NO_STREAM)
    assert (info.value.stream, info.value.expected, info.value.actual) == (
        "Order-1",
        ses.NO_STREAM,
        0,
    )


def test_expected_version_stream_exists(db: ses.Database) -> None:
    with pytest.raises(ses.WrongExpectedVersion) as info:
        db.append("Order-1", [_new("Paid")], expected_version=ses.STREAM_EXISTS)
    assert (info.value.stream, info.value.expected, info.value.actual) == (
        "Order-1",
        ses.STREAM_EXISTS,
        None,
    )
    db.append("Order-1", [_new("Placed")])
    result = db.append("Order-1", [_new("Paid")], expected_version=ses.STREAM_EXISTS)
    assert (result.first_version, result.last_version) == (1, 1)


def test_expected_version_any(db: ses.Database) -> None:
    assert db.append("Order-1", [_new("Placed")], expected_version=ses.ANY).first_version == 0
    assert db.append("Order-1", [_new("Paid")], expected_version=ses.ANY).first_version == 1
    assert db.append("Order-1", [_new("Shipped")]).first_version == 2  # ANY is the default


def test_expected_version_exact(db: ses.Database) -> None:
    db.append("Order-1", [_new("Placed"), _new("Paid")], expected_version=ses.NO_STREAM)
    result = db.append("Order-1", [_new("Shipped")], expected_version=1)
    assert (result.first_version, result.last_version) == (2, 2)
    for wrong in (0, 1, 3, 100):
        with pytest.raises(ses.WrongExpectedVersion) as info:
            db.append("Order-1", [_new("Returned")], expected_version=wrong)
        assert (info.value.stream, info.value.expected, info.value.actual) == (
            "Order-1",
            wrong,
            2,
        )
    with pytest.raises(ses.WrongExpectedVersion) as missing:
        db.append("Order-2", [_new("Placed")], expected_version=0)
    assert (missing.value.expected, missing.value.actual) == (0, None)
    assert db.stream_version("Order-1") == 2
    assert db.stream_version("Order-2") is None


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("Order-1", ses.NO_STREAM),
        ("Order-1", 0),
        ("Order-1", 2),
        ("Order-1", 7),
        ("Order-9", ses.STREAM_EXISTS),
        ("Order-9", 0),
    ],
)
def test_wrong_expected_version_writes_nothing(
    db: ses.Database, stream: str, expected: int
) -> None:
    db.append("Order-1", [_new("Placed"), _new("Paid")])
    db.append("Order-2", [_new("Placed")])
    before = _snapshot(db)
    batch = [_new("Shipped", n=1), _new("Shipped", n=2), ses.NewEvent("Note", b"new bytes")]
    with pytest.raises(ses.WrongExpectedVersion) as info:
        db.append(stream, batch, expected_version=expected)
    assert info.value.stream == stream
    assert info.value.expected == expected
    assert info.value.actual == db.stream_version(stream)
    assert _snapshot(db) == before


@pytest.mark.parametrize("expected", [-3, -5, -100, True, "1", 1.0, None])
def test_invalid_expected_version_is_refused(db: ses.Database, expected: Any) -> None:
    db.append("Order-1", [_new("Placed")])
    before = _snapshot(db)
    with pytest.raises(ses.InvalidInput):
        db.append("Order-1", [_new("Paid")], expected_version=expected)
    assert _snapshot(db) == before


def _bad_event(kind: str, repeated: uuid.UUID) -> Any:
    if kind == "unserialisable data":
        return ses.NewEvent("Broken", {"value": object()})
    if kind == "unserialisable metadata":
        return ses.NewEvent("Broken", {}, metadata={"value": object()})
    if kind == "metadata not a dict":
        return ses.NewEvent("Broken", {}, metadata=["not", "a", "dict"])  # type: ignore[arg-type]
    if kind == "repeated event id":
        return ses.NewEvent("Again", {}, event_id=repeated)
    if kind == "invalid type name":
        return ses.NewEvent("Not a type", {})
    if kind == "malformed event id":
        return ses.NewEvent("Broken", {}, event_id="not-a-uuid")  # type: ignore[arg-type]
    assert kind == "not an event"
    return {"type": "Broken"}


@pytest.mark.parametrize(
    "kind",
    [
        "unserialisable data",
        "unserialisable metadata",
        "metadata not a dict",
        "repeated event id",
        "invalid type name",
        "malformed event id",
        "not an event",
    ],
)
@pytest.mark.parametrize("stream", ["Order-1", "Order-2"])
def test_a_bad_event_fails_the_whole_batch(db: ses.Database, kind: str, stream: str) -> None:
    db.append("Order-1", [_new("Placed")])
    before = _snapshot(db)
    repeated = uuid.uuid4()
    batch = [
        ses.NewEvent("Paid", {"n": 1}, event_id=repeated),
        ses.NewEvent("Blob", b"bytes not stored before"),
        _bad_event(kind, repeated),
    ]
    with pytest.raises(ses.InvalidInput):
        db.append(stream, batch)
    assert _snapshot(db) == before


def test_an_empty_batch_is_refused(db: ses.Database) -> None:
    with pytest.raises(ses.InvalidInput):
        db.append("Order-1", [])
    with pytest.raises(ses.InvalidInput):
        db.append("Order-1", _new("Placed"))  # type: ignore[arg-type]
    assert db.stream_version("Order-1") is None
    assert db.read_all() == []


def test_readers_never_see_part_of_a_batch(db: ses.Database) -> None:
    size, batches = 5, 40
    reading = threading.Event()

    def write() -> None:
        assert reading.wait(PATIENCE)
        for n in range(batches):
            events = [_new("Step", batch=n, step=k) for k in range(size)]
            db.append("Batch-1", events)
            db.append_batch(
                [ses.StreamAppend("Batch-2", events[:2]), ses.StreamAppend("Batch-3", events[2:])]
            )

    writer = _Background(write)
    while True:
        done = not writer.alive
        stream = len(db.read_stream("Batch-1"))
        everything = len(db.read_all())
        version = db.stream_version("Batch-1")
        assert stream % size == 0
        assert everything % size == 0
        assert version is None or (version + 1) % size == 0
        reading.set()
        if done:
            break
    writer.join()
    assert len(db.read_all()) == 2 * size * batches


def test_multi_stream_batch_is_atomic(db: ses.Database) -> None:
    db.append("Order-1", [_new("Placed")])
    before = _snapshot(db)
    with pytest.raises(ses.WrongExpectedVersion) as info:
        db.append_batch(
            [
                ses.StreamAppend("Order-2", [_new("Placed")], ses.NO_STREAM),
                ses.StreamAppend("Order-1", [_new("Paid")], ses.NO_STREAM),
            ]
        )
    assert info.value.stream == "Order-1"
    assert _snapshot(db) == before
    with pytest.raises(ses.InvalidInput):
        db.append_batch(
            [ses.StreamAppend("Order-2", [_new("Placed")]), ses.StreamAppend("Order-2", [_new()])]
        )
    assert _snapshot(db) == before
    first, second = db.append_batch(
        [
            ses.StreamAppend("Order-2", [_new("Placed"), _new("Paid")], ses.NO_STREAM),
            ses.StreamAppend("Order-1", [_new("Paid")], 0),
        ]
    )
    assert (first.first_version, first.last_version) == (0, 1)
    assert (second.first_version, second.last_version) == (1, 1)
    assert first.position < second.position
    assert [(e.stream, e.version) for e in db.read_all()] == [
        ("Order-1", 0),
        ("Order-2", 0),
        ("Order-2", 1),
        ("Order-1", 1),
    ]


def test_checkpoint_stored_with_a_batch_only_moves_forward(db: ses.Database) -> None:
    batch = [ses.StreamAppend("Invoice-1", [ses.NewEvent("Issued", {}, event_id=uuid.uuid4())])]
    results = db.append_batch(batch, checkpoint=("invoicer", 10))
    assert db.get_checkpoint("invoicer") == 10
    # a retry of the same batch is answered from what is stored, checkpoint untouched
    assert db.append_batch(batch, checkpoint=("invoicer", 10)) == results
    before = _snapshot(db)
    for stale in (10, 3):
        with pytest.raises(ses.CheckpointConflict):
            db.append_batch(
                [ses.StreamAppend("Invoice-2", [_new("Issued")])], checkpoint=("invoicer", stale)
            )
    assert _snapshot(db) == before
    assert db.get_checkpoint("invoicer") == 10
    db.append_batch([ses.StreamAppend("Invoice-2", [_new("Issued")])], checkpoint=("invoicer", 11))
    assert db.get_checkpoint("invoicer") == 11
    assert db.stream_version("Invoice-2") == 0


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


# -- idempotent retries ----------------------------------------------------------------------


def test_retry_returns_the_original_result_and_writes_nothing(db: ses.Database) -> None:
    batch = [
        ses.NewEvent("Placed", {"n": 1}, event_id=uuid.uuid4()),
        ses.NewEvent("Paid", {"n": 2}, event_id=uuid.uuid4()),
    ]
    first = db.append("Order-1", batch, expected_version=ses.NO_STREAM)
    db.append("Order-2", [_new("Placed")])
    before = _snapshot(db)
    # the retry of an append whose answer was lost: same ids, same (now stale) expectation
    assert db.append("Order-1", batch, expected_version=ses.NO_STREAM) == first
    assert db.append("Order-1", batch) == first
    assert _snapshot(db) == before
    db.append("Order-1", [_new("Shipped")], expected_version=1)
    assert db.append("Order-1", batch, expected_version=ses.NO_STREAM) == first
    assert [e.version for e in db.read_stream("Order-1")] == [0, 1, 2]


def test_partial_retry_is_an_idempotency_conflict(db: ses.Database) -> None:
    stored = ses.NewEvent("Placed", {}, event_id=uuid.uuid4())
    db.append("Order-1", [stored, _new("Paid")])
    before = _snapshot(db)
    with pytest.raises(ses.IdempotencyConflict):
        db.append("Order-1", [stored, _new("Shipped")])
    with pytest.raises(ses.IdempotencyConflict):
        db.append("Order-1", [_new("Shipped"), stored], expected_version=1)
    assert _snapshot(db) == before


def test_an_id_the_store_generated_is_not_a_retry_key(db: ses.Database) -> None:
    # Retries are recognised by the ids the caller gave: an append without ids cannot be
    # retried by id, and ids taken from a read and appended again make new events.
    db.append("Order-1", [_new("Placed")])
    placed = db.read_stream("Order-1")[0]
    again = ses.NewEvent("Placed", placed.data, event_id=placed.event_id)
    result = db.append("Order-1", [again], expected_version=0)
    assert (result.first_version, result.last_version) == (1, 1)
    assert [e.event_id for e in db.read_stream("Order-1")] == [placed.event_id] * 2
    # given once, the id is a key from then on
    assert db.append("Order-1", [again], expected_version=0) == result


# -- typed events, plain data and bytes -------------------------------------------------------


def test_registered_dataclass_round_trips_as_an_instance(db: ses.Database) -> None:
    name = _unique("Deposited")

    @ses.event_type(name)
    @dataclasses.dataclass
    class Deposited:
        account: str
        amount: int
        note: str | None = None

    db.append("Account-1", [Deposited("Account-1", 100), Deposited("Account-1", 5, "tip")])
    db.append("Account-1", [ses.NewEvent(name, {"account": "Account-1", "amount": 7})])
    events = db.read_stream("Account-1")
    assert [e.type for e in events] == [name] * 3
    assert [e.data for e in events] == [
        Deposited("Account-1", 100),
        Deposited("Account-1", 5, "tip"),
        Deposited("Account-1", 7),
    ]
    assert all(isinstance(e.data, Deposited) for e in db.read_all())
    with db.subscribe() as sub:
        assert isinstance(_take(sub, 1)[0].data, Deposited)
    # stored data that no longer fits the class reads as plain data instead of failing
    db.append("Account-1", [ses.NewEvent(name, {"unexpected": 1})])
    assert db.read_stream("Account-1")[3].data == {"unexpected": 1}


def test_unregistered_type_reads_as_plain_data(db: ses.Database) -> None:
    name = _unique("Withdrawn")
    db.append("Account-1", [ses.NewEvent(name, {"amount": 5, "why": ["rent"]})])
    (event,) = db.read_stream("Account-1")
    assert event.type == name
    assert event.data == {"amount": 5, "why": ["rent"]}
    assert type(event.data) is dict


def test_bytes_pass_through(db: ses.Database) -> None:
    blob = bytes(range(256)) * 4
    db.append(
        "File-1",
        [
            ses.NewEvent("Uploaded", blob),
            ses.NewEvent("Emptied", b""),
            ses.NewEvent("Copied", bytearray(b"\x00\x01")),
            ses.NewEvent("Viewed", memoryview(b"\xff")),
        ],
    )
    events = db.read_stream("File-1")
    assert [e.data for e in events] == [blob, b"", b"\x00\x01", b"\xff"]
    assert [e.payload for e in events] == [blob, b"", b"\x00\x01", b"\xff"]
    assert {e.codec for e in events} == {"bytes"}


@pytest.mark.parametrize(
    "event",
    [
        ses.NewEvent("Broken", object()),
        ses.NewEvent("Broken", {"nested": {"deep": object()}}),
        ses.NewEvent("Broken", 1j),
        ses.NewEvent("Broken", len),
        ses.NewEvent("Broken", {}, metadata={"when": object()}),
    ],
    ids=["object", "nested", "complex", "function", "metadata"],
)
def test_unserialisable_data_is_refused_before_writing(
    db: ses.Database, event: ses.NewEvent
) -> None:
    db.append("Order-1", [_new("Placed")])
    before = _snapshot(db)
    with pytest.raises(ses.InvalidEvent):
        db.append("Order-1", [_new("Paid"), event])
    with pytest.raises(ses.InvalidEvent):
        db.append("Order-2", [event])
    assert _snapshot(db) == before


# -- payloads: content addressing, deduplication, size limit ---------------------------------


def test_identical_payloads_are_stored_once(db: ses.Database) -> None:
    for n in range(10):
        db.append(f"Account-{n % 2}", [_new(amount=100)])
    json_payload = db.read_all()[0].payload
    db.append("Raw-1", [ses.NewEvent("Raw", json_payload)])  # the same bytes, another codec
    stats = db.stats()
    assert stats["events"] == 11
    assert stats["payloads"] == 1
    assert stats["stored_payload_bytes"] == len(json_payload)
    assert stats["logical_payload_bytes"] == 11 * len(json_payload)
    assert stats["stored_payload_bytes"] < stats["logical_payload_bytes"]
    assert stats["dedup_ratio"] > 1
    events = db.read_all()
    assert len({e.address for e in events}) == 1
    assert events[0].data == {"amount": 100}
    assert events[-1].data == json_payload  # each entry keeps its own codec
    assert db.verify().ok


def test_a_16_mib_event_is_stored_and_read_back(db: ses.Database) -> None:
    payload = os.urandom(16 * MiB)
    result = db.append("Upload-1", [ses.NewEvent("Uploaded", payload)])
    (event,) = db.read_stream("Upload-1")
    assert event.data == payload
    assert event.position == result.position
    assert db.stats()["stored_payload_bytes"] == len(payload)


def test_an_event_over_the_limit_is_refused(store_url: str) -> None:
    with ses.open(store_url, max_event_size=1024) as small:
        db = small.create_database("limits")
        db.append("Upload-1", [ses.NewEvent("Fits", b"x" * 512)])
        before = _snapshot(db)
        with pytest.raises(ses.EventTooLarge) as info:
            db.append("Upload-1", [ses.NewEvent("Small", b"x"), ses.NewEvent("Big", b"x" * 1025)])
        assert info.value.limit == 1024
        assert info.value.size > 1024
        with pytest.raises(ses.EventTooLarge):  # metadata counts too
            db.append("Upload-2", [ses.NewEvent("Noted", b"", metadata={"note": "n" * 1100})])
        with pytest.raises(ses.EventTooLarge):  # and so do replacements
            db.restructure("Upload-1", 0, ses.NewEvent("Big", b"x" * 2000), reason="too big")
        assert _snapshot(db) == before


def test_the_default_limit_is_64_mib(db: ses.Database) -> None:
    with pytest.raises(ses.EventTooLarge) as info:
        db.append("Upload-1", [ses.NewEvent("Huge", bytes(64 * MiB + 1))])
    assert info.value.limit == 64 * MiB
    assert db.stream_version("Upload-1") is None
    assert db.stats()["payloads"] == 0


# -- restructures ------------------------------------------------------------------------------


def _account(db: ses.Database, stream: str = "Account-1") -> list[ses.RecordedEvent]:
    db.append(
        stream,
        [
            _new("Opened", owner="ann"),
            _new("Deposited", amount=1000),
            _new("Deposited", amount=5),
            _new("Withdrawn", amount=20),
        ],
    )
    db.append("Other-1", [_new("Noise")])
    return db.read_stream(stream)[:]


def _in_new_subscription(db: ses.Database, count: int, **scope: Any) -> list[ses.RecordedEvent]:
    with db.subscribe(**scope) as sub:
        events = _take(sub, count)
        assert sub.get(timeout=0) is None
    return events


def test_restructure_replaces_an_event_in_every_read(db: ses.Database) -> None:
    original = _account(db)
    db.restructure("Account-1", 1, _new("Deposited", amount=100), reason="typed one zero too many")
    events = db.read_stream("Account-1")
    fixed = events[1]
    assert [e.version for e in events] == [0, 1, 2, 3]
    assert (fixed.type, fixed.data, fixed.restructured) == ("Deposited", {"amount": 100}, True)
    assert (fixed.event_id, fixed.position, fixed.version) == (
        original[1].event_id,
        original[1].position,
        1,
    )
    assert [events[0], events[2], events[3]] == [original[0], original[2], original[3]]
    assert [e for e in db.read_all() if e.stream == "Account-1"] == events[:]
    assert db.read_category("Account") == events
    assert _in_new_subscription(db, 4, stream="Account-1") == events[:]
    assert _in_new_subscription(db, 4, category="Account") == events[:]
    assert _in_new_subscription(db, 5)[:4] == events[:]
    assert db.stream_version("Account-1") == 3
    assert [e.data for e in db.read_stream("Account-1", backwards=True)][2] == {"amount": 100}
    # a restructure may change the type, and type filters see the new one
    db.restructure("Account-1", 3, _new("Fee", amount=20), reason="it was a fee")
    assert [e.version for e in db.read_all(types=["Fee"])] == [3]
    assert db.read_all(types=["Withdrawn"]) == []


def test_restructure_hides_an_event_in_every_read(db: ses.Database) -> None:
    _account(db)
    db.restructure("Account-1", 2, None, reason="a duplicate")
    assert [e.version for e in db.read_stream("Account-1")] == [0, 1, 3]
    assert [e.version for e in db.read_stream("Account-1", backwards=True)] == [3, 1, 0]
    assert [e.version for e in db.read_stream("Account-1", from_version=2)] == [3]
    assert [e.version for e in db.read_stream("Account-1", limit=3)] == [0, 1, 3]
    assert [(e.stream, e.version) for e in db.read_all()] == [
        ("Account-1", 0),
        ("Account-1", 1),
        ("Account-1", 3),
        ("Other-1", 0),
    ]
    assert [e.version for e in db.read_category("Account")] == [0, 1, 3]
    assert [e.version for e in _in_new_subscription(db, 3, stream="Account-1")] == [0, 1, 3]
    assert [e.version for e in _in_new_subscription(db, 3, category="Account")] == [0, 1, 3]
    assert len(_in_new_subscription(db, 4)) == 4
    assert db.stream_version("Account-1") == 3


def test_restructures_leave_the_stream_version_alone(db: ses.Database) -> None:
    _account(db)
    db.restructure("Account-1", 3, None, reason="reversed")
    db.restructure("Account-1", 0, _new("Opened", owner="bob"), reason="wrong owner")
    assert db.stream_version("Account-1") == 3
    with pytest.raises(ses.WrongExpectedVersion):
        db.append("Account-1", [_new("Closed")], expected_version=5)
    result = db.append("Account-1", [_new("Closed")], expected_version=3)
    assert (result.first_version, result.last_version) == (4, 4)
    assert [e.version for e in db.read_stream("Account-1")] == [0, 1, 2, 4]
    stats = db.stats()
    assert (stats["events"], stats["restructures"], stats["streams"]) == (6, 2, 2)


def test_raw_read_keeps_originals_and_shows_restructures(db: ses.Database) -> None:
    original = _account(db)
    db.restructure("Account-1", 1, _new("Deposited", amount=100), reason="typo")
    db.restructure("Account-1", 2, None, reason="duplicate")
    raw = db.read_stream("Account-1", raw=True)
    assert [e.kind for e in raw] == ["event"] * 4 + ["restructure"] * 2
    assert [(e.type, e.data, e.event_id) for e in raw[:4]] == [
        (e.type, e.data, e.event_id) for e in original
    ]
    assert [e.restructured for e in raw[:4]] == [False, True, True, False]
    assert [e.version for e in raw] == [0, 1, 2, 3, 1, 2]
    replaced, hidden = raw[4], raw[5]
    assert replaced.data == {"amount": 100}
    assert replaced.metadata["$restructure"]["reason"] == "typo"
    assert hidden.data is None
    assert hidden.metadata["$restructure"]["reason"] == "duplicate"
    positions = [e.position for e in raw]
    assert positions == sorted(set(positions))
    assert len(db.read_stream("Account-1", raw=True, limit=5)) == 5
    from_two = db.read_stream("Account-1", raw=True, from_version=2)  # from that event's entry
    assert [(e.kind, e.version) for e in from_two] == [
        ("event", 2),
        ("event", 3),
        ("restructure", 1),
        ("restructure", 2),
    ]
    with pytest.raises(ses.InvalidInput):
        db.read_stream("Account-1", raw=True, backwards=True)


def test_a_subscription_may_deliver_restructure_entries(db: ses.Database) -> None:
    _account(db)
    db.restructure("Account-1", 1, _new("Deposited", amount=100), reason="typo")
    with db.subscribe(stream="Account-1", restructures=True, idle_timeout=PATIENCE) as sub:
        caught_up = _take(sub, 5)
        fixer = _Background(lambda: db.restructure("Account-1", 2, None, reason="duplicate"))
        (live,) = _take(sub, 1)
        fixer.join()
        assert sub.get(timeout=0) is None
    assert [(e.kind, e.version) for e in caught_up] == [
        ("event", 0),
        ("event", 1),
        ("event", 2),
        ("event", 3),
        ("restructure", 1),
    ]
    assert caught_up[1].data == {"amount": 100}  # already corrected when delivered
    assert caught_up[4].data == {"amount": 100}
    assert (live.kind, live.version, live.data) == ("restructure", 2, None)
    positions = [e.position for e in [*caught_up, live]]
    assert positions == sorted(set(positions))
    with db.subscribe(stream="Account-1") as sub:  # by default, only events
        assert [e.kind for e in _take(sub, 3)] == ["event"] * 3
        assert sub.get(timeout=0) is None


def test_the_latest_restructure_of_a_version_wins(db: ses.Database) -> None:
    _account(db)

    def second() -> Any:
        return [e.data for e in db.read_stream("Account-1") if e.version == 1]

    db.restructure("Account-1", 1, _new("Deposited", amount=100), reason="first fix")
    db.restructure("Account-1", 1, _new("Deposited", amount=10), reason="second fix")
    assert second() == [{"amount": 10}]
    db.restructure("Account-1", 1, None, reason="never happened")
    assert second() == []
    db.restructure("Account-1", 1, _new("Deposited", amount=1), reason="it did, after all")
    assert second() == [{"amount": 1}]
    assert [e.data for e in _in_new_subscription(db, 4, stream="Account-1")][1] == {"amount": 1}
    assert [e.data for e in db.read_all() if e.version == 1] == [{"amount": 1}]


def test_reads_from_any_version_with_restructures_interleaved(db: ses.Database) -> None:
    """Restructure entries between the events (and after them) take places in the stream's
    raw history: a read from any version, forwards or backwards, still starts at that
    version and gives the events in order."""
    for n in range(12):
        db.append("Account-1", [_new(n=n)])
        if n % 3 == 1:  # restructure the event before this one, twice for some
            db.restructure("Account-1", n - 1, _new("Corrected", n=n - 1), reason="fix")
            if n % 2:
                db.restructure("Account-1", n - 1, _new("Corrected", n=-1), reason="again")
    db.restructure("Account-1", 11, None, reason="hide the last")
    whole = [(e.version, e.type, e.data["n"]) for e in db.read_stream("Account-1")]
    assert [v for v, _, _ in whole] == list(range(11))
    for v in range(13):
        forwards = db.read_stream("Account-1", from_version=v, limit=3)
        assert [(e.version, e.type, e.data["n"]) for e in forwards] == [
            w for w in whole if w[0] >= v
        ][:3]
        backwards = db.read_stream("Account-1", from_version=v, limit=3, backwards=True)
        assert [(e.version, e.type, e.data["n"]) for e in backwards] == [
            w for w in reversed(whole) if w[0] <= v
        ][:3]
    newest = db.read_stream("Account-1", backwards=True, limit=2)
    assert [e.version for e in newest] == [10, 9]


def test_restructuring_what_does_not_exist_is_refused(db: ses.Database) -> None:
    _account(db)
    before = _snapshot(db)
    with pytest.raises(ses.StreamNotFound):
        db.restructure("Account-2", 0, None, reason="no such stream")
    for version in (4, 99, -1):
        with pytest.raises(ses.EventNotFound):
            db.restructure("Account-1", version, None, reason="no such version")
    for reason in ("", "   "):
        with pytest.raises(ses.InvalidInput):
            db.restructure("Account-1", 0, None, reason=reason)
    assert _snapshot(db) == before


# -- verification and statistics ---------------------------------------------------------------


def test_verify_passes_on_healthy_data(db: ses.Database) -> None:
    name = _unique("Registered")

    @ses.event_type(name)
    @dataclasses.dataclass
    class Registered:
        n: int

    for n in range(40):
        db.append(
            f"{('Account', 'Order', 'Cart', 'File')[n % 4]}-{n}",
            [_new("Opened", n=n), _new("Noted", n=n % 3), Registered(n), ses.NewEvent("Raw", b"b")],
        )
    db.append_batch(
        [ses.StreamAppend("Order-1", [_new("Paid")]), ses.StreamAppend("Cart-2", [_new()])]
    )
    db.append("File-3", [ses.NewEvent("Uploaded", os.urandom(MiB))])
    db.restructure("Account-0", 1, _new("Noted", n=99), reason="fix")
    db.restructure("Account-0", 1, None, reason="hide")
    db.restructure("Order-5", 3, ses.NewEvent("Raw", b"replacement"), reason="fix")
    report = db.verify()
    stats = db.stats()
    assert report.ok, [str(p) for p in report.problems]
    assert report.problems == []
    assert report.streams == stats["streams"] == 40
    assert report.entries == stats["events"] + stats["restructures"] == 40 * 4 + 3 + 3
    assert report.payloads == stats["payloads"]


def test_verify_passes_on_an_empty_database(db: ses.Database) -> None:
    report = db.verify()
    assert report.ok
    assert (report.streams, report.entries, report.payloads) == (0, 0, 0)


def test_stats_count_what_is_stored(db: ses.Database) -> None:
    empty = db.stats()
    assert {k: empty[k] for k in ("events", "streams", "restructures", "payloads")} == {
        "events": 0,
        "streams": 0,
        "restructures": 0,
        "payloads": 0,
    }
    db.append("Account-1", [ses.NewEvent("Raw", b"abc"), ses.NewEvent("Raw", b"abcd")])
    db.append("Account-2", [ses.NewEvent("Raw", b"abc")])
    db.restructure("Account-1", 0, None, reason="hide")
    stats = db.stats()
    assert (stats["events"], stats["streams"], stats["restructures"], stats["payloads"]) == (
        3,
        2,
        1,
        2,
    )
    assert stats["logical_payload_bytes"] == 3 + 4 + 3
    assert stats["stored_payload_bytes"] == 3 + 4


# -- subscriptions -----------------------------------------------------------------------------

_SCOPES: dict[str, dict[str, Any]] = {
    "stream": {"stream": "Cart-1"},
    "category": {"category": "Cart"},
    "all": {},
}
_STREAMS = ("Cart-1", "Cart-2", "Cartage-1", "Cart", "Other-1")


def _in_scope(event: ses.RecordedEvent, scope: str) -> bool:
    if scope == "stream":
        return event.stream == "Cart-1"
    if scope == "category":
        return event.category == "Cart"
    return True


@pytest.mark.parametrize("scope", sorted(_SCOPES))
def test_subscription_catches_up_then_goes_live(db: ses.Database, scope: str) -> None:
    for n in range(10):
        db.append(_STREAMS[n % 5], [_new("Added", n=n)])
    stored = [e for e in db.read_all() if _in_scope(e, scope)]
    plan = [(_STREAMS[n % 5], n) for n in range(10, 60)]

    def write() -> None:
        for stream, n in plan:
            events = [_new("Added", n=n, k=k) for k in range(1 + n % 3)]
            db.append(stream, events)

    live_total = sum(1 + n % 3 for stream, n in plan if _in_scope_name(stream, scope))
    with db.subscribe(**_SCOPES[scope]) as sub:
        caught_up = _take(sub, len(stored))
        writer = _Background(write)
        live = _take(sub, live_total)
        writer.join()
        assert sub.get(timeout=0) is None
    assert caught_up == stored
    delivered = caught_up + live
    assert [e.event_id for e in delivered] == [
        e.event_id for e in db.read_all() if _in_scope(e, scope)
    ]
    positions = [e.position for e in delivered]
    assert positions == sorted(set(positions))


def _in_scope_name(stream: str, scope: str) -> bool:
    if scope == "stream":
        return stream == "Cart-1"
    if scope == "category":
        return ses.category_of(stream) == "Cart"
    return True


def test_category_subscription_keeps_to_its_category(db: ses.Database) -> None:
    db.append("Cart-1", [_new("Added")])
    db.append("Cartage-1", [_new("Shipped")])
    db.append("Cart", [_new("Created")])
    db.append("Other-1", [_new("Noise")])
    db.append("Cart-2-gift", [_new("Wrapped")])
    events = _in_new_subscription(db, 3, category="Cart")
    assert [e.stream for e in events] == ["Cart-1", "Cart", "Cart-2-gift"]


def test_a_live_event_arrives_before_the_idle_timeout(db: ses.Database) -> None:
    db.append("Bell-1", [_new("Rung", n=0)])
    idle = PATIENCE
    with db.subscribe(stream="Bell-1", idle_timeout=idle) as sub:
        assert [e.data for e in itertools.islice(sub, 1)] == [{"n": 0}]
        ringer = _Background(lambda: db.append("Bell-1", [_new("Rung", n=1)]), delay=0.2)
        started = time.monotonic()
        live = next(sub, None)  # None: the idle timeout passed without the event
        waited = time.monotonic() - started
        ringer.join()
    assert live is not None and live.data == {"n": 1}
    assert waited < idle


def test_the_backend_wakes_a_waiting_reader(store: ses.Store, db: ses.Database) -> None:
    head = db.append("Bell-1", [_new("Rung")]).position
    assert store.storage.wait(db.name, head - 1, PATIENCE) is True  # already there
    outcome: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        outcome["woken"] = store.storage.wait(db.name, head, PATIENCE)
        outcome["waited"] = time.monotonic() - started

    waiter = _Background(wait)
    time.sleep(0.2)
    db.append("Bell-1", [_new("Rung")])
    waiter.join()
    assert outcome["woken"] is True
    assert outcome["waited"] < PATIENCE / 2  # woken by the append, not by the timeout


def test_an_idle_subscriber_does_not_spin(db: ses.Database) -> None:
    db.append("Quiet-1", [_new("Said")])
    with db.subscribe() as sub:
        assert sub.get(timeout=PATIENCE) is not None
        wall, cpu = time.monotonic(), time.process_time()
        assert sub.get(timeout=1.5) is None
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert cpu < wall / 2, f"waiting {wall:.2f} s for nothing used {cpu:.2f} s of CPU"


def test_the_idle_timeout_ends_iteration(db: ses.Database) -> None:
    db.append("Quiet-1", [_new("Said")])
    with db.subscribe(idle_timeout=0.2) as sub:
        assert [e.type for e in sub] == ["Said"]
    assert sub.closed


def test_closing_a_subscription_ends_a_blocked_iteration(db: ses.Database) -> None:
    sub = db.subscribe()
    closer = _Background(sub.close, delay=0.2)
    assert list(sub) == []
    closer.join()
    assert sub.closed
    assert sub.get(timeout=0) is None


def test_checkpoint_resume_after_reopening_the_store(store_url: str, store: ses.Store) -> None:
    db = store.create_database(DATABASE)
    for n in range(5):
        db.append(f"Order-{n % 2}", [_new("Placed", n=n)])
    with db.subscribe(checkpoint="mailer") as sub:
        for event in _take(sub, 3):
            sub.save_checkpoint(event.position)
    assert db.get_checkpoint("mailer") == db.read_all()[2].position
    reopened = None
    if store.storage.shared_across_processes:  # a store that outlives its handle
        store.close()
        reopened = ses.open(store_url)
        db = reopened.database(DATABASE)
    try:
        for n in range(5, 7):
            db.append(f"Order-{n % 2}", [_new("Placed", n=n)])
        with db.subscribe(checkpoint="mailer", from_position=1) as sub:
            resumed = _take(sub, 4)
            assert sub.get(timeout=0) is None
            sub.save_checkpoint()  # the last delivered position
        assert [e.data["n"] for e in resumed] == [3, 4, 5, 6]
        assert db.get_checkpoint("mailer") == resumed[-1].position
    finally:
        if reopened is not None:
            reopened.close()


def test_a_checkpoint_takes_precedence_over_from_position(db: ses.Database) -> None:
    for n in range(6):
        db.append("Order-1", [_new("Placed", n=n)])
    everything = db.read_all()[:]
    with db.subscribe(checkpoint="reader", from_position=everything[4].position) as sub:
        assert _take(sub, 2) == everything[4:]  # no checkpoint stored yet: from_position
    db.save_checkpoint("reader", everything[1].position)
    assert db.get_checkpoint("reader") == everything[1].position
    with db.subscribe(checkpoint="reader", from_position=everything[4].position) as sub:
        assert _take(sub, 4) == everything[2:]
        assert sub.get(timeout=0) is None
    with db.subscribe(from_position=everything[4].position) as sub:  # no name: no checkpoint
        assert _take(sub, 2) == everything[4:]
        with pytest.raises(ses.InvalidInput):
            sub.save_checkpoint(1)


_SUBSCRIBER = """
import json, os, sys
import safe_eventstore as ses

url, database, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = ses.open(url)
sub = store.database(database).subscribe(category="Order", checkpoint="mailer")
for _ in range(count):
    event = sub.get(timeout=30)
    if event is None:
        break
    print(json.dumps([event.position, str(event.event_id)]), flush=True)
    sub.save_checkpoint(event.position)
os._exit(0)  # end like a crashed process: nothing closed
"""


@pytest.mark.slow
def test_a_restarted_subscriber_process_resumes_after_its_checkpoint(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    for n in range(8):
        db.append(("Order-1", "Order-2", "Other-1")[n % 3], [_new("Placed", n=n)])
    first = [json.loads(line) for line in _finish(_python(_SUBSCRIBER, store_url, DATABASE, "3"))]
    for n in range(8, 12):
        db.append(("Order-1", "Order-2", "Other-1")[n % 3], [_new("Placed", n=n)])
    orders = [[e.position, str(e.event_id)] for e in db.read_category("Order")]
    rest = len(orders) - len(first)
    second = [
        json.loads(line) for line in _finish(_python(_SUBSCRIBER, store_url, DATABASE, str(rest)))
    ]
    assert len(first) == 3
    assert first + second == orders
    assert db.get_checkpoint("mailer") == orders[-1][0]


_WAKER = """
import sys
import safe_eventstore as ses

with ses.open(sys.argv[1]) as store:
    store.database(sys.argv[2]).append("Bell-1", [ses.NewEvent("Rung", {"by": "child"})])
"""


def test_an_append_in_another_process_wakes_a_subscriber(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    db.append("Bell-1", [_new("Rung", by="parent")])
    with db.subscribe(stream="Bell-1", idle_timeout=PATIENCE) as sub:
        assert [e.data for e in itertools.islice(sub, 1)] == [{"by": "parent"}]
        child = _python(_WAKER, store_url, DATABASE)
        live = next(sub, None)
        _finish(child)
    assert live is not None and live.data == {"by": "child"}


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


# -- concurrency -------------------------------------------------------------------------------

_RACE_STREAMS = ("Race-1", "Race-2")
_RACER = """
import json, sys
import safe_eventstore as ses
from safe_eventstore.testing.contract import _race

url, database, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with ses.open(url) as store:
    db = store.database(database)
    print("ready", flush=True)
    sys.stdin.readline()  # start together, to race for real
    for ack in _race(db, worker, count):
        print(json.dumps(ack))
"""


def _race(db: ses.Database, worker: int, count: int) -> list[list[Any]]:
    """One racing writer: read the version, append expecting it, retry when beaten."""
    acks: list[list[Any]] = []
    for n in range(count):
        stream = _RACE_STREAMS[(n + worker) % 2]
        event = ses.NewEvent("Raced", {"worker": worker, "n": n}, event_id=uuid.uuid4())
        for beaten in itertools.count():
            version = db.stream_version(stream)
            expected = ses.NO_STREAM if version is None else version
            try:
                result = db.append(stream, [event], expected_version=expected)
            except ses.WrongExpectedVersion:
                continue
            acks.append([stream, str(event.event_id), expected, result.first_version, beaten])
            break
    return acks


class _Follower:
    """A subscription drained in a background thread until it has delivered ``count``
    events: a reader that keeps up while writers race."""

    def __init__(self, db: ses.Database, count: int, **scope: Any) -> None:
        self.events: list[ses.RecordedEvent] = []
        self._sub = db.subscribe(**scope)
        self._thread = _Background(lambda: self.events.extend(_take(self._sub, count)))

    def finish(self) -> list[ses.RecordedEvent]:
        try:
            self._thread.join()
            assert self._sub.get(timeout=0) is None
        finally:
            self._sub.close()
        return self.events


def _race_followers(db: ses.Database, workers: int, count: int) -> list[_Follower]:
    first = sum((n + w) % 2 == 0 for w in range(workers) for n in range(count))
    return [_Follower(db, workers * count), _Follower(db, first, stream=_RACE_STREAMS[0])]


def _check_race(db: ses.Database, acks: list[list[Any]], followers: list[_Follower]) -> None:
    """Every acknowledged append is stored once, at the version it was acknowledged with,
    versions have no gaps, and readers that followed live saw exactly the stored order."""
    delivered, delivered_first = (f.finish() for f in followers)
    stored: dict[str, tuple[str, int]] = {}
    for stream in _RACE_STREAMS:
        events = db.read_stream(stream)
        assert [e.version for e in events] == list(range(len(events)))
        stored.update((str(e.event_id), (stream, e.version)) for e in events)
    everything = db.read_all()
    assert len(everything) == len(stored) == len(acks)
    for stream, event_id, expected, version, _ in acks:
        assert version == expected + 1  # NO_STREAM is -1: the first version is 0
        assert stored[event_id] == (stream, version)
    assert [e.event_id for e in delivered] == [e.event_id for e in everything]
    assert delivered_first == db.read_stream(_RACE_STREAMS[0])
    report = db.verify()
    assert report.ok, [str(p) for p in report.problems]


@pytest.mark.slow
def test_racing_processes_keep_versions_contiguous(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    workers, count = 4, 25
    followers = _race_followers(db, workers, count)
    racers = [_python(_RACER, store_url, DATABASE, str(w), str(count)) for w in range(workers)]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    acks = [json.loads(line) for racer in racers for line in _finish(racer)]
    _check_race(db, acks, followers)


def test_racing_threads_keep_versions_contiguous(db: ses.Database) -> None:
    workers, count = 8, 15
    acks: list[list[Any]] = []
    start = threading.Barrier(workers)

    def racer(worker: int) -> None:
        start.wait(PATIENCE)
        acks.extend(_race(db, worker, count))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that they race for real
    try:
        followers = _race_followers(db, workers, count)
        for thread in [_Background(functools.partial(racer, w)) for w in range(workers)]:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    _check_race(db, acks, followers)


_KILLED_WRITER = """
import sys, uuid
import safe_eventstore as ses

store = ses.open(sys.argv[1])
db = store.database(sys.argv[2])
n = 0
while True:
    event_id = uuid.uuid4()
    db.append("Crash-1", [ses.NewEvent("Written", {"n": n}, event_id=event_id)])
    print(event_id, flush=True)
    n += 1
"""


@pytest.mark.slow
def test_acknowledged_appends_survive_a_killed_writer(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    writer = _python(_KILLED_WRITER, store_url, DATABASE)
    assert writer.stdout is not None
    acked = [writer.stdout.readline().strip() for _ in range(50)]
    writer.kill()  # SIGKILL: no clean-up of any kind
    # Through the text stream to its end: readline may already hold lines read ahead from
    # the pipe, which communicate() (reading the pipe itself) would miss.
    out = writer.stdout.read()
    writer.communicate(timeout=PATIENCE)
    acked += [line for line in out.splitlines() if line]
    with ses.open(store_url) as reopened:
        db = reopened.database(DATABASE)
        events = db.read_stream("Crash-1")
        stored = [str(e.event_id) for e in events]
        extra = stored[len(acked) :]
        assert stored[: len(acked)] == acked, (len(acked), len(stored))
        # at most the one append it died acknowledging
        assert len(extra) <= 1, (len(acked), extra, out[-200:])
        assert [e.version for e in events] == list(range(len(events)))
        assert db.verify().ok
        db.append("Crash-1", [_new("Written")], expected_version=len(events) - 1)


# -- dynamic consistency boundaries: tags, queries, conditional appends ---------------------


def _query(*items: tuple[list[str], list[str]]) -> ses.Query:
    """A query from ``(types, tags)`` pairs, one per item."""
    return ses.Query([ses.QueryItem(tuple(types), tuple(tags)) for types, tags in items])


def _types(events: Iterable[ses.RecordedEvent]) -> list[str]:
    return [e.type for e in events]


def _enrol(db: ses.Database) -> list[int]:
    """Tagged events, in and out of streams; the positions of the four, in order."""
    db.append_events([ses.NewEvent("CourseDefined", {"places": 2}, tags=("course-1",))])
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    db.append_events(
        [
            ses.NewEvent("StudentRegistered", {}, tags=("student-1",)),
            ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-1")),
        ]
    )
    return [e.position for e in db.read_events()]


@contextlib.contextmanager
def _clients(store_url: str, store: ses.Store, count: int) -> Iterator[list[ses.Store]]:
    """``count`` handles on the store under test, each a client of its own (its connection,
    what it remembers) when the backend is shared across processes; else the store under
    test ``count`` times, since another open of a store confined to one process may give
    another, empty store."""
    if not store.storage.shared_across_processes:
        yield [store] * count
        return
    with contextlib.ExitStack() as opened:
        yield [opened.enter_context(ses.open(store_url)) for _ in range(count)]


def test_tags_are_stored_and_read_back(db: ses.Database) -> None:
    positions = _enrol(db)
    assert [(e.type, e.tags, e.stream) for e in db.read_events()] == [
        ("CourseDefined", ("course-1",), "$events"),
        ("Opened", ("owner-7",), "Account-1"),
        ("StudentRegistered", ("student-1",), "$events"),
        ("StudentJoined", ("course-1", "student-1"), "$events"),
    ]
    assert positions == sorted(set(positions)) and positions[0] == 1
    assert positions[3] == positions[2] + 1  # one append: consecutive positions
    assert db.read_stream("Account-1")[0].tags == ("owner-7",)


def test_queries_select_by_type_and_tag(db: ses.Database) -> None:
    _enrol(db)
    read = db.read_events
    assert _types(read(_query(([], ["course-1"])))) == ["CourseDefined", "StudentJoined"]
    assert _types(read(_query(([], ["course-1", "student-1"])))) == ["StudentJoined"]
    assert _types(read(_query((["StudentJoined", "Opened"], [])))) == ["Opened", "StudentJoined"]
    assert _types(read(_query((["Opened"], [])))) == ["Opened"]
    assert _types(read(_query((["CourseDefined"], ["student-1"])))) == []
    either = _query((["CourseDefined"], ["course-1"]), ([], ["owner-7"]))
    assert _types(read(either)) == ["CourseDefined", "Opened"]
    assert _types(read(_query(([], ["nobody"])))) == []
    assert _types(read(ses.Query())) == _types(read()) == _types(db.read_all())


def test_reads_take_after_and_limit(db: ses.Database) -> None:
    p = _enrol(db)
    assert [e.position for e in db.read_events(after=p[1])] == p[2:]
    assert [e.position for e in db.read_events(after=p[0], limit=2)] == p[1:3]
    assert [e.position for e in db.read_events(_query(([], ["course-1"])), after=p[0])] == [p[3]]
    assert [e.position for e in db.read_events(after=0)] == p
    assert list(db.read_events(limit=0)) == []
    assert list(db.read_events(after=p[3])) == []


def test_reads_by_tag_page_through_many_events(db: ses.Database) -> None:
    for b in range(11):
        db.append_events(
            [
                ses.NewEvent("Ticked", {"n": 100 * b + i}, tags=(f"parity-{i % 2}", "clock"))
                for i in range(100)
            ]
        )
    db.append("Other-1", [ses.NewEvent("Ticked", {"n": -1}, tags=("parity-0",))])
    even = db.read_events(_query(([], ["parity-0", "clock"])))
    assert [e.data["n"] for e in even] == list(range(0, 1100, 2))
    odd = db.read_events(_query((["Ticked"], ["parity-1"])))
    assert [e.data["n"] for e in odd] == list(range(1, 1100, 2))
    assert len(db.read_events(_query(([], ["parity-0"])))) == 551
    after = even[300].position
    clock = _query(([], ["clock"]))
    assert [e.data["n"] for e in db.read_events(clock, after=after, limit=3)] == [601, 602, 603]
    either = _query(([], ["parity-1"]), (["Ticked"], ["parity-0"]))
    assert len(db.read_events(either)) == 1101


def test_small_limits_read_small_pages(db: ses.Database) -> None:
    for b in range(10):  # one stream of 1,500 events, in appends that fit any backend's batch
        db.append("S-1", [ses.NewEvent("E", {"i": 150 * b + i}) for i in range(150)])
    events = db.read_all()
    start = events[1199].position
    page = db.read_category("S", from_position=start, limit=3)
    assert [(e.position, e.data["i"]) for e in page] == [
        (e.position, e.data["i"]) for e in events[1199:1202]
    ]
    assert [e.data["i"] for e in db.read_events(after=start, limit=2)] == [1200, 1201]
    assert _types(db.read_category("S", types=["Other"])) == []


def test_a_matching_event_after_the_position_fails_the_append(db: ses.Database) -> None:
    p = _enrol(db)
    before = _snapshot(db)
    condition = ses.AppendCondition(_query(([], ["course-1"])), after=p[0])
    with pytest.raises(ses.AppendConditionFailed):
        db.append_events(
            [ses.NewEvent("StudentJoined", {}, tags=("course-1",))], condition=condition
        )
    assert _snapshot(db) == before
    owner = ses.AppendCondition(_query(([], ["owner-7"])))
    with pytest.raises(ses.AppendConditionFailed):  # no position: anywhere
        db.append_events([ses.NewEvent("X")], condition=owner)
    with pytest.raises(ses.AppendConditionFailed):  # an empty query matches every event
        db.append_events([ses.NewEvent("X")], condition=ses.AppendCondition(after=p[2]))
    opened = ses.AppendCondition(_query((["Opened"], [])))
    with pytest.raises(ses.AppendConditionFailed):  # by type alone
        db.append_events([ses.NewEvent("X")], condition=opened)
    assert _snapshot(db) == before


def test_events_at_or_before_the_position_do_not_fail_it(db: ses.Database) -> None:
    p = _enrol(db)
    result = db.append_events(
        [ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-2"))],
        condition=ses.AppendCondition(_query(([], ["course-1"])), after=p[3]),
    )
    assert result.position > p[3]
    ok = ses.AppendCondition(_query((["Nothing"], []), ([], ["student-9"])))
    last = db.append_events([ses.NewEvent("X")], condition=ok)
    assert last.position > result.position
    assert [e.position for e in db.read_events(after=p[3])] == [result.position, last.position]


def test_a_condition_sees_stream_events(db: ses.Database) -> None:
    first = db.append_events([ses.NewEvent("A")])
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    with pytest.raises(ses.AppendConditionFailed):
        db.append_events(
            [ses.NewEvent("B")],
            condition=ses.AppendCondition(_query(([], ["owner-7"])), after=first.position),
        )


def test_a_condition_is_checked_against_events_of_other_clients(
    store_url: str, store: ses.Store
) -> None:
    """Between one client's read and its append, another client stores an event of the
    boundary: the append fails, whatever either client remembers."""
    with _clients(store_url, store, 2) as (first, second):
        a = first.create_database("seats")
        b = second.database("seats")
        boundary = _query((["SeatBooked"], ["seat-2"]))
        seen = a.last_position()
        b.append("Booking-1", [ses.NewEvent("SeatBooked", {}, tags=("seat-2", "vip"))])
        with pytest.raises(ses.AppendConditionFailed):
            a.append_events(
                [ses.NewEvent("SeatBooked", {}, tags=("seat-2",))],
                condition=ses.AppendCondition(boundary, after=seen),
            )
        # an event with the tag but not the type does not count
        seen = a.last_position()
        b.append("Booking-2", [ses.NewEvent("SeatReleased", {}, tags=("seat-2",))])
        a.append_events(
            [ses.NewEvent("SeatWatched", {}, tags=("seat-2",))],
            condition=ses.AppendCondition(boundary, after=seen),
        )
        seat = _query(([], ["seat-2"]))
        assert _types(b.read_events(seat, after=seen)) == ["SeatReleased", "SeatWatched"]


def test_the_appended_events_may_match_their_own_condition(db: ses.Database) -> None:
    """A condition concerns what is stored: an append whose own events match its query is
    stored (booking a seat unless a booking of it was stored since), and only then fails."""
    db.append("Venue-1", [ses.NewEvent("Opened")])
    items = [
        ([], ["seat-1"]),
        (["SeatBooked"], []),
        (["SeatBooked"], ["seat-3"]),
        (["SeatBooked", "SeatHeld"], ["seat-4", "row-1"]),
    ]
    for n, item in enumerate(items, start=1):
        boundary = _query(item)
        seen = db.last_position()
        booking = ses.NewEvent("SeatBooked", {"seat": n}, tags=(f"seat-{n}", "row-1"))
        booked = db.append_events([booking], condition=ses.AppendCondition(boundary, after=seen))
        assert [e.position for e in db.read_events(boundary, after=seen)] == [booked.position]
        again = ses.NewEvent("SeatBooked", {"seat": n}, tags=(f"seat-{n}", "row-1"))
        with pytest.raises(ses.AppendConditionFailed):
            db.append_events([again], condition=ses.AppendCondition(boundary, after=seen))


def test_racing_appends_with_one_condition_store_one(store_url: str, store: ses.Store) -> None:
    """Eight threads book the same seat, each after reading that it is free, through four
    clients: exactly one of them is let in."""
    store.create_database("race")
    boundary = _query(([], ["seat-1"]))
    wins: list[int] = []
    losses: list[int] = []
    start = threading.Barrier(8)
    with _clients(store_url, store, 4) as clients:

        def book(i: int) -> None:
            db = clients[i % len(clients)].database("race")
            start.wait(PATIENCE)
            try:
                db.append_events(
                    [ses.NewEvent("SeatBooked", {"by": i}, tags=("seat-1",))],
                    condition=ses.AppendCondition(boundary, after=0),
                )
                wins.append(i)
            except ses.AppendConditionFailed:
                losses.append(i)

        for thread in [_Background(functools.partial(book, i)) for i in range(8)]:
            thread.join()
    assert len(wins) == 1 and len(losses) == 7
    assert [e.data["by"] for e in store.database("race").read_events(boundary)] == wins


@pytest.mark.parametrize("item", [([], ["course-1"]), (["Joined"], ["course-1"])])
def test_a_conditional_append_never_passes_an_event_committed_beside_it(
    db: ses.Database, item: tuple[list[str], list[str]]
) -> None:
    """Threads of one client append events of a boundary to streams while others append
    under a condition on it (a backend may commit concurrent appends together): each
    conditional append that was let in had no event of the boundary stored between the
    position its condition names and its own event."""
    boundary = _query(item)
    start = threading.Barrier(6)
    let_in: list[tuple[int, int]] = []

    def join(k: int) -> None:
        start.wait(PATIENCE)
        for i in range(25):
            db.append(f"Course-{k}", [ses.NewEvent("Joined", {"i": i}, tags=("course-1",))])

    def book(k: int) -> None:
        start.wait(PATIENCE)
        mine = 0
        for attempt in range(200):  # 25 tries, then on until this thread got in once
            if attempt >= 25 and mine:
                break
            seen = db.last_position()
            try:
                done = db.append_events(
                    [ses.NewEvent("Joined", {"by": k}, tags=("course-1",))],
                    condition=ses.AppendCondition(boundary, after=seen),
                )
            except ses.AppendConditionFailed:
                continue
            let_in.append((seen, done.position))
            mine += 1

    workers = [_Background(functools.partial(join, k)) for k in range(3)]
    workers += [_Background(functools.partial(book, k)) for k in range(3)]
    for worker in workers:
        worker.join()
    assert len({position for _, position in let_in}) >= 3
    for seen, position in let_in:
        between = [e.position for e in db.read_events(boundary, after=seen)]
        assert between[0] == position, f"let in at {position} past events at {between}"


def test_conditional_append_retries_are_idempotent(db: ses.Database) -> None:
    events = [
        ses.NewEvent("A", {}, event_id=uuid.uuid4()),
        ses.NewEvent("B", {}, event_id=uuid.uuid4()),
    ]
    condition = ses.AppendCondition(_query((["A"], [])), after=0)
    first = db.append_events(events, condition=condition)
    before = _snapshot(db)
    # The retry's own events would now fail the condition: it is recognised first.
    assert db.append_events(events, condition=condition) == first
    assert db.append_events(events) == first
    assert _snapshot(db) == before
    assert len(db.read_events()) == 2
    with pytest.raises(ses.IdempotencyConflict):
        db.append_events([events[0], ses.NewEvent("C")])
    assert _snapshot(db) == before


def test_restructures_apply_to_queries(db: ses.Database) -> None:
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    db.restructure("Account-1", 0, ses.NewEvent("Opened", {}, tags=("owner-8",)), reason="typo")
    assert list(db.read_events(_query(([], ["owner-7"])))) == []
    assert _types(db.read_events(_query(([], ["owner-8"])))) == ["Opened"]


def test_bad_queries_and_conditions_are_rejected(db: ses.Database) -> None:
    with pytest.raises(ses.InvalidName):
        db.read_events(_query(([], ["has space"])))
    with pytest.raises(ses.InvalidInput):
        db.read_events(ses.Query(["tag"]))  # type: ignore[list-item]
    with pytest.raises(ses.InvalidInput):
        db.read_events(ses.Query([ses.QueryItem(tags="tag")]))  # type: ignore[arg-type]
    with pytest.raises(ses.InvalidInput):
        db.append_events([ses.NewEvent("A")], condition=ses.AppendCondition(after=-1))
    with pytest.raises(ses.InvalidName):
        db.append_events([ses.NewEvent("A", tags=("$x",))])
    with pytest.raises(ses.InvalidEvent):
        db.append_events([])
    assert db.last_position() == 0


def test_events_without_a_stream_are_chained_and_verified(db: ses.Database) -> None:
    _enrol(db)
    assert "$events" in db.list_streams()
    report = db.verify()
    assert report.ok and report.entries == 4


def test_the_reserved_stream_can_be_read_not_written(db: ses.Database) -> None:
    db.append_events([ses.NewEvent("A", {}, tags=("t",))])
    assert db.stream_version("$events") == 0
    assert _types(db.read_stream("$events")) == ["A"]
    with db.subscribe(stream="$events", idle_timeout=0.1) as sub:
        assert _types(sub) == ["A"]
    with pytest.raises(ses.InvalidName):
        db.append("$events", [ses.NewEvent("B")])
    with pytest.raises(ses.InvalidName):
        db.restructure("$events", 0, reason="no")
    assert _types(db.read_stream("$events")) == ["A"]


def test_a_checkpoint_moves_forward_alone(db: ses.Database) -> None:
    assert db.append_batch([], checkpoint=("tracking", 3)) == []
    assert db.get_checkpoint("tracking") == 3
    with pytest.raises(ses.CheckpointConflict):
        db.append_batch([], checkpoint=("tracking", 3))
    assert db.append_batch([], checkpoint=("tracking", 4)) == []
    assert db.get_checkpoint("tracking") == 4
    with pytest.raises(ses.InvalidEvent):
        db.append_batch([])
    assert db.read_all() == []


def test_the_async_api_reads_and_appends_events(store_url: str) -> None:
    async def main() -> list[str]:
        async with ses.open_async(store_url) as store:
            db = await store.create_database("asyncdb")
            await db.append_events([ses.NewEvent("A", {}, tags=("t",))])
            with pytest.raises(ses.AppendConditionFailed):
                await db.append_events([ses.NewEvent("B")], condition=ses.AppendCondition())
            assert await db.last_position() == 1
            tagged = ses.AppendCondition(_query(([], ["t"])), after=1)
            await db.append_events([ses.NewEvent("C", {}, tags=("t",))], condition=tagged)
            return [e.type async for e in db.read_events(_query(([], ["t"])))]

    assert asyncio.run(main()) == ["A", "C"]


# -- the asyncio API -------------------------------------------------------------------------


def test_async_api(store_url: str) -> None:
    async def main() -> None:
        store = await ses.open_async(store_url)
        try:
            db = await store.create_database("asyncdb")
            assert await store.list_databases() == ["asyncdb"]
            with pytest.raises(ses.DatabaseExists):
                await store.create_database("asyncdb")
            with pytest.raises(ses.DatabaseNotFound):
                await store.database("missing")
            first = await db.append(
                "Account-1", [_new("Opened"), _new(amount=5)], expected_version=ses.NO_STREAM
            )
            assert (first.first_version, first.last_version) == (0, 1)
            with pytest.raises(ses.WrongExpectedVersion):
                await db.append("Account-1", [_new(amount=1)], expected_version=ses.NO_STREAM)
            with pytest.raises(ses.InvalidName):
                await db.append("bad name", [_new()])
            await db.append("Account-2", [_new("Opened")])
            assert await db.stream_version("Account-1") == 1
            assert [e.version for e in await db.read_stream("Account-1")] == [0, 1]
            assert [e.stream async for e in db.read_all()] == ["Account-1"] * 2 + ["Account-2"]
            assert len(await db.read_category("Account", from_position=first.position)) == 2
            await db.restructure("Account-1", 1, _new(amount=50), reason="typo")
            assert (await db.read_stream("Account-1"))[1].data == {"amount": 50}
            assert await db.list_streams() == ["Account-1", "Account-2"]
            assert await db.list_categories() == ["Account"]
            assert (await db.verify()).ok
            assert (await db.stats())["events"] == 3
            again = await store.database("asyncdb")
            assert await again.stream_version("Account-2") == 0
        finally:
            await store.close()
        with pytest.raises(ses.StoreClosed):
            await db.stream_version("Account-1")

    asyncio.run(main())


def test_async_subscription(store_url: str) -> None:
    async def main() -> None:
        async with ses.open_async(store_url) as store:
            db = await store.create_database("asyncdb")
            for n in range(3):
                await db.append("Cart-1", [_new("Added", n=n)])

            async def write() -> None:
                for n in range(3, 10):
                    await db.append(("Cart-1", "Other-1")[n % 2], [_new("Added", n=n)])

            got: list[int] = []
            async with db.subscribe(
                category="Cart", checkpoint="async", idle_timeout=PATIENCE
            ) as sub:
                writer = asyncio.create_task(write())
                async for event in sub:
                    got.append(event.data["n"])
                    await sub.save_checkpoint(event.position)
                    if len(got) == 6:
                        break
                await writer
            assert got == [0, 1, 2, 4, 6, 8]
            assert await db.get_checkpoint("async") == sub.position
            await db.append("Cart-1", [_new("Added", n=10)])
            async with db.subscribe(category="Cart", checkpoint="async", idle_timeout=0.2) as sub:
                assert [e.data["n"] async for e in sub] == [10]

    asyncio.run(main())


# -- the store against a model -----------------------------------------------------------------

_MODEL_STREAMS = ("Acct-1", "Acct-2", "Loan-1")
_models = itertools.count()


class _StoreMatchesModel(RuleBasedStateMachine):
    """Random appends (right and wrong expected versions), retries and restructures,
    checked after every step against a plain Python model of what every read returns."""

    store: ses.Store  # set by the test, on a subclass

    def __init__(self) -> None:
        super().__init__()
        self.db = self.store.create_database(f"model-{next(_models)}")
        self.streams: dict[str, list[tuple[str, int] | None]] = {}  # version -> (type, n)
        self.order: list[tuple[str, int]] = []  # (stream, version) in position order
        self.position = 0
        self.stored: list[tuple[str, list[ses.NewEvent], ses.AppendResult]] = []

    @initialize(first=st.integers(1, 3), second=st.integers(1, 3))
    def seed(self, first: int, second: int) -> None:
        """Start with events in two of the three streams: something to restructure."""
        for stream, count in (("Acct-1", first), ("Loan-1", second)):
            self.append(stream, list(range(count)), "NO_STREAM", 0)

    def _version(self, stream: str) -> int | None:
        events = self.streams.get(stream)
        return None if not events else len(events) - 1

    @rule(
        stream=st.sampled_from(_MODEL_STREAMS),
        values=st.lists(st.integers(0, 3), min_size=1, max_size=3),
        choice=st.sampled_from(
            ["current", "current", "ANY", "NO_STREAM", "STREAM_EXISTS", "ahead", "behind"]
        ),
        extra=st.integers(0, 2),
    )
    def append(self, stream: str, values: list[int], choice: str, extra: int) -> None:
        current = self._version(stream)
        expected = {
            "NO_STREAM": ses.NO_STREAM,
            "ANY": ses.ANY,
            "STREAM_EXISTS": ses.STREAM_EXISTS,
            "current": ses.NO_STREAM if current is None else current,
            "ahead": (-1 if current is None else current) + 1 + extra,
            "behind": max((-1 if current is None else current) - 1 - extra, 0),
        }[choice]
        accepted = {
            ses.NO_STREAM: current is None,
            ses.ANY: True,
            ses.STREAM_EXISTS: current is not None,
        }.get(expected, expected == current)
        events = [ses.NewEvent(f"Model.T{v}", {"n": v}, event_id=uuid.uuid4()) for v in values]
        if not accepted:
            with pytest.raises(ses.WrongExpectedVersion) as info:
                self.db.append(stream, events, expected_version=expected)
            assert info.value.actual == current
            return
        result = self.db.append(stream, events, expected_version=expected)
        first = 0 if current is None else current + 1
        assert (result.first_version, result.last_version) == (first, first + len(values) - 1)
        assert result.position > self.position
        self.position = result.position
        self.stored.append((stream, events, result))
        content = self.streams.setdefault(stream, [])
        for v in values:
            self.order.append((stream, len(content)))
            content.append((f"Model.T{v}", v))

    @rule(data=st.data())
    def restructure(self, data: st.DataObject) -> None:
        existing = [s for s in _MODEL_STREAMS if s in self.streams]
        # mostly a stream with events, so that restructures pile up; sometimes any stream
        anywhere = not existing or data.draw(st.integers(0, 3), label="anywhere") == 0
        stream = data.draw(st.sampled_from(_MODEL_STREAMS if anywhere else existing))
        current = self._version(stream)
        if current is not None:  # most draws land on an event; one past the end is refused
            version = data.draw(st.integers(0, current + 1), label="version")
        else:
            version = data.draw(st.integers(0, 2), label="version")
        value = data.draw(st.none() | st.integers(0, 3), label="value")
        replacement = None if value is None else ses.NewEvent(f"Model.R{value}", {"n": value})
        if current is None:
            with pytest.raises(ses.StreamNotFound):
                self.db.restructure(stream, version, replacement, reason="model")
            return
        if version > current:
            with pytest.raises(ses.EventNotFound):
                self.db.restructure(stream, version, replacement, reason="model")
            return
        result = self.db.restructure(stream, version, replacement, reason="model")
        assert result.position > self.position
        self.position = result.position
        self.streams[stream][version] = None if value is None else (f"Model.R{value}", value)

    @precondition(lambda self: bool(self.stored))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.stored) - 1), label="batch")
        stream, events, result = self.stored[index]
        expected = data.draw(
            st.sampled_from([ses.NO_STREAM, ses.ANY, ses.STREAM_EXISTS, 0]), label="expected"
        )
        assert self.db.append(stream, events, expected_version=expected) == result

    @rule()
    def subscribe(self) -> None:
        expected = [(e.stream, e.version, e.type, e.data) for e in self.db.read_all()]
        with self.db.subscribe() as sub:
            got = [(e.stream, e.version, e.type, e.data) for e in _take(sub, len(expected))]
            assert sub.get(timeout=0) is None
        assert got == expected

    def _visible(self, stream: str, version: int) -> tuple[str, int, str, int] | None:
        content = self.streams[stream][version]
        return None if content is None else (stream, version, *content)

    @invariant()
    def streams_read_as_modelled(self) -> None:
        for stream in _MODEL_STREAMS:
            assert self.db.stream_version(stream) == self._version(stream)
            expected = [
                seen
                for version in range(len(self.streams.get(stream, [])))
                if (seen := self._visible(stream, version)) is not None
            ]
            got = [(e.stream, e.version, e.type, e.data["n"]) for e in self.db.read_stream(stream)]
            assert got == expected
            backwards = self.db.read_stream(stream, backwards=True)
            assert [(e.stream, e.version, e.type, e.data["n"]) for e in backwards] == expected[::-1]

    @invariant()
    def everything_reads_as_modelled(self) -> None:
        expected = [seen for s, v in self.order if (seen := self._visible(s, v)) is not None]
        events = self.db.read_all()
        assert [(e.stream, e.version, e.type, e.data["n"]) for e in events] == expected
        positions = [e.position for e in events]
        assert positions == sorted(set(positions))
        assert [(e.stream, e.version) for e in self.db.read_category("Acct")] == [
            (s, v) for s, v, _, _ in expected if s.startswith("Acct-")
        ]


@pytest.mark.slow
def test_store_matches_model(store: ses.Store) -> None:
    class OnThisStore(_StoreMatchesModel):
        pass

    # Every run starts on a fresh database of its own: its own streams and positions.
    OnThisStore.store = store
    run_state_machine_as_test(
        OnThisStore,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
            # A failure is reported as found: shrinking a stateful run can take minutes,
            # longer than the test may run, and its steps are few enough to read as they are.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )


__all__ = ["db", "store", *sorted(name for name in dict(globals()) if name.startswith("test_"))]
