"""The P3 rows: a page of a read-model query on a declared index, beside references.

=========  ========================================================================
P3         p99 latency of ``ReadModel.query``: 50 states with ``balance >= x`` (x at
           random), ordered by ``balance``, of a read model of ``big_stream`` keys
           (1,000,000) on SQLite, through its declared index (target < 5 ms)
P3-scan    the same query on the same documents with the index left out (a scan of
           every document and a sort): what the index saves; fewer repetitions
P3-raw     the same page from a plain sqlite3 table (key, balance, owner) with an
           ordinary index on balance: what the JSON documents cost
=========  ========================================================================

The documents are filled directly through ``append_batch(documents=...)`` in batches of
20,000 (one small event each), the index declared afterwards: the rows time queries, not
the build of a read model (P1 times a catch-up).
"""

from __future__ import annotations

import gc
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from .._model import NewEvent, StreamAppend
from .._store import open as open_store
from ..projections import Projection, ReadModel, category
from ._rows import Row
from ._workloads import Sizes

__all__ = ["REFERENCES", "query_rows"]

REFERENCES = {"P3": ("P3-scan", "P3-raw")}
TARGET_MS = 5.0
PAGE = 50
FILL = 20_000
WARM = 20
SCANS = 5  # P3-scan reads every document: a handful of runs tell its cost
OWNERS = ("ann", "bob", "cy", "dee")


def _percentile(ms: list[float], q: float) -> float:
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * q) - 1))]


def _row(key: str, what: str, ms: list[float], notes: dict[str, object]) -> Row:
    p99 = _percentile(ms, 0.99)
    notes = {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(p99, 3), **notes}
    return Row(key, "P3", "safe-eventstore" if key != "P3-raw" else "sqlite3", what, len(ms),
               sum(ms) / 1000, p99, "ms p99", notes=notes)  # fmt: skip


def _balance(i: int, keys: int) -> int:
    return (i * 7919) % max(1, keys // 2)  # spread, about two keys a value (ties)


def query_rows(
    work: Path, s: Sizes, say: Callable[[str], None], *, references: bool = True
) -> list[Row]:
    """P3 (and, with ``references``, P3-scan and P3-raw) on a read model of
    ``s.big_stream`` keys (the size H3 uses), timing ``s.pages`` pages."""
    keys = s.big_stream
    projection = Projection(
        "accounts", source=category("Account"), initial={}, indexes=["balance", "owner"]
    )
    collection = "projection.accounts.v1"
    store = open_store(str(work / "queries"), durability="relaxed")
    try:
        db = store.create_database("readmodel")
        say(f"P3: filling a read model of {keys:,} keys")
        for start in range(0, keys, FILL):
            docs = {
                f"Account-{i:07d}": {"balance": _balance(i, keys), "owner": OWNERS[i % 4]}
                for i in range(start, min(keys, start + FILL))
            }
            # the checkpoint a runner would store with its page: the read model is then one
            # the database knows (a query of a projection that never ran is refused)
            result = db.append_batch(
                [StreamAppend(f"Fill-{start}", [NewEvent("Filled")])],
                documents={collection: docs},
            )
            db.save_checkpoint(collection, result[0].position)
        db.declare_document_index(collection, projection.indexes)
        model = ReadModel(db, projection)
        rng = random.Random(3)
        bounds = [rng.randrange(0, max(1, keys // 2 - PAGE)) for _ in range(s.pages)]
        say(f"P3: {s.pages} query pages through the index")
        for x in bounds[:WARM]:  # the first pages read the index from the disk
            model.query({"balance": (">=", x)}, order_by="balance", limit=PAGE)
        gc.collect()  # the fill's garbage, collected now rather than inside a timed query
        latencies = []
        for x in bounds:
            began = time.perf_counter()
            page = model.query({"balance": (">=", x)}, order_by="balance", limit=PAGE)
            latencies.append((time.perf_counter() - began) * 1000)
            if len(page.items) != min(PAGE, keys):
                raise RuntimeError(f"a page held {len(page.items)} states, not {PAGE}")
        what = f"query page of {PAGE} states, range on an index, {keys:,} keys"
        rows = [_row("P3", what, latencies, {"target": f"< {TARGET_MS:g} ms p99"})]
        if not references:
            return rows
        path = work / "queries" / "readmodel.sqlite3"
        rows.append(_scan_row(path, collection, bounds[:SCANS], say))
        rows.append(_raw_row(work, keys, bounds, say))
        return rows
    finally:
        store.close()


def _scan_row(path: Path, collection: str, bounds: list[int], say: Callable[[str], None]) -> Row:
    say(f"P3-scan: {len(bounds)} of the same pages without the index")
    conn = sqlite3.connect(path)
    x = "json_extract(body, '$.balance')"
    # unary + keeps SQLite from using an index for a term (NOT INDEXED does not, on this
    # WITHOUT ROWID table)
    sql = (
        f"SELECT key, body FROM documents WHERE +collection = ? AND +{x} >= ? "
        f"AND +{x} < '' ORDER BY +{x}, key LIMIT {PAGE + 1}"
    )
    try:
        ms = []
        for b in bounds:
            start = time.perf_counter()
            conn.execute(sql, (collection, b)).fetchall()
            ms.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return _row("P3-scan", "the same page, documents scanned (no index)", ms, {})


def _raw_row(work: Path, keys: int, bounds: list[int], say: Callable[[str], None]) -> Row:
    say(f"P3-raw: the same pages from a plain sqlite3 table of {keys:,} rows")
    conn = sqlite3.connect(work / "raw-accounts.sqlite3")
    try:
        conn.execute(
            "CREATE TABLE accounts (key TEXT PRIMARY KEY, balance INTEGER, owner TEXT)"
            " WITHOUT ROWID"
        )
        conn.executemany(
            "INSERT INTO accounts VALUES (?, ?, ?)",
            ((f"Account-{i:07d}", _balance(i, keys), OWNERS[i % 4]) for i in range(keys)),
        )
        conn.execute("CREATE INDEX accounts_balance ON accounts (balance, key)")
        conn.commit()
        sql = (
            "SELECT key, balance, owner FROM accounts WHERE balance >= ? "
            f"ORDER BY balance, key LIMIT {PAGE + 1}"
        )
        ms = []
        for b in bounds:
            start = time.perf_counter()
            conn.execute(sql, (b,)).fetchall()
            ms.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return _row("P3-raw", "the same page from a plain table and index", ms, {})
