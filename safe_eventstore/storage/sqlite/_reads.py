"""Reading a database file: each read is one statement on the calling thread's connection.

Reads that decode events select the light columns (no chain fields), verification the
whole row; rows become entries in bulk (:func:`entries`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from ..._model import Query
from ..base import Entry, Head, statistics
from . import _records

__all__ = [
    "SELECT",
    "SELECT_LIGHT",
    "entries",
    "head",
    "query_sql",
    "read_all",
    "read_stream",
    "stats",
    "stored_entries",
]

# An entry's payload: kept in its row (schema 7), else its row of payloads, looked up only
# then (coalesce stops at its first value that is not NULL).
_PAYLOAD = "coalesce(e.data, (SELECT p.data FROM payloads p WHERE p.id = e.payload))"

# What a read that decodes events needs: the record (the whole entry, schema 8) and the
# payload, made into entries by :func:`entries`.
SELECT_LIGHT = f"SELECT e.record, {_PAYLOAD} FROM entries e"
# What verification and the append's lookups read: the columns a record repeats too, laid
# over it by :func:`stored_entries`.
SELECT = (
    f"SELECT e.record, {_PAYLOAD}, e.position, e.stream, e.seq, e.version, e.kind, "
    "e.event_id, e.type, e.size FROM entries e"
)
entries = _records.entries


def stored_entries(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> list[Entry]:
    """The complete entries of rows :data:`SELECT` read on ``conn``: the columns laid over
    the records, each entry's ``prev_hash`` put back."""
    return _records.linked(conn, _records.entries_as_stored(rows))


def query_sql(query: Query, from_position: int) -> tuple[str, list[Any]]:
    """The positions of the event entries at ``from_position`` or later that ``query``
    selects: one SELECT per item, driven by the tags index when the item names tags."""
    if not query.items:
        return "SELECT position FROM entries WHERE kind = 0 AND position >= ?", [from_position]
    parts: list[str] = []
    args: list[Any] = []
    for item in query.items:
        types = f" AND e.type IN ({','.join('?' * len(item.types))})" if item.types else ""
        if item.tags:
            first, *rest = item.tags
            joins = "".join(
                f" JOIN tags t{i} ON t{i}.tag = ? AND t{i}.position = t.position"
                for i in range(1, len(rest) + 1)
            )
            parts.append(
                f"SELECT t.position FROM tags t{joins}"
                " JOIN entries e ON e.position = t.position"
                f" WHERE t.tag = ? AND t.position >= ? AND e.kind = 0{types}"
            )
            args.extend([*rest, first, from_position, *item.types])
        else:
            parts.append(
                f"SELECT e.position FROM entries e WHERE e.position >= ? AND e.kind = 0{types}"
            )
            args.extend([from_position, *item.types])
    return " UNION ".join(parts), args


def head(conn: sqlite3.Connection, stream: str) -> Head | None:
    # The last flagged entry, walking back from the stream's end (its last entry, unless
    # entries were removed), with the version of the last event up to it.
    row = conn.execute(
        "SELECT h.seq, (SELECT e.version FROM entries e WHERE e.stream = ?1 AND e.kind = 0 "
        "AND e.seq <= h.seq ORDER BY e.seq DESC LIMIT 1), h.record, h.position "
        "FROM entries h WHERE h.stream = ?1 AND h.head = 1 ORDER BY h.seq DESC LIMIT 1",
        (stream,),
    ).fetchone()
    if row is None:
        return None
    seq, version, record, position = row
    return Head(seq, version, _records.decode(record, position).hash, position)


def read_stream(
    conn: sqlite3.Connection, stream: str, from_version: int, limit: int, backwards: bool
) -> list[Entry]:
    # Along the (stream, seq) index, in which versions run in the same order as seqs.
    # Event v sits at seq v + (restructure entries before it): forwards, start at seq v
    # and pass over at most those; backwards, start at v + every restructure entry of
    # the stream (counted along the partial index of restructure entries).
    if backwards:
        sql = (
            f"{SELECT_LIGHT} WHERE e.stream = ?1 AND e.seq <= ?2 + ("
            "SELECT count(*) FROM entries r WHERE r.stream = ?1 AND r.kind = 1) "
            "AND e.kind = 0 AND e.version <= ?2 ORDER BY e.seq DESC LIMIT ?3"
        )
    else:
        sql = (
            f"{SELECT_LIGHT} WHERE e.stream = ?1 AND e.seq >= ?2 AND e.kind = 0 "
            "AND e.version >= ?2 ORDER BY e.seq LIMIT ?3"
        )
    return entries(conn.execute(sql, (stream, from_version, limit)))


def read_all(
    conn: sqlite3.Connection,
    from_position: int,
    limit: int,
    *,
    stream: str | None,
    category: str | None,
    types: tuple[str, ...] | None,
    restructures: bool,
    backwards: bool,
) -> list[Entry]:
    where = ["e.position <= ?" if backwards else "e.position >= ?"]
    args: list[Any] = [from_position]
    if stream is not None:
        where.append("e.stream = ?")
        args.append(stream)
    if category is not None:
        where.append("e.category = ?")
        args.append(category)
    kind = "e.kind = 0"
    if types is not None:
        kind += f" AND e.type IN ({','.join('?' * len(types))})"
        args.extend(types)
    where.append(f"(({kind}) OR e.kind = 1)" if restructures else kind)
    args.append(limit)
    order = "DESC" if backwards else ""
    return entries(
        conn.execute(
            f"{SELECT_LIGHT} WHERE {' AND '.join(where)} ORDER BY e.position {order} LIMIT ?",
            args,
        )
    )


def stats(conn: sqlite3.Connection) -> dict[str, int]:
    # payloads kept in their entries' rows (schema 7) are stored bytes, not payload rows
    events, restructures, logical, inline_bytes = conn.execute(
        "SELECT count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1), "
        "coalesce(sum(size), 0), coalesce(sum(length(data)), 0) FROM entries"
    ).fetchone()
    (streams,) = conn.execute("SELECT count(*) FROM streams").fetchone()
    payloads, stored = conn.execute(
        "SELECT count(*), coalesce(sum(length(data)), 0) FROM payloads"
    ).fetchone()
    return statistics(
        events=events,
        streams=streams,
        restructures=restructures,
        payloads=payloads,
        logical_payload_bytes=logical,
        stored_payload_bytes=stored + inline_bytes,
    )
