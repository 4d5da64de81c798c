"""Entry rows and the statements that insert them.

An entry row binds fourteen values, and binding a value is a measurable share of a batch
append (docs/performance.md). Most of a large write's rows differ only in a few of them:
its events follow each other in one stream, so their positions, seqs and versions count up
by one, and they share the stream, its category and whether their ids are indexed. Such a
write (a *run*) goes in statements that bind those values once and compute the rest
(:func:`run_statements`); every other row binds all fourteen (:func:`insert_rows`).
"""

from __future__ import annotations

import functools
import sqlite3
from itertools import chain
from typing import Any

from ..base import EVENT, Entry
from ._records import encode as encode_record
from ._schema import INLINE_BELOW

__all__ = [
    "RUN_MIN",
    "Statement",
    "clear_heads",
    "insert_rows",
    "insert_singles",
    "row_limit",
    "run_chunks",
    "run_limit",
    "run_statements",
    "with_payload_ids",
]

Statement = tuple[str, list[Any]]

_COLUMNS = (
    "position, stream, seq, version, kind, category, event_id, type, size, head, generated, "
    "data, record, payload"
)
_ROW = 14  # bound values a row, one a column

# Rows go in statements of up to _CHUNK rows each: a statement per row costs SQLite a step
# and a reset each, a measurable share of a batch append (docs/performance.md). Fewer rows
# still when the library's SQLite allows fewer bound values (the oldest bound is 999).
_CHUNK = 128

RUN_MIN = 8
"""Writes of fewer entries bind every value of their rows: a run's statement is one more
statement in the group's transaction, which costs more than a few rows' values."""

_SHARED = 6  # a run statement's values bound once: position, stream, seq, version, ...
_EACH = 4  # ... and a run row's own: event id, type, payload, record


def row_limit(variables: int, values: int) -> int:
    """Rows a statement may hold when each binds ``values`` values and the connection binds
    ``variables`` at most (``SQLITE_LIMIT_VARIABLE_NUMBER``); at most _CHUNK."""
    return max(1, min(_CHUNK, variables // values))


@functools.cache
def _insert(rows: int) -> str:
    values = ",".join(f"({','.join('?' * _ROW)})" for _ in range(rows))
    return f"INSERT INTO entries ({_COLUMNS}) VALUES {values}"


def insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], variables: int) -> None:
    """Insert rows of fourteen values, in the order of :data:`_COLUMNS`."""
    chunk = row_limit(variables, _ROW)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        conn.execute(_insert(len(part)), list(chain.from_iterable(part)))


@functools.cache
def _run(rows: int, head: bool, ids: bool) -> str:
    # ?1 the first position, ?2 the stream, ?3 the first seq, ?4 the first version,
    # ?5 the category, ?6 the generated mark; then each row's event id (with ``ids``: the
    # index of ids has them; else the column is left empty, schema 10), type, payload and
    # record. A run's payloads are kept in their rows, so its size is the payload's length.
    each = _EACH if ids else _EACH - 1
    values = []
    for k in range(rows):
        n = _SHARED + 1 + each * k
        event_id = f"?{n}" if ids else "X''"
        n += 1 if ids else 0
        flag = "1" if head and k == rows - 1 else "NULL"
        values.append(
            f"(?1+{k},?2,?3+{k},?4+{k},{EVENT},?5,{event_id},?{n},length(?{n + 1}),{flag},?6,"
            f"?{n + 1},?{n + 2},NULL)"
        )
    return f"INSERT INTO entries ({_COLUMNS}) VALUES {','.join(values)}"


def run_statements(
    limit: int,
    stream: str,
    category: str,
    generated: int | None,
    entries: list[Entry],
    blobs: dict[bytes, bytes],
    tags: list[tuple[str, int]],
) -> list[Statement] | None:
    """The statements that insert ``entries`` (one write's, placed, the last the stream's
    new head) as a run, ``limit`` rows at most each, and their tags added to ``tags``; or
    ``None``, adding nothing, when they are not a run: an entry that is not an event, or
    whose payload is kept in a row of its own."""
    ids = generated is None  # the index of ids has them: the column holds them
    values: list[Any] = []
    own: list[tuple[str, int]] = []
    for e in entries:
        address = e.address
        if e.kind != EVENT or address is None or e.size >= INLINE_BELOW:
            return None
        if e.tags:
            own.extend((tag, e.position) for tag in e.tags)
        if ids:
            values.append(e.event_id)
        values += (e.type, blobs[address], encode_record(e))
    tags += own
    first = entries[0]
    return run_chunks(
        limit, stream, category, generated, (first.position, first.seq, first.version), values
    )


def run_chunks(
    limit: int,
    stream: str,
    category: str,
    generated: int | None,
    start: tuple[int, int, int],
    values: list[Any],
) -> list[Statement]:
    """The statements of a run whose first row takes the position, seq and version of
    ``start`` and whose rows bind ``values`` (each row's own, in order: its event id unless
    ``generated``, its type, payload and record), ``limit`` rows at most each; the last
    row is the stream's new head."""
    each = _EACH if generated is None else _EACH - 1
    position, seq, version = start
    statements: list[Statement] = []
    count = len(values) // each
    for first in range(0, count, limit):
        rows = min(limit, count - first)
        shared = [position + first, stream, seq + first, version + first, category, generated]
        part = values[each * first : each * (first + rows)]
        statements.append((_run(rows, first + rows == count, generated is None), shared + part))
    return statements


