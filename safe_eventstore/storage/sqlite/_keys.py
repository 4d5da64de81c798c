"""An encrypted database's settings and wrapped data keys, in two tables of its file that
only encrypted databases have (made with the file, so a plain file's schema is unchanged).

The keys are outside the append-only entries, where a delete can really remove them: every
write to the key table runs with ``secure_delete`` on (SQLite overwrites the freed bytes
with zeros), and after a key is destroyed or re-wrapped the write-ahead log, which still
holds the page as it was, is checkpointed into the file and truncated to nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from ..._exceptions import StorageError

__all__ = ["KEY_TABLES", "add", "destroy", "read", "replace", "secure", "settings", "truncate_log"]

KEY_TABLES = """
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE data_keys (scope TEXT PRIMARY KEY, wrapped BLOB NOT NULL) WITHOUT ROWID;
"""


def write_settings(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executescript(KEY_TABLES)
    conn.executemany("INSERT INTO settings (name, value) VALUES (?, ?)", values.items())


def settings(conn: sqlite3.Connection) -> dict[str, str]:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings'"
    ).fetchone()
    if found is None:
        return {}
    return {name: value for name, value in conn.execute("SELECT name, value FROM settings")}


@contextmanager
def secure(conn: sqlite3.Connection) -> Iterator[None]:
    """``secure_delete`` on for the writes inside (it is a setting of the connection)."""
    (before,) = conn.execute("PRAGMA secure_delete").fetchone()
    conn.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(before)}")


def add(conn: sqlite3.Connection, scope: str, wrapped: bytes) -> bytes:
    conn.execute(
        "INSERT INTO data_keys (scope, wrapped) VALUES (?, ?) ON CONFLICT (scope) DO NOTHING",
        (scope, wrapped),
    )
    (stored,) = conn.execute("SELECT wrapped FROM data_keys WHERE scope = ?", (scope,)).fetchone()
    return bytes(stored)


def read(conn: sqlite3.Connection, scopes: Iterable[str] | None) -> dict[str, bytes]:
    if scopes is None:
        rows = conn.execute("SELECT scope, wrapped FROM data_keys")
        return {scope: bytes(wrapped) for scope, wrapped in rows}
    found: dict[str, bytes] = {}
    for scope in scopes:
        row = conn.execute("SELECT wrapped FROM data_keys WHERE scope = ?", (scope,)).fetchone()
        if row is not None:
            found[scope] = bytes(row[0])
    return found


def replace(conn: sqlite3.Connection, wrapped: dict[str, bytes]) -> None:
    conn.executemany(
        "UPDATE data_keys SET wrapped = ? WHERE scope = ? AND wrapped != x''",
        [(key, scope) for scope, key in wrapped.items()],
    )


def destroy(conn: sqlite3.Connection, scope: str) -> bool:
    cursor = conn.execute(
        "UPDATE data_keys SET wrapped = x'' WHERE scope = ? AND wrapped != x''", (scope,)
    )
    return cursor.rowcount > 0


def truncate_log(conn: sqlite3.Connection, timeout: float, where: Callable[[], str]) -> None:
    """Copy the write-ahead log into the database file and truncate it to zero bytes, so
    that no earlier version of a key's page is left in it. Waits (up to ``timeout``) for
    readers of older snapshots to finish: until then the log cannot be reset."""
    deadline = time.monotonic() + timeout
    while True:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
        if time.monotonic() > deadline:
            raise StorageError(
                f"{where()}: the key is deleted, but readers kept the write-ahead log from "
                f"being truncated for {timeout:g} s; its older pages are overwritten by the "
                "next checkpoint"
            )
        time.sleep(0.05)
