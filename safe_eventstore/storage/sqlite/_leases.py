"""Leases in a database file: a table of their own, made by the first lease written.

As the signatures' table, it is not part of the numbered schema (``PRAGMA user_version``):
a file that never had a lease has none (reads then find no lease), and a version of the
store that knows nothing of leases still opens a file that has one. Taking or releasing a
lease reads the row and writes its new state inside one write transaction (``BEGIN
IMMEDIATE``, the file's write lock), so of the processes sharing the file that race for a
free lease exactly one takes it.
"""

from __future__ import annotations

import sqlite3

from .._leases import LeaseRecord, decide_release, decide_take

__all__ = ["TABLE", "read", "release", "take"]

TABLE = """
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    info BLOB NOT NULL
) WITHOUT ROWID
"""
_SELECT = "SELECT name, owner, expires, epoch, info FROM leases"


def _record(row: tuple[str, str, int, int, bytes]) -> LeaseRecord:
    return LeaseRecord(row[0], row[1], int(row[2]), int(row[3]), bytes(row[4]))


def _one(conn: sqlite3.Connection, name: str) -> LeaseRecord | None:
    row = conn.execute(f"{_SELECT} WHERE name = ?", (name,)).fetchone()
    return None if row is None else _record(row)


def _store(conn: sqlite3.Connection, r: LeaseRecord) -> None:
    conn.execute(
        "INSERT INTO leases (name, owner, expires, epoch, info) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires, "
        "epoch = excluded.epoch, info = excluded.info",
        (r.name, r.owner, r.expires, r.epoch, r.info),
    )


def take(
    conn: sqlite3.Connection, name: str, owner: str, ttl: float, info: bytes, now: int
) -> LeaseRecord | None:
    """Inside the caller's write transaction: take the lease, or ``None``."""
    conn.execute(TABLE)
    taken = decide_take(_one(conn, name), name, owner, ttl, info, now)
    if taken is not None:
        _store(conn, taken)
    return taken


def release(conn: sqlite3.Connection, name: str, owner: str) -> bool:
    """Inside the caller's write transaction: free the lease if ``owner`` holds it."""
    conn.execute(TABLE)
    freed = decide_release(_one(conn, name), owner)
    if freed is None:
        return False
    _store(conn, freed)
    return True


def read(conn: sqlite3.Connection, name: str | None) -> list[LeaseRecord]:
    """The stored records (of one name), in name order; none without a table."""
    try:
        if name is not None:
            rows = conn.execute(f"{_SELECT} WHERE name = ?", (name,)).fetchall()
        else:
            rows = conn.execute(f"{_SELECT} ORDER BY name").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [_record(row) for row in rows]
