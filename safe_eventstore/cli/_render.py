"""How the tool prints: consoles, tables, JSON lines and progress."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

import safe_eventstore as ses

__all__ = [
    "count",
    "data_text",
    "event_line",
    "event_record",
    "events_table",
    "fail",
    "json_out",
    "progress",
    "stats_table",
    "stderr",
    "stdout",
    "summary",
    "table",
]

# Piped output is for programs: a line is never wrapped or cut, whatever its length.
UNLIMITED_WIDTH = 1 << 24


def stdout(*, wide: bool = True) -> Console:
    # Built per command, not at import: test runners swap sys.stdout between invocations.
    console = Console(highlight=False)
    if wide and not console.is_terminal:
        console.width = UNLIMITED_WIDTH
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> None:
    line = " ".join(message.split()) or "unknown error"
    stderr().print(Text(f"error: {line}", style="bold red"))


def json_out(value: Any) -> None:
    click.echo(msgspec.json.encode(value).decode())


def table(*columns: str) -> Table:
    t = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        t.add_column(column)
    return t


def count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def summary(report: ses.VerifyReport) -> str:
    return ", ".join(
        (
            count(report.streams, "stream"),
            count(report.entries, "entry", "entries"),
            count(report.payloads, "payload"),
        )
    )


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr while the block runs, when stderr is a terminal (never in a
    pipe or a log); yields ``advance(n)``."""
    console = stderr()
    if not console.is_terminal:
        yield lambda n: None
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    bar = Progress(*columns, TimeElapsedColumn(), console=console, transient=True)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


# -- events -------------------------------------------------------------------------------


def data_text(event: ses.RecordedEvent) -> str:
    if not event.address:
        return "(hidden)"
    if event.codec == "bytes":
        return f"<{len(event.payload)} bytes>"
    return msgspec.json.encode(event.data).decode()


def _note(event: ses.RecordedEvent) -> str:
    info = event.metadata.get("$restructure")
    reason = info.get("reason") if isinstance(info, dict) else None
    if event.kind == "restructure":
        verb = "hides" if not event.address else "replaces"
        return f"{verb} v{event.version}: {reason}"
    if event.restructured:
        return f"restructured: {reason}" if reason else "restructured"
    return ""


def _user_metadata(event: ses.RecordedEvent) -> dict[str, Any]:
    return {k: v for k, v in event.metadata.items() if k != "$restructure"}


def events_table(
    events: Sequence[ses.RecordedEvent],
    *,
    raw: bool,
    show_time: bool = True,
    several: bool = False,
) -> Table:
    """A table of events; with ``several`` (streams), a stream column."""
    notes = [_note(e) for e in events]
    metadata = [_user_metadata(e) for e in events]
    t = Table(box=None, header_style="bold", pad_edge=False)
    if raw:
        t.add_column("entry", no_wrap=True)
    if several:
        t.add_column("stream", style="cyan", no_wrap=True)
    t.add_column("version", justify="right")
    t.add_column("position", justify="right")
    t.add_column("type", style="cyan", no_wrap=True)
    t.add_column("data", overflow="fold")
    if any(metadata):
        t.add_column("metadata", overflow="fold")
    if show_time:
        t.add_column("time (UTC)", style="dim", no_wrap=True)
    if any(notes):
        t.add_column("note", style="yellow", overflow="fold")
    for event, note, meta in zip(events, notes, metadata, strict=True):
        row = [event.kind] if raw else []
        row += [event.stream] if several else []
        row += [str(event.version), str(event.position), event.type, data_text(event)]
        if any(metadata):
            row.append(msgspec.json.encode(meta).decode() if meta else "")
        if show_time:
            row.append(event.timestamp.strftime("%Y-%m-%d %H:%M:%S"))
        if any(notes):
            row.append(note)
        t.add_row(*(escape(cell) for cell in row))
    return t


def event_record(event: ses.RecordedEvent) -> dict[str, Any]:
    """Every field of an event, as JSON can hold it: a binary payload as base64, marked by
    ``"data_encoding": "base64"``."""
    record: dict[str, Any] = {
        "stream": event.stream,
        "version": event.version,
        "position": event.position,
        "type": event.type,
        "data": event.data,
        "metadata": event.metadata,
        "kind": event.kind,
        "restructured": event.restructured,
        "event_id": event.event_id,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "timestamp": event.timestamp,
        "tags": list(event.tags),
        "codec": event.codec,
        "address": event.address,
    }
    if event.forgotten:  # its key scope was forgotten: no data to show
        record["forgotten"] = True
    elif event.codec == "bytes":
        record["data"] = base64.b64encode(event.payload).decode()
        record["data_encoding"] = "base64"
    return record


def event_line(event: ses.RecordedEvent) -> Text:
    return Text.assemble(
        (f"{event.position:>6} ", "dim"),
        (event.stream, "cyan"),
        f"@{event.version} ",
        (event.type, "bold"),
        " ",
        data_text(event),
    )


STATISTICS = [
    ("events", "events"),
    ("streams", "streams"),
    ("restructure entries", "restructures"),
    ("payloads stored", "payloads"),
    ("payload bytes, as appended", "logical_payload_bytes"),
    ("payload bytes, stored", "stored_payload_bytes"),
]


def stats_table(stats: dict[str, float]) -> Table:
    t = Table(box=None, header_style="bold", pad_edge=False)
    t.add_column("statistic")
    t.add_column("value", justify="right")
    for label, key in STATISTICS:
        t.add_row(label, f"{int(stats.get(key, 0)):,}")
    t.add_row(Text("dedup ratio", style="bold"), f"{stats.get('dedup_ratio', 1.0):.2f}x")
    return t
