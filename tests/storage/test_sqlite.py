"""What only the SQLite backend can show: tampering with its file is detected, driver errors
arrive as the store's own, and its directory holds nothing but the store."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import USER_VERSION, SqliteStorage

from ..sqlite_rows import back_to_version_7, entry, rewrite

MARKER = "safe-eventstore.json"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _url(directory: Path) -> str:
    return f"sqlite://{directory}"


def _seed(directory: Path) -> None:
    """A small, healthy store: database ``bank`` with two streams."""
    with ses.open(_url(directory)) as store:
        db = store.create_database("bank")
        db.append(
            "Account-1",
            [
                ses.NewEvent("Opened", {"owner": "ann"}),
                ses.NewEvent("Deposited", {"amount": 100}),
                ses.NewEvent("Deposited", {"amount": 5}),
                ses.NewEvent("Withdrawn", {"amount": 20}),
                ses.NewEvent("Receipt", b"scanned receipt " * 32),  # a row of its own
            ],
        )
        db.append("Account-2", [ses.NewEvent("Opened", {"owner": "bob"})])
        assert db.verify().ok


@contextlib.contextmanager
def _raw_sqlite(directory: Path) -> Iterator[sqlite3.Connection]:
    """The database file opened directly, behind the store's back."""
    with contextlib.closing(
        sqlite3.connect(directory / "bank.sqlite3", isolation_level=None)
    ) as conn:
        yield conn


def _back(conn: sqlite3.Connection, script: str) -> None:
    """Lay the file out as an older version did: version 7 first, then ``script``."""
    back_to_version_7(conn)
    conn.executescript(script)


# The layout of version 6: every payload in a row of the payloads table.
BACK_TO_VERSION_6 = """
INSERT OR IGNORE INTO payloads (address, data)
    SELECT address, data FROM entries WHERE data IS NOT NULL ORDER BY position;
UPDATE entries SET payload = (SELECT p.id FROM payloads p WHERE p.address = entries.address)
    WHERE data IS NOT NULL;
ALTER TABLE entries DROP COLUMN data;
PRAGMA user_version = 6;
"""
# The layout of version 5: every event id in the event-id index.
BACK_TO_VERSION_5 = (
    BACK_TO_VERSION_6
    + """
DROP INDEX entries_given_event_id;
ALTER TABLE entries DROP COLUMN generated;
CREATE INDEX entries_event_id ON entries (event_id);
PRAGMA user_version = 5;
"""
)
# The layout of version 4: each stream's head in a row of the streams table.
BACK_TO_VERSION_4 = (
    BACK_TO_VERSION_5
    + """
CREATE TABLE streams_v4 (
    name TEXT PRIMARY KEY, category TEXT NOT NULL, last_seq INTEGER NOT NULL,
    last_version INTEGER NOT NULL, last_hash BLOB NOT NULL, last_position INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO streams_v4 SELECT s.name, s.category, h.seq,
    (SELECT max(e.version) FROM entries e WHERE e.stream = s.name AND e.kind = 0),
    h.hash, h.position
    FROM streams s JOIN entries h ON h.stream = s.name AND h.head = 1;
DROP TABLE streams;
ALTER TABLE streams_v4 RENAME TO streams;
CREATE INDEX streams_category ON streams (category, name);
ALTER TABLE entries DROP COLUMN head;
PRAGMA user_version = 4;
"""
)


def _set_seq(conn: sqlite3.Connection, old: int, new: int) -> None:
    conn.execute("UPDATE entries SET seq = ? WHERE stream = 'Account-1' AND seq = ?", (new, old))


def _swap_seqs(conn: sqlite3.Connection) -> None:
    _set_seq(conn, 1, -1)  # through a spare value: (stream, seq) is unique
    _set_seq(conn, 2, 1)
    _set_seq(conn, -1, 2)


