"""Dynamic consistency boundaries on NATS: tagged events, queries, conditional appends whose
condition the server enforces. Positions on NATS skip numbers, so they are compared by order."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

import safe_eventstore as ses

from ..conftest import fresh_store


@pytest.fixture(params=["single", "cluster"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from fresh_store(request, request.param)


@pytest.fixture
def db(store_url: str) -> Iterator[ses.Database]:
    with ses.open(store_url) as store:
        yield store.create_database("dcb")


def q(*items: tuple[list[str], list[str]]) -> ses.Query:
    return ses.Query([ses.QueryItem(tuple(types), tuple(tags)) for types, tags in items])


def fill(db: ses.Database) -> list[int]:
    db.append_events([ses.NewEvent("CourseDefined", {"places": 2}, tags=("course-1",))])
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    db.append_events(
        [
            ses.NewEvent("StudentRegistered", {}, tags=("student-1",)),
            ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-1")),
        ]
    )
    return [e.position for e in db.read_events()]


def types_of(events: ses.RecordedEvents) -> list[str]:
    return [e.type for e in events]


def test_tags_are_stored_and_read_back(db: ses.Database) -> None:
    positions = fill(db)
    assert [(e.type, e.tags) for e in db.read_events()] == [
        ("CourseDefined", ("course-1",)),
        ("Opened", ("owner-7",)),
        ("StudentRegistered", ("student-1",)),
        ("StudentJoined", ("course-1", "student-1")),
    ]
    assert positions == sorted(set(positions)) and positions[0] == 1
    assert positions[3] == positions[2] + 1  # one append: consecutive positions
    assert db.read_stream("Account-1")[0].tags == ("owner-7",)


def test_queries_select_by_type_and_tag(db: ses.Database) -> None:
    fill(db)
    assert types_of(db.read_events(q(([], ["course-1"])))) == ["CourseDefined", "StudentJoined"]
    assert types_of(db.read_events(q(([], ["course-1", "student-1"])))) == ["StudentJoined"]
    assert types_of(db.read_events(q((["StudentJoined", "Opened"], [])))) == [
        "Opened",
        "StudentJoined",
    ]
    assert types_of(db.read_events(q((["Opened"], [])))) == ["Opened"]
    assert types_of(db.read_events(q((["CourseDefined"], ["student-1"])))) == []
    either = q((["CourseDefined"], ["course-1"]), ([], ["owner-7"]))
    assert types_of(db.read_events(either)) == ["CourseDefined", "Opened"]
    assert types_of(db.read_events(q(([], ["nobody"])))) == []
    assert types_of(db.read_events(ses.Query())) == types_of(db.read_all())


def test_reads_take_after_and_limit(db: ses.Database) -> None:
    p = fill(db)
    assert [e.position for e in db.read_events(after=p[1])] == p[2:]
    assert [e.position for e in db.read_events(after=p[0], limit=2)] == p[1:3]
    assert [e.position for e in db.read_events(q(([], ["course-1"])), after=p[0])] == [p[3]]
    assert list(db.read_events(limit=0)) == []
    assert list(db.read_events(after=p[3])) == []


def test_a_matching_event_after_the_position_fails_the_append(db: ses.Database) -> None:
    p = fill(db)
    before = db.last_position()
    condition = ses.AppendCondition(q(([], ["course-1"])), after=p[0])
    with pytest.raises(ses.AppendConditionFailed):
        db.append_events(
            [ses.NewEvent("StudentJoined", {}, tags=("course-1",))], condition=condition
        )
    with pytest.raises(ses.AppendConditionFailed):  # no position: anywhere
        db.append_events([ses.NewEvent("X")], condition=ses.AppendCondition(q(([], ["owner-7"]))))
    with pytest.raises(ses.AppendConditionFailed):  # an empty query matches every event
        db.append_events([ses.NewEvent("X")], condition=ses.AppendCondition(after=p[2]))
    with pytest.raises(ses.AppendConditionFailed):  # by type alone
        db.append_events([ses.NewEvent("X")], condition=ses.AppendCondition(q((["Opened"], []))))
    assert db.last_position() == before


def test_events_at_or_before_the_position_do_not_fail_it(db: ses.Database) -> None:
    p = fill(db)
    result = db.append_events(
        [ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-2"))],
        condition=ses.AppendCondition(q(([], ["course-1"])), after=p[3]),
    )
    assert result.position > p[3]
    ok = ses.AppendCondition(q((["Nothing"], []), ([], ["student-9"])))
    assert db.append_events([ses.NewEvent("X")], condition=ok).position > result.position


def test_a_condition_sees_stream_events(db: ses.Database) -> None:
    first = db.append_events([ses.NewEvent("A")])
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    with pytest.raises(ses.AppendConditionFailed):
        db.append_events(
            [ses.NewEvent("B")],
            condition=ses.AppendCondition(q(([], ["owner-7"])), after=first.position),
        )


def test_retries_are_idempotent(db: ses.Database) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    events = [ses.NewEvent("A", {}, event_id=ids[0]), ses.NewEvent("B", {}, event_id=ids[1])]
    condition = ses.AppendCondition(q((["A"], [])), after=0)
    first = db.append_events(events, condition=condition)
    assert db.append_events(events, condition=condition) == first
    assert len(db.read_events()) == 2
    with pytest.raises(ses.IdempotencyConflict):
        db.append_events([events[0], ses.NewEvent("C")])


def test_racing_appends_with_one_condition_store_one(store_url: str) -> None:
    """Eight threads on four connections book the same seat, each after reading that it is
    free: the server lets exactly one of them in."""
    stores = [ses.open(store_url) for _ in range(4)]
    try:
        stores[0].create_database("race")
        boundary = q(([], ["seat-1"]))
        wins: list[int] = []
        losses: list[int] = []
        barrier = threading.Barrier(8)

        def book(i: int) -> None:
            db = stores[i % len(stores)].database("race")
            barrier.wait()
            try:
                db.append_events(
                    [ses.NewEvent("SeatBooked", {"by": i}, tags=("seat-1",))],
                    condition=ses.AppendCondition(boundary, after=0),
                )
                wins.append(i)
            except ses.AppendConditionFailed:
                losses.append(i)

        threads = [threading.Thread(target=book, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1 and len(losses) == 7
        assert len(stores[0].database("race").read_events(boundary)) == 1
    finally:
        for s in stores:
            s.close()


def test_a_condition_is_checked_against_events_of_other_clients(store_url: str) -> None:
    """Between one client's read and its append, another client stores an event of the
    boundary: the append fails, whoever remembers what."""
    with ses.open(store_url) as first, ses.open(store_url) as second:
        a = first.create_database("seats")
        b = second.database("seats")
        boundary = q((["SeatBooked"], ["seat-2"]))
        seen = a.last_position()
        b.append("Booking-1", [ses.NewEvent("SeatBooked", {}, tags=("seat-2", "vip"))])
        with pytest.raises(ses.AppendConditionFailed):
            a.append_events(
                [ses.NewEvent("SeatBooked", {}, tags=("seat-2",))],
                condition=ses.AppendCondition(boundary, after=seen),
            )
        # an event with the tag but not the type does not count
        b.append("Booking-2", [ses.NewEvent("SeatReleased", {}, tags=("seat-2",))])
        seen = a.last_position()
        a.append_events(
            [ses.NewEvent("SeatBooked", {}, tags=("seat-3",))],
            condition=ses.AppendCondition(q(([], ["seat-3"])), after=seen),
        )


def test_restructures_apply_to_queries(db: ses.Database) -> None:
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    db.restructure("Account-1", 0, ses.NewEvent("Opened", {}, tags=("owner-8",)), reason="typo")
    assert list(db.read_events(q(([], ["owner-7"])))) == []
    assert types_of(db.read_events(q(([], ["owner-8"])))) == ["Opened"]


def test_events_without_a_stream_are_chained_and_verified(db: ses.Database) -> None:
    fill(db)
    assert "$events" in db.list_streams()
    report = db.verify()
    assert report.ok and report.entries == 4


def test_a_checkpoint_moves_forward_alone(db: ses.Database) -> None:
    assert db.append_batch([], checkpoint=("tracking", 3)) == []
    assert db.get_checkpoint("tracking") == 3
    with pytest.raises(ses.CheckpointConflict):
        db.append_batch([], checkpoint=("tracking", 3))
    assert db.append_batch([], checkpoint=("tracking", 4)) == []
    assert db.get_checkpoint("tracking") == 4


def test_the_reserved_stream_can_be_read_not_written(db: ses.Database) -> None:
    db.append_events([ses.NewEvent("A", {}, tags=("t",))])
    assert db.stream_version("$events") == 0
    assert [e.type for e in db.read_stream("$events")] == ["A"]
    with db.subscribe(stream="$events", idle_timeout=0.1) as sub:
        assert [e.type for e in sub] == ["A"]
    with pytest.raises(ses.InvalidName):
        db.append("$events", [ses.NewEvent("B")])


def test_reads_by_tag_page_through_many_events(db: ses.Database) -> None:
    for b in range(11):
        db.append_events(
            [
                ses.NewEvent("Ticked", {"n": 100 * b + i}, tags=(f"parity-{i % 2}", "clock"))
                for i in range(100)
            ]
        )
    db.append("Other-1", [ses.NewEvent("Ticked", {"n": -1}, tags=("parity-0",))])
    even = db.read_events(q(([], ["parity-0", "clock"])))
    assert [e.data["n"] for e in even] == list(range(0, 1100, 2))
    odd = db.read_events(q((["Ticked"], ["parity-1"])))
    assert [e.data["n"] for e in odd] == list(range(1, 1100, 2))
    assert len(db.read_events(q(([], ["parity-0"])))) == 551
    after = even[300].position
    assert [e.data["n"] for e in db.read_events(q(([], ["clock"])), after=after, limit=3)] == [
        601,
        602,
        603,
    ]
    either = q(([], ["parity-1"]), (["Ticked"], ["parity-0"]))
    assert len(db.read_events(either)) == 1101
