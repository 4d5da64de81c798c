"""``demo``: a tour of the store at work, in a fresh database."""

from __future__ import annotations

import threading
import time
from typing import Any

import click
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

import safe_eventstore as ses

from ._app import main, open_store, store_option
from ._demo_shop import fill_shop
from ._render import data_text, events_table, stats_table, stdout, summary
from ._serve import serve as serve_command

__all__ = ["demo"]

RULE_WIDTH = 80  # the section rules of the tour, on a terminal or in a pipe

_ACCOUNTS: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
    ("Account-1", [("Opened", {"owner": "ann"}), ("Deposited", {"amount": 100}),
                   ("Withdrawn", {"amount": 30})]),
    ("Account-2", [("Opened", {"owner": "bob"}), ("Deposited", {"amount": 100}),
                   ("Deposited", {"amount": 5000})]),
    ("Account-3", [("Opened", {"owner": "cy"}), ("Deposited", {"amount": 100})]),
]  # fmt: skip


def _fresh_database(store: ses.Store, base: str) -> ses.Database:
    existing = set(store.list_databases())
    for n in range(1, 10_000):
        name = base if n == 1 else f"{base}-{n}"
        if name in existing:
            continue
        try:
            return store.create_database(name)
        except ses.DatabaseExists:
            continue  # another process took it a moment ago
    raise click.ClickException(f"no free database name left for {base!r}")


def _apply_balance(balances: dict[str, int], event: ses.RecordedEvent) -> None:
    amount = int(event.data.get("amount", 0)) if isinstance(event.data, dict) else 0
    sign = {"Opened": 0, "Deposited": 1, "Withdrawn": -1}.get(event.type, 0)
    balances[event.stream] = balances.get(event.stream, 0) + sign * amount