_ENTRY_OF_ACCOUNT_1 = "stream = 'Account-1' AND seq = ?"
TAMPERING: dict[str, Callable[[sqlite3.Connection], object]] = {
    "entry data": lambda c: rewrite(
        c, _ENTRY_OF_ACCOUNT_1, (1,), address=entry(c, _ENTRY_OF_ACCOUNT_1, (2,)).address
    ),
    "entry metadata": lambda c: rewrite(
        c, _ENTRY_OF_ACCOUNT_1, (1,), metadata=b'{"approved_by":"mallory"}'
    ),
    "entry type": lambda c: rewrite(c, _ENTRY_OF_ACCOUNT_1, (1,), type="Withdrawn"),
    # a column that repeats a field of the record, changed alone: what queries select by
    "entry type column": lambda c: c.execute(
        f"UPDATE entries SET type = 'Withdrawn' WHERE {_ENTRY_OF_ACCOUNT_1}", (1,)
    ),
    "entry timestamp": lambda c: rewrite(
        c,
        _ENTRY_OF_ACCOUNT_1,
        (1,),
        timestamp=entry(c, _ENTRY_OF_ACCOUNT_1, (1,)).timestamp - 86400000000,
    ),
    "middle entry deleted": lambda c: c.execute(
        f"DELETE FROM entries WHERE {_ENTRY_OF_ACCOUNT_1}", (2,)
    ),
    "last entry deleted": lambda c: c.execute(
        f"DELETE FROM entries WHERE {_ENTRY_OF_ACCOUNT_1}", (4,)
    ),
    "two entries swapped": _swap_seqs,
    # the hash that the next entry's chain link is read from (records leave that link out)
    "entry hash": lambda c: rewrite(c, _ENTRY_OF_ACCOUNT_1, (2,), hash=bytes(32)),
}


def _delete_the_last_entry_of_the_database(conn: sqlite3.Connection) -> None:
    # Account-1 gets the database's last entry, then loses it
    conn.execute("UPDATE entries SET position = 7 WHERE stream = 'Account-1' AND seq = 4")
    conn.execute("DELETE FROM entries WHERE position = (SELECT max(position) FROM entries)")


TAMPERING["last entry of the database deleted"] = _delete_the_last_entry_of_the_database


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_verify_finds_an_altered_entry(directory: Path, tampering: str) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:
        TAMPERING[tampering](conn)
    with ses.open(_url(directory)) as store:
        report = store.database("bank").verify()
    assert not report.ok
    assert report.problems
    assert {p.stream for p in report.problems} == {"Account-1"}


# A small payload is kept in its entry's row, a large one in a row of ``payloads``.
_ALTERED_PAYLOAD = {
    "kept in its entry": (
        f"UPDATE entries SET data = ? WHERE {_ENTRY_OF_ACCOUNT_1}",
        (b'{"amount":1000000}', 1),
    ),
    "in a row of its own": (
        "UPDATE payloads SET data = ? WHERE id = "
        f"(SELECT payload FROM entries WHERE {_ENTRY_OF_ACCOUNT_1})",
        (b"forged receipt", 4),
    ),
}


@pytest.mark.parametrize("where", sorted(_ALTERED_PAYLOAD))
def test_verify_and_reads_find_an_altered_payload(directory: Path, where: str) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:
        conn.execute(*_ALTERED_PAYLOAD[where])
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        report = db.verify()
        assert not report.ok
        assert any("payload" in p.message for p in report.problems)
        with pytest.raises(ses.IntegrityError):
            list(db.read_stream("Account-1"))
        with pytest.raises(ses.IntegrityError):
            list(db.read_all())
        assert db.read_stream("Account-2")[0].data == {"owner": "bob"}  # the rest still reads


def test_small_payloads_are_kept_in_their_entries(directory: Path) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:
        kept = conn.execute(
            "SELECT seq, length(data), payload IS NULL FROM entries "
            "WHERE stream = 'Account-1' ORDER BY seq"
        ).fetchall()
        (rows,) = conn.execute("SELECT count(*) FROM payloads").fetchone()
    assert [(seq, inline) for seq, _, inline in kept] == [
        (0, 1), (1, 1), (2, 1), (3, 1), (4, 0)
    ]  # fmt: skip
    assert kept[4][1] is None and rows == 1
    with ses.open(_url(directory)) as store:
        stats = store.database("bank").stats()
    # the inline bytes are stored bytes; only the large payload is a payload row
    assert stats["payloads"] == 1
    assert stats["stored_payload_bytes"] == stats["logical_payload_bytes"]