_CLEAR = -1  # the kind of the rows that clear head flags (no entry has it)

_SINGLE = 8  # a lone event's row binds: position, stream, seq, version, category, type,
# payload and record (see insert_singles)


@functools.cache
def _singles(rows: int, heads: int = 0) -> str:
    # a lone event: the stream's new head, its id made with it (not indexed: the column is
    # left empty, schema 10), its payload in its row (so its size is the payload's length)
    values = []
    for k in range(rows):
        n = _SINGLE * k
        values.append(
            f"(?{n + 1},?{n + 2},?{n + 3},?{n + 4},{EVENT},?{n + 5},X'',?{n + 6},"
            f"length(?{n + 7}),1,1,?{n + 7},?{n + 8},NULL)"
        )
    # the heads they follow: a row of kind _CLEAR at a head's position, stream and seq,
    # whose conflict with the entry there clears that entry's flag instead (see
    # insert_singles)
    for j in range(heads):
        n = _SINGLE * rows + 3 * j
        values.append(
            f"(?{n + 1},?{n + 2},?{n + 3},0,{_CLEAR},'',X'',NULL,0,NULL,NULL,NULL,X'',NULL)"
        )
    sql = f"INSERT INTO entries ({_COLUMNS}) VALUES {','.join(values)}"
    if heads:
        sql += f" ON CONFLICT (position) DO UPDATE SET head = NULL WHERE excluded.kind = {_CLEAR}"
    return sql


def insert_singles(
    conn: sqlite3.Connection,
    rows: list[tuple[Any, ...]],
    variables: int,
    heads: list[tuple[int, str, int]],
) -> bool:
    """Insert the rows of lone events: the only event of its write, with an id that no
    retry looks up by id and its payload in its row (the usual single append). Each binds
    the eight values of :data:`_SINGLE`, in that order; the other six are the same for
    all of them, written into the statement.

    When one statement can hold them all, it also clears the head flags of the entries
    ``heads`` names (position, stream, seq: those the group's appends follow), saving the
    group the statement of :func:`clear_heads`: a row with each of those takes the upsert's
    ``DO UPDATE`` branch, which clears the flag of the entry at that position. Whether it
    did. Every row either inserts or updates, so SQLite reports one change a row; fewer
    means that an entry's row met a taken position and was left out (the ``WHERE`` of ``DO
    UPDATE`` keeps entries' rows from it), which fails the write. A head's row meeting no
    entry at its position meets the entry at its stream and seq, which fails the statement
    (a unique index), unless no such entry is either: a head that was never stored."""
    chunk = max(1, min(_CHUNK, variables // _SINGLE))
    count = len(rows) + len(heads)
    one = len(rows) <= chunk and len(heads) <= _CHUNK
    if heads and one and len(rows) * _SINGLE + len(heads) * 3 <= variables:
        values = [*chain.from_iterable(rows), *chain.from_iterable(heads)]
        cursor = conn.execute(_singles(len(rows), len(heads)), values)
        if cursor.rowcount != count:
            raise sqlite3.IntegrityError(
                f"{count - cursor.rowcount} entries met positions already taken"
            )
        return True
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        conn.execute(_singles(len(part)), list(chain.from_iterable(part)))
    return False


def run_limit(variables: int) -> int:
    """Rows a run statement may hold on a connection that binds ``variables`` values at most
    (its values are numbered: the highest number is what the limit bounds)."""
    return max(1, min(_CHUNK, (variables - _SHARED) // _EACH))


@functools.cache
def _clear(count: int) -> str:
    return f"UPDATE entries SET head = NULL WHERE position IN ({','.join('?' * count)})"


def clear_heads(
    conn: sqlite3.Connection, heads: list[tuple[int, str, int]], variables: int
) -> None:
    """Clear the head flags of the entries ``heads`` names (position, stream, seq: the
    heads that a group's appends follow), by position, in one statement: a statement a row
    (``executemany``) steps SQLite, and lets the other threads run, once a row. The list is
    padded to a power of two by repeating its last position, so that few statements are
    prepared."""
    positions = [position for position, _, _ in heads]
    chunk = row_limit(variables, 1)
    for start in range(0, len(positions), chunk):
        part = positions[start : start + chunk]
        count = min(chunk, 1 << (len(part) - 1).bit_length())
        conn.execute(_clear(count), part + part[-1:] * (count - len(part)))


def _payload_ids(conn: sqlite3.Connection, addresses: list[bytes]) -> dict[bytes, int]:
    """The row ids of the payloads at ``addresses`` (stored, or stored before)."""
    ids: dict[bytes, int] = {}
    for start in range(0, len(addresses), 500):
        part = addresses[start : start + 500]
        marks = ",".join("?" * len(part))
        ids.update(
            conn.execute(f"SELECT address, id FROM payloads WHERE address IN ({marks})", part)
        )
    return ids


def with_payload_ids(
    conn: sqlite3.Connection, rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """``rows`` whose last value, the address of a payload kept in a row of its own, is
    replaced by that row's id (looked up once for the whole group, after the payloads'
    insert: a lookup inside each entry's insert costs every row, inline or not)."""
    ids = _payload_ids(conn, [r[-1] for r in rows if r[-1] is not None])
    return [r if r[-1] is None else (*r[:-1], ids[r[-1]]) for r in rows]
