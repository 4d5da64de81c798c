"""Commands that read events: ``read`` (a stream, a category, or ``$all``) and ``read-all``."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click
from rich.markup import escape

import safe_eventstore as ses

from ._app import COUNT, db_option, main, open_database, store_option
from ._render import event_record, events_table, json_out, progress, stderr, stdout

__all__ = ["read", "read_all"]

ALL = "$all"


def _json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")(fn)


def _filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--correlation-id", type=click.UUID, metavar="UUID", help="Only events of this correlation."
    )(fn)
    return click.option(
        "--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeat)."
    )(fn)


def _matching(
    events: Iterable[ses.RecordedEvent],
    types: tuple[str, ...],
    correlation_id: uuid.UUID | None,
    limit: int | None,
) -> Iterator[ses.RecordedEvent]:
    chosen: Iterable[ses.RecordedEvent] = events
    if types:
        chosen = (e for e in chosen if e.type in types)
    if correlation_id is not None:
        chosen = (e for e in chosen if e.correlation_id == correlation_id)
    return itertools.islice(chosen, limit)


def _show(
    events: Iterable[ses.RecordedEvent],
    *,
    what: str,
    total: int,
    raw: bool,
    as_json: bool,
    several: bool = False,
) -> None:
    shown = 0
    if as_json:
        # Progress only while the lines go to a pipe or a file, not over them on the screen.
        live = not stdout().is_terminal
        with progress(f"reading {what}", total if live else None) as advance:
            for event in events:
                json_out(event_record(event))
                shown += 1
                if live:
                    advance(1)
    else:
        loaded: list[ses.RecordedEvent] = []
        try:
            with progress(f"reading {what}", total) as advance:
                for event in events:
                    loaded.append(event)
                    advance(1)
        finally:  # events read before a failure (a damaged payload) are shown, then the error
            if loaded:
                stdout().print(events_table(loaded, raw=raw, several=several))
        shown = len(loaded)
    if not shown:
        stderr().print(f"no events in {escape(what)}", style="dim")


def _whole(
    db: ses.Database,
    category: str | None,
    from_position: int | None,
    limit: int | None,
    backwards: bool,
    types: tuple[str, ...],
) -> ses.RecordedEvents:
    options: dict[str, Any] = {"limit": limit, "types": types or None}
    if from_position is not None:
        options["from_position"] = from_position
    if backwards:
        options["backwards"] = True  # newest first, from the end unless a position is given
    if category is not None:
        return db.read_category(category, **options)
    return db.read_all(**options)


@main.command()
@click.argument("stream", required=False)
@click.option("--category", metavar="CATEGORY", help="Every stream of a category, by position.")
@click.option(
    "--from-version",
    type=COUNT,
    metavar="N",
    help="Start at version N (with --raw: at the N-th entry of the raw history).",
)
@click.option(
    "--from-position", type=COUNT, metavar="N", help="With $all or --category: start at N."
)
@click.option("--limit", type=COUNT, metavar="N", help="At most N events (0: print nothing).")
@click.option("--backwards", is_flag=True, help="Newest first.")
@click.option("--raw", is_flag=True, help="The full history: originals and restructure entries.")
@_filter_options
@_json_option
@store_option
@db_option
def read(
    stream: str | None,
    category: str | None,
    from_version: int | None,
    from_position: int | None,
    limit: int | None,
    backwards: bool,
    raw: bool,
    types: tuple[str, ...],
    correlation_id: uuid.UUID | None,
    as_json: bool,
    url: str | None,
    db_name: str | None,
) -> None:
    """Read the events of STREAM (restructures applied, unless --raw).

    STREAM '$all' (quote it in a shell) reads every event of the database in position order,
    as does `read-all`; --category C every stream of category C. A stream that does not exist
    is an error; an existing stream with no events left to show says "no events" on stderr.
    """
    whole = _reads_whole(stream, category, from_version, from_position, raw, backwards)
    with open_database(url, db_name, reading=True) as db:
        if whole:
            _read_whole(db, category, from_position, limit, backwards, types, correlation_id,
                        as_json)  # fmt: skip
            return
        assert stream is not None
        last = db.stream_version(stream)
        if last is None:
            raise ses.StreamNotFound(f"stream {stream!r} does not exist in database {db.name!r}")
        if limit == 0:
            return
        filtered = bool(types) or correlation_id is not None
        events = db.read_stream(
            stream,
            from_version=from_version,
            limit=None if filtered else limit,
            backwards=backwards,
            raw=raw,
        )
        what = f"stream {stream}"
        if from_version is not None:
            what += f" from version {from_version}"
        _show(
            _matching(events, types, correlation_id, limit),
            what=what + (" matching the filters" if filtered else ""),
            total=last + 1,
            raw=raw,
            as_json=as_json,
        )


def _reads_whole(
    stream: str | None,
    category: str | None,
    from_version: int | None,
    from_position: int | None,
    raw: bool,
    backwards: bool,
) -> bool:
    """Whether ``read`` reads every stream (``$all``) or a category rather than one stream;
    a usage error for options that do not go together."""
    if stream is None and category is None:
        raise click.UsageError("name a STREAM, '$all', or a --category")
    if stream is not None and category is not None:
        raise click.UsageError("read a STREAM or a --category, not both")
    whole = category is not None or stream == ALL
    if whole and (raw or from_version is not None):
        raise click.UsageError(
            "--raw and --from-version read one stream; with $all or --category use --from-position"
        )
    if not whole and from_position is not None:
        raise click.UsageError("--from-position goes with $all or --category; use --from-version")
    if raw and backwards:
        raise click.UsageError("--raw reads the history in stored order; drop --backwards")
    return whole


def _read_whole(
    db: ses.Database,
    category: str | None,
    from_position: int | None,
    limit: int | None,
    backwards: bool,
    types: tuple[str, ...],
    correlation_id: uuid.UUID | None,
    as_json: bool,
) -> None:
    if limit == 0:
        return
    pushed = limit if correlation_id is None else None
    events = _whole(db, category, from_position, pushed, backwards, types)
    what = f"category {category}" if category is not None else f"database {db.name}"
    if types or correlation_id is not None:
        what += " matching the filters"
    _show(
        _matching(events, (), correlation_id, limit),
        what=what,
        total=db.last_position(),
        raw=False,
        as_json=as_json,
        several=True,
    )


@main.command("read-all")
@click.option("--from-position", type=COUNT, metavar="N", help="Start at position N.")
@click.option("--limit", type=COUNT, metavar="N", help="At most N events (0: print nothing).")
@click.option("--backwards", is_flag=True, help="Newest first.")
@_filter_options
@_json_option
@store_option
@db_option
def read_all(
    from_position: int | None,
    limit: int | None,
    backwards: bool,
    types: tuple[str, ...],
    correlation_id: uuid.UUID | None,
    as_json: bool,
    url: str | None,
    db_name: str | None,
) -> None:
    """Read every event of the database in position order (restructures applied)."""
    with open_database(url, db_name, reading=True) as db:
        _read_whole(db, None, from_position, limit, backwards, types, correlation_id, as_json)
