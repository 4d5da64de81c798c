"""``tail``: follow events live, resuming from a checkpoint."""

from __future__ import annotations

from collections.abc import Callable

import click
from rich.markup import escape

import safe_eventstore as ses

from ._app import COUNT, db_option, main, open_database, store_option
from ._render import event_line, event_record, json_out, stderr, stdout

__all__ = ["tail"]

CHECKPOINT_EVERY = 1000  # events a tail delivers between checkpoint saves while busy


def _follow(
    sub: ses.Subscription,
    show: Callable[[ses.RecordedEvent], None],
    *,
    timeout: float | None,
    save: bool,
) -> int | None:
    """Shows events until ``timeout`` seconds pass without one; returns the last position
    shown. With ``save``, stores it as the checkpoint whenever the subscription has caught
    up, every CHECKPOINT_EVERY events, and on the way out (Ctrl-C included), and only once
    the event has been shown: delivery is at least once."""
    shown: int | None = None
    saved: int | None = None
    try:
        while True:
            event = sub.get(0)
            if event is None:
                if save and shown != saved:
                    sub.save_checkpoint(shown)
                    saved = shown
                event = sub.get(timeout)
                if event is None:
                    return shown
            show(event)
            shown = event.position
            if save and shown - (saved or 0) >= CHECKPOINT_EVERY:
                sub.save_checkpoint(shown)
                saved = shown
    finally:
        if save and shown != saved:
            sub.save_checkpoint(shown)


@main.command()
@click.option("--stream", metavar="STREAM", help="Follow one stream.")
@click.option("--category", metavar="CATEGORY", help="Follow one category.")
@click.option(
    "--from-position",
    type=COUNT,
    default=0,
    show_default=True,
    metavar="N",
    help="Start at position N (a saved checkpoint takes precedence).",
)
@click.option("--checkpoint", metavar="NAME", help="Resume after, and save progress to, NAME.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Stop after this many seconds without a new event [default: follow until Ctrl-C].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@db_option
def tail(
    stream: str | None,
    category: str | None,
    from_position: int,
    checkpoint: str | None,
    timeout: float | None,
    as_json: bool,
    url: str | None,
    db_name: str | None,
) -> None:
    """Follow events live, after catching up on the stored ones.

    With --checkpoint NAME, resumes after the position saved under NAME and saves its
    progress there. Ctrl-C stops it.
    """
    if stream is not None and category is not None:
        raise click.UsageError("follow a --stream or a --category, not both")
    out, err = stdout(), stderr()
    with open_database(url, db_name, reading=True) as db:
        start = f"position {from_position}"
        if checkpoint is not None:
            saved_at = db.get_checkpoint(checkpoint)
            if saved_at is not None:
                start = f"checkpoint {checkpoint!r} (after position {saved_at})"
        what = (
            f"stream {stream}" if stream else f"category {category}" if category else "every stream"
        )
        err.print(
            f"following {escape(what)} in database {escape(db.name)} from {escape(start)}"
            + ("" if timeout is not None else " (Ctrl-C to stop)"),
            style="dim",
        )
        with db.subscribe(
            stream=stream, category=category, from_position=from_position, checkpoint=checkpoint
        ) as sub:

            def show(event: ses.RecordedEvent) -> None:
                if as_json:
                    json_out(event_record(event))
                else:
                    out.print(event_line(event), soft_wrap=True)

            shown = _follow(sub, show, timeout=timeout, save=checkpoint is not None)
        err.print(
            f"no new event for {timeout:g} s; stopped"
            + ("" if shown is None else f" after position {shown}"),
            style="dim",
        )
