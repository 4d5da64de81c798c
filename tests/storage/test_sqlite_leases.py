"""Leases in a SQLite file: a table made by the first lease written, outside the numbered
schema, so a file without it (any file written before leases) reads as having none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import USER_VERSION


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_the_table_is_made_by_the_first_lease_and_the_schema_version_stays(
    tmp_path: Path,
) -> None:
    with ses.open(f"sqlite://{tmp_path / 'store'}") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened")])
        path = tmp_path / "store" / "bank.sqlite3"
        assert "leases" not in _tables(path)
        assert db.list_leases() == [] and db.get_lease("job") is None
        assert db.release_lease("job", "agent-a") is False
        assert db.take_lease("job", "agent-a", ttl=60, info={"pid": 1}) is not None
        assert "leases" in _tables(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (USER_VERSION,)
        row = conn.execute("SELECT name, owner, epoch, info FROM leases").fetchone()
        assert row == ("job", "agent-a", 1, b'{"pid":1}')
    finally:
        conn.close()
    with ses.open(f"sqlite://{tmp_path / 'store'}") as store:
        lease = store.database("bank").get_lease("job")
        assert lease is not None and lease.owner == "agent-a" and lease.info == {"pid": 1}
        assert store.database("bank").verify().ok
