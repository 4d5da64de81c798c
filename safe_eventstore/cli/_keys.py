"""Commands about encryption: master key files, their rotation, forgetting a key scope."""

from __future__ import annotations

import os

import click
from rich.markup import escape

import safe_eventstore as ses

from ._app import database_name, db_option, keyfile_option, main, open_store, store_option
from ._render import stdout

__all__ = ["forget", "init_key", "rotate_key"]

KEYFILE_VARIABLE = "SAFE_EVENTSTORE_KEYFILE"


@main.group("keys")
def keys_group() -> None:
    """Master keys of encrypted databases."""


@keys_group.command("init")
@click.argument("path", required=False)
def init_key(path: str | None) -> None:
    """Create a new master key file at PATH (default: $SAFE_EVENTSTORE_KEYFILE), readable by
    its owner only. An existing file is never overwritten."""
    target = path or os.environ.get(KEYFILE_VARIABLE)
    if not target:
        raise click.UsageError("name the key file: keys init PATH (or $SAFE_EVENTSTORE_KEYFILE)")
    made = ses.create_keyfile(target)
    stdout().print(f"created master key file [bold]{escape(str(made))}[/] (mode 0600)")
    stdout().print("keep a copy somewhere safe: without it encrypted databases cannot be read")


@keys_group.command("rotate")
@click.option(
    "--new-keyfile", metavar="PATH", required=True, help="The new master key (keys init makes one)."
)
@store_option
@keyfile_option
def rotate_key(new_keyfile: str, url: str | None, keyfile: str | None) -> None:
    """Re-wrap the data keys of every encrypted database of the store under a new master key
    (the current one is --keyfile). No event is rewritten; the old key opens nothing after."""
    new = ses.FileKeyProvider(new_keyfile)
    with open_store(url, keyfile=keyfile) as store:
        if store.key_provider is None:
            raise ses.KeyRequired("give the current master key: --keyfile PATH")
        done = store.rotate_master_key(new)
    for name, count in done.items():
        stdout().print(f"{escape(name)}: {count} keys re-wrapped")
    if not done:
        stdout().print("no encrypted databases")
    stdout().print(f"from now on use --keyfile {escape(new_keyfile)}")


@main.command()
@click.argument("scope")
@store_option
@db_option
@keyfile_option
def forget(scope: str, url: str | None, db_name: str | None, keyfile: str | None) -> None:
    """Forget the key scope SCOPE of an encrypted database (by default a stream's name):
    its data key is destroyed and its events read as forgotten from now on."""
    with open_store(url, keyfile=keyfile) as store:
        db = store.database(database_name(db_name), without_key=True)
        db.forget(scope)
    stdout().print(f"forgot key scope [bold]{escape(scope)}[/] of {escape(db.name)}")
