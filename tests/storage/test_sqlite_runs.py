"""A write's rows inserted as a run (values shared by its rows bound once, see
storage/sqlite/_rows.py) are the rows that binding every value writes."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import SqliteStorage, _append, _rows, _usual

_START = datetime(2026, 1, 1, tzinfo=UTC)
_RESTRUCTURE = uuid.UUID("01234567-89ab-7def-8123-456789abcdef")


def _events(n: int, *, first: int = 0, given: bool = False) -> list[ses.NewEvent]:
    """Events with fixed timestamps, so that two stores store the same records."""
    return [
        ses.NewEvent(
            "Deposited" if i % 3 else "Opened",
            {"n": i, "note": "x" * (i % 7)},
            tags=("big",) if i % 5 == 0 else (),
            timestamp=_START + timedelta(seconds=i),
            **({"event_id": uuid.uuid4()} if given else {}),
        )
        for i in range(first, first + n)
    ]


History = dict[str, list[ses.NewEvent]]


def _writes() -> History:
    """Writes of every shape: runs of one and of several statements, writes too small to be
    runs, a write with a payload kept in a row of its own, ids made and given."""
    large = _events(12, first=500)
    large[6] = ses.NewEvent("Deposited", {"n": 506, "blob": "y" * 1000}, timestamp=_START)
    return {
        "long": _events(300),
        "short": _events(3, first=300),
        "batched": _events(20, first=400),
        "given": _events(40, first=700, given=True),
        "large": large,
        "more": _events(9, first=600),
    }


def _history(db: ses.Database, w: History) -> None:
    db.append("Account-1", w["long"], expected_version=ses.NO_STREAM)
    db.append_batch(
        [
            ses.StreamAppend("Account-2", w["short"], ses.NO_STREAM),
            ses.StreamAppend("Account-3", w["batched"], ses.NO_STREAM),
        ]
    )
    db.append("Account-2", w["given"])  # ANY: the ids are indexed
    db.append("Account-4", w["large"])
    db.append("Account-1", w["more"], expected_version=299)
    db.restructure(
        "Account-1", 5, None, reason="entered twice", event_id=_RESTRUCTURE, timestamp=_START
    )


def _rows_of(directory: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(directory / "bank.sqlite3")
    try:
        return conn.execute("SELECT * FROM entries ORDER BY position").fetchall()
    finally:
        conn.close()


def _store(
    directory: Path, writes: History, setup: Callable[[sqlite3.Connection], None] | None = None
) -> list[tuple[object, ...]]:
    """The entry rows of a store given ``writes``; ``setup`` gets the appends' connection."""
    with ses.open(str(directory)) as store:
        db = store.create_database("bank")
        storage = store.storage
        assert isinstance(storage, SqliteStorage)
        if setup is not None:
            storage._group("bank")
            setup(storage._writers[-1].connection())
        _history(db, writes)
        assert db.verify().ok
        # version 5 is restructured away
        assert [e.version for e in db.read_stream("Account-1")] == [*range(5), *range(6, 309)]
        assert [e.data["n"] for e in db.read_stream("Account-3")] == list(range(400, 420))
        assert [e.data["n"] for e in db.read_stream("Account-4")] == list(range(500, 512))
        tagged = db.read_events(ses.Query([ses.QueryItem(tags=["big"])]))
        # (version 5 of Account-1, restructured away, carried the tag)
        assert len(tagged) == sum(1 for es in writes.values() for e in es if e.tags) - 1
        assert db.append("Account-1", writes["more"], expected_version=299).last_version == 308
    return _rows_of(directory)


def test_runs_write_the_rows_that_binding_every_value_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _writes()  # the same objects in both stores: the same ids
    statements: list[str] = []
    runs = _store(tmp_path / "runs", writes, lambda c: c.set_trace_callback(statements.append))
    # (the statements traced have their values filled in) runs, which compute the size:
    # Account-1 (300 rows: three statements, then nine), Account-3, Account-2's ids given;
    # not Account-2's first three, Account-4 (a payload row) nor the restructure
    inserts = [s for s in statements if s.startswith("INSERT INTO entries")]
    assert sum("length(" in s for s in inserts) == 6
    assert len(inserts) == 9
    monkeypatch.setattr(_rows, "RUN_MIN", 10**9)
    assert _store(tmp_path / "rows", writes) == runs