def test_verify_finds_a_removed_payload(directory: Path) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:
        conn.execute(
            "DELETE FROM payloads WHERE id = "
            f"(SELECT payload FROM entries WHERE {_ENTRY_OF_ACCOUNT_1})",
            (4,),
        )
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        report = db.verify()
        assert not report.ok
        assert {p.stream for p in report.problems} == {"Account-1"}
        with pytest.raises(ses.IntegrityError):
            list(db.read_stream("Account-1"))


# -- driver errors become the store's errors ---------------------------------------------------


def _calls(store: ses.Store) -> list[Callable[[], object]]:
    db = store.database("bank")
    return [
        lambda: db.stream_version("Account-1"),
        lambda: list(db.read_stream("Account-1")),
        lambda: list(db.read_all()),
        lambda: db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 1})]),
        db.verify,
        db.stats,
        db.list_streams,
        lambda: db.get_checkpoint("reader"),
        lambda: db.subscribe().get(timeout=0),
    ]


def test_a_version_2_database_gains_payload_ids_and_reads_the_same(directory: Path) -> None:
    _seed(directory)
    with ses.open(_url(directory)) as store:
        before = list(store.database("bank").read_all())
    with _raw_sqlite(directory) as conn:  # back to the layout of version 2
        _back(conn, BACK_TO_VERSION_4)
        conn.executescript("ALTER TABLE entries DROP COLUMN payload; PRAGMA user_version = 2;")
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        assert list(db.read_all()) == before
        assert db.verify().ok
        db.append("Account-2", [ses.NewEvent("Deposited", {"amount": 1})])
        assert db.read_stream("Account-2")[-1].data == {"amount": 1}
    with _raw_sqlite(directory) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
        missing = conn.execute(
            "SELECT count(*) FROM entries WHERE kind = 0 AND payload IS NULL AND data IS NULL"
        ).fetchone()
        assert missing == (0,)


def test_a_damaged_event_id_fails_its_read_with_an_integrity_error(directory: Path) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:
        rewrite(conn, _ENTRY_OF_ACCOUNT_1, (1,), event_id=b"\x01\x02")
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        with pytest.raises(ses.IntegrityError, match="not 16 bytes"):
            list(db.read_stream("Account-1"))
        assert not db.verify().ok


def test_a_version_3_database_drops_the_version_index(directory: Path) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:  # back to the layout of version 3
        _back(conn, BACK_TO_VERSION_4)
        conn.executescript(
            "CREATE UNIQUE INDEX entries_stream_version ON entries (stream, version) "
            "WHERE kind = 0; PRAGMA user_version = 3;"
        )
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        assert [e.version for e in db.read_stream("Account-1", from_version=2)] == [2, 3, 4]
        db.append("Account-1", [ses.NewEvent("Closed", {})], expected_version=4)
    with _raw_sqlite(directory) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "entries_stream_version" not in names


def test_a_version_4_database_keeps_its_heads_as_flags(directory: Path) -> None:
    _seed(directory)
    with ses.open(_url(directory)) as store:
        before = list(store.database("bank").read_all())
    with _raw_sqlite(directory) as conn:
        _back(conn, BACK_TO_VERSION_4)
        heads = conn.execute("SELECT name, last_seq, last_position FROM streams").fetchall()
        assert sorted(heads) == [("Account-1", 4, 5), ("Account-2", 0, 6)]
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        assert list(db.read_all()) == before
        assert db.verify().ok
        assert db.stream_version("Account-1") == 4
        db.append("Account-1", [ses.NewEvent("Closed", {})], expected_version=4)
        with pytest.raises(ses.WrongExpectedVersion):
            db.append("Account-2", [ses.NewEvent("Closed", {})], expected_version=1)
        assert db.verify().ok
    with _raw_sqlite(directory) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(streams)")]
        assert columns == ["name", "category"]
        flagged = conn.execute("SELECT stream, seq FROM entries WHERE head = 1").fetchall()
        assert sorted(flagged) == [("Account-1", 5), ("Account-2", 0)]


