"""``verify`` and ``stats``: is the stored history intact, and how large is it."""

from __future__ import annotations

import click
from rich.text import Text

from ._app import db_option, main, open_database, store_option
from ._render import json_out, progress, stats_table, stdout, summary

__all__ = ["stats", "verify"]


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option(
    "--public-key",
    metavar="FILE",
    help="Also check the batch signatures and every stream head against this public key "
    "(PEM, as `keys signing-init` writes it).",
)
@store_option
@db_option
def verify(as_json: bool, public_key: str | None, url: str | None, db_name: str | None) -> None:
    """Check hash chains, stream heads and payload addresses.

    Exits with code 1, listing the problems, when stored history was altered. With
    --public-key, a history rewritten consistently (chains and heads recomputed) is found
    too: docs/tamper-evidence.md says what the signatures cover.
    """
    with open_database(url, db_name, reading=True) as db:
        name = db.name
        with progress(f"verifying database {name}", None):
            report = db.verify(public_key=public_key)
    text = summary(report)
    if public_key is not None:
        text += (
            f", {report.signatures} signed batch{'es' if report.signatures != 1 else ''} "
            f"up to position {report.signed_position}"
        )
        if report.unsigned_streams:
            text += f", {report.unsigned_streams} stream(s) last written before signing"
    if as_json:
        json_out(
            {
                "ok": report.ok,
                "streams": report.streams,
                "entries": report.entries,
                "payloads": report.payloads,
                **(
                    {
                        "signatures": report.signatures,
                        "signed_position": report.signed_position,
                        "unsigned_streams": report.unsigned_streams,
                    }
                    if public_key is not None
                    else {}
                ),
                "problems": [
                    {"stream": p.stream, "seq": p.seq, "message": p.message}
                    for p in report.problems
                ],
            }
        )
    elif report.ok:
        stdout().print(Text(f"ok: {text} verified", style="green"))
    else:
        out = stdout()
        for problem in report.problems:
            out.print(Text(f"  {problem}", style="red"))
    if not report.ok:
        found = len(report.problems)
        raise click.ClickException(
            f"verify found {found} problem{'s' if found != 1 else ''} in database {name!r} ({text})"
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The statistics as one JSON object.")
@store_option
@db_option
def stats(as_json: bool, url: str | None, db_name: str | None) -> None:
    """Counts, sizes and the payload dedup ratio of a database."""
    with open_database(url, db_name, reading=True) as db:
        numbers = db.stats()
    if as_json:
        json_out(numbers)
    else:
        stdout().print(stats_table(numbers))
