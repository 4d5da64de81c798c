"""The C rows: commands through the application toolkit (``safe_eventstore.cqrs``) beside the
``eventsourcing`` library's ``Application``, both on SQLite with durable commits.

=========  ==============================================================================
C1         commands on distinct new aggregates: create, save
C1-floor   what C1 cannot go below: one durable append per command of an event to a new
           stream, with the ids a command gives it (event, causation, correlation)
C2         commands on existing aggregates: load, decide, save (no cache)
C3         C2 with the repository's cache of loaded aggregates
C3-floor   what C3 cannot go below: one durable single-event append per command, with the
           ids a command gives it, nothing else
C4         loads of one long aggregate with snapshots; C4-full the same without snapshots
=========  ==============================================================================

The rows of one system run in rounds interleaved with the other's, as the W rows do, in a
new order each round.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._cqrs_applications import CqrsApplications
from ._rows import ReadWorkload, Row, best_reads, summed_row
from ._workloads import Sizes

__all__ = ["REFERENCES", "TARGETS", "command_rows"]

REFERENCES = {
    "C1": ("C1-es", "C1-floor"),
    "C1-floor": ("C1-es",),
    "C2": ("C2-es",),
    "C3": ("C2", "C3-es", "C3-floor"),
    "C3-floor": ("C2",),
    "C4": ("C4-full", "C4-es"),
    "C4-full": ("C4-full-es",),
    "C4-es": ("C4-full-es",),
}
"""The rows each C row is compared with; the first is the one its target is set against."""

TARGETS = {"C1": 1.0, "C2": 1.0, "C3": 3.0, "C4": 20.0}
"""The ratio each row should reach to its first reference."""


def command_rows(
    work: Path, s: Sizes, references: bool, say: Callable[[str], None]
) -> tuple[list[Row], dict[str, Any]]:
    """The C rows measured in ``work`` (ours, and the library's when ``references`` and it
    is installed), with notes for the JSON."""
    systems: list[tuple[str, str, Any]] = [("", "safe-eventstore", CqrsApplications(work))]
    if references:
        try:
            from ._es_application import EsApplications
        except ImportError:
            pass
        else:
            systems.append(("-es", "eventsourcing", EsApplications(work)))
    try:
        rows = _measure(s, systems, say)
    finally:
        for _, _, system in systems:
            system.close()
    notes = {f"durability{suffix}": system.durability for suffix, _, system in systems}
    for row in rows:
        if row.id in TARGETS:
            row.notes["target"] = f">= {TARGETS[row.id]:.1f}x {REFERENCES[row.id][0]}"
    return rows, notes


def _measure(
    s: Sizes, systems: list[tuple[str, str, Any]], say: Callable[[str], None]
) -> list[Row]:
    timings: dict[str, list[float]] = {}
    apps: dict[str, Any] = {}
    ids: dict[str, Any] = {}
    say(f"C2, C3: storing {s.aggregates} aggregates of {s.history} events, twice per system")
    for suffix, _, system in systems:
        apps["C1" + suffix] = system.app("c1")
        for key, cache in (("C2", False), ("C3", True)):
            apps[key + suffix] = app = system.app(key.lower(), cache=cache)
            ids[key + suffix] = system.fill(app, s.aggregates, s.history)
    ours = systems[0][2]
    apps["C1-floor"] = ours.app("c1floor")
    apps["C3-floor"] = floor = ours.app("c3floor")
    ids["C3-floor"] = ours.fill(floor, s.aggregates, s.history)
    each = max(1, s.commands // s.rounds)
    steps: list[tuple[str, Callable[[], float]]] = [
        ("C1-floor", lambda: ours.creations(apps["C1-floor"], each)),
        ("C3-floor", lambda: ours.appends(apps["C3-floor"], ids["C3-floor"], s.history, each)),
    ]
    for suffix, _, system in systems:
        steps.append(("C1" + suffix, functools.partial(system.create, apps["C1" + suffix], each)))
        for key in ("C2" + suffix, "C3" + suffix):
            steps.append((key, functools.partial(system.commands, apps[key], ids[key], each)))
    for r in range(s.rounds):
        # a new order each round (the same in every run): no workload always follows the
        # same one, whose writes the disk may still be flushing
        say(f"commands, round {r + 1} of {s.rounds}")
        random.Random(r).shuffle(steps)
        for key, step in steps:
            timings.setdefault(key, []).append(step())
    rows = []
    count = each * s.rounds
    for suffix, name, _ in systems:
        for key, what in (
            ("C1", "commands on new aggregates: create, save"),
            ("C2", f"commands on {s.aggregates} aggregates: load, decide, save"),
            ("C3", "the same, with the cache of loaded aggregates"),
        ):
            rows.append(summed_row(timings, key + suffix, key, name, what, count, "commands/s"))
        if not suffix:
            what = "C1's floor: a durable append of one event with its ids to a new stream"
            rows.append(summed_row(timings, "C1-floor", "C1", name, what, count, "appends/s"))
            what = "C3's floor: a durable append of one event with its ids, nothing else"
            rows.append(summed_row(timings, "C3-floor", "C3", name, what, count, "appends/s"))
    return rows + _load_rows(s, systems, say)


def _load_rows(
    s: Sizes, systems: list[tuple[str, str, Any]], say: Callable[[str], None]
) -> list[Row]:
    say(f"C4: storing an aggregate of {s.long:,} events, twice per system")
    loads: list[ReadWorkload] = []
    for suffix, name, system in systems:
        for key, snapshots in (("C4", s.snapshot_every), ("C4-full", None)):
            app = system.app(key.lower(), snapshots=snapshots)
            aggregate = system.fill_long(app, s.long, s.snapshot_every)
            what = f"load of a {s.long:,}-event aggregate, " + (
                f"snapshots every {s.snapshot_every:,}" if snapshots else "no snapshots"
            )

            def timed(
                app: Any = app, aggregate: Any = aggregate, system: Any = system
            ) -> tuple[int, float]:
                return s.loads, system.load(app, aggregate, s.loads)

            loads.append((key + suffix, "C4", name, what, timed))
    rows = best_reads(loads, s.read_repeat, say)
    for row in rows:
        row.unit = "loads/s"
    return rows