def test_a_version_5_database_keeps_its_stored_ids_as_retry_keys(directory: Path) -> None:
    _seed(directory)  # with ids the store generated
    with ses.open(_url(directory)) as store:
        first = store.database("bank").read_stream("Account-2")[0]
    with _raw_sqlite(directory) as conn:
        _back(conn, BACK_TO_VERSION_5)
    again = ses.NewEvent("Opened", {"owner": "bob"}, event_id=first.event_id)
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        # stored before the upgrade, whose ids were generated is not known: all stay keys
        assert db.append("Account-2", [again]).position == first.position
        fresh = db.append("Account-2", [ses.NewEvent("Closed", {}, event_id=None)])
        closed = db.read_stream("Account-2")[-1]
        repeat = db.append("Account-2", [ses.NewEvent("Closed", {}, event_id=closed.event_id)])
        assert repeat.position > fresh.position  # a generated id stored since is no key
        assert db.verify().ok
    with _raw_sqlite(directory) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "entries_given_event_id" in names and "entries_event_id" not in names


def test_a_version_6_database_reads_the_same_and_keeps_new_small_payloads_inline(
    directory: Path,
) -> None:
    _seed(directory)
    with ses.open(_url(directory)) as store:
        before = list(store.database("bank").read_all())
        stats = store.database("bank").stats()
    with _raw_sqlite(directory) as conn:
        _back(conn, BACK_TO_VERSION_6)
        assert conn.execute("SELECT count(*) FROM payloads").fetchone() == (6,)
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        assert list(db.read_all()) == before
        assert db.verify().ok
        assert db.stats()["logical_payload_bytes"] == stats["logical_payload_bytes"]
        db.append("Account-2", [ses.NewEvent("Deposited", {"amount": 1})])
        assert db.read_stream("Account-2")[-1].data == {"amount": 1}
        assert db.verify().ok
    with _raw_sqlite(directory) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
        # the payloads stored before keep their rows; the new one is kept in its entry
        placed = conn.execute(
            "SELECT data IS NOT NULL, payload IS NOT NULL FROM entries ORDER BY position"
        ).fetchall()
        assert placed == [(0, 1)] * 6 + [(1, 0)]


def test_a_version_4_database_with_its_last_entry_removed_fails_verify(directory: Path) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:
        _back(conn, BACK_TO_VERSION_4)
        conn.execute(f"DELETE FROM entries WHERE {_ENTRY_OF_ACCOUNT_1}", (4,))
    with ses.open(_url(directory)) as store:
        problems = store.database("bank").verify().problems
        assert [(p.stream, p.seq) for p in problems] == [("Account-1", None)]


def test_an_entry_pointing_at_another_payload_row_fails_its_read(directory: Path) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:  # seq 1 now holds the payload of seq 2
        conn.execute(
            "UPDATE entries SET (data, payload) = (SELECT data, payload FROM entries WHERE "
            f"{_ENTRY_OF_ACCOUNT_1}) WHERE {_ENTRY_OF_ACCOUNT_1}",
            (2, 1),
        )
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        with pytest.raises(ses.IntegrityError, match="does not match its address"):
            list(db.read_stream("Account-1"))
        report = db.verify()
        assert [(p.stream, p.seq) for p in report.problems] == [("Account-1", 1)]
        assert db.read_stream("Account-2")[0].data == {"owner": "bob"}


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b"this is not a database " * 500), id="garbage"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
        pytest.param(lambda p: os.truncate(p, p.stat().st_size // 2), id="truncated"),
        pytest.param(
            lambda p: p.write_bytes(p.read_bytes()[:100] + b"\xff" * (p.stat().st_size - 100)),
            id="pages overwritten",
        ),
    ],
)
def test_a_damaged_database_file_raises_storage_error(
    directory: Path, damage: Callable[[Path], object]
) -> None:
    _seed(directory)
    with ses.open(_url(directory)) as store:  # enough events to fill several pages
        store.database("bank").append(
            "Account-3", [ses.NewEvent("Filler", {"n": "x" * 2000}) for _ in range(40)]
        )
    for side in directory.glob("bank.sqlite3-*"):
        side.unlink()
    damage(directory / "bank.sqlite3")
    with ses.open(_url(directory)) as store:
        for call in _calls(store):
            with pytest.raises(ses.StorageError) as info:
                call()
            assert not isinstance(info.value, sqlite3.Error)
            assert isinstance(info.value.__cause__, sqlite3.Error)


