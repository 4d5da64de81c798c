"""Our own checks of how the library's records map onto streams, beyond its test cases:
names, sparse versions, conflicts between writers, errors."""

from __future__ import annotations

import threading
import uuid

import pytest
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InterfaceError,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import Environment
from hypothesis import given, settings
from hypothesis import strategies as st

import safe_eventstore as ses
from safe_eventstore.eventsourcing import (
    SafeAggregateRecorder,
    SafeApplicationRecorder,
    SafeFactory,
    SafeProcessRecorder,
    database_name,
)
from safe_eventstore.eventsourcing._mapping import escape, id_of, stream_suffix, unescape


@pytest.fixture(params=["memory", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path) -> ses.Database:  # type: ignore[no-untyped-def]
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/store"
    store = ses.open(url)
    request.addfinalizer(store.close)
    return store.create_database("app")


def stored(oid: uuid.UUID | str, version: int, topic: str = "topic") -> StoredEvent:
    return StoredEvent(oid, version, topic, f"state{version}".encode())


@given(st.text())
def test_escaping_is_reversible_and_yields_valid_names(text: str) -> None:
    name = escape(text)
    assert unescape(name) == text
    if text and len(name) <= 255:
        assert ses.category_of(name) is not None
        from safe_eventstore._names import check_name

        check_name(name)


@given(st.one_of(st.uuids(), st.text(max_size=40)))
def test_originator_ids_survive_the_stream_name(oid: uuid.UUID | str) -> None:
    back = id_of(stream_suffix(oid))
    assert back == oid and type(back) is type(oid)


def test_string_ids_and_odd_topics_round_trip(db: ses.Database) -> None:
    recorder = SafeApplicationRecorder(db)
    ids: list[uuid.UUID | str] = [
        "account 7/a%b",
        str(uuid.uuid4()),  # a string that reads as a UUID stays a string
        uuid.uuid4(),
        "-dash",
        "",
    ]
    for oid in ids:
        recorder.insert_events([stored(oid, 1, "my module:Event Name")])
    notes = recorder.select_notifications(None, 10)
    assert [(n.originator_id, type(n.originator_id)) for n in notes] == [
        (oid, type(oid)) for oid in ids
    ]
    assert {n.topic for n in notes} == {"my module:Event Name"}
    assert recorder.select_events("account 7/a%b")[0].state == b"state1"
    assert len(recorder.select_notifications(None, 10, topics=["my module:Event Name"])) == 5


@settings(max_examples=40, deadline=None)
@given(
    versions=st.lists(st.integers(0, 60), min_size=1, max_size=25, unique=True).map(sorted),
    gt=st.none() | st.integers(-1, 62),
    lte=st.none() | st.integers(-1, 62),
    desc=st.booleans(),
    limit=st.none() | st.integers(0, 5),
)
def test_selects_match_the_librarys_meaning_on_sparse_versions(
    versions: list[int], gt: int | None, lte: int | None, desc: bool, limit: int | None
) -> None:
    with ses.open("memory://") as store:
        recorder = SafeAggregateRecorder(store.create_database("x"))
        oid = uuid.uuid4()
        half = len(versions) // 2
        recorder.insert_events([stored(oid, v) for v in versions[:half]])
        recorder.insert_events([stored(oid, v) for v in versions[half:]])
        expected = [v for v in versions if (gt is None or v > gt) and (lte is None or v <= lte)]
        if desc:
            expected.reverse()
        if limit is not None:
            expected = expected[:limit]
        fresh = SafeAggregateRecorder(store.database("x"))  # nothing cached
        for r in (recorder, fresh):
            got = r.select_events(oid, gt=gt, lte=lte, desc=desc, limit=limit)
            assert [e.originator_version for e in got] == expected


def test_an_insert_must_continue_the_stream(db: ses.Database) -> None:
    recorder = SafeAggregateRecorder(db)
    oid = uuid.uuid4()
    recorder.insert_events([stored(oid, 1), stored(oid, 5)])  # gaps are allowed
    for bad in ([stored(oid, 5)], [stored(oid, 3)], [stored(oid, 7), stored(oid, 6)]):
        with pytest.raises(IntegrityError):
            recorder.insert_events(bad)
    recorder.insert_events([stored(oid, 6)])
    assert [e.originator_version for e in recorder.select_events(oid)] == [1, 5, 6]


def test_writers_with_their_own_caches_conflict_on_the_same_version(db: ses.Database) -> None:
    one, two = SafeAggregateRecorder(db), SafeAggregateRecorder(db)
    oid = uuid.uuid4()
    one.insert_events([stored(oid, 1)])
    two.insert_events([stored(oid, 2)])  # two reads the head, one's cache goes stale
    with pytest.raises(IntegrityError):
        one.insert_events([stored(oid, 2)])
    one.insert_events([stored(oid, 3)])  # looks again and continues
    assert [e.originator_version for e in two.select_events(oid)] == [1, 2, 3]


def test_racing_writers_of_one_version_store_it_once(db: ses.Database) -> None:
    oid = uuid.uuid4()
    SafeAggregateRecorder(db).insert_events([stored(oid, 1)])
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def write() -> None:
        recorder = SafeAggregateRecorder(db)
        recorder.select_events(oid)
        barrier.wait()
        try:
            recorder.insert_events([stored(oid, 2)])
            outcomes.append("ok")
        except IntegrityError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]


