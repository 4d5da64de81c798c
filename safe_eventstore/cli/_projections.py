"""``projections``: run the agent, show what the store says of each projection, retry one."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from datetime import datetime
from typing import Any

import click
from rich.markup import escape

import safe_eventstore as ses
from safe_eventstore import projections as read_side

from ._app import POSITIVE, db_option, main, open_database, store_option
from ._render import json_out, stderr, stdout, table

__all__ = ["projections"]


@main.group()
def projections() -> None:
    """Run projections (one active agent per projection), show their status, retry one."""


def _say(label: str, state: str, detail: str) -> None:
    line = f"{label}: {state}" + (f" ({detail})" if detail else "")
    click.echo(line)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


@projections.command("run")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--page-size",
    type=POSITIVE,
    default=100,
    show_default=True,
    help="Source events stored per batch.",
)
@click.option(
    "--lease-ttl",
    type=click.FloatRange(0.1, 3600),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Lease time: renewed every third of it; a standby agent takes over once it ends.",
)
@click.option("--owner", default=None, help="This agent's name in leases [default: host:pid:id].")
@store_option
@db_option
def run_agent(
    paths: tuple[str, ...],
    page_size: int,
    lease_ttl: float,
    owner: str | None,
    url: str | None,
    db_name: str | None,
) -> None:
    """Run the projections at PATH (module:attribute) until SIGINT or SIGTERM.

    Each projection is worked by one agent at a time (a lease in the store); the others
    wait as standby and take over when it stops renewing. Prints one line per change of
    a projection's state.
    """
    if os.getcwd() not in sys.path:  # the application's modules, as `python -m` finds them
        sys.path.insert(0, os.getcwd())
    found = read_side.load(paths)  # everything checked before the store is opened
    stop = threading.Event()
    _stop_on_signals(stop)
    with open_database(url, db_name, event_types=ses.event_types) as db:
        agent = read_side.Agent(
            db, found, page_size=page_size, lease_ttl=lease_ttl, owner=owner, on_state=_say
        )
        click.echo(f"agent {agent.owner}: {len(found)} projection(s) on database {db.name}")
        with agent:
            agent.run(stop)
    click.echo("agent stopped, leases released")


def _number(value: object) -> str:
    return "-" if value is None else str(value)


def _failure(s: read_side.ProjectionStatus) -> str:
    f = s.failure
    if f is None:
        return ""
    return f"{f.type} {f.stream}@{f.version} (position {f.position}): {f.error}"


def _record(s: read_side.ProjectionStatus) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    record = dataclasses.asdict(s)
    if record["failure"] is not None:
        record["failure"] = {k: plain(v) for k, v in record["failure"].items()}
    return {k: plain(v) for k, v in record.items()}


@projections.command("status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@db_option
def show_status(name: str | None, as_json: bool, url: str | None, db_name: str | None) -> None:
    """Show each projection (or NAME): position, head, lag, state, events/s, owner."""
    with open_database(url, db_name, reading=True) as db:
        found = read_side.status(db, name)
    if as_json:
        for s in found:
            json_out(_record(s))
    elif found:
        t = table(
            "projection", "version", "state", "position", "head", "lag", "lag s", "events/s",
            "owner", "failure",
        )  # fmt: skip
        for i in (1, 3, 4, 5, 6, 7):
            t.columns[i].justify = "right"
        for s in found:
            lag = _number(s.lag_events) + ("" if s.lag_exact or s.lag_events is None else "+")
            t.add_row(
                escape(s.name), str(s.version), s.state, _number(s.position), _number(s.head),
                lag, _number(s.lag_seconds), _number(s.events_per_second),
                escape(s.owner or "-"), escape(_failure(s)),
            )  # fmt: skip
        stdout().print(t)
    if not found:
        stderr().print("no projections", style="dim")


@projections.command("retry")
@click.argument("name")
@click.option("--version", "version", type=POSITIVE, default=None, help="Only this version.")
@store_option
@db_option
def retry_projection(name: str, version: int | None, url: str | None, db_name: str | None) -> None:
    """Resume projection NAME after a failure: its agent applies the failed page again."""
    with open_database(url, db_name) as db:
        retried = read_side.retry(db, name, version=version)
    if retried:
        versions = ", ".join(f"v{v}" for v in retried)
        stdout().print(f"retry recorded for [bold]{escape(name)}[/] {versions}")
    else:
        stdout().print(f"{escape(name)} is not failed: nothing to retry")


@projections.command("rebuild")
@click.argument("name")
@click.option("--version", "version", type=POSITIVE, default=None, help="Only this version.")
@store_option
@db_option
def rebuild_projection(
    name: str, version: int | None, url: str | None, db_name: str | None
) -> None:
    """Ask the agent running projection NAME to rebuild it in place: its source folded again
    with the handlers the agent runs, and every key whose state differs corrected, readers
    reading all along. (A changed fold to build beside the serving one is a new version.)"""
    with open_database(url, db_name) as db:
        asked = read_side.request_rebuild(db, name, version=version)
    versions = ", ".join(f"v{v}" for v in asked)
    stdout().print(f"rebuild requested for [bold]{escape(name)}[/] {versions}")