def test_a_lock_held_too_long_raises_store_unavailable(directory: Path) -> None:
    _seed(directory)
    store = ses.Store(SqliteStorage(directory, lock_timeout=0.2), url=_url(directory))
    try:
        db = store.database("bank")
        with _raw_sqlite(directory) as blocker:
            blocker.execute("BEGIN EXCLUSIVE")
            with pytest.raises(ses.StoreUnavailable):
                db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 1})])
            blocker.execute("ROLLBACK")
        assert db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 1})]).first_version == 5
    finally:
        store.close()


def test_a_garbled_marker_raises_storage_error(directory: Path) -> None:
    _seed(directory)
    (directory / MARKER).write_text("{not json")
    with pytest.raises(ses.StorageError):
        ses.open(_url(directory))


def test_an_unknown_store_format_is_refused(directory: Path) -> None:
    _seed(directory)
    (directory / MARKER).write_text('{"format": 99}\n')
    with pytest.raises(ses.InvalidURL):
        ses.open(_url(directory))


def test_a_file_where_the_directory_should_be_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "store"
    path.write_text("a file, not a directory")
    with pytest.raises(ses.StorageError):
        ses.open(_url(path))
    assert path.read_text() == "a file, not a directory"


# -- the store directory -----------------------------------------------------------------------


