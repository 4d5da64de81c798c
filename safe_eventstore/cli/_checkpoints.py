"""``checkpoints``: the positions subscribers saved, and starting one over."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click
from rich.markup import escape

from ._app import db_option, main, open_database, store_option
from ._render import json_out, stderr, stdout, table

__all__ = ["checkpoints"]


def _pairs(saved: Any) -> list[tuple[str, int]]:
    items: Iterable[Any] = saved.items() if isinstance(saved, Mapping) else saved
    return sorted((str(name), int(position)) for name, position in items)


@main.group()
def checkpoints() -> None:
    """List saved checkpoints, or reset one so its subscriber starts over."""


@checkpoints.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@db_option
def list_checkpoints(as_json: bool, url: str | None, db_name: str | None) -> None:
    """List the database's checkpoints and the positions they hold."""
    with open_database(url, db_name, reading=True) as db:
        saved = _pairs(db.list_checkpoints())  # type: ignore[attr-defined,unused-ignore]
    if as_json:
        for name, position in saved:
            json_out({"checkpoint": name, "position": position})
    elif saved:
        t = table("checkpoint", "position")
        t.columns[1].justify = "right"
        for name, position in saved:
            t.add_row(escape(name), str(position))
        stdout().print(t)
    if not saved:
        stderr().print("no checkpoints", style="dim")


@checkpoints.command("reset")
@click.argument("name")
@store_option
@db_option
def reset_checkpoint(name: str, url: str | None, db_name: str | None) -> None:
    """Delete checkpoint NAME: its subscriber starts again from its first position."""
    with open_database(url, db_name) as db:
        position = db.get_checkpoint(name)
        if position is None:
            raise click.ClickException(f"no checkpoint {name!r} in database {db.name!r}")
        db.delete_checkpoint(name)  # type: ignore[attr-defined,unused-ignore]
    stdout().print(f"reset checkpoint [bold]{escape(name)}[/] (it was at position {position})")