def test_a_run_sealed_straight_from_its_drafts_writes_the_rows_of_the_general_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a stream's write that is a run (events only, at least RUN_MIN, payloads inline) is
    # sealed straight into its statements (_usual.add_events given the rows a run
    # statement holds); the general sequence makes entries, then the same statements from
    # them (_rows.run_statements)
    writes = _writes()
    sealed: list[int] = []
    add_events = _usual.add_events

    def counted(*args: Any) -> Any:
        if len(args) > 6 and args[6] is not None:
            sealed.append(len(args[4].drafts))
        return add_events(*args)

    monkeypatch.setattr(_usual, "add_events", counted)
    straight = _store(tmp_path / "straight", writes)
    # Account-1's 300 events (three statements) and its 9 more; Account-2's 40 given ids
    # (in the column and the index). Not the batch of two streams (the general sequence),
    # Account-4 (a payload kept apart), nor the retry of the 9 (found: the first result)
    assert sorted(sealed) == [9, 40, 300]

    def general(self: Any, request: Any, write: Any, blobs: Any) -> None:
        if _append._drafted(request, [write]):
            _append._run_request(self, request, isolate=False, db="bank", signer=None)

    monkeypatch.setattr(_append._Transaction, "append_one", general)
    assert _store(tmp_path / "general", writes) == straight


def test_rows_and_runs_take_fewer_rows_a_statement_where_sqlite_binds_fewer_values(
    tmp_path: Path,
) -> None:
    writes = _writes()
    limited = _store(
        tmp_path / "limited",
        writes,
        lambda c: c.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 99),
    )
    assert _store(tmp_path / "plain", writes) == limited


@pytest.mark.parametrize("streams", [1, 3, 200])
def test_each_stream_keeps_one_head_flag_after_a_batch_over_many_streams(
    tmp_path: Path, streams: int
) -> None:
    # the flags of the heads a batch follows are cleared in statements of up to 128
    # positions, padded to a power of two
    with ses.open(str(tmp_path / "store")) as store:
        db = store.create_database("bank")
        names = [f"Account-{k}" for k in range(streams)]
        db.append_batch([ses.StreamAppend(n, _events(2), ses.NO_STREAM) for n in names])
        db.append_batch([ses.StreamAppend(n, _events(1), 1) for n in names])
        assert db.verify().ok
    conn = sqlite3.connect(tmp_path / "store" / "bank.sqlite3")
    try:
        flagged = conn.execute(
            "SELECT stream, count(*), max(seq) FROM entries WHERE head = 1 GROUP BY stream"
        ).fetchall()
    finally:
        conn.close()
    assert sorted(flagged) == sorted((n, 1, 2) for n in names)


def test_an_id_left_out_of_the_index_leaves_its_column_empty(tmp_path: Path) -> None:
    # schema 10: the column holds an id only where the index of ids has it
    with ses.open(str(tmp_path / "store")) as store:
        db = store.create_database("bank")
        made = _events(20)
        given = _events(3, first=20, given=True)
        db.append("Account-1", made, expected_version=ses.NO_STREAM)  # found by place
        db.append("Account-1", given)  # ANY: looked up by id
        db.append("Account-2", _events(1), expected_version=ses.NO_STREAM)  # one row: all bound
        conn = sqlite3.connect(tmp_path / "store" / "bank.sqlite3")
        try:
            columns = conn.execute(
                "SELECT stream, generated IS NULL, event_id FROM entries ORDER BY position"
            ).fetchall()
            assert [(s, i) for s, i, _ in columns] == [
                *[("Account-1", 0)] * 20, *[("Account-1", 1)] * 3, ("Account-2", 0)
            ]  # fmt: skip
            assert all(c == b"" for _, i, c in columns if not i)
            assert [c for _, i, c in columns if i] == [e.event_id.bytes for e in given]
            # the ids read back from the records, and a retry finds each append
            assert [e.event_id for e in db.read_stream("Account-1")] == [
                e.event_id for e in made + given
            ]
            assert db.append("Account-1", made, expected_version=ses.NO_STREAM).last_version == 19
            assert db.append("Account-1", given).last_version == 22
            assert db.verify().ok
            # a value written into an empty column behind the store's back breaks the chain
            conn.execute("UPDATE entries SET event_id = ? WHERE seq = 3", (b"\x07" * 16,))
            conn.commit()
        finally:
            conn.close()
        report = db.verify()
        assert not report.ok and {p.stream for p in report.problems} == {"Account-1"}


def _small_history(db: ses.Database, w: History) -> None:
    """Appends of one stream's small write each (the usual append), of every shape: a new
    stream and a stream that has entries, ids made and given, expected versions of every
    kind, tags, a payload kept in a row of its own, a retry, a restructure, several writes
    to one stream in one group."""
    db.append("Account-1", w["one"][:1], expected_version=ses.NO_STREAM)
    db.append("Account-1", w["one"][1:4], expected_version=0)
    db.append("Account-2", w["given"], expected_version=ses.ANY)
    db.append("Account-2", w["one"][4:5], expected_version=ses.STREAM_EXISTS)
    db.append("Account-3", w["large"], expected_version=ses.NO_STREAM)
    assert db.append("Account-1", w["one"][1:4], expected_version=0).last_version == 3  # retry
    db.restructure(
        "Account-1", 2, None, reason="entered twice", event_id=_RESTRUCTURE, timestamp=_START
    )
    db.append("Account-1", w["one"][5:7], expected_version=3)
    with pytest.raises(ses.WrongExpectedVersion):
        db.append("Account-1", w["one"][7:8], expected_version=3)
    db.append("Account-1", w["one"][7:8])


