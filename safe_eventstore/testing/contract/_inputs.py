"""Bad input to the database API gets a typed error before anything is stored: numbers beyond
what a backend can hold, checkpoints beyond the end, reserved metadata keys, one string given
as tags or types; and what is given (timestamps, ids) is kept as given."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

import safe_eventstore as ses

HUGE = [2**63, 10**30]


def _seed(db: ses.Database) -> ses.Database:
    """The database with one event, ``Account-1`` v0."""
    db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"})])
    return db


def _state(db: ses.Database) -> tuple[Any, ...]:
    """What a refused call must leave unchanged."""
    return (
        db.last_position(),
        [(e.stream, e.type, e.metadata, e.tags) for e in db.read_all()],
        db.get_checkpoint("cp"),
    )


CALLS: dict[str, Callable[[ses.Database, int], object]] = {
    "read_stream from_version": lambda db, n: list(db.read_stream("Account-1", from_version=n)),
    "read_stream backwards": lambda db, n: list(
        db.read_stream("Account-1", from_version=n, backwards=True)
    ),
    "read_stream limit": lambda db, n: list(db.read_stream("Account-1", limit=n)),
    "read_all from_position": lambda db, n: list(db.read_all(from_position=n)),
    "read_all limit": lambda db, n: list(db.read_all(limit=n)),
    "read_all backwards": lambda db, n: list(db.read_all(from_position=n, backwards=True)),
    "read_category": lambda db, n: list(db.read_category("Account", from_position=n)),
    "read_events after": lambda db, n: list(db.read_events(after=n)),
    "read_events limit": lambda db, n: list(db.read_events(limit=n)),
    "list_streams limit": lambda db, n: db.list_streams(limit=n),
    "save_checkpoint": lambda db, n: db.save_checkpoint("cp", n),
    "subscribe": lambda db, n: db.subscribe(from_position=n, idle_timeout=0).get(0),
    "append expected_version": lambda db, n: db.append(
        "Account-1", [ses.NewEvent("Deposited")], expected_version=n
    ),
    "append_batch checkpoint": lambda db, n: db.append_batch(
        [ses.StreamAppend("Account-1", [ses.NewEvent("Deposited")])], checkpoint=("cp", n)
    ),
    "append_events condition": lambda db, n: db.append_events(
        [ses.NewEvent("Deposited")], condition=ses.AppendCondition(after=n)
    ),
    "restructure version": lambda db, n: db.restructure("Account-1", n, reason="typo"),
}


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_numbers_beyond_64_bits_are_refused_before_the_storage(
    db: ses.Database, call: str, number: int
) -> None:
    _seed(db)
    before = _state(db)
    with pytest.raises(ses.InvalidInput, match=r"2\*\*63-1"):
        CALLS[call](db, number)
    assert _state(db) == before


def test_the_largest_numbers_read_as_nothing(db: ses.Database) -> None:
    _seed(db)
    top = 2**63 - 1
    assert list(db.read_stream("Account-1", from_version=top)) == []
    assert [e.version for e in db.read_stream("Account-1", from_version=top, backwards=True)] == [0]
    assert list(db.read_all(from_position=top)) == []
    assert list(db.read_events(after=top)) == []
    assert len(db.read_all(limit=top)) == 1
    assert db.list_streams(limit=top) == ["Account-1"]


def test_a_checkpoint_beyond_the_last_position_is_refused(db: ses.Database) -> None:
    _seed(db)
    last = db.last_position()
    with pytest.raises(ses.InvalidInput, match="beyond"):
        db.save_checkpoint("cp", last + 1)
    assert db.get_checkpoint("cp") is None
    db.save_checkpoint("cp", last)
    assert db.get_checkpoint("cp") == last
    db.save_checkpoint("cp", 0)  # moving back is a reset, and allowed
    assert db.get_checkpoint("cp") == 0


def test_a_subscription_cannot_save_a_checkpoint_beyond_the_end(db: ses.Database) -> None:
    _seed(db)
    with db.subscribe(checkpoint="cp", idle_timeout=0) as sub:
        with pytest.raises(ses.InvalidInput, match="beyond"):
            sub.save_checkpoint(db.last_position() + 5)
    assert db.get_checkpoint("cp") is None


# -- metadata, tags and type filters ---------------------------------------------------------


@pytest.mark.parametrize("key", ["$restructure", "$hidden", "$anything"])
def test_metadata_keys_starting_with_dollar_are_reserved(db: ses.Database, key: str) -> None:
    _seed(db)
    before = _state(db)
    bad = ses.NewEvent("Deposited", {"amount": 1}, metadata={"user": "ann", key: 1})
    with pytest.raises(ses.InvalidEvent, match="own use"):
        db.append("Account-1", [bad])
    with pytest.raises(ses.InvalidEvent):
        db.append_events([bad])
    with pytest.raises(ses.InvalidEvent):
        db.restructure("Account-1", 0, bad, reason="typo")
    assert _state(db) == before


def test_dollar_inside_metadata_values_and_nested_keys_is_data(db: ses.Database) -> None:
    _seed(db)
    metadata = {"user": "$ann", "nested": {"$key": 1}}
    db.append("Account-1", [ses.NewEvent("Deposited", metadata=metadata)])
    assert db.read_stream("Account-1")[-1].metadata == metadata


@pytest.mark.parametrize("tags", ["abc", b"abc"])
def test_one_string_as_tags_is_refused_by_append(db: ses.Database, tags: Any) -> None:
    _seed(db)
    before = _state(db)
    with pytest.raises(ses.InvalidEvent, match="tags"):
        db.append("Account-1", [ses.NewEvent("Deposited", tags=tags)])
    # an event whose tags were set behind NewEvent's back is refused by the append itself
    event = ses.NewEvent("Deposited")
    msgspec.structs.force_setattr(event, "tags", tags)
    with pytest.raises(ses.InvalidEvent, match="tags"):
        db.append("Account-1", [event])
    with pytest.raises(ses.InvalidEvent, match="tags"):
        db.append_events([event])
    assert _state(db) == before


def test_tags_given_as_a_list_are_still_taken(db: ses.Database) -> None:
    _seed(db)
    db.append_events([ses.NewEvent("Deposited", tags=["course-7", "student-3"])])  # type: ignore[arg-type]
    (event,) = db.read_events(ses.Query([ses.QueryItem(tags=("course-7",))]))
    assert event.tags == ("course-7", "student-3")


@pytest.mark.parametrize("types", ["Opened", b"Opened", 3])
def test_one_string_as_a_type_filter_is_refused(db: ses.Database, types: Any) -> None:
    _seed(db)
    with pytest.raises(ses.InvalidInput, match="types"):
        db.read_all(types=types)
    with pytest.raises(ses.InvalidInput, match="types"):
        db.read_category("Account", types=types)


def test_list_streams_refuses_an_after_that_is_not_a_name(db: ses.Database) -> None:
    _seed(db)
    with pytest.raises(ses.InvalidInput, match="after"):
        db.list_streams(after=3)  # type: ignore[arg-type]


# -- timestamps and ids given ----------------------------------------------------------------


def test_a_given_timestamp_is_kept_to_the_microsecond(db: ses.Database) -> None:
    _seed(db)
    when = datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2)))
    db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 1}, timestamp=when)])
    stored = list(db.read_stream("Account-1"))[-1]
    assert stored.timestamp == when and stored.timestamp.tzinfo == UTC


@pytest.mark.parametrize("when", [datetime(2024, 1, 1), "2024-01-01T00:00:00Z", 1700000000])
def test_a_timestamp_must_be_a_timezone_aware_datetime(db: ses.Database, when: Any) -> None:
    _seed(db)
    before = _state(db)
    with pytest.raises(ses.InvalidEvent, match="timezone-aware datetime"):
        db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 1}, timestamp=when)])
    assert _state(db) == before


def test_a_hiding_restructure_takes_the_id_and_time_it_is_given(db: ses.Database) -> None:
    _seed(db)
    entry_id = uuid.uuid4()
    when = datetime(2020, 5, 17, 8, 0, tzinfo=UTC)
    db.restructure("Account-1", 0, reason="mistake", event_id=entry_id, timestamp=when)
    marker = list(db.read_stream("Account-1", raw=True))[-1]
    assert (marker.kind, marker.event_id, marker.timestamp) == ("restructure", entry_id, when)
    assert db.verify().ok


def test_a_replacement_carries_its_own_id_and_time(db: ses.Database) -> None:
    _seed(db)
    before = _state(db)
    with pytest.raises(ses.InvalidEvent, match="carries its own"):
        db.restructure(
            "Account-1", 0, ses.NewEvent("Opened", {"owner": "bob"}), reason="typo",
            event_id=uuid.uuid4(),
        )  # fmt: skip
    assert _state(db) == before
