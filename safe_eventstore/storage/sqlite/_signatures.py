"""Batch signatures in a database file: a table of their own, made by the first signed append.

The table is not part of the numbered schema (``PRAGMA user_version``): a file that never
had a signed append has none, and a version of the store that knows nothing of signatures
still opens a file that has one (and appends unsigned batches, which ``verify`` with the
public key then reports). Its rows are written in the append's own write transaction, so a
batch and its signature are stored together or not at all.
"""

from __future__ import annotations

import sqlite3

from ..base import BatchSignature

__all__ = ["TABLE", "last", "read", "write"]

TABLE = """
CREATE TABLE IF NOT EXISTS signatures (
    position INTEGER PRIMARY KEY,
    statement BLOB NOT NULL,
    signature BLOB NOT NULL
)
"""


def _missing(exc: sqlite3.OperationalError) -> bool:
    return "no such table" in str(exc)


def _blob(value: object) -> bytes:
    # a value changed behind the store's back may come back as text or a number: verify
    # reports it as a signature that does not verify, rather than failing to read it
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def _signature(row: tuple[int, object, object]) -> BatchSignature:
    return BatchSignature(int(row[0]), _blob(row[1]), _blob(row[2]))


def read(conn: sqlite3.Connection, after: int, limit: int) -> list[BatchSignature]:
    """The signatures after position ``after``, in position order (none without a table)."""
    try:
        rows = conn.execute(
            "SELECT position, statement, signature FROM signatures WHERE position > ? "
            "ORDER BY position LIMIT ?",
            (after, limit),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if _missing(exc):
            return []
        raise
    return [_signature(row) for row in rows]


def last(conn: sqlite3.Connection) -> BatchSignature | None:
    """The signature stored last, ``None`` when there is none."""
    try:
        row = conn.execute(
            "SELECT position, statement, signature FROM signatures ORDER BY position DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if _missing(exc):
            return None
        raise
    return None if row is None else _signature(row)


def write(conn: sqlite3.Connection, signatures: list[BatchSignature], *, table: bool) -> None:
    """Store signatures, inside the caller's write transaction (making the table first
    unless ``table`` says it is known to be there)."""
    if not table:
        conn.execute(TABLE)
    conn.executemany(
        "INSERT INTO signatures (position, statement, signature) VALUES (?, ?, ?)",
        [(s.position, s.statement, s.signature) for s in signatures],
    )
