"""Appends: expected versions, atomic batches, idempotent retries."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

import safe_eventstore as ses

from ._fixtures import PATIENCE, _Background, _new, _snapshot

# -- expected versions and atomic batches ----------------------------------------------------


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


def test_a_retry_with_the_same_event_objects_stores_them_once(db: ses.Database) -> None:
    # A NewEvent gets its id when it is made, so the same objects sent again (the retry of
    # a call whose answer was lost) are recognised, through every way of appending.
    events = [_new("Placed", n=1), _new("Paid", n=2)]
    first = db.append("Order-1", events, expected_version=ses.NO_STREAM)
    batch = [
        ses.StreamAppend("Order-2", [_new("Placed")], expected_version=ses.NO_STREAM),
        ses.StreamAppend("Order-3", [_new("Placed"), _new("Paid")]),
    ]
    results = db.append_batch(batch)
    tagged = [ses.NewEvent("CourseCreated", {}, tags=("course-1",))]
    condition = ses.AppendCondition(ses.Query([ses.QueryItem(tags=("course-1",))]))
    dcb = db.append_events(tagged, condition=condition)
    before = _snapshot(db)
    for _ in range(2):
        assert db.append("Order-1", events, expected_version=ses.NO_STREAM) == first
        assert db.append_batch(batch) == results
        # the retry is answered from what is stored, before the condition is looked at
        assert db.append_events(tagged, condition=condition) == dcb
    assert _snapshot(db) == before
    assert [e.type for e in db.read_stream("Order-1")] == ["Placed", "Paid"]
    assert [e.event_id for e in db.read_stream("Order-1")] == [e.event_id for e in events]
    # an event like one stored before, made anew, is a new event
    assert db.append("Order-1", [_new("Placed", n=1)]).first_version == 2


def test_a_retry_with_a_concrete_expected_version_is_found_where_it_was_stored(
    db: ses.Database,
) -> None:
    # Made ids with an expected version are found by position: the retry's events can only
    # be at the versions right after the one it expects, however far the stream moved on.
    db.append("Order-1", [_new("Opened")])
    events = [_new("Placed", n=1), _new("Paid", n=2)]
    first = db.append("Order-1", events, expected_version=0)
    made = [_new("Placed")]
    batch = [
        ses.StreamAppend("Order-2", made, expected_version=ses.NO_STREAM),
        ses.StreamAppend("Order-3", [_new("Placed", n=3)], expected_version=ses.NO_STREAM),
    ]
    results = db.append_batch(batch)
    db.append("Order-1", [_new("Shipped")], expected_version=2)  # someone else, in between
    db.append("Order-2", [_new("Paid")], expected_version=0)
    db.append("Order-4", [_new("Placed")])
    before = _snapshot(db)
    for _ in range(2):
        assert db.append("Order-1", events, expected_version=0) == first
        assert db.append_batch(batch) == results
        assert db.append("Order-2", made, expected_version=ses.NO_STREAM) == results[0]
    assert _snapshot(db) == before
    assert [e.type for e in db.read_stream("Order-1")] == ["Opened", "Placed", "Paid", "Shipped"]
    # the same call whose expected version was wrong from the start is refused, as before
    with pytest.raises(ses.WrongExpectedVersion):
        db.append("Order-1", [_new("Returned")], expected_version=1)
    with pytest.raises(ses.WrongExpectedVersion):
        db.append("Order-1", events, expected_version=5)
    assert _snapshot(db) == before


def test_a_partial_overlap_by_position_is_an_idempotency_conflict(db: ses.Database) -> None:
    # A write whose events are partly those stored right after its expected version is no
    # retry of one call (a call is stored whole or not at all): refused as a conflict, as a
    # partial overlap of ids the caller gave is. None of them there: a wrong version.
    placed, paid = _new("Placed"), _new("Paid")
    db.append("Order-1", [placed, paid], expected_version=ses.NO_STREAM)
    before = _snapshot(db)
    for events in ([placed, _new("Paid")], [_new("Placed"), paid], [placed, paid, _new("X")]):
        with pytest.raises(ses.IdempotencyConflict):
            db.append("Order-1", events, expected_version=ses.NO_STREAM)
    with pytest.raises(ses.IdempotencyConflict):
        db.append_batch([ses.StreamAppend("Order-1", [paid, _new("X")], expected_version=0)])
    for events in ([paid, placed], [_new("Placed")]):
        with pytest.raises(ses.WrongExpectedVersion):
            db.append("Order-1", events, expected_version=ses.NO_STREAM)
    assert _snapshot(db) == before


def test_a_retry_without_a_concrete_expected_version_is_found_by_id(db: ses.Database) -> None:
    # ANY and STREAM_EXISTS say nothing of where the events went: such a retry, an
    # append_events retry, and ids that lost their making (rebuilt from their value, as a
    # decoded event's are) are looked up by event id.
    db.append("Order-1", [_new("Opened")])
    anywhere = [_new("Placed")]
    existing = [_new("Paid")]
    first = db.append("Order-1", anywhere)
    second = db.append("Order-1", existing, expected_version=ses.STREAM_EXISTS)
    rebuilt = [ses.NewEvent("Shipped", {}, event_id=uuid.UUID(bytes=uuid.uuid4().bytes))]
    third = db.append("Order-1", rebuilt, expected_version=2)
    db.append("Order-1", [_new("Closed")])
    before = _snapshot(db)
    assert db.append("Order-1", anywhere) == first
    assert db.append("Order-1", anywhere, expected_version=ses.STREAM_EXISTS) == first
    assert db.append("Order-1", existing, expected_version=ses.STREAM_EXISTS) == second
    assert db.append("Order-1", rebuilt) == third
    assert db.append("Order-1", rebuilt, expected_version=2) == third
    assert _snapshot(db) == before


def test_an_id_the_store_generated_is_not_a_retry_key(db: ses.Database) -> None:
    # An event made with event_id=None gets a new id at each append, so it cannot be
    # retried by id; ids taken from a read and appended again make new events.
    db.append("Order-1", [ses.NewEvent("Placed", {}, event_id=None)])
    placed = db.read_stream("Order-1")[0]
    again = ses.NewEvent("Placed", placed.data, event_id=placed.event_id)
    result = db.append("Order-1", [again], expected_version=0)
    assert (result.first_version, result.last_version) == (1, 1)
    assert [e.event_id for e in db.read_stream("Order-1")] == [placed.event_id] * 2
    # given once, the id is a key from then on
    assert db.append("Order-1", [again], expected_version=0) == result
    anonymous = [ses.NewEvent("Paid", {}, event_id=None)]
    db.append("Order-1", anonymous)
    db.append("Order-1", anonymous)
    assert [e.type for e in db.read_stream("Order-1")] == ["Placed"] * 2 + ["Paid"] * 2