def test_a_directory_of_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "photos").mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ses.InvalidURL):
        ses.open(_url(tmp_path))
    with pytest.raises(ses.InvalidURL):
        ses.open(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_new_or_empty_directory_becomes_a_store(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "new" / "nested"):
        with ses.open(_url(path)) as store:
            store.create_database("bank")
        with ses.open(str(path)) as store:  # a plain path means SQLite too
            assert store.list_databases() == ["bank"]


def _allowed(names: list[str], databases: list[str]) -> list[str]:
    """The names in a store directory that are neither its marker nor a database's files."""
    own = {f"{db}.sqlite3" for db in databases}
    return [
        n
        for n in names
        if n != MARKER and n not in own and not any(n.startswith(f"{f}-") for f in own)
    ]


def test_the_store_directory_holds_only_the_store(directory: Path) -> None:
    with ses.open(_url(directory)) as store:
        for name in ("bank", "shop"):
            db = store.create_database(name)
            db.append("Account-1", [ses.NewEvent("Opened", {}), ses.NewEvent("Blob", b"x")])
            db.restructure("Account-1", 0, None, reason="hidden")
            with db.subscribe(checkpoint="reader", idle_timeout=0.05) as sub:
                for event in sub:
                    sub.save_checkpoint(event.position)
            assert db.verify().ok
        names = os.listdir(directory)
        databases = store.list_databases()
    assert databases == ["bank", "shop"]
    assert _allowed(names, databases) == []
    assert {"bank.sqlite3", "shop.sqlite3", MARKER} <= set(names)
    assert _allowed(os.listdir(directory), databases) == []


@pytest.mark.parametrize(
    "name", ["../x", "..", "a/b", "", "x" * 300, "Bank", ".bank", "bank.sqlite3", "a\x00b"]
)
def test_an_invalid_database_name_creates_no_file(tmp_path: Path, name: str) -> None:
    directory = tmp_path / "store"
    with ses.open(_url(directory)) as store:
        store.create_database("bank")
        inside, beside = sorted(os.listdir(directory)), sorted(os.listdir(tmp_path))
        with pytest.raises(ses.InvalidName):
            store.create_database(name)
        with pytest.raises(ses.InvalidName):
            store.database(name)
        assert sorted(os.listdir(directory)) == inside
        assert sorted(os.listdir(tmp_path)) == beside


def test_bad_options_create_nothing(tmp_path: Path) -> None:
    for options in ({"durability": "sometimes"}, {"bogus": "1"}, {"max_event_size": "-5"}):
        path = tmp_path / "store"
        with pytest.raises(ses.InvalidURL):
            ses.open(_url(path), **options)
        assert not path.exists(), options
    with pytest.raises(ses.InvalidURL):
        ses.open(f"{_url(tmp_path / 'store')}?bogus=1")
    assert not (tmp_path / "store").exists()


def test_options_in_the_url(directory: Path) -> None:
    with ses.open(f"{_url(directory)}?durability=relaxed&max_event_size=100") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", b"x" * 50)])
        with pytest.raises(ses.EventTooLarge):
            db.append("Account-1", [ses.NewEvent("Opened", b"x" * 200)])
    with ses.open(_url(directory)) as store:
        assert store.database("bank").stream_version("Account-1") == 0


def test_another_store_handle_sees_appends_at_once(directory: Path) -> None:
    with ses.open(_url(directory)) as writer, ses.open(_url(directory)) as reader:
        writer.create_database("bank").append("Account-1", [ses.NewEvent("Opened", {})])
        db = reader.database("bank")
        assert db.stream_version("Account-1") == 0
        with db.subscribe(stream="Account-1", idle_timeout=30) as sub:
            assert sub.get(timeout=30) is not None
            appender = threading.Thread(
                target=writer.database("bank").append,
                args=("Account-1", [ses.NewEvent("Deposited", {})]),
            )
            appender.start()
            event = sub.get(timeout=30)
            appender.join()
        assert event is not None and event.type == "Deposited"


def test_a_writer_sees_what_another_connection_committed_since_its_own_append(
    directory: Path,
) -> None:
    # A writer takes the last position and the heads its own commit left, as long as no
    # other connection has committed since; two handles alternating on one stream (and a
    # third stream appended behind both) prove it notices when one has.
    with ses.open(_url(directory)) as one, ses.open(_url(directory)) as two:
        a = one.create_database("bank")
        b = two.database("bank")
        assert a.append("Account-1", [ses.NewEvent("Opened", {})]).position == 1
        assert b.append("Account-1", [ses.NewEvent("Deposited", {})], expected_version=0) == (
            ses.AppendResult(1, 1, 2)
        )
        with pytest.raises(ses.WrongExpectedVersion):
            a.append("Account-1", [ses.NewEvent("Deposited", {})], expected_version=0)
        assert a.append("Account-1", [ses.NewEvent("Deposited", {})], expected_version=1) == (
            ses.AppendResult(2, 2, 3)
        )
        with _raw_sqlite(directory) as raw:  # behind both handles' backs
            raw.execute("UPDATE entries SET head = NULL WHERE position = 3")
            raw.execute("DELETE FROM entries WHERE position = 3")
        result = a.append("Account-2", [ses.NewEvent("Opened", {})])
        assert result.position == 3  # the position freed by the removal, not a cached 4
        assert a.stream_version("Account-1") is None  # no flagged entry: the head is gone
        assert not a.verify().ok
        with pytest.raises(ses.WrongExpectedVersion):
            a.append("Account-1", [ses.NewEvent("Deposited", {})], expected_version=2)


def test_a_writer_keeps_a_stream_version_across_its_restructures(directory: Path) -> None:
    with ses.open(_url(directory)) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {}), ses.NewEvent("Deposited", {})])
        db.restructure("Account-1", 1, reason="entered twice")
        result = db.append("Account-1", [ses.NewEvent("Deposited", {})], expected_version=1)
        assert (result.first_version, result.position) == (2, 4)
        assert [e.version for e in db.read_stream("Account-1")] == [0, 2]
        assert db.verify().ok


