"""The event-rate chart, estimated from a few sampled positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import safe_eventstore as ses
from safe_eventstore.web._chart import BUCKETS, rate_chart


def _append(db: ses.Database, count: int, at: datetime, stream: str) -> None:
    db.append(stream, [ses.NewEvent("Tick", {}, timestamp=at) for _ in range(count)])


def test_the_chart_puts_entries_where_their_times_are() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with ses.open("memory://") as store:
        db = store.create_database("bank")
        assert rate_chart(db).bars == []
        _append(db, 100, start, "A-1")
        _append(db, 900, start + timedelta(hours=23, minutes=59), "A-2")
        chart = rate_chart(db)
    counts = [bar.count for bar in chart.bars]
    assert len(counts) == BUCKETS
    assert abs(sum(counts) - 1000) <= BUCKETS  # rounding, bucket by bucket
    # the two bursts at their ends of the day (the interval between them is spread over it)
    assert counts[-1] >= 850 and counts[0] >= 80
    assert chart.start == start and chart.peak == max(counts)


def test_older_timestamps_stored_later_are_charted_at_their_time() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with ses.open("memory://") as store:
        db = store.create_database("bank")
        _append(db, 50, start + timedelta(hours=24), "A-1")
        _append(db, 500, start, "A-2")  # an import of older events, say
        counts = [bar.count for bar in rate_chart(db).bars]
    assert counts[0] >= 400 and counts[-1] >= 40
