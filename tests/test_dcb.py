"""Dynamic consistency boundaries where a backend promises more than the contract suite
(``safe_eventstore.testing.contract``, which tests tags, queries and conditional appends on
every backend): positions without gaps on memory and SQLite, and the SQLite format upgrade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import USER_VERSION

from .sqlite_rows import back_to_version_7
from .storage.test_sqlite import BACK_TO_VERSION_4


@pytest.fixture(params=["memory", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ses.Database]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/store"
    with ses.open(url) as store:
        yield store.create_database("dcb")


def q(*items: tuple[list[str], list[str]]) -> ses.Query:
    return ses.Query([ses.QueryItem(tuple(types), tuple(tags)) for types, tags in items])


def test_events_without_a_stream_take_the_next_positions(db: ses.Database) -> None:
    db.append_events([ses.NewEvent("CourseDefined", {"places": 2}, tags=("course-1",))])
    db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    db.append_events(
        [
            ses.NewEvent("StudentRegistered", {}, tags=("student-1",)),
            ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-1")),
        ]
    )
    assert [e.position for e in db.read_events()] == [1, 2, 3, 4]
    assert [e.position for e in db.read_events(after=1, limit=2)] == [2, 3]
    result = db.append_events(
        [ses.NewEvent("StudentJoined", {}, tags=("course-1", "student-2"))],
        condition=ses.AppendCondition(q(([], ["course-1"])), after=4),
    )
    assert result.position == 5
    ok = ses.AppendCondition(q((["Nothing"], []), ([], ["student-9"])))
    assert db.append_events([ses.NewEvent("X")], condition=ok).position == 6
    db.append("S-1", [ses.NewEvent("E", {"i": i}) for i in range(1500)])
    assert [e.position for e in db.read_category("S", from_position=1200, limit=3)] == [
        1200,
        1201,
        1202,
    ]


def test_sqlite_databases_of_format_1_gain_the_tags_index(tmp_path: Path) -> None:
    with ses.open(f"sqlite://{tmp_path}/store") as store:
        db = store.create_database("old")
        db.append("Account-1", [ses.NewEvent("Opened", {}, tags=("owner-7",))])
    path = tmp_path / "store" / "old.sqlite3"
    conn = sqlite3.connect(path)
    back_to_version_7(conn)
    conn.executescript(BACK_TO_VERSION_4)
    conn.executescript(
        "DROP TABLE tags; ALTER TABLE entries DROP COLUMN payload; PRAGMA user_version = 1;"
    )
    conn.close()
    with ses.open(f"sqlite://{tmp_path}/store") as store:
        db = store.database("old")
        assert [e.type for e in db.read_events(q(([], ["owner-7"])))] == ["Opened"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
    conn.close()
