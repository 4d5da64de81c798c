"""The command-line tool: ``safe-eventstore`` (or ``python -m safe_eventstore``).

Every command takes ``--store URL`` (default: ``$SAFE_EVENTSTORE_URL``, else the embedded
SQLite store in ``./safe-eventstore-data``); commands that work inside a database take
``--db NAME`` (default ``default``). Expected failures print one red ``error: ...`` line on
stderr and exit with 2 (bad input or usage) or 1 (anything else), never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import click
import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

import safe_eventstore as ses

__all__ = ["main"]

DEFAULT_DATABASE = "default"
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT
CHECKPOINT_EVERY = 1000  # events a tail delivers between checkpoint saves while busy

F = TypeVar("F", bound=Callable[..., Any])


# -- output and errors --------------------------------------------------------------------


def _stdout() -> Console:
    # Built per command, not at import: test runners swap sys.stdout between invocations.
    return Console(highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(message: str) -> None:
    line = " ".join(message.split()) or "unknown error"
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text(f"error: {line}", style="bold red")
    )


def _message_of(exc: click.ClickException) -> str:
    message = exc.format_message()
    if message[1:2].islower():
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message = message.rstrip(".") + f" (see '{ctx.command_path} --help')"
    return message


class _CommandLine(click.Group):
    """The root group: turns every expected failure into one red line and an exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
            code = result if isinstance(result, int) else 0
        except click.ClickException as exc:  # bad options, arguments, JSON; failed checks
            _fail(_message_of(exc))
            code = exc.exit_code
        except ses.SafeEventStoreError as exc:
            _fail(str(exc) or type(exc).__name__)
            code = 2 if isinstance(exc, ses.InvalidInput) else 1
        except (click.Abort, KeyboardInterrupt):
            code = INTERRUPTED
        sys.exit(code)


def _store_option(fn: F) -> F:
    return click.option(
        "--store",
        "url",
        metavar="URL",
        default=None,
        help="Store URL: sqlite:///dir, a directory, memory:// or nats://host:port "
        "[default: $SAFE_EVENTSTORE_URL, else ./safe-eventstore-data]",
    )(fn)


def _db_option(fn: F) -> F:
    return click.option(
        "--db",
        "db_name",
        metavar="NAME",
        default=DEFAULT_DATABASE,
        show_default=True,
        help="Database name.",
    )(fn)


def _open(url: str | None) -> ses.Store:
    # A registry of its own: the tool shows stored data as plain JSON, whatever classes the
    # importing process may have registered.
    return ses.open(url, event_types=ses.EventTypes())


@contextmanager
def _database(url: str | None, name: str) -> Iterator[ses.Database]:
    with _open(url) as store:
        yield store.database(name)


def _parse_json(text: str, param: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=f"'{param}'") from None


class _ExpectedVersion(click.ParamType[int]):
    name = "version"
    _words: ClassVar[dict[str, int]] = {
        "any": ses.ANY,
        "no-stream": ses.NO_STREAM,
        "stream-exists": ses.STREAM_EXISTS,
    }

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in self._words:
            return self._words[word]
        if word.isdigit():
            return int(word)
        self.fail(
            f"{value!r} is not a version >= 0, 'any', 'no-stream' or 'stream-exists'", param, ctx
        )


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def _summary(report: ses.VerifyReport) -> str:
    return ", ".join(
        (
            _count(report.streams, "stream"),
            _count(report.entries, "entry", "entries"),
            _count(report.payloads, "payload"),
        )
    )


# -- rendering events ---------------------------------------------------------------------


def _data_text(event: ses.RecordedEvent) -> str:
    if not event.address:
        return "(hidden)"
    if event.codec == "bytes":
        return f"<{len(event.payload)} bytes>"
    return msgspec.json.encode(event.data).decode()


def _note(event: ses.RecordedEvent) -> str:
    info = event.metadata.get("$restructure")
    reason = info.get("reason") if isinstance(info, dict) else None
    if event.kind == "restructure":
        verb = "hides" if not event.address else "replaces"
        return f"{verb} v{event.version}: {reason}"
    if event.restructured:
        return f"restructured: {reason}" if reason else "restructured"
    return ""


def _user_metadata(event: ses.RecordedEvent) -> dict[str, Any]:
    return {k: v for k, v in event.metadata.items() if k != "$restructure"}


