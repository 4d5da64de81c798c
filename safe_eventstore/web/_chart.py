"""The event-rate chart of a database page, drawn as server-side SVG.

Counting events per time bucket would read the whole database. Instead the chart reads one
event at each of a few evenly spaced positions: positions count entries, so between two
samples the number of entries stored is the difference of their positions, and their
timestamps say when. Spreading each difference evenly over its time span gives the rate per
bucket from a fixed number of one-event reads, whatever the database's size.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import safe_eventstore as ses

__all__ = ["Bar", "RateChart", "rate_chart"]

SAMPLES = 48
BUCKETS = 24
WIDTH = 720
HEIGHT = 140


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    start: datetime


@dataclass(frozen=True)
class RateChart:
    """Bars of entries stored per bucket of time, and the axis' ends."""

    bars: list[Bar]
    start: datetime | None
    end: datetime | None
    peak: int
    bucket_seconds: float
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def bucket(self) -> str:
        """The bars' interval, in words."""
        seconds = self.bucket_seconds
        if seconds >= 3600:
            return f"{seconds / 3600:.3g} h"
        if seconds >= 60:
            return f"{seconds / 60:.3g} min"
        return f"{seconds:.3g} s"


def _samples(db: ses.Database, last: int) -> list[tuple[int, float]]:
    positions = sorted({1 + (last - 1) * i // (SAMPLES - 1) for i in range(SAMPLES)} | {last})
    found: list[tuple[int, float]] = []
    for position in positions:
        for event in db.read_all(from_position=position, limit=1):
            found.append((event.position, event.timestamp.timestamp()))
    return sorted(set(found))


def rate_chart(db: ses.Database) -> RateChart:
    """The chart of ``db``: about :data:`SAMPLES` one-event reads."""
    last = db.last_position()
    samples = _samples(db, last) if last else []
    if not samples:
        return RateChart([], None, None, 0, 0.0)
    # Imported events may carry older timestamps than the ones stored before them: an
    # interval's entries are spread between its two times, whichever comes first.
    t0 = min(at for _, at in samples)
    t1 = max(at for _, at in samples)
    size = max(t1 - t0, 1.0) / BUCKETS
    counts = [0.0] * BUCKETS
    counts[min(int((samples[0][1] - t0) / size), BUCKETS - 1)] += 1  # the first entry itself
    for (p0, x), (p1, y) in itertools.pairwise(samples):
        entries, a, b = p1 - p0, min(x, y), max(x, y)
        if b == a:
            counts[min(int((a - t0) / size), BUCKETS - 1)] += entries
            continue
        for i in range(BUCKETS):
            lo, hi = t0 + i * size, t0 + (i + 1) * size
            overlap = min(hi, b) - max(lo, a)
            if overlap > 0:
                counts[i] += entries * overlap / (b - a)
    rounded = [round(c) for c in counts]
    peak = max(rounded) or 1
    step = WIDTH / BUCKETS
    bars = []
    for i, count in enumerate(rounded):
        height = (HEIGHT - 20) * count / peak
        bars.append(
            Bar(
                x=i * step + 1,
                y=HEIGHT - 16 - height,
                width=step - 2,
                height=height,
                count=count,
                start=datetime.fromtimestamp(t0 + i * size, tz=UTC),
            )
        )
    return RateChart(
        bars,
        datetime.fromtimestamp(t0, tz=UTC),
        datetime.fromtimestamp(t1, tz=UTC),
        max(rounded),
        size,
    )
