"""Reading or subscribing to a 1,000,000-event stream streams it through: memory stays flat."""

from __future__ import annotations

import gc
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
import psutil
import pytest

import safe_eventstore as ses

from .. import sqlite_rows

pytestmark = pytest.mark.slow

EVENTS = 1_000_000
MB = 1024 * 1024
# Holding the events would take over 1 GB; the bound leaves room for SQLite's page cache
# (32 MB a connection) and the allocator, nothing more.
BOUND = 80 * MB


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ses.Store]:
    path: Path = tmp_path_factory.mktemp("memory") / "store"
    with ses.open(str(path), durability="relaxed") as store:
        db = store.create_database("big")
        db.append("Clock-1", [ses.NewEvent("Ticked", {"tick": 1}, metadata={"n": 0})])
        # Appending a million events through the API takes longer than this test may (about
        # 25 s on a quiet machine, twice that on a busy one), so SQLite copies the first
        # entry a million times over: the same payload, a count in the metadata, new ids.
        # The copies are not hash-chained (verify would say so); reads do not check chains.
        conn = sqlite3.connect(path / "big.sqlite3", isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO entries (position, stream, seq, version, kind, category, event_id, "
                "type, size, head, generated, payload, data, record) "
                "SELECT ?1, stream, ?2, ?2, kind, category, ?3, type, size, NULL, generated, "
                "payload, data, ?4 FROM entries WHERE position = 1",
                _copies(conn),
            )
            conn.execute(  # the last copy is the stream's head
                "UPDATE entries SET head = (position = ?) WHERE stream = 'Clock-1'", (EVENTS,)
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        assert db.stream_version("Clock-1") == EVENTS - 1
        yield store


def _copies(conn: sqlite3.Connection) -> Iterator[tuple[int, int, bytes, bytes]]:
    """The rows' values of the first entry's copies: seq i at position i + 1, a new id, the
    count in the metadata, a random hash (the copies are not chained)."""
    first = sqlite_rows.entry(conn, "position = 1")
    for i in range(1, EVENTS):
        event_id = b"%016d" % i
        copy = msgspec.structs.replace(
            first,
            seq=i,
            version=i,
            position=i + 1,
            event_id=event_id,
            timestamp=first.timestamp + i,
            metadata=b'{"n":%d}' % i,
            prev_hash=first.hash,
            hash=os.urandom(32),
        )
        yield i + 1, i, event_id, msgspec.msgpack.encode(copy)


def _peak_growth(events: Iterable[ses.RecordedEvent], count: int) -> tuple[int, int]:
    process = psutil.Process()
    gc.collect()
    base = peak = process.memory_info().rss
    seen = 0
    for event in events:
        assert event.metadata["n"] == seen
        seen += 1
        if seen % 5000 == 0:
            peak = max(peak, process.memory_info().rss)
        if seen == count:
            break
    return seen, peak - base


def test_read_stream_keeps_memory_flat(store: ses.Store) -> None:
    seen, growth = _peak_growth(store.database("big").read_stream("Clock-1"), EVENTS)
    assert seen == EVENTS
    assert growth < BOUND, f"peak RSS grew by {growth / MB:.0f} MB"


def test_subscription_keeps_memory_flat(store: ses.Store) -> None:
    with store.database("big").subscribe(idle_timeout=10) as sub:
        seen, growth = _peak_growth(sub, EVENTS)
    assert seen == EVENTS
    assert growth < BOUND, f"peak RSS grew by {growth / MB:.0f} MB"
