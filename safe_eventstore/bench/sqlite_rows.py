"""The SQLite rows: W1-W6 on an embedded SQLite store, interleaved with their references."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from .._exceptions import InvalidInput
from ..crypto import create_keyfile
from . import query_rows, web_rows
from ._rows import (
    Row,
    add_ratios,
    best_reads,
    latency_rows,
    our_reads,
    our_write_rows,
    summed_row,
    write_json,
)  # fmt: skip
from ._sqlite_references import EventSourcingRecorder, RawSqlite
from ._workloads import QUICK, Sizes, Workloads, per_round
from .cqrs_rows import REFERENCES as COMMAND_REFERENCES
from .cqrs_rows import command_rows
from .projection_rows import REFERENCES as PROJECTION_REFERENCES
from .projection_rows import projection_rows

__all__ = ["run"]

CATEGORY_SCOPE = "^(?P<scope>[^-]+)"  # a key scope per category: Batch-1, Batch-2 share one


def run(
    *,
    sizes: Sizes | None = None,
    quick: bool = False,
    directory: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    references: bool = True,
    progress: Callable[[str], None] | None = None,
    only: str | None = None,
) -> list[Row]:
    """Run every workload and its references; return the rows, and write them with the
    machine facts as JSON to ``out`` when given.

    ``quick`` uses :data:`QUICK` sizes (a smoke run). The stores live in a temporary
    directory under ``directory`` (default: the system's), removed afterwards.
    ``references=False`` skips the eventsourcing and raw sqlite3 rows. ``only="W"`` runs
    the W rows alone (their encrypted twins included), ``only="C"`` the C rows alone,
    ``only="P"`` the P rows (projections, read-model queries) with W6, which P1 is compared
    with; the H rows (HTTP, when the web extra is installed) run only when none is given.
    """
    if only not in (None, "W", "C", "P"):
        raise InvalidInput(f"only is None, 'W', 'C' or 'P', not {only!r}")
    s = sizes or (QUICK if quick else Sizes())
    say = progress or (lambda _: None)
    try:
        import eventsourcing.sqlite  # noqa: F401

        have_es = references
    except ImportError:
        have_es = False
    work = Path(tempfile.mkdtemp(prefix="safe-eventstore-bench-", dir=directory))
    ours = Workloads(str(work / "safe-eventstore"))
    # W1, W3 and W4 again on encrypted databases of a store of their own (the -enc rows).
    # The workloads write the same payloads in every round, to a new stream each round:
    # plain databases store them once; encrypted ones once per key scope. So the -enc rows
    # keep a workload's streams in one scope (their category), which measures what the
    # encryption costs; W3-enc-s uses a scope per stream, and shows the deduplication lost.
    keyfile = str(create_keyfile(work / "bench.key"))
    enc = Workloads(str(work / "enc"), keyfile=keyfile, key_scope=CATEGORY_SCOPE)
    enc_s = Workloads(str(work / "enc-streams"), keyfile=keyfile)
    es = EventSourcingRecorder(work, s.writers) if have_es and only in (None, "W") else None
    raw = RawSqlite(work) if references and only in (None, "W") else None
    try:
        rows: list[Row] = []
        command_notes: dict[str, object] = {}
        if only in (None, "W"):
            rows += _write_rows(s, ours, (enc, enc_s), es, raw, say)
            rows += _read_rows(s, ours, enc, es, say)
            say("W6: live latency")
            rows += latency_rows(ours.live_latency(s.latency))
        if only in (None, "P"):
            found, projection_notes = projection_rows(ours, work, s, have_es, say, w6=only == "P")
            rows += found
            command_notes.update(projection_notes)
            rows += query_rows.query_rows(work, s, say, references=references)
        if only in (None, "C"):
            commands, notes = command_rows(work, s, references, say)
            rows += commands
            command_notes.update(notes)
        if only is None:
            if web_rows.available():
                rows += web_rows.web_rows(ours.store, str(work / "safe-eventstore"), s, say)
            else:
                say("H rows skipped: the web extra is not installed")
    finally:
        ours.close()
        enc.close()
        enc_s.close()
        if es:
            es.close()
        if raw:
            raw.close()
        shutil.rmtree(work, ignore_errors=True)

    references_of = {**_REFERENCES, **COMMAND_REFERENCES, **PROJECTION_REFERENCES}
    add_ratios(rows, {**references_of, **web_rows.REFERENCES, **query_rows.REFERENCES})
    if out is not None:
        notes = {"eventsourcing_synchronous": es and es.synchronous, **command_notes}
        write_json(rows, out, sizes=s, notes=notes)
    return rows


def _write_rows(
    s: Sizes,
    ours: Workloads,
    enc: tuple[Workloads, Workloads],
    es: EventSourcingRecorder | None,
    raw: RawSqlite | None,
    say: Callable[[str], None],
) -> list[Row]:
    single, each, batches = per_round(s)
    timings = _timed_rounds(s, ours, enc, es, raw, say, single, each, batches)
    rounds = s.rounds
    rows = our_write_rows(timings, s)

    def add(
        key: str, workload: str, system: str, what: str, count: int, unit: str = "events/s"
    ) -> None:
        rows.append(summed_row(timings, key, workload, system, what, count, unit))

    w1_count = single * rounds
    w2_count = each * s.writers * rounds
    w3_count = batches * s.batch * rounds
    add("W1-enc", "W1", "safe-eventstore", "single-event appends, 1 writer, encrypted", w1_count)
    add("W3-enc", "W3", "safe-eventstore", f"{s.batch}-event batch appends, encrypted", w3_count)
    add(
        "W3-enc-s", "W3", "safe-eventstore",
        f"{s.batch}-event batch appends, encrypted, a key per stream", w3_count,
    )  # fmt: skip
    if es:
        add("W1-es", "W1", "eventsourcing", "insert_events, 1 event", w1_count)
        add(
            "W2-es", "W2", "eventsourcing", f"insert_events, 1 event, {s.writers} threads", w2_count
        )
        add("W3-es", "W3", "eventsourcing", f"insert_events, {s.batch} events", w3_count)
    if raw:
        add("raw-1", "W1", "sqlite3", "one row per transaction", w1_count, "rows/s")
        add(
            "raw-16", "W2", "sqlite3", f"a row per append, {s.writers} threads, group commit",
            w2_count, "rows/s",
        )  # fmt: skip
        add(
            "raw-16q", "W2", "sqlite3",
            f"a row per append, {s.writers} threads, one committing thread",
            w2_count, "rows/s",
        )  # fmt: skip
        bulk = timings["raw-bulk"]
        seconds = statistics.median(bulk)
        rows.append(
            Row(
                "raw-bulk", "W3", "sqlite3", f"{s.raw_rows:,} rows in one transaction",
                s.raw_rows, seconds, s.raw_rows / seconds, "rows/s",
                notes={"runs": len(bulk), "rate_of": "median run"},
            )
        )  # fmt: skip
    return rows


def _timed_rounds(
    s: Sizes,
    ours: Workloads,
    encrypted: tuple[Workloads, Workloads],
    es: EventSourcingRecorder | None,
    raw: RawSqlite | None,
    say: Callable[[str], None],
    single: int,
    each: int,
    batches: int,
) -> dict[str, list[float]]:
    """The time of each round of each write workload, by row key."""
    # Disk and CPU speed drift during a run (other processes), so each write workload is
    # cut into rounds and the rounds of all systems are interleaved: every system meets the
    # same conditions. A row's rate is its whole count over its summed time.
    timings: dict[str, list[float]] = {}
    rounds = s.rounds
    enc, enc_s = encrypted
    bulk_rounds = {0, rounds // 2, rounds - 1}

    def measure(key: str, fn: Callable[[], float]) -> None:
        timings.setdefault(key, []).append(fn())

    def group(r: int, runs: list[tuple[str, Callable[[], float]]]) -> None:
        # Each round starts a group with the next system: the first to write after the
        # group before pays for that group's pages still being written back, so a fixed
        # order would favour the systems measured later.
        for key, fn in runs[r % len(runs) :] + runs[: r % len(runs)]:
            measure(key, fn)

    for r in range(rounds):
        say(f"writes, round {r + 1} of {rounds}")
        ones: list[tuple[str, Callable[[], float]]] = [
            ("W1", lambda: ours.single(single)),
            ("W1-enc", lambda: enc.single(single)),
        ]
        many: list[tuple[str, Callable[[], float]]] = [
            ("W2", lambda: ours.concurrent(s.writers, each * s.writers))
        ]
        bulk: list[tuple[str, Callable[[], float]]] = [
            ("W3", lambda: ours.batches(batches, s.batch)),
            ("W3-enc", lambda: enc.batches(batches, s.batch)),
            ("W3-enc-s", lambda: enc_s.batches(batches, s.batch)),
        ]
        if es:
            ones.append(("W1-es", lambda: es.single(single)))
            many.append(("W2-es", lambda: es.concurrent(s.writers, each * s.writers)))
            bulk.append(("W3-es", lambda: es.batches(batches, s.batch)))
        if raw:
            ones.append(("raw-1", lambda: raw.single(single)))
            many.append(("raw-16", lambda: raw.concurrent(s.writers, each * s.writers)))
            many.append(("raw-16q", lambda: raw.queued(s.writers, each * s.writers)))
        group(r, ones)
        group(r, many)
        group(r, bulk)
        if raw and r in bulk_rounds:
            measure("raw-bulk", lambda: raw.bulk(s.raw_rows))
    return timings


def _read_rows(
    s: Sizes,
    ours: Workloads,
    enc: Workloads,
    es: EventSourcingRecorder | None,
    say: Callable[[str], None],
) -> list[Row]:
    say(f"reads: storing {s.read:,} events")
    ours.fill(s.read)
    enc.fill(s.read)
    if es:
        es.fill(s.read)
    reads = our_reads(ours, s.read)
    reads.insert(1, ("W4-enc", "W4", "safe-eventstore", "read_stream, encrypted", enc.read_stream))
    # what the cipher alone costs those reads: the ceiling W4-enc can reach
    reads.insert(2, ("W4-open", "W4", "safe-eventstore", "the cipher alone: open W4-enc's payloads",
                     enc.opening()))  # fmt: skip
    if es:
        reads += [
            ("W4-es", "W4", "eventsourcing", "select_events", es.read_stream),
            ("W5-es", "W5", "eventsourcing", "select_notifications, 1000 a page", es.read_all),
        ]
    rows = best_reads(reads, s.read_repeat, say)
    by_id = {r.id: r for r in rows}
    plain, opened = by_id["W4"], by_id["W4-open"]
    per_event = plain.seconds / plain.count
    opened.notes["us_per_event"] = round(opened.seconds / opened.count * 1e6, 3)
    # the best W4-enc / W4 when a read costs W4's time plus one open per event
    by_id["W4-enc"].notes["ceiling"] = round(
        per_event / (per_event + opened.seconds / opened.count), 3
    )
    return rows


_REFERENCES = {
    "W1": ("W1-es", "raw-1"),
    "W2": ("W2-es", "W1", "raw-16"),
    # how far threads get on this machine when an append costs nothing but its row
    "raw-16": ("raw-1", "W1"),
    "raw-16q": ("raw-1", "W1"),  # the same without the store's group commit
    "W3": ("W3-es", "raw-bulk"),
    "W4": ("W4-es",),
    "W1-enc": ("W1",),
    "W3-enc": ("W3",),
    "W3-enc-s": ("W3",),
    "W4-enc": ("W4",),
    "W5": ("W5-es",),
    "W6": ("W5-es",),
}
