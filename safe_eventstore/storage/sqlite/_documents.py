"""Documents in a database file: one table of (collection, key, JSON text), and for every
field a collection declares, a partial index on ``(collection, json_extract(body, '$.<field>'),
key)`` limited to that collection.

The tables are made by the first declaration or document write (``IF NOT EXISTS``), so a
file that never kept a document has none. A field's path and the collection's name are part
of the index definition, and SQLite uses an index on an expression only for the same
expression written in the query, so both appear in the SQL as literals: they are checked
before they get here (a path is dotted names of letters, digits and ``_``; a collection has
no quote). Every value a query compares with is a bound parameter.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from ..._documents import KEY, Condition, DocumentQuery
from ..documents import DocumentRow

__all__ = ["count", "declare", "fields", "get", "query", "write"]

_TABLES = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS document_fields (
    collection TEXT NOT NULL,
    field TEXT NOT NULL,
    PRIMARY KEY (collection, field)
) WITHOUT ROWID;
"""


def _missing_table(exc: sqlite3.OperationalError) -> bool:
    return "no such table" in str(exc)


def _tables(conn: sqlite3.Connection) -> None:
    for statement in _TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)


def _expr(field: str) -> str:
    return "key" if field == KEY else f"json_extract(body, '$.{field}')"


def declare(conn: sqlite3.Connection, collection: str, names: tuple[str, ...]) -> None:
    """Inside a write transaction: record the fields and build their indexes."""
    _tables(conn)
    for name in names:
        digest = hashlib.sha256(f"{collection}\0{name}".encode()).hexdigest()[:24]
        conn.execute(
            f'CREATE INDEX IF NOT EXISTS "documents_{digest}" ON documents '
            f"(collection, {_expr(name)}, key) WHERE collection = '{collection}'"
        )
    conn.executemany(
        "INSERT OR IGNORE INTO document_fields (collection, field) VALUES (?, ?)",
        [(collection, name) for name in names],
    )


def write(conn: sqlite3.Connection, rows: list[DocumentRow]) -> None:
    """Inside the append's write transaction: store the documents (the last row of a key
    wins) and delete those written as ``None``."""
    last: dict[tuple[str, str], bytes | None] = {}
    for collection, key, body in rows:
        last[collection, key] = body
    _tables(conn)
    conn.executemany(
        "INSERT INTO documents (collection, key, body) VALUES (?, ?, ?) "
        "ON CONFLICT (collection, key) DO UPDATE SET body = excluded.body",
        [(c, k, b.decode()) for (c, k), b in last.items() if b is not None],
    )
    conn.executemany(
        "DELETE FROM documents WHERE collection = ? AND key = ?",
        [(c, k) for (c, k), b in last.items() if b is None],
    )


def fields(conn: sqlite3.Connection, collection: str) -> tuple[str, ...]:
    try:
        rows = conn.execute(
            "SELECT field FROM document_fields WHERE collection = ? ORDER BY field",
            (collection,),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return ()
        raise
    return tuple(r[0] for r in rows)


def get(conn: sqlite3.Connection, collection: str, key: str) -> bytes | None:
    try:
        row = conn.execute(
            "SELECT body FROM documents WHERE collection = ? AND key = ?", (collection, key)
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return None
        raise
    return None if row is None else str(row[0]).encode()


def _condition(c: Condition, *, comparison: bool = True) -> tuple[list[str], list[Any]]:
    """The SQL of a condition: its comparison, and for a range the bound that keeps values of
    the other kind out (in SQLite every number sorts before every string)."""
    x = _expr(c.field)
    if c.value is None:
        return [f"{x} IS {'' if c.op == '==' else 'NOT '}NULL"], []
    if c.op in ("==", "!="):
        return [f"{x} {'=' if c.op == '==' else '!='} ?"], [c.value]
    parts: list[str] = [f"{x} {c.op} ?"] if comparison else []
    args: list[Any] = [c.value] if comparison else []
    if c.field != KEY:
        if isinstance(c.value, str) and c.op in ("<", "<="):
            parts.append(f"{x} >= ''")
        elif not isinstance(c.value, str) and c.op in (">", ">="):
            parts.append(f"{x} < ''")
    return parts, args


def _implied(c: Condition, q: DocumentQuery) -> bool:
    """Whether the keyset mark of ``q`` makes the comparison of ``c`` redundant: a bound on
    the order field on the side the page moves away from, which the mark passes. Leaving it
    out lets SQLite seek the index to the mark instead of to the bound."""
    if q.after is None or c.field != q.order_by or c.value is None:
        return False
    side = ("<", "<=") if q.descending else (">", ">=")
    return c.op in side and c.test(q.after[0])


def _where(collection: str, q: DocumentQuery, *, paging: bool) -> tuple[str, list[Any]]:
    parts = [f"collection = '{collection}'"]  # a literal: the partial indexes name it so
    args: list[Any] = []
    for c in q.conditions:
        sql, values = _condition(c, comparison=not (paging and _implied(c, q)))
        parts += sql
        args += values
    if paging and q.after is not None:
        value, key = q.after
        x = _expr(q.order_by)
        if q.order_by == KEY:
            parts.append(f"key {'<' if q.descending else '>'} ?")
            args.append(key)
        elif value is None:
            parts.append(f"({x} IS NULL AND key < ?)" if q.descending else
                         f"({x} IS NOT NULL OR key > ?)")  # fmt: skip
            args.append(key)
        elif q.descending:
            nulls = not any(c.field == q.order_by and c.value is not None for c in q.conditions)
            parts.append(f"(({x}, key) < (?, ?){f' OR {x} IS NULL' if nulls else ''})")
            args += [value, key]
        else:
            parts.append(f"({x}, key) > (?, ?)")
            args += [value, key]
    return " AND ".join(parts), args


def query_sql(collection: str, q: DocumentQuery) -> tuple[str, list[Any]]:
    """The statement of a query page (``limit + 1`` rows) and its parameters."""
    where, args = _where(collection, q, paging=True)
    direction = " DESC" if q.descending else ""
    order = (
        f"key{direction}"
        if q.order_by == KEY
        else f"{_expr(q.order_by)}{direction}, key{direction}"
    )
    return f"SELECT key, body FROM documents WHERE {where} ORDER BY {order} LIMIT ?", [
        *args,
        q.limit + 1,
    ]


def query(conn: sqlite3.Connection, collection: str, q: DocumentQuery) -> list[tuple[str, bytes]]:
    sql, args = query_sql(collection, q)
    try:
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return []
        raise
    return [(str(k), str(b).encode()) for k, b in rows]


def count(conn: sqlite3.Connection, collection: str, q: DocumentQuery) -> int:
    where, args = _where(collection, q, paging=False)
    try:
        (n,) = conn.execute(f"SELECT count(*) FROM documents WHERE {where}", args).fetchone()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return 0
        raise
    return int(n)
