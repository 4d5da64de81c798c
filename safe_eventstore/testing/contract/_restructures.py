"""Restructures: replacing and hiding events in every read."""

from __future__ import annotations

from typing import Any

import pytest

import safe_eventstore as ses

from ._fixtures import PATIENCE, _Background, _in_new_subscription, _new, _snapshot, _take


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
