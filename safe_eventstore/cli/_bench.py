"""``bench``: the benchmark harness, run from the command line."""

from __future__ import annotations

import dataclasses

import click
from rich.table import Table

from ._app import main
from ._render import stderr, stdout

__all__ = ["bench"]


@main.command()
@click.option("--quick", is_flag=True, help="Tiny sizes: a smoke run that checks the harness.")
@click.option("--out", metavar="FILE", help="Also write the rows and machine facts as JSON.")
@click.option("--dir", "directory", metavar="DIR", help="Where the temporary stores go.")
@click.option("--appends", type=click.IntRange(min=1), metavar="N", help="W1 appends.")
@click.option("--writers", type=click.IntRange(min=1), metavar="N", help="W2 writer threads.")
@click.option("--batches", type=click.IntRange(min=1), metavar="N", help="W3 batches.")
@click.option("--events", type=click.IntRange(min=1), metavar="N", help="W4-W6 stream size.")
@click.option("--rounds", type=click.IntRange(min=1), metavar="N", help="Write rounds.")
@click.option("--no-references", is_flag=True, help="Skip the reference rows.")
@click.option(
    "--only",
    type=click.Choice(["W", "C", "P"]),
    help="Only the W rows (store), the C rows (commands) or the P rows (projections and "
    "read-model queries, with W6); not with --nats.",
)
@click.option("--nats", is_flag=True, help="The NATS rows: on a nats-server started for the run.")
@click.option("--cluster", is_flag=True, help="With --nats: three servers, 3 replicas.")
@click.option(
    "--nats-url", metavar="URL", help="With --nats: existing servers (nats://host:port,...)."
)
@click.option("--replicas", type=click.IntRange(min=1), metavar="N", help="With --nats-url.")
def bench(
    quick: bool,
    out: str | None,
    directory: str | None,
    appends: int | None,
    writers: int | None,
    batches: int | None,
    events: int | None,
    rounds: int | None,
    no_references: bool,
    only: str | None,
    nats: bool,
    cluster: bool,
    nats_url: str | None,
    replicas: int | None,
) -> None:
    """Measure appends, reads and subscriptions beside reference systems, in one run.

    Rows W1-W6 on an embedded SQLite store, each with its ratio to the eventsourcing
    library's SQLite recorder and to raw sqlite3, measured in the same run; rows C1-C4,
    commands through safe_eventstore.cqrs beside the library's Application; rows H1-H3, the
    HTTP API (a `serve` process) beside the same calls in-process, when the web extra is
    installed. With --nats,
    the same rows on NATS JetStream beside raw nats-py. Compare ratios, not absolute
    rates. See docs/performance.md and docs/nats-mapping.md.
    """
    from .. import bench as harness

    _check_nats_options(nats, cluster, nats_url, replicas)
    if only and nats:
        raise click.UsageError("--only goes with the SQLite rows, not --nats")
    err = stderr()
    progress = lambda message: err.print(message, style="dim")  # noqa: E731
    if nats:
        try:
            from ..bench import nats_rows as nats_harness
        except ImportError as exc:
            raise click.ClickException(
                f"the NATS rows need nats-py: pip install 'safe-eventstore[nats]' ({exc})"
            ) from None
        sizes = nats_harness.QUICK if quick else nats_harness.SIZES
    else:
        sizes = harness.QUICK if quick else harness.Sizes()
    chosen = {
        "single": appends,
        "writers": writers,
        "batches": batches,
        "read": events,
        "rounds": rounds,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in chosen.items() if v is not None})
    if nats:
        try:
            rows = nats_harness.run(
                sizes=sizes, url=nats_url, replicas=replicas, cluster=cluster,
                directory=directory, out=out, references=not no_references, progress=progress,
            )  # fmt: skip
        except FileNotFoundError as exc:  # no nats-server binary
            raise click.ClickException(str(exc)) from None
    else:
        rows = harness.run(
            sizes=sizes,
            directory=directory,
            out=out,
            references=not no_references,
            progress=progress,
            only=only,
        )
    _print_table(harness.COLUMNS, harness.table(rows), out)


def _check_nats_options(
    nats: bool, cluster: bool, nats_url: str | None, replicas: int | None
) -> None:
    """A usage error for NATS options that do not go together."""
    if (cluster or nats_url or replicas) and not nats:
        raise click.UsageError("--cluster, --nats-url and --replicas go with --nats")
    if cluster and nats_url:
        raise click.UsageError("--cluster starts its own servers; --nats-url names existing ones")
    if replicas and not nats_url:
        raise click.UsageError("--replicas goes with --nats-url (a started cluster uses 3)")
    if nats_url and not nats_url.startswith("nats://"):
        raise click.UsageError(
            f"--nats-url takes nats://host:port[,host:port...], not {nats_url!r}"
        )


def _print_table(columns: tuple[str, ...], lines: list[tuple[str, ...]], out: str | None) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in ("count", "rate") else "left")
    for line in lines:
        table.add_row(*line)
    stdout().print(table)
    if out is not None:
        stdout().print(f"wrote {out}", style="dim")
