"""``keys signing-init``: the Ed25519 key a writer signs its batches with."""

from __future__ import annotations

import click
from rich.markup import escape

import safe_eventstore as ses

from ._app import main
from ._render import stderr

__all__ = ["keys_group", "signing_init"]


def keys_group() -> click.Group:
    """The ``keys`` group: made by the first module that registers a command in it, found
    by the others (signing and encryption keys share it)."""
    found = main.commands.get("keys")
    if isinstance(found, click.Group):
        return found

    @main.group("keys")
    def keys() -> None:
        """Make and manage keys."""

    return keys


@keys_group().command("signing-init")
@click.argument("path", type=click.Path(dir_okay=False))
def signing_init(path: str) -> None:
    """Make an Ed25519 signing key: the private key in PATH (readable by its owner only;
    never overwritten), the public key in PATH.pub, also printed.

    Appends are signed when $SAFE_EVENTSTORE_SIGNING_KEY names PATH (or a program opens
    the store with signing_key=PATH); `verify --public-key PATH.pub` then checks them.
    Keep PATH away from the store's files: whoever holds both can sign a rewritten history.
    """
    public = ses.create_signing_key(path)
    click.echo(public.decode(), nl=False)
    stderr().print(
        f"signing key written to {escape(path)} (owner only), public key to {escape(path)}.pub",
        style="dim",
    )
