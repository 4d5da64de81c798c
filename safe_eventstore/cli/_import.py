"""``import``: JSON lines into streams, atomically per batch, resumable by event ids."""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import click
from rich.markup import escape

import safe_eventstore as ses

from ._app import (
    POSITIVE,
    ExpectedVersion,
    database_name,
    db_option,
    lock_timeout_option,
    main,
    open_store,
    store_option,
)
from ._export import EVENTS_STREAM
from ._render import progress, stdout

__all__ = ["import_events"]


class BadLine(click.ClickException):
    exit_code = 2


class ImportFailed(click.ClickException):
    exit_code = 1


class ImportRefused(ImportFailed):
    exit_code = 2


@dataclass
class Line:
    """One parsed line: an event for a stream, or a restructure of one."""

    number: int
    stream: str
    event: ses.NewEvent | None  # None: a restructure that hides
    expected: int | None = None
    restructure: tuple[int, str, int | None] | None = None  # version, reason, seq
    hiding: tuple[uuid.UUID | None, datetime | None] = (None, None)  # a hiding entry's own


def _uuid(obj: dict[str, Any], key: str, number: int) -> uuid.UUID | None:
    value = obj.get(key)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadLine(f"line {number}: {key} {value!r} is not a UUID") from None


def _timestamp(obj: dict[str, Any], number: int) -> datetime | None:
    value = obj.get("timestamp")
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        stamp = None
    if stamp is None or stamp.utcoffset() is None:
        raise BadLine(
            f"line {number}: timestamp {value!r} is not an ISO 8601 time with its zone "
            "(such as 2026-01-31T12:00:00.000001Z)"
        )
    return stamp


def _data(obj: dict[str, Any], number: int) -> Any:
    if "data" not in obj:
        raise BadLine(f'line {number}: an event needs "data"')
    data, encoding = obj["data"], obj.get("data_encoding")
    if encoding is None:
        return data
    if encoding != "base64" or not isinstance(data, str):
        raise BadLine(f'line {number}: "data_encoding" is "base64", with the data as a string')
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise BadLine(f"line {number}: data is not valid base64") from None


def _expected(obj: dict[str, Any], number: int) -> int | None:
    value = obj.get("expected_version")
    if value is None:
        return None
    try:
        return ExpectedVersion().convert(value, None, None)
    except click.BadParameter as exc:
        raise BadLine(f"line {number}: expected_version {exc.message}") from None


