"""Changing a database file's entries behind the store's back, as tamper tests do.

An entry row keeps the whole entry in its ``record`` (a MessagePack array of the entry's
fields) beside the columns queries select by; these helpers rewrite a record's fields, and
the columns that repeat them, the way someone editing the file would.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from safe_eventstore.storage.base import Entry

_COLUMNS = ("stream", "seq", "version", "kind", "event_id", "type", "size", "position")


def entry(conn: sqlite3.Connection, where: str, args: tuple[Any, ...] = ()) -> Entry:
    """The stored entry of the one row ``where`` selects (its payload left out)."""
    (record,) = conn.execute(f"SELECT record FROM entries WHERE {where}", args).fetchone()
    return msgspec.msgpack.decode(record, type=Entry)


def rewrite(
    conn: sqlite3.Connection,
    where: str,
    args: tuple[Any, ...] = (),
    **fields: Any,
) -> int:
    """Set ``fields`` in the records of the rows ``where`` selects, and in the columns that
    repeat them; returns how many rows changed."""
    rows = conn.execute(f"SELECT position, record FROM entries WHERE {where}", args).fetchall()
    for position, record in rows:
        e = msgspec.structs.replace(msgspec.msgpack.decode(record, type=Entry), **fields)
        sets = {"record": msgspec.msgpack.encode(e)}
        sets.update({k: v for k, v in fields.items() if k in _COLUMNS})
        assignments = ", ".join(f"{k} = ?" for k in sets)
        conn.execute(
            f"UPDATE entries SET {assignments} WHERE position = ?", (*sets.values(), position)
        )
    return len(rows)


_VERSION_7 = """
CREATE TABLE entries_v7 (
    position INTEGER PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT NULL,
    version INTEGER NOT NULL, kind INTEGER NOT NULL, category TEXT NOT NULL,
    event_id BLOB NOT NULL, type TEXT, correlation_id BLOB, causation_id BLOB,
    timestamp INTEGER NOT NULL, metadata BLOB NOT NULL, tags TEXT, address BLOB, codec TEXT,
    size INTEGER NOT NULL, prev_hash BLOB, hash BLOB NOT NULL, payload INTEGER, head INTEGER,
    generated INTEGER, data BLOB
);
"""
_INDEXES_7 = """
DROP TABLE entries;
ALTER TABLE entries_v7 RENAME TO entries;
CREATE UNIQUE INDEX entries_stream_seq ON entries (stream, seq);
CREATE INDEX entries_category ON entries (category, position);
CREATE INDEX entries_given_event_id ON entries (event_id) WHERE generated IS NULL;
CREATE INDEX entries_restructures ON entries (position) WHERE kind = 1;
CREATE INDEX entries_stream_restructures ON entries (stream, position) WHERE kind = 1;
PRAGMA user_version = 7;
"""


def back_to_version_7(conn: sqlite3.Connection) -> None:
    """Lay a database file of the current layout out as version 7 did: every field of an
    entry in a column of its own (the hash of the entry before it too), no record."""
    conn.executescript(_VERSION_7)
    rows = conn.execute(
        "SELECT category, payload, head, generated, data, record FROM entries ORDER BY position"
    ).fetchall()
    last: dict[str, bytes] = {}  # each stream's last hash so far
    for category, payload, head, generated, data, record in rows:
        e = msgspec.msgpack.decode(record, type=Entry)
        e.prev_hash = e.prev_hash or last.get(e.stream)
        last[e.stream] = e.hash
        conn.execute(
            "INSERT INTO entries_v7 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                e.position, e.stream, e.seq, e.version, e.kind, category, e.event_id, e.type,
                e.correlation_id, e.causation_id, e.timestamp, e.metadata,
                msgspec.json.encode(e.tags).decode() if e.tags else None, e.address, e.codec,
                e.size, e.prev_hash, e.hash, payload, head, generated, data,
            ),
        )  # fmt: skip
    conn.executescript(_INDEXES_7)
