"""Commands about what a store holds: databases, categories and streams."""

from __future__ import annotations

import click
from rich.markup import escape

import safe_eventstore as ses

from ._app import (
    POSITIVE,
    db_option,
    keyfile_option,
    main,
    open_database,
    open_store,
    store_option,
)
from ._render import json_out, stderr, stdout, table

__all__ = ["categories", "create_database", "list_databases", "streams"]


@main.group("db")
def database_group() -> None:
    """Create and list databases."""


@database_group.command("create")
@click.argument("name")
@click.option("--encrypted", is_flag=True, help="Encrypt payloads with the master key.")
@click.option(
    "--key-scope",
    metavar="PATTERN",
    default="stream",
    show_default=True,
    help="With --encrypted: 'stream' (a key per stream) or a regular expression picking the "
    "scope out of stream names (its group 'scope', else its first group).",
)
@click.option("--encrypt-metadata", is_flag=True, help="With --encrypted: seal metadata too.")
@store_option
@keyfile_option
def create_database(
    name: str,
    encrypted: bool,
    key_scope: str,
    encrypt_metadata: bool,
    url: str | None,
    keyfile: str | None,
) -> None:
    """Create the database NAME (encrypted, with --encrypted: see docs/encryption.md)."""
    with open_store(url, keyfile=keyfile) as store:
        store.create_database(
            name, encrypted=encrypted, key_scope=key_scope, encrypt_metadata=encrypt_metadata
        )
        what = "encrypted database" if encrypted else "database"
        stdout().print(f"created {what} [bold]{escape(name)}[/] in {escape(store.url)}")
        if store.url.lower().startswith("memory:"):
            stderr().print(
                "note: a memory:// store lives only as long as this command, so nothing persists",
                style="yellow",
            )


@database_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
def list_databases(as_json: bool, url: str | None) -> None:
    """List the store's databases."""
    with open_store(url, reading=True) as store:
        names = store.list_databases()
        for name in names:
            if as_json:
                json_out({"database": name})
            else:
                click.echo(name)
        if not names:
            stderr().print(f"no databases in {escape(store.url)}", style="dim")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@db_option
def categories(as_json: bool, url: str | None, db_name: str | None) -> None:
    """List the categories of a database's streams (the part of a name before the first -)."""
    with open_database(url, db_name, reading=True) as db:
        names = db.list_categories()
    for name in names:
        if as_json:
            json_out({"category": name})
        else:
            click.echo(name)
    if not names:
        stderr().print("no categories", style="dim")


@main.command()
@click.option("--category", metavar="CATEGORY", help="Only streams of this category.")
@click.option("--after", metavar="STREAM", help="Start after this name (to page on).")
@click.option(
    "--limit", type=POSITIVE, default=100, show_default=True, metavar="N", help="At most N."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@db_option
def streams(
    category: str | None,
    after: str | None,
    limit: int,
    as_json: bool,
    url: str | None,
    db_name: str | None,
) -> None:
    """List stream names in sorted order, with their last version."""
    with open_database(url, db_name, reading=True) as db:
        names = db.list_streams(category, after=after, limit=limit)
        rows = [(name, ses.category_of(name), db.stream_version(name)) for name in names]
    if as_json:
        for name, cat, version in rows:
            json_out({"stream": name, "category": cat, "version": version})
    elif rows:
        t = table("stream", "category", "version")
        t.columns[0].style = "cyan"
        t.columns[2].justify = "right"
        for name, cat, version in rows:
            t.add_row(escape(name), escape(cat), "-" if version is None else str(version))
        stdout().print(t)
    if not rows:
        stderr().print("no streams", style="dim")
    if len(names) == limit:
        stderr().print(f"more may follow: --after {escape(names[-1])}", style="dim")