def parse_line(number: int, raw: bytes) -> Line:
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise BadLine(f"line {number}: JSON nested too deeply") from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise BadLine(f"line {number}: not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadLine(f"line {number}: not a JSON object")
    stream = obj.get("stream")
    if not isinstance(stream, str):
        raise BadLine(f'line {number}: needs a "stream" name')
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadLine(f"line {number}: metadata must be a JSON object")
    kind = obj.get("kind", "event")
    if kind not in ("event", "restructure"):
        raise BadLine(f'line {number}: kind is "event" or "restructure", not {kind!r}')
    restructure = None
    if kind == "restructure":
        restructure = _restructure_of(obj, metadata or {}, number)
        metadata = {k: v for k, v in (metadata or {}).items() if k != "$restructure"} or None
        if obj.get("hidden"):
            hiding = (_uuid(obj, "event_id", number), _timestamp(obj, number))
            return Line(number, stream, None, restructure=restructure, hiding=hiding)
    kind_name = obj.get("type")
    if not isinstance(kind_name, str):
        raise BadLine(f'line {number}: an event needs a "type"')
    tags = obj.get("tags") or ()
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise BadLine(f"line {number}: tags must be a list of strings")
    expected = _expected(obj, number)
    if stream == EVENTS_STREAM and expected is not None:
        raise BadLine(f"line {number}: events of {EVENTS_STREAM} take no expected_version")
    event = ses.NewEvent(
        kind_name,
        _data(obj, number),
        metadata=metadata,
        event_id=_uuid(obj, "event_id", number),
        correlation_id=_uuid(obj, "correlation_id", number),
        causation_id=_uuid(obj, "causation_id", number),
        tags=tuple(tags),
        timestamp=_timestamp(obj, number),
    )
    return Line(number, stream, event, expected, restructure)


def _restructure_of(
    obj: dict[str, Any], metadata: dict[str, Any], number: int
) -> tuple[int, str, int | None]:
    version, seq = obj.get("version"), obj.get("seq")
    info = metadata.get("$restructure")
    reason = obj.get("reason") or (info.get("reason") if isinstance(info, dict) else None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise BadLine(f'line {number}: a restructure needs the "version" it restructures')
    if not isinstance(reason, str) or not reason.strip():
        raise BadLine(f'line {number}: a restructure needs a "reason"')
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        raise BadLine(f"line {number}: seq must be a whole number")
    return version, reason, seq


@dataclass
class Importer:
    """Gathers lines into atomic batches. A batch keeps the file's order (so positions come
    out in the same order), so it ends early where a stream comes back after another one,
    where an expected version does not follow from the lines before, and around
    restructures and streamless events."""

    db: ses.Database
    size: int
    batch: list[Line] = field(default_factory=list)
    start: int = 0
    stored: int = 0
    skipped: int = 0
    batches: int = 0

    def __post_init__(self) -> None:
        self.start = self.db.last_position()

    def add(self, line: Line) -> None:
        if line.stream == ses.FORGOTTEN_STREAM:
            self.flush()
            self._forget(line)
            return
        if line.restructure is not None:
            self.flush()
            self._restructure(line)
            return
        if not self._fits(line):
            self.flush()
        self.batch.append(line)
        if len(self.batch) >= self.size:
            self.flush()

    def _fits(self, line: Line) -> bool:
        if not self.batch:
            return True
        last = self.batch[-1]
        if (line.stream == EVENTS_STREAM) != (last.stream == EVENTS_STREAM):
            return False
        if line.stream != last.stream:
            return all(item.stream != line.stream for item in self.batch)
        if line.expected is None or line.expected == ses.ANY:
            return True
        run = 0
        for item in reversed(self.batch):
            if item.stream != line.stream:
                break
            run += 1
        first = self.batch[-run].expected
        if first == ses.NO_STREAM:
            return line.expected == run - 1
        return first is not None and first >= 0 and line.expected == first + run

    def _append(self, lines: list[Line]) -> list[ses.AppendResult]:
        if lines[0].stream == EVENTS_STREAM:
            return [self.db.append_events([line.event for line in lines])]
        runs: list[tuple[str, int, list[Any]]] = []
        for line in lines:
            if runs and runs[-1][0] == line.stream:
                runs[-1][2].append(line.event)
            else:
                expected = ses.ANY if line.expected is None else line.expected
                runs.append((line.stream, expected, [line.event]))
        return self.db.append_batch([ses.StreamAppend(s, events, e) for s, e, events in runs])

    def _append_one(self, line: Line) -> list[ses.AppendResult]:
        try:
            return self._append([line])
        except ses.ScopeForgotten:
            self.skipped += 1
            return []

    def flush(self) -> None:
        lines, self.batch = self.batch, []
        if not lines:
            return
        try:
            try:
                results = self._append(lines)
            except (ses.IdempotencyConflict, ses.ScopeForgotten):
                # Part of the batch was stored by an earlier run cut in other batches:
                # one line at a time, each stored or found stored. A line of a key scope
                # forgotten here is left out: nothing more is written to such a scope.
                results = [r for line in lines for r in self._append_one(line)]
        except ses.SafeEventStoreError as exc:
            raise self._failed(exc, lines[0].number, lines[-1].number) from None
        self.batches += 1
        for result in results:
            n = result.last_version - result.first_version + 1
            if result.position > self.start:
                self.stored += n
            else:
                self.skipped += n

    def _restructure(self, line: Line) -> None:
        assert line.restructure is not None
        version, reason, seq = line.restructure
        try:
            if seq is not None and len(self.db.read_stream(line.stream, raw=True)) > seq:
                self.skipped += 1  # stored by an earlier run
                return
            event_id, timestamp = line.hiding
            self.db.restructure(
                line.stream, version, line.event, reason=reason, event_id=event_id,
                timestamp=timestamp,
            )  # fmt: skip
        except ses.SafeEventStoreError as exc:
            raise self._failed(exc, line.number, line.number) from None
        self.stored += 1

    def _forget(self, line: Line) -> None:
        """A ``ScopeForgotten`` record of an encrypted database's export: the scope is
        forgotten here too, so that its events (exported without data) read as forgotten."""
        data = line.event.data if line.event is not None else None
        scope = data.get("scope") if isinstance(data, dict) else None
        if not isinstance(scope, str):
            raise BadLine(f'line {line.number}: a {ses.FORGOTTEN_STREAM} record needs a "scope"')
        if not self.db.encrypted:
            raise ImportRefused(
                f"line {line.number}: key scope {scope!r} was forgotten; only an encrypted "
                "database can forget it (create one with db create --encrypted)"
            )
        try:
            self.db.forget(scope)
        except (ses.ScopeForgotten, ses.ScopeNotFound):
            self.skipped += 1  # forgotten by an earlier run, or nothing of it was stored
            return
        except ses.SafeEventStoreError as exc:
            raise self._failed(exc, line.number, line.number) from None
        self.stored += 1

    def _failed(self, exc: ses.SafeEventStoreError, first: int, last: int) -> ImportFailed:
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        kept = f"; the lines before {first} are stored" if first > 1 else ""
        kind = ImportRefused if isinstance(exc, ses.InvalidInput) else ImportFailed
        return kind(f"{where}: {exc}{kept}")


def _size_of(source: IO[bytes]) -> int | None:
    try:
        return os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError):
        return None


@main.command("import")
@click.argument("source", type=click.File("rb"), default="-", metavar="[FILE]")
@click.option(
    "--batch-size", type=POSITIVE, default=100, show_default=True, metavar="N",
    help="Lines stored per atomic batch.",
)  # fmt: skip
@click.option("--create", is_flag=True, help="Create the database if it does not exist.")
@lock_timeout_option
@store_option
@db_option
def import_events(
    source: IO[bytes],
    batch_size: int,
    create: bool,
    lock_timeout: float | None,
    url: str | None,
    db_name: str | None,
) -> None:
    """Store the events of FILE (default: stdin), one JSON object per line.

    Each line needs "stream", "type" and "data"; "metadata", "event_id", "correlation_id",
    "causation_id", "tags", "timestamp" and "expected_version" are optional. The lines of a
    batch are stored together or not at all. Lines with event ids are stored once: importing
    the same file again stores nothing new, so an interrupted import can simply be run again.
    The output of `export` imports as it was exported.
    """
    name = database_name(db_name)
    with open_store(url, lock_timeout=lock_timeout) as store:
        if create and name not in store.list_databases():
            store.create_database(name)
        importer = Importer(store.database(name), batch_size)
        with progress(f"importing into database {name}", _size_of(source)) as step:
            for number, raw in enumerate(source, 1):
                step(len(raw))
                if raw.strip():
                    importer.add(parse_line(number, raw))
            importer.flush()
    skipped = f" ({importer.skipped} already stored)" if importer.skipped else ""
    stdout().print(
        f"imported {importer.stored} entr{'y' if importer.stored == 1 else 'ies'} into "
        f"database [bold]{escape(name)}[/]{skipped}"
    )