def _events_table(
    events: Sequence[ses.RecordedEvent], *, raw: bool, show_time: bool = True
) -> Table:
    notes = [_note(e) for e in events]
    metadata = [_user_metadata(e) for e in events]
    table = Table(box=None, header_style="bold", pad_edge=False)
    if raw:
        table.add_column("entry", no_wrap=True)
    table.add_column("version", justify="right")
    table.add_column("position", justify="right")
    table.add_column("type", style="cyan", no_wrap=True)
    table.add_column("data", overflow="fold")
    if any(metadata):
        table.add_column("metadata", overflow="fold")
    if show_time:
        table.add_column("time (UTC)", style="dim", no_wrap=True)
    if any(notes):
        table.add_column("note", style="yellow", overflow="fold")
    for event, note, meta in zip(events, notes, metadata, strict=True):
        row = [event.kind] if raw else []
        row += [str(event.version), str(event.position), event.type, _data_text(event)]
        if any(metadata):
            row.append(msgspec.json.encode(meta).decode() if meta else "")
        if show_time:
            row.append(event.timestamp.strftime("%Y-%m-%d %H:%M:%S"))
        if any(notes):
            row.append(note)
        table.add_row(*(escape(cell) for cell in row))
    return table


def _json_line(event: ses.RecordedEvent) -> str:
    return msgspec.json.encode(
        {
            "stream": event.stream,
            "version": event.version,
            "position": event.position,
            "type": event.type,
            "data": event.data,
            "metadata": event.metadata,
            "kind": event.kind,
            "restructured": event.restructured,
            "event_id": event.event_id,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            "timestamp": event.timestamp,
            "tags": list(event.tags),
            "codec": event.codec,
            "address": event.address,
        }
    ).decode()


def _event_line(event: ses.RecordedEvent) -> Text:
    return Text.assemble(
        (f"{event.position:>6} ", "dim"),
        (event.stream, "cyan"),
        f"@{event.version} ",
        (event.type, "bold"),
        " ",
        _data_text(event),
    )


