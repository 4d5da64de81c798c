"""``export``: a whole database out to JSON lines, every field of every entry."""

from __future__ import annotations

import heapq
import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

import click
import msgspec
from rich.markup import escape

import safe_eventstore as ses

from ._app import db_option, main, open_database, store_option
from ._render import event_record, progress, stderr, stdout

__all__ = ["export", "export_record"]

EVENTS_STREAM = "$events"  # where events appended without a stream live
PAGE = 1000


def export_record(event: ses.RecordedEvent, seq: int) -> dict[str, Any]:
    """What ``import`` needs to store the entry again as it was: the event's fields, its
    place in its stream's raw history (``seq``), the version the stream had before it
    (``expected_version``), and for a restructure entry its ``reason`` and whether it
    ``hidden`` the event."""
    record = event_record(event)
    record["seq"] = seq
    if event.kind == "restructure":
        info = event.metadata.get("$restructure")
        record["reason"] = info.get("reason") if isinstance(info, dict) else None
        record["hidden"] = not event.address
    elif event.stream != EVENTS_STREAM:
        record["expected_version"] = event.version - 1 if event.version else "no-stream"
    return record


def _restructured_streams(db: ses.Database) -> set[str]:
    """The streams whose raw history differs from what ``read_all`` shows: those with a
    replaced event, and those with fewer events to show than versions (hidden ones)."""
    shown: Counter[str] = Counter()
    found: set[str] = set()
    for event in db.read_all():
        shown[event.stream] += 1
        if event.restructured:
            found.add(event.stream)
    after: str | None = None
    while True:
        names = db.list_streams(after=after, limit=PAGE)
        for name in names:
            version = db.stream_version(name)
            if version is not None and shown[name] != version + 1:
                found.add(name)
        if len(names) < PAGE:
            return found
        after = names[-1]


def entries(db: ses.Database) -> Iterator[tuple[ses.RecordedEvent, int]]:
    """Every entry of the database as stored (originals and restructure entries), in
    position order, with its place in its stream's raw history."""
    if not db.stats()["restructures"]:
        # No restructure: every stream's raw history is what read_all shows, seq = version.
        for event in db.read_all():
            yield event, event.version
        return
    # Otherwise the streams with restructures come from their raw histories, merged by
    # position with everything else (a second pass: read_all cannot show raw entries).
    rewritten = _restructured_streams(db)
    plain = ((e, e.version) for e in db.read_all() if e.stream not in rewritten)
    raws = [
        ((e, seq) for seq, e in enumerate(db.read_stream(name, raw=True)))
        for name in sorted(rewritten)
    ]
    yield from heapq.merge(plain, *raws, key=lambda pair: pair[0].position)


def _write(db: ses.Database, out: TextIO, live: bool) -> int:
    encode = msgspec.json.Encoder().encode
    written = 0
    with progress(f"exporting database {db.name}", db.last_position() if live else None) as step:
        for event, seq in entries(db):
            out.write(encode(export_record(event, seq)).decode())
            out.write("\n")
            written += 1
            step(1)
    return written


def _write_file(db: ses.Database, file: str) -> int:
    """Writes beside FILE, then renames: a failed export leaves no half file behind."""
    partial = f"{file}.partial"
    try:
        # an export holds the database's data: readable by its owner only, as the store is
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        out = open(fd, "w", encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {file}: {exc.strerror}") from None
    try:
        with out:
            written = _write(db, out, live=True)
        os.replace(partial, file)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return written


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@store_option
@db_option
def export(file: str, url: str | None, db_name: str | None) -> None:
    """Write every entry of a database to FILE (default: stdout) as JSON lines.

    One object per entry, in position order, with every field: stream, version, position,
    type, data (binary payloads as base64, marked "data_encoding": "base64"), metadata, the
    ids, timestamp, tags, and restructure entries as stored. `import` restores it. A file
    is written whole or not at all.
    """
    with open_database(url, db_name, reading=True) as db:
        if file == "-":
            written = _write(db, sys.stdout, live=not stdout().is_terminal)
        else:
            written = _write_file(db, file)
        name = db.name
    where = "" if file == "-" else f" to {file}"
    stderr().print(
        f"exported {written} entr{'y' if written == 1 else 'ies'} of database "
        f"{escape(name)}{escape(where)}",
        style="dim",
    )
