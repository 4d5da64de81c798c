"""Commands that write events: ``append`` and ``restructure``."""

from __future__ import annotations

import uuid

import click
from rich.markup import escape

import safe_eventstore as ses

from ._app import (
    COUNT,
    ExpectedVersion,
    db_option,
    lock_timeout_option,
    main,
    open_database,
    parse_json,
    store_option,
)
from ._render import stdout

__all__ = ["append", "restructure"]


@main.command()
@click.argument("stream")
@click.argument("event_type", metavar="TYPE")
@click.argument("data", metavar="JSON")
@click.option(
    "--expected-version",
    type=ExpectedVersion(),
    default="any",
    show_default=True,
    help="The stream's last version, or any, no-stream, stream-exists.",
)
@click.option("--metadata", metavar="JSON", help="A JSON object stored with the event.")
@click.option("--event-id", type=click.UUID, help="The event's id (retries with it are no-ops).")
@lock_timeout_option
@store_option
@db_option
def append(
    stream: str,
    event_type: str,
    data: str,
    expected_version: int,
    metadata: str | None,
    event_id: uuid.UUID | None,
    lock_timeout: float | None,
    url: str | None,
    db_name: str | None,
) -> None:
    """Append an event of TYPE with JSON data to STREAM.

    JSON '-' reads the data from stdin. Prints the versions and the position it got.
    """
    payload = parse_json(data, "JSON")
    meta = None if metadata is None else parse_json(metadata, "--metadata")
    event = ses.NewEvent(event_type, payload, metadata=meta, event_id=event_id)
    with open_database(url, db_name, lock_timeout=lock_timeout) as db:
        result = db.append(stream, [event], expected_version=expected_version)
    stdout().print(
        f"appended to [cyan]{escape(stream)}[/]: first version {result.first_version}, "
        f"last version {result.last_version}, position {result.position}"
    )


@main.command()
@click.argument("stream")
@click.argument("version", type=COUNT)
@click.argument("event_type", metavar="[TYPE", required=False)
@click.argument("data", metavar="JSON]", required=False)
@click.option("--reason", required=True, help="Why: stored with the restructure entry.")
@click.option("--hide", is_flag=True, help="Hide the event instead of replacing it.")
@click.option("--metadata", metavar="JSON", help="A JSON object stored with the replacement.")
@lock_timeout_option
@store_option
@db_option
def restructure(
    stream: str,
    version: int,
    event_type: str | None,
    data: str | None,
    reason: str,
    hide: bool,
    metadata: str | None,
    lock_timeout: float | None,
    url: str | None,
    db_name: str | None,
) -> None:
    """Replace event VERSION of STREAM by TYPE and JSON data, or --hide it, in every read
    from now on. History stays: the original and the restructure entry remain in
    `read --raw`. JSON '-' reads the data from stdin.
    """
    if hide == (event_type is not None):
        raise click.UsageError("give the replacement's TYPE and JSON, or --hide (not both)")
    if event_type is not None and data is None:
        raise click.UsageError("the replacement needs its JSON data after TYPE")
    replacement = None
    if event_type is not None and data is not None:
        meta = None if metadata is None else parse_json(metadata, "--metadata")
        replacement = ses.NewEvent(event_type, parse_json(data, "JSON"), metadata=meta)
    elif metadata is not None:
        raise click.UsageError("--metadata goes with a replacement, not with --hide")
    with open_database(url, db_name, lock_timeout=lock_timeout) as db:
        result = db.restructure(stream, version, replacement, reason=reason)
    verb = "hid" if replacement is None else "replaced"
    stdout().print(
        f"{verb} [cyan]{escape(stream)}[/] version {version} (restructure entry at position "
        f"{result.position})"
    )