def _stats_table(stats: dict[str, float]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    rows = [
        ("events", "events"),
        ("streams", "streams"),
        ("restructure entries", "restructures"),
        ("payloads stored", "payloads"),
        ("payload bytes, as appended", "logical_payload_bytes"),
        ("payload bytes, stored", "stored_payload_bytes"),
    ]
    for label, key in rows:
        table.add_row(label, f"{int(stats.get(key, 0)):,}")
    table.add_row(Text("dedup ratio", style="bold"), f"{stats.get('dedup_ratio', 1.0):.2f}x")
    return table


# -- commands -----------------------------------------------------------------------------


@click.group(
    name="safe-eventstore",
    cls=_CommandLine,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(ses.__version__, prog_name="safe-eventstore")
def main() -> None:
    """SAFE EventStore: an event-sourcing database.

    Append-only, hash-chained streams with content-addressed payloads. Try `demo`.
    """


@main.group("db")
def database_group() -> None:
    """Create and list databases."""


@database_group.command("create")
@click.argument("name")
@_store_option
def create_database(name: str, url: str | None) -> None:
    """Create the database NAME."""
    with _open(url) as store:
        store.create_database(name)
        _stdout().print(
            f"created database [bold]{escape(name)}[/] in {escape(store.url)}", soft_wrap=True
        )


@database_group.command("list")
@_store_option
def list_databases(url: str | None) -> None:
    """List the store's databases."""
    with _open(url) as store:
        names = store.list_databases()
        for name in names:
            click.echo(name)
        if not names:
            _stderr().print(f"no databases in {escape(store.url)}", style="dim", soft_wrap=True)


@main.command()
@click.option("--category", metavar="CATEGORY", help="Only streams of this category.")
@click.option("--after", metavar="STREAM", help="Start after this name (to page on).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most N."
)
@_store_option
@_db_option
def streams(
    category: str | None, after: str | None, limit: int, url: str | None, db_name: str
) -> None:
    """List stream names in sorted order, with their last version."""
    with _database(url, db_name) as db:
        names = db.list_streams(category, after=after, limit=limit)
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("stream", style="cyan")
        table.add_column("category")
        table.add_column("version", justify="right")
        for name in names:
            version = db.stream_version(name)
            table.add_row(
                escape(name),
                escape(ses.category_of(name)),
                "-" if version is None else str(version),
            )
        if names:
            _stdout().print(table)
        else:
            _stderr().print("no streams", style="dim")
        if len(names) == limit:
            _stderr().print(
                f"more may follow: --after {escape(names[-1])}", style="dim", soft_wrap=True
            )


@main.command()
@click.argument("stream")
@click.option(
    "--from-version",
    type=click.IntRange(min=0),
    metavar="N",
    help="Start at version N (with --raw: at the N-th entry of the raw history).",
)
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="At most N events.")
@click.option("--backwards", is_flag=True, help="Newest first.")
@click.option("--raw", is_flag=True, help="The full history: originals and restructure entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@_store_option
@_db_option
def read(
    stream: str,
    from_version: int | None,
    limit: int | None,
    backwards: bool,
    raw: bool,
    as_json: bool,
    url: str | None,
    db_name: str,
) -> None:
    """Read the events of STREAM (restructures applied, unless --raw)."""
    if raw and backwards:
        raise click.UsageError("--raw reads the history in stored order; drop --backwards")
    with _database(url, db_name) as db:
        events = db.read_stream(
            stream, from_version=from_version, limit=limit, backwards=backwards, raw=raw
        )
        if as_json:
            for event in events:
                click.echo(_json_line(event))
            return
        loaded = list(events)
        if loaded:
            _stdout().print(_events_table(loaded, raw=raw))
        else:
            _stderr().print(f"no events in stream {escape(stream)}", style="dim", soft_wrap=True)


@main.command()
@click.argument("stream")
@click.argument("event_type", metavar="TYPE")
@click.argument("data", metavar="JSON")
@click.option(
    "--expected-version",
    type=_ExpectedVersion(),
    default="any",
    show_default=True,
    help="The stream's last version, or any, no-stream, stream-exists.",
)
@click.option("--metadata", metavar="JSON", help="A JSON object stored with the event.")
@click.option("--event-id", type=click.UUID, help="The event's id (retries with it are no-ops).")
@_store_option
@_db_option
def append(
    stream: str,
    event_type: str,
    data: str,
    expected_version: int,
    metadata: str | None,
    event_id: uuid.UUID | None,
    url: str | None,
    db_name: str,
) -> None:
    """Append an event of TYPE with JSON data to STREAM.

    JSON '-' reads the data from stdin. Prints the versions and the position it got.
    """
    payload = _parse_json(data, "JSON")
    meta = None if metadata is None else _parse_json(metadata, "--metadata")
    event = ses.NewEvent(event_type, payload, metadata=meta, event_id=event_id)
    with _database(url, db_name) as db:
        result = db.append(stream, [event], expected_version=expected_version)
    _stdout().print(
        f"appended to [cyan]{escape(stream)}[/]: first version {result.first_version}, "
        f"last version {result.last_version}, position {result.position}",
        soft_wrap=True,
    )


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
    type=click.IntRange(min=0),
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
@_store_option
@_db_option
def tail(
    stream: str | None,
    category: str | None,
    from_position: int,
    checkpoint: str | None,
    timeout: float | None,
    as_json: bool,
    url: str | None,
    db_name: str,
) -> None:
    """Follow events live, after catching up on the stored ones.

    With --checkpoint NAME, resumes after the position saved under NAME and saves its
    progress there. Ctrl-C stops it.
    """
    if stream is not None and category is not None:
        raise click.UsageError("follow a --stream or a --category, not both")
    out, err = _stdout(), _stderr()
    with _database(url, db_name) as db:
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
            soft_wrap=True,
        )
        with db.subscribe(
            stream=stream, category=category, from_position=from_position, checkpoint=checkpoint
        ) as sub:

            def show(event: ses.RecordedEvent) -> None:
                if as_json:
                    click.echo(_json_line(event))
                else:
                    out.print(_event_line(event), soft_wrap=True)

            shown = _follow(sub, show, timeout=timeout, save=checkpoint is not None)
        err.print(
            f"no new event for {timeout:g} s; stopped"
            + ("" if shown is None else f" after position {shown}"),
            style="dim",
        )


@main.command()
@_store_option
@_db_option
def verify(url: str | None, db_name: str) -> None:
    """Check hash chains, stream heads and payload addresses.

    Exits with code 1, listing the problems, when stored history was altered.
    """
    with _database(url, db_name) as db:
        report = db.verify()
    summary = _summary(report)
    if report.ok:
        _stdout().print(Text(f"ok: {summary} verified", style="green"))
        return
    out = _stdout()
    for problem in report.problems:
        out.print(Text(f"  {problem}", style="red"), soft_wrap=True)
    found = _count(len(report.problems), "problem")
    raise click.ClickException(f"verify found {found} in database {db_name!r} ({summary})")


@main.command()
@_store_option
@_db_option
def stats(url: str | None, db_name: str) -> None:
    """Counts, sizes and the payload dedup ratio of a database."""
    with _database(url, db_name) as db:
        numbers = db.stats()
    _stdout().print(_stats_table(numbers))


# -- demo ---------------------------------------------------------------------------------

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
@_store_option
def demo(url: str | None) -> None:
    """Show the store at work in a fresh database (demo, demo-2, ...).

    Appends a few accounts' events (one payload repeated, to show dedup), corrects one by a
    restructure, reads a stream, runs a subscription that resumes from a checkpoint, then
    verifies the hash chains and prints statistics.
    """
    out = _stdout()
    started = time.perf_counter()

    def section(title: str) -> None:
        out.print()
        out.rule(Text(title, style="bold"), align="left")

    with _open(url) as store:
        db = _fresh_database(store, "demo")
        out.print(
            Text.assemble(
                ("SAFE EventStore demo", "bold magenta"),
                f": store {store.url}, new database ",
                (db.name, "bold"),
            ),
            soft_wrap=True,
        )

        section("1. Append: one atomic batch per account")
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

        section("2. Optimistic concurrency")
        try:
            db.append("Account-1", [ses.NewEvent("Withdrawn", {"amount": 1})], expected_version=0)
        except ses.WrongExpectedVersion as exc:
            out.print(f"a writer that last saw version 0 is refused: {exc}", soft_wrap=True)

        section("3. Restructure: correct a mistake without rewriting history")
        reason = "typo: 5000 for 50"
        db.restructure("Account-2", 2, ses.NewEvent("Deposited", {"amount": 50}), reason=reason)
        out.print("read_stream('Account-2'), restructures applied:")
        out.print(_events_table(list(db.read_stream("Account-2")), raw=False, show_time=False))
        out.print("read_stream('Account-2', raw=True), the history as stored:")
        out.print(
            _events_table(list(db.read_stream("Account-2", raw=True)), raw=True, show_time=False)
        )

        section("4. Subscription with a checkpoint")
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
                (f"{live.stream}@{live.version} {live.type} {_data_text(live)}", "cyan"),
                f" at position {live.position}; Account-3 now holds {balances['Account-3']}",
            ),
            soft_wrap=True,
        )

        section("5. Verify the hash chains and payload addresses")
        report = db.verify()
        summary = _summary(report)
        if not report.ok:
            raise click.ClickException("verify found: " + "; ".join(map(str, report.problems)))
        out.print(Text(f"ok: {summary} verified", style="green"))

        section("6. Statistics")
        out.print(_stats_table(db.stats()))

        elapsed = time.perf_counter() - started
        out.print()
        if store.url.startswith("memory:"):
            out.print(f"done in {elapsed:.2f} s (a memory:// store ends with the process).")
        else:
            store_flag = "" if url is None else f" --store {url}"
            out.print(
                f"done in {elapsed:.2f} s. Look around: "
                f"safe-eventstore read Account-2 --raw --db {db.name}{store_flag}",
                soft_wrap=True,
            )


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
    nats: bool,
    cluster: bool,
    nats_url: str | None,
    replicas: int | None,
) -> None:
    """Measure appends, reads and subscriptions beside reference systems, in one run.

    Rows W1-W6 on an embedded SQLite store, each with its ratio to the eventsourcing
    library's SQLite recorder and to raw sqlite3, measured in the same run. With --nats,
    the same rows on NATS JetStream beside raw nats-py. Compare ratios, not absolute
    rates. See docs/performance.md and docs/nats-mapping.md.
    """
    from . import bench as harness

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
    err = _stderr()
    progress = lambda message: err.print(message, style="dim")  # noqa: E731
    if nats:
        try:
            from .bench import nats_rows as nats_harness
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
        )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in harness.COLUMNS:
        table.add_column(column, justify="right" if column in ("count", "rate") else "left")
    for line in harness.table(rows):
        table.add_row(*line)
    _stdout().print(table)
    if out is not None:
        _stdout().print(f"wrote {out}", style="dim")