def test_tracking_is_atomic_with_the_events(db: ses.Database) -> None:
    recorder = SafeProcessRecorder(db)
    oid = uuid.uuid4()
    recorder.insert_events([stored(oid, 1)], tracking=Tracking("up stream", 5))
    with pytest.raises(IntegrityError):  # the events conflict: the tracking is not moved
        recorder.insert_events([stored(oid, 1)], tracking=Tracking("up stream", 6))
    with pytest.raises(IntegrityError):  # the tracking conflicts: no event is written
        recorder.insert_events([stored(oid, 2)], tracking=Tracking("up stream", 5))
    assert recorder.max_tracking_id("up stream") == 5
    assert len(recorder.select_events(oid)) == 1
    assert db.get_checkpoint("tracking:up%20stream") == 5


def test_store_errors_become_the_librarys(db: ses.Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    recorder = SafeApplicationRecorder(db)
    with pytest.raises(DataError):
        recorder.insert_events([stored("x" * 300, 1)])
    with pytest.raises(DataError):
        SafeProcessRecorder(db).insert_tracking(Tracking("a", -1))
    env = Environment(
        "App",
        {"SAFE_EVENTSTORE_URL": f"sqlite://{tmp_path}/other", "CREATE_TABLE": "no"},
    )
    factory = SafeFactory(env)
    with pytest.raises(ProgrammingError):
        factory.application_recorder()
    factory.close()
    closed = SafeFactory(Environment("App", {"SAFE_EVENTSTORE_URL": "memory://"}))
    app_recorder = closed.application_recorder()
    closed.close()
    with pytest.raises(InterfaceError):
        app_recorder.max_notification_id()


def test_database_names_come_from_the_application() -> None:
    assert database_name("BankAccounts") == "bankaccounts"
    assert database_name("My App.v2") == "my-app-v2"
    assert database_name("__") == "eventsourcing"
    assert len(database_name("A" * 100)) == 64


def test_snapshots_live_in_their_own_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = Environment(
        "Bank", {"SAFE_EVENTSTORE_URL": f"sqlite://{tmp_path}/s", "SAFE_EVENTSTORE_DATABASE": "b"}
    )
    factory = SafeFactory(env)
    factory.application_recorder()
    factory.aggregate_recorder("snapshots")
    assert factory.store.list_databases() == ["b", "b-snapshots"]
    factory.close()
