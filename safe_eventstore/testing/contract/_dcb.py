"""Dynamic consistency boundaries: tags, queries, conditional appends."""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from collections.abc import Iterable, Iterator

import pytest

import safe_eventstore as ses

from ._fixtures import PATIENCE, _Background, _query, _snapshot


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
