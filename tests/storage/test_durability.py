"""The durability modes really set SQLite's synchronous level on every connection."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import SqliteStorage

FULL, NORMAL = 2, 1


def _pragmas(storage: SqliteStorage, db: str) -> tuple[int, str]:
    conn = storage._conn(db)
    (sync,) = conn.execute("PRAGMA synchronous").fetchone()
    (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
    return sync, journal


def _in_thread(storage: SqliteStorage, db: str) -> tuple[int, str]:
    out: list[tuple[int, str]] = []
    t = threading.Thread(target=lambda: out.append(_pragmas(storage, db)))
    t.start()
    t.join()
    return out[0]


@pytest.mark.parametrize(
    ("options", "query", "expected"),
    [
        ({}, "", FULL),
        ({"durability": "full"}, "", FULL),
        ({"durability": "relaxed"}, "", NORMAL),
        ({}, "?durability=relaxed", NORMAL),
    ],
)
def test_durability_mode_sets_synchronous(
    tmp_path: Path, options: dict[str, str], query: str, expected: int
) -> None:
    with ses.open(f"sqlite://{tmp_path / 'store'}{query}", **options) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened")])
        assert isinstance(store.storage, SqliteStorage)
        assert _pragmas(store.storage, "bank") == (expected, "wal")
        assert _in_thread(store.storage, "bank") == (expected, "wal")


def test_default_is_durable(tmp_path: Path) -> None:
    with ses.open(str(tmp_path / "store")) as store:
        assert isinstance(store.storage, SqliteStorage)
        assert store.storage.durability == "full"


def test_unknown_durability_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ses.InvalidURL):
        ses.open(str(tmp_path / "store"), durability="sometimes")


def test_wal_mode_is_stored_in_the_file(tmp_path: Path) -> None:
    with ses.open(str(tmp_path / "store")) as store:
        store.create_database("bank")
    conn = sqlite3.connect(tmp_path / "store" / "bank.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