def test_the_usual_append_writes_the_rows_of_the_general_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the usual append (one stream's small write of events) is sealed straight into its
    # rows (_usual.add_events, add_lone); the general sequence makes entries, then rows
    large = _events(2, first=50)
    large[1] = ses.NewEvent("Deposited", {"blob": "y" * 1000}, timestamp=_START)
    writes = {
        "one": _events(8),
        "given": _events(3, first=20, given=True),
        "large": large,
        "batch": _events(3, first=60),
    }

    def rows(directory: Path) -> list[tuple[object, ...]]:
        with ses.open(str(directory)) as store:
            db = store.create_database("bank")
            _small_history(db, writes)
            # a batch of two streams' writes takes the general sequence in both stores
            db.append_batch(
                [
                    ses.StreamAppend("Account-4", writes["batch"][:2], ses.NO_STREAM),
                    ses.StreamAppend("Account-1", writes["batch"][2:], 6),
                ]
            )
            assert db.verify().ok
            assert [e.version for e in db.read_stream("Account-1")] == [0, 1, 3, 4, 5, 6, 7]
            assert db.read_stream("Account-3")[1].data == {"blob": "y" * 1000}
            assert len(db.read_events(ses.Query([ses.QueryItem(tags=["big"])]))) == 5
        return _rows_of(directory)

    sealed: list[str] = []

    def counted(name: str) -> Callable[..., Any]:
        original = getattr(_usual, name)

        def call(*args: Any) -> Any:
            sealed.append(name)
            return original(*args)

        return call

    for name in ("add_events", "add_lone"):
        monkeypatch.setattr(_usual, name, counted(name))
    straight = rows(tmp_path / "straight")
    # every append of the history but the retry, the restructure and the one that fails
    # its check; the one of a lone event (one event, its id not indexed, its payload
    # inline) by add_lone (test_group_commit.py compares thirty more of them)
    assert sorted(sealed) == ["add_events"] * 6 + ["add_lone"]

    def general(self: Any, request: Any, write: Any, blobs: Any) -> None:
        if _append._drafted(request, [write]):  # drafts left to the leader (Write.later)
            _append._run_request(self, request, isolate=False, db="bank", signer=None)

    monkeypatch.setattr(_append._Transaction, "append_one", general)
    assert rows(tmp_path / "general") == straight


def test_a_lone_event_at_a_taken_position_fails_the_statement_that_clears_flags(
    tmp_path: Path,
) -> None:
    # the statement that inserts lone events also clears head flags through an upsert,
    # whose DO UPDATE is kept to the rows that clear flags: an entry's row meeting a taken
    # position is left out by SQLite, which the statement's count of changes shows; a
    # head's row meeting no entry at its position meets its stream and seq
    with ses.open(str(tmp_path / "store")) as store:
        db = store.create_database("bank")
        db.append("Account-1", _events(1), expected_version=ses.NO_STREAM)
        db.append("Account-2", _events(1, first=1), expected_version=ses.NO_STREAM)
    conn = sqlite3.connect(tmp_path / "store" / "bank.sqlite3", isolation_level=None)
    try:
        before = conn.execute("SELECT * FROM entries ORDER BY position").fetchall()
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        row = (3, "Account-1", 1, 1, "Account", "Deposited", b"{}", b"\x90")
        head = (1, "Account-1", 0)
        taken = (2, *row[1:])  # Account-2's entry is at position 2
        for rows, heads, error in [
            ([taken], [head], "1 entries met positions"),
            ([row], [(9, "Account-1", 0)], "UNIQUE constraint failed: entries.stream, entries.seq"),
        ]:
            conn.execute("BEGIN IMMEDIATE")
            with pytest.raises(sqlite3.IntegrityError, match=error):
                _rows.insert_singles(conn, rows, limit, heads)
            conn.execute("ROLLBACK")
            assert conn.execute("SELECT * FROM entries ORDER BY position").fetchall() == before
        # at a free position the same statement inserts the row and clears the flag at 1
        conn.execute("BEGIN IMMEDIATE")
        assert _rows.insert_singles(conn, [row], limit, [head])
        flags = conn.execute("SELECT position, head FROM entries ORDER BY position").fetchall()
        conn.execute("ROLLBACK")
        assert flags == [(1, None), (2, 1), (3, 1)]
    finally:
        conn.close()