def _balances_table(balances: dict[str, int]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("account", style="cyan")
    table.add_column("balance", justify="right")
    for account, balance in sorted(balances.items()):
        table.add_row(account, str(balance))
    return table


@main.command()
@store_option
@click.option(
    "--serve/--no-serve",
    default=False,
    help="End by serving the web console on the demo's store (scripts/demo.sh does).",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
    help="The console's port, with --serve (0: any free port).",
)  # fmt: skip
@click.pass_context
def demo(ctx: click.Context, url: str | None, serve: bool, port: int) -> None:
    """Show the store at work in a fresh database (demo, demo-2, ...).

    Appends a few accounts' events (one payload repeated, to show dedup), corrects one by a
    restructure, reads a stream, runs a subscription that resumes from a checkpoint, then
    verifies the hash chains and prints statistics. It then fills the database with a
    shop's few thousand events (orders, payments, stock, shipments, customers) and, with
    --serve, serves the web console over it.
    """
    out = stdout()
    started = time.perf_counter()
    with open_store(url) as store:
        db = _fresh_database(store, "demo")
        out.print(
            Text.assemble(
                ("SAFE EventStore demo", "bold magenta"),
                f": store {store.url}, new database ",
                (db.name, "bold"),
            ),
            soft_wrap=True,
        )

        _section(out, "1. Append: one atomic batch per account")
        _append_accounts(out, db)

        _section(out, "2. Optimistic concurrency")
        try:
            db.append("Account-1", [ses.NewEvent("Withdrawn", {"amount": 1})], expected_version=0)
        except ses.WrongExpectedVersion as exc:
            out.print(f"a writer that last saw version 0 is refused: {exc}", soft_wrap=True)

        _section(out, "3. Restructure: correct a mistake without rewriting history")
        _restructure(out, db)

        _section(out, "4. Subscription with a checkpoint")
        _subscribe(out, db)

        _section(out, "5. Verify the hash chains and payload addresses")
        _verify(out, db)

        _section(out, "6. Statistics")
        out.print(stats_table(db.stats()))

        _section(out, "7. A shop's events, for the web console")
        shop = fill_shop(db)
        out.print(
            f"appended {shop:,} events of orders, payments, stock, shipments and customers; "
            "each order's events share a correlation id and name their cause.",
            soft_wrap=True,
        )

        _done(out, store, db, url, started)
        name, in_memory = db.name, store.url.startswith("memory:")
    if serve and in_memory:
        raise click.ClickException("--serve needs a store that outlives the tour, not memory://")
    if serve:
        out.print()
        out.print(Text(f"The console: open the address below, then database {name}.", "bold"))
        ctx.invoke(serve_command, url=url, host="127.0.0.1", port=port, token=None, read_only=False)


def _section(out: Console, title: str) -> None:
    out.print()
    # Piped output is never wrapped, so the rule gets a width of its own.
    out.print(Rule(Text(title, style="bold"), align="left"), width=min(out.width, RULE_WIDTH))


def _append_accounts(out: Console, db: ses.Database) -> None:
    appended = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("stream", "events", "versions", "last position"):
        appended.add_column(column)
    for stream, events in _ACCOUNTS:
        batch = [ses.NewEvent(kind, data) for kind, data in events]
        result = db.append(stream, batch, expected_version=ses.NO_STREAM)
        appended.add_row(
            stream,
            ", ".join(kind for kind, _ in events),
            f"{result.first_version}-{result.last_version}",
            str(result.position),
        )
    out.print(appended)
    out.print(
        'Deposited {"amount":100} was appended to three streams; its payload is '
        "content-addressed, so it is stored once.",
        style="dim",
    )


def _restructure(out: Console, db: ses.Database) -> None:
    reason = "typo: 5000 for 50"
    db.restructure("Account-2", 2, ses.NewEvent("Deposited", {"amount": 50}), reason=reason)
    out.print("read_stream('Account-2'), restructures applied:")
    out.print(events_table(list(db.read_stream("Account-2")), raw=False, show_time=False))
    out.print("read_stream('Account-2', raw=True), the history as stored:")
    out.print(events_table(list(db.read_stream("Account-2", raw=True)), raw=True, show_time=False))


def _subscribe(out: Console, db: ses.Database) -> None:
    """Catch up from the start and save a checkpoint; then resume after it and get an event
    appended meanwhile, live."""
    balances: dict[str, int] = {}
    with db.subscribe(category="Account", checkpoint="balances", idle_timeout=0) as sub:
        caught_up = 0
        for event in sub:
            _apply_balance(balances, event)
            caught_up += 1
        sub.save_checkpoint()
    out.print(
        f"caught up on {caught_up} events, saved checkpoint 'balances' at position "
        f"{db.get_checkpoint('balances')}:"
    )
    out.print(_balances_table(balances))
    failures: list[BaseException] = []

    def append_later() -> None:
        time.sleep(0.05)
        try:
            db.append("Account-3", [ses.NewEvent("Withdrawn", {"amount": 40})])
        except BaseException as exc:
            failures.append(exc)

    with db.subscribe(category="Account", checkpoint="balances") as sub:
        writer = threading.Thread(target=append_later)
        writer.start()
        live = sub.get(timeout=10)
        writer.join()
        if failures:
            raise failures[0]
        if live is None:
            raise click.ClickException("the subscription did not deliver the new event")
        _apply_balance(balances, live)
        sub.save_checkpoint()
    out.print(
        Text.assemble(
            "resumed after the checkpoint; delivered live: ",
            (f"{live.stream}@{live.version} {live.type} {data_text(live)}", "cyan"),
            f" at position {live.position}; Account-3 now holds {balances['Account-3']}",
        ),
        soft_wrap=True,
    )


def _verify(out: Console, db: ses.Database) -> None:
    report = db.verify()
    verified = summary(report)
    if not report.ok:
        raise click.ClickException("verify found: " + "; ".join(map(str, report.problems)))
    out.print(Text(f"ok: {verified} verified", style="green"))


def _done(
    out: Console, store: ses.Store, db: ses.Database, url: str | None, started: float
) -> None:
    elapsed = time.perf_counter() - started
    out.print()
    if store.url.startswith("memory:"):
        out.print(f"done in {elapsed:.2f} s (a memory:// store ends with the process).")
    else:
        given = url or click.get_current_context().find_root().params.get("url")
        store_flag = "" if not given else f" --store {given}"
        out.print(
            f"done in {elapsed:.2f} s. Look around: "
            f"safe-eventstore read Account-2 --raw --db {db.name}{store_flag}",
            soft_wrap=True,
        )
