"""Reading or subscribing to a 1,000,000-event stream streams it through: memory stays flat."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from pathlib import Path

import psutil
import pytest

import safe_eventstore as ses

pytestmark = pytest.mark.slow

EVENTS = 1_000_000
BATCH = 50_000
MB = 1024 * 1024
# Holding the events would take over 1 GB; the bound leaves room for SQLite's page cache
# (32 MB a connection) and the allocator, nothing more.
BOUND = 80 * MB


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ses.Store]:
    path: Path = tmp_path_factory.mktemp("memory") / "store"
    with ses.open(str(path), durability="relaxed") as store:
        db = store.create_database("big")
        for start in range(0, EVENTS, BATCH):
            # One payload for every event (stored once) and the count in the metadata
            # keeps the build fast; reads still decode both for every event.
            events = [
                ses.NewEvent("Ticked", {"tick": 1}, metadata={"n": start + i}) for i in range(BATCH)
            ]
            db.append("Clock-1", events)
        del events
        gc.collect()
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
