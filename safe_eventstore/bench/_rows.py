"""The rows: measured, summed over rounds, compared with their references, and reported."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sqlite3
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._workloads import Sizes, Workloads, per_round

__all__ = [
    "COLUMNS", "ReadWorkload", "Row", "add_ratios", "best_reads", "format_table", "latency_rows",
    "machine", "our_reads", "our_write_rows", "summed_row", "table", "write_json",
]  # fmt: skip


@dataclass
class Row:
    """One measured row. ``ratios`` maps a reference row's ``id`` to rate / its rate."""

    id: str
    workload: str
    system: str
    what: str
    count: int
    seconds: float
    rate: float
    unit: str
    ratios: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    """The facts a benchmark figure needs next to it."""
    facts: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }
    for package in ("safe-eventstore", "eventsourcing"):
        try:
            facts[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts[package] = None
    return facts


def summed_row(
    timings: dict[str, list[float]],
    key: str,
    workload: str,
    system: str,
    what: str,
    count: int,
    unit: str = "events/s",
) -> Row:
    """A write row: its whole count over the summed time of its rounds."""
    seconds = sum(timings[key])
    return Row(key, workload, system, what, count, seconds, count / seconds, unit)


def our_write_rows(timings: dict[str, list[float]], s: Sizes) -> list[Row]:
    """W1-W3 from the timings of their rounds (the counts of :func:`per_round`)."""
    single, each, batches = per_round(s)
    return [
        summed_row(timings, "W1", "W1", "safe-eventstore", "single-event appends, 1 writer",
                   single * s.rounds),
        summed_row(timings, "W2", "W2", "safe-eventstore",
                   f"single-event appends, {s.writers} writers", each * s.writers * s.rounds),
        summed_row(timings, "W3", "W3", "safe-eventstore", f"{s.batch}-event batch appends",
                   batches * s.batch * s.rounds),
    ]  # fmt: skip


ReadWorkload = tuple[str, str, str, str, Callable[[], tuple[int, float]]]
"""A read row to measure: id, workload, system, what, and the run giving (count, seconds)."""


def our_reads(ours: Workloads, events: int) -> list[ReadWorkload]:
    """W4-W6 on our store, filled beforehand with ``ours.fill(events)``."""
    return [
        ("W4", "W4", "safe-eventstore", "read_stream, decoded events", ours.read_stream),
        ("W5", "W5", "safe-eventstore", "read_all, decoded events", ours.read_all),
        (
            "W6", "W6", "safe-eventstore", "subscription catch-up, decoded events",
            lambda: ours.catch_up(events),
        ),
    ]  # fmt: skip


def best_reads(reads: list[ReadWorkload], repeat: int, say: Callable[[str], None]) -> list[Row]:
    """Reads are bound by the CPU: each runs ``repeat`` times, interleaved with the others,
    and the fastest run counts (the one least disturbed by other processes)."""
    best: dict[str, tuple[int, float]] = {}
    for r in range(repeat):
        for key, _, _, what, fn in reads:
            say(f"{key}: {what}, run {r + 1} of {repeat}")
            count, seconds = fn()
            if key not in best or seconds < best[key][1]:
                best[key] = (count, seconds)
    rows = []
    for key, workload, system, what, _ in reads:
        count, seconds = best[key]
        rows.append(Row(key, workload, system, what, count, seconds, count / seconds, "events/s"))
    return rows


def latency_rows(latencies: list[float]) -> list[Row]:
    """The W6 live row (p99 as its rate, p50 in its notes); none without latencies."""
    if not latencies:
        return []
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(len(ms) * 0.99) - 1)]
    return [
        Row(
            "W6-live", "W6", "safe-eventstore", "live delivery latency, append to event",
            len(ms), sum(ms) / 1000, p99, "ms p99",
            notes={"p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": ms[-1]},
        )
    ]  # fmt: skip


def add_ratios(rows: list[Row], references: dict[str, tuple[str, ...]]) -> None:
    """Sort the rows by workload and set each row's ratio to its reference rows."""
    order = ("W1", "W2", "W3", "W4", "W5", "W6", "C1", "C2", "C3", "C4", "H1", "H2", "H3",
             "P1", "P2", "P3")  # fmt: skip
    rows.sort(key=lambda r: order.index(r.workload))
    by_id = {r.id: r for r in rows}
    for row in rows:
        for ref in references.get(row.id, ()):
            if ref in by_id and by_id[ref].rate > 0:
                row.ratios[ref] = row.rate / by_id[ref].rate


def write_json(
    rows: list[Row],
    out: str | os.PathLike[str],
    *,
    sizes: Sizes,
    notes: dict[str, Any] | None = None,
) -> None:
    document = {
        "machine": machine(),
        "sizes": asdict(sizes),
        "notes": notes or {},
        "rows": [asdict(replace(r, rate=round(r.rate, 1))) for r in rows],
    }
    Path(out).write_text(json.dumps(document, indent=2) + "\n")


COLUMNS = ("id", "system", "what", "count", "rate", "vs reference")


def table(rows: list[Row]) -> list[tuple[str, ...]]:
    """The rows as strings, in :data:`COLUMNS` order."""
    lines: list[tuple[str, ...]] = []
    for r in rows:
        rate = f"{r.rate:,.2f} {r.unit}" if r.unit.startswith("ms") else f"{r.rate:,.0f} {r.unit}"
        if "p50_ms" in r.notes:
            rate = f"p50 {r.notes['p50_ms']:.2f} ms, p99 {r.notes['p99_ms']:.2f} ms"
        ratios = ", ".join(f"{v:.2f}x {k}" for k, v in r.ratios.items())
        if "ceiling" in r.notes:
            ratios += f" (ceiling {r.notes['ceiling']:.2f}x)"
        if "target" in r.notes:
            ratios += f" (target {r.notes['target']})"
        lines.append((r.id, r.system, r.what, f"{r.count:,}", rate, ratios))
    return lines


def format_table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    body = table(rows)
    widths = [max(len(c), *(len(line[i]) for line in body)) for i, c in enumerate(COLUMNS)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(COLUMNS), rule, *(fmt(line) for line in body)])
