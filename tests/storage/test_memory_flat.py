"""Reading or subscribing to a 1,000,000-event stream streams it through: memory stays flat."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import psutil
import pytest

import safe_eventstore as ses

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
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO entries (position, stream, seq, version, kind, category, event_id, "
                "type, correlation_id, causation_id, timestamp, metadata, tags, address, codec, "
                "size, prev_hash, hash, payload, data) "
                "SELECT e.position + i, e.stream, i, i, e.kind, e.category, "
                "CAST(printf('%016d', i) AS BLOB), "
                "e.type, NULL, NULL, e.timestamp + i, CAST(json_object('n', i) AS BLOB), NULL, "
                "e.address, e.codec, e.size, e.hash, randomblob(32), e.payload, e.data "
                "FROM n, entries e WHERE e.position = 1",
                (EVENTS - 1,),
            )
            conn.execute(  # the last copy is the stream's head
                "UPDATE entries SET head = (position = ?) WHERE stream = 'Clock-1'", (EVENTS,)
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        assert db.stream_version("Clock-1") == EVENTS - 1
        yield store


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