def test_an_entry_names_the_row_of_a_payload_stored_before(directory: Path) -> None:
    # A payload already stored (by an earlier append, or earlier in the same batch) keeps
    # its row, which the entry names.
    with ses.open(_url(directory)) as store:
        db = store.create_database("bank")
        pad = "x" * 300  # large enough for a row of its own
        db.append("Account-1", [ses.NewEvent("Opened", {"n": 1, "pad": pad})])
        numbers = [2, 1, 2, 3, 1]
        db.append("Account-2", [ses.NewEvent("Opened", {"n": n, "pad": pad}) for n in numbers])
        assert [e.data["n"] for e in db.read_all()] == [1, *numbers]
        assert db.stats()["payloads"] == 3
        assert db.verify().ok
    with _raw_sqlite(directory) as raw:
        rows = raw.execute(
            "SELECT e.position, p.id, p.address FROM entries e "
            "JOIN payloads p ON p.id = e.payload ORDER BY e.position"
        ).fetchall()
        assert all(entry(raw, "position = ?", (pos,)).address == a for pos, _, a in rows)
        ids = [pid for _, pid, _ in rows]
        assert ids[0] == ids[2] == ids[5] and ids[1] == ids[3] and len(set(ids)) == 3


def test_a_version_7_database_gains_records_and_reads_the_same(directory: Path) -> None:
    _seed(directory)
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        before, stats = list(db.read_all()), db.stats()
    with _raw_sqlite(directory) as conn:
        back_to_version_7(conn)
    with ses.open(_url(directory)) as store:
        db = store.database("bank")
        assert list(db.read_all()) == before
        assert db.stats() == stats
        assert db.verify().ok
        db.append("Account-2", [ses.NewEvent("Deposited", {"amount": 1})], expected_version=0)
        assert db.read_stream("Account-2")[-1].data == {"amount": 1}
        assert db.verify().ok
    with _raw_sqlite(directory) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(entries)")}
        assert "record" in columns and not columns & {"metadata", "hash", "address"}
        assert entry(conn, "position = 7").stream == "Account-2"


def test_records_leave_out_the_hash_before_and_reads_put_it_back(directory: Path) -> None:
    _seed(directory)
    with ses.open(_url(directory)) as store:
        storage = store.storage
        assert isinstance(storage, SqliteStorage)
        stored = storage.read_entries("bank", "Account-1", from_seq=0, limit=10)
        assert [e.prev_hash for e in stored] == [None] + [e.hash for e in stored[:-1]]
        # a page that starts after the stream's first entry, and one entry alone
        assert storage.read_entries("bank", "Account-1", from_seq=2, limit=2) == stored[2:4]
        assert storage.read_entries("bank", "Account-1", from_seq=4, limit=1) == stored[4:]
    with _raw_sqlite(directory) as conn:
        assert all(entry(conn, f"position = {e.position}").prev_hash is None for e in stored)
        # records as schema 8 wrote them, with the hash before in them, read the same
        for e in stored[1:3]:
            rewrite(conn, "position = ?", (e.position,), prev_hash=e.prev_hash)
        assert entry(conn, f"position = {stored[2].position}").prev_hash == stored[1].hash
    with ses.open(_url(directory)) as store:
        assert store.storage.read_entries("bank", "Account-1", from_seq=0, limit=10) == stored
        assert store.database("bank").verify().ok


def test_a_database_file_of_a_newer_schema_is_refused_with_a_clear_error(
    directory: Path,
) -> None:
    _seed(directory)
    with _raw_sqlite(directory) as conn:
        conn.execute(f"PRAGMA user_version = {USER_VERSION + 1}")
    with ses.open(_url(directory)) as store, pytest.raises(ses.NotSupported, match="newer"):
        list(store.database("bank").read_all())
