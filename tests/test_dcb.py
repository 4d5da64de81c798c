"""Dynamic consistency boundaries in the store: tagged events, queries by type and tag,
conditional appends. Run against every backend that has landed."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import USER_VERSION

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ses.Store]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/store"
    with ses.open(url) as store:
        yield store


@pytest.fixture
def db(store: ses.Store) -> ses.Database:
    return store.create_database("dcb")


def q(*items: tuple[list[str], list[str]]) -> ses.Query:
    return ses.Query([ses.QueryItem(tuple(types), tuple(tags)) for types, tags in items])


def fill(db: ses.Database) -> None:
    db.append_events([ses.NewEvent("CourseDefined", {"places": 2}, tags=("course-1",))])
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    db.append_events(
        [
            ses.NewEvent("StudentRegistered", {}, tags=("student-1",)),
            ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-1")),
        ]
    )


def types_of(events: ses.RecordedEvents) -> list[str]:
    return [e.type for e in events]


def test_tags_are_stored_and_read_back(db: ses.Database) -> None:
    fill(db)
    assert [(e.type, e.tags, e.position) for e in db.read_events()] == [
        ("CourseDefined", ("course-1",), 1),
        ("Opened", ("owner-7",), 2),
        ("StudentRegistered", ("student-1",), 3),
        ("StudentJoined", ("course-1", "student-1"), 4),
    ]
    assert db.read_stream("Account-1")[0].tags == ("owner-7",)


def test_queries_select_by_type_and_tag(db: ses.Database) -> None:
    fill(db)
    assert types_of(db.read_events(q(([], ["course-1"])))) == ["CourseDefined", "StudentJoined"]
    assert types_of(db.read_events(q(([], ["course-1", "student-1"])))) == ["StudentJoined"]
    assert types_of(db.read_events(q((["StudentJoined", "Opened"], [])))) == [
        "Opened",
        "StudentJoined",
    ]
    assert types_of(db.read_events(q((["CourseDefined"], ["student-1"])))) == []
    either = q((["CourseDefined"], ["course-1"]), ([], ["owner-7"]))
    assert types_of(db.read_events(either)) == ["CourseDefined", "Opened"]
    assert types_of(db.read_events(q(([], ["nobody"])))) == []
    assert types_of(db.read_events(ses.Query())) == types_of(db.read_all())


def test_reads_take_after_and_limit(db: ses.Database) -> None:
    fill(db)
    assert [e.position for e in db.read_events(after=2)] == [3, 4]
    assert [e.position for e in db.read_events(after=1, limit=2)] == [2, 3]
    assert [e.position for e in db.read_events(q(([], ["course-1"])), after=1)] == [4]
    assert list(db.read_events(limit=0)) == []
    assert list(db.read_events(after=4)) == []


def test_a_matching_event_after_the_position_fails_the_append(db: ses.Database) -> None:
    fill(db)
    before = db.last_position()
    condition = ses.AppendCondition(q(([], ["course-1"])), after=1)
    with pytest.raises(ses.AppendConditionFailed):
        db.append_events(
            [ses.NewEvent("StudentJoined", {}, tags=("course-1",))], condition=condition
        )
    assert db.last_position() == before
    with pytest.raises(ses.AppendConditionFailed):  # no position: anywhere
        db.append_events([ses.NewEvent("X")], condition=ses.AppendCondition(q(([], ["owner-7"]))))
    with pytest.raises(ses.AppendConditionFailed):  # an empty query matches every event
        db.append_events([ses.NewEvent("X")], condition=ses.AppendCondition(after=3))
    assert db.last_position() == before


def test_events_at_or_before_the_position_do_not_fail_it(db: ses.Database) -> None:
    fill(db)
    result = db.append_events(
        [ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-2"))],
        condition=ses.AppendCondition(q(([], ["course-1"])), after=4),
    )
    assert result.position == 5
    ok = ses.AppendCondition(q((["Nothing"], []), ([], ["student-9"])))
    assert db.append_events([ses.NewEvent("X")], condition=ok).position == 6


def test_a_condition_sees_stream_events(db: ses.Database) -> None:
    db.append_events([ses.NewEvent("A")])
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    with pytest.raises(ses.AppendConditionFailed):
        db.append_events(
            [ses.NewEvent("B")], condition=ses.AppendCondition(q(([], ["owner-7"])), after=1)
        )


def test_retries_are_idempotent(db: ses.Database) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    events = [ses.NewEvent("A", {}, event_id=ids[0]), ses.NewEvent("B", {}, event_id=ids[1])]
    condition = ses.AppendCondition(q((["A"], [])), after=0)
    first = db.append_events(events, condition=condition)
    # The retry's own events would now fail the condition: it is recognised first.
    assert db.append_events(events, condition=condition) == first
    assert len(db.read_events()) == 2
    with pytest.raises(ses.IdempotencyConflict):
        db.append_events([events[0], ses.NewEvent("C")])


def test_racing_appends_with_one_condition_store_one(store: ses.Store, tmp_path: Path) -> None:
    store.create_database("race")
    stores = [store] if store.url.startswith("memory") else [ses.open(store.url) for _ in range(4)]
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
    if len(stores) > 1:
        for s in stores:
            s.close()
    assert len(wins) == 1 and len(losses) == 7
    assert len(store.database("race").read_events(boundary)) == 1


def test_restructures_apply_to_queries(db: ses.Database) -> None:
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    db.restructure("Account-1", 0, ses.NewEvent("Opened", {}, tags=("owner-8",)), reason="typo")
    assert list(db.read_events(q(([], ["owner-7"])))) == []
    assert types_of(db.read_events(q(([], ["owner-8"])))) == ["Opened"]


def test_bad_queries_and_conditions_are_rejected(db: ses.Database) -> None:
    with pytest.raises(ses.InvalidName):
        db.read_events(q(([], ["has space"])))
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
    fill(db)
    assert "$events" in db.list_streams()
    report = db.verify()
    assert report.ok and report.entries == 4


def test_a_checkpoint_moves_forward_alone(db: ses.Database) -> None:
    assert db.append_batch([], checkpoint=("tracking", 3)) == []
    assert db.get_checkpoint("tracking") == 3
    with pytest.raises(ses.CheckpointConflict):
        db.append_batch([], checkpoint=("tracking", 3))
    with pytest.raises(ses.InvalidEvent):
        db.append_batch([])


def test_small_limits_read_small_pages(db: ses.Database) -> None:
    db.append("S-1", [ses.NewEvent("E", {"i": i}) for i in range(1500)])
    assert [e.position for e in db.read_category("S", from_position=1200, limit=3)] == [
        1200,
        1201,
        1202,
    ]
    assert types_of(db.read_category("S", types=["Other"])) == []


def test_sqlite_databases_of_format_1_gain_the_tags_index(tmp_path: Path) -> None:
    with ses.open(f"sqlite://{tmp_path}/store") as store:
        db = store.create_database("old")
        db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    path = tmp_path / "store" / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TABLE tags; ALTER TABLE entries DROP COLUMN payload; PRAGMA user_version = 1;"
    )
    conn.close()
    with ses.open(f"sqlite://{tmp_path}/store") as store:
        db = store.database("old")
        assert types_of(db.read_events(q(([], ["owner-7"])))) == ["Opened"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
    conn.close()


def test_the_reserved_stream_can_be_read_not_written(db: ses.Database) -> None:
    db.append_events([ses.NewEvent("A", {}, tags=("t",))])
    assert db.stream_version("$events") == 0
    assert [e.type for e in db.read_stream("$events")] == ["A"]
    with db.subscribe(stream="$events", idle_timeout=0.1) as sub:
        assert [e.type for e in sub] == ["A"]
    with pytest.raises(ses.InvalidName):
        db.append("$events", [ses.NewEvent("B")])
    with pytest.raises(ses.InvalidName):
        db.restructure("$events", 0, reason="no")


def test_the_async_api_has_the_same_calls(tmp_path: Path) -> None:
    import asyncio

    async def run() -> list[str]:
        async with ses.open_async("memory://") as store:
            db = await store.create_database("a")
            await db.append_events([ses.NewEvent("A", {}, tags=("t",))])
            with pytest.raises(ses.AppendConditionFailed):
                await db.append_events([ses.NewEvent("B")], condition=ses.AppendCondition())
            assert await db.last_position() == 1
            return [e.type async for e in db.read_events(q(([], ["t"])))]

    assert asyncio.run(run()) == ["A"]
