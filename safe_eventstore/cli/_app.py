"""The root command group, the options every command shares, and how failures end.

Expected failures print one red ``error: ...`` line on stderr and exit with 2 (bad input or
usage) or 1 (anything else), never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote

import click
from rich.markup import escape

import safe_eventstore as ses

from ._render import fail, stderr

__all__ = [
    "COUNT",
    "POSITIVE",
    "ExpectedVersion",
    "database_name",
    "db_option",
    "keyfile_option",
    "lock_timeout_option",
    "main",
    "open_database",
    "open_store",
    "parse_json",
    "store_option",
    "store_url",
]

DEFAULT_DATABASE = "default"
DEFAULT_DIRECTORY = "safe-eventstore-data"
URL_VARIABLE = "SAFE_EVENTSTORE_URL"
DATABASE_VARIABLE = "SAFE_EVENTSTORE_DATABASE"
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT

# Versions, positions and limits: the stores keep 64-bit integers, so a larger number is a
# usage error here rather than an overflow deep inside a backend.
COUNT = click.IntRange(0, 2**63 - 1)
POSITIVE = click.IntRange(1, 2**63 - 1)

F = TypeVar("F", bound=Callable[..., Any])


def _message_of(exc: click.ClickException) -> str:
    message = exc.format_message()
    if message[1:2].islower():
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message = message.rstrip(".") + f" (see '{ctx.command_path} --help')"
    return message


def _silence_stdout() -> None:
    # The reader went away (``... | head -1``): send what is still buffered nowhere, so the
    # interpreter's final flush does not complain about the closed pipe (the recipe of the
    # Python docs, "Note on SIGPIPE").
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # no real file descriptor (a test runner's buffer)


class CommandLine(click.Group):
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
            fail(_message_of(exc))
            code = exc.exit_code
        except ses.SafeEventStoreError as exc:
            fail(str(exc) or type(exc).__name__)
            code = 2 if isinstance(exc, ses.InvalidInput) else 1
        except RecursionError:
            fail("the input is nested too deeply")
            code = 2
        except BrokenPipeError:
            _silence_stdout()
            code = 1
        except OSError as exc:  # a file that cannot be read or written
            fail(str(exc))
            code = 1
        except (click.Abort, KeyboardInterrupt):
            code = INTERRUPTED
        sys.exit(code)


@click.group(
    name="safe-eventstore",
    cls=CommandLine,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(ses.__version__, prog_name="safe-eventstore")
@click.option(
    "--store",
    "url",
    metavar="URL",
    help="Store URL for every command (each command's own --store wins).",
)
@click.option("--db", "db_name", metavar="NAME", help="Database for every command.")
@click.option(
    "--keyfile",
    metavar="PATH",
    help="Master key file of encrypted databases [default: $SAFE_EVENTSTORE_KEYFILE].",
)
def main(url: str | None, db_name: str | None, keyfile: str | None) -> None:
    """SAFE EventStore: an event-sourcing database.

    Append-only, hash-chained streams with content-addressed payloads. Try `demo`.

    The store is --store URL, else $SAFE_EVENTSTORE_URL, else ./safe-eventstore-data; the
    database is --db NAME, else $SAFE_EVENTSTORE_DATABASE, else `default`. Both options work
    before or after the command. Encrypted databases need their master key: --keyfile PATH
    (before the command, or after it where a command takes it), else
    $SAFE_EVENTSTORE_KEYFILE.
    """


def store_option(fn: F) -> F:
    return click.option(
        "--store",
        "url",
        metavar="URL",
        default=None,
        help="Store URL: sqlite:///dir, a directory, memory:// or nats://host:port "
        "[default: $SAFE_EVENTSTORE_URL, else ./safe-eventstore-data]",
    )(fn)


def db_option(fn: F) -> F:
    return click.option(
        "--db",
        "db_name",
        metavar="NAME",
        default=None,
        help="Database name [default: $SAFE_EVENTSTORE_DATABASE, else default].",
    )(fn)


def keyfile_option(fn: F) -> F:
    return click.option(
        "--keyfile",
        metavar="PATH",
        default=None,
        help="Master key file [default: $SAFE_EVENTSTORE_KEYFILE].",
    )(fn)


def lock_timeout_option(fn: F) -> F:
    return click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        metavar="SECONDS",
        help="Give up when another writer holds the store's lock this long.",
    )(fn)


def _global(name: str) -> Any:
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.find_root().params.get(name)


def store_url(url: str | None) -> str:
    """The store a command works on: its own option, the global one, the environment, or
    the embedded default."""
    for value in (url, _global("url"), os.environ.get(URL_VARIABLE)):
        if value:
            return str(value)
    return f"sqlite://{DEFAULT_DIRECTORY}"


def database_name(name: str | None) -> str:
    for value in (name, _global("db_name"), os.environ.get(DATABASE_VARIABLE)):
        if value:
            return str(value)
    return DEFAULT_DATABASE


def _local_directory(url: str) -> str | None:
    """The directory of an embedded store's URL (``None`` for other schemes)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest = url
    elif scheme.lower() != "sqlite":
        return None
    path = unquote(rest.split("?", 1)[0])
    return os.path.expanduser(path) if path else None


def open_store(
    url: str | None,
    *,
    reading: bool = False,
    lock_timeout: float | None = None,
    keyfile: str | None = None,
    event_types: ses.EventTypes | None = None,
) -> ses.Store:
    """Open the store. A command that only reads opens no store that is not there, so it
    creates nothing: a missing directory is an error. ``event_types``: the registry to
    decode with (by default a fresh one, so stored data shows as plain JSON)."""
    resolved = store_url(url)
    if reading:
        directory = _local_directory(resolved)
        if directory is not None and not os.path.exists(directory):
            raise click.ClickException(f"no store at {directory}")
    options: dict[str, Any] = {}
    if lock_timeout is not None:
        options["lock_timeout"] = lock_timeout
    keyfile = keyfile or _global("keyfile")
    if keyfile:
        options["keyfile"] = keyfile
    # A registry of its own: the tool shows stored data as plain JSON, whatever classes the
    # importing process may have registered.
    registry = ses.EventTypes() if event_types is None else event_types
    store = ses.open(resolved, event_types=registry, **options)
    store.storage.on_lock_wait = _say_waiting  # any write, after a second of waiting
    return store


def _say_waiting(message: str) -> None:
    stderr().print(f"{escape(message)} ...", style="dim")


@contextmanager
def open_database(
    url: str | None,
    name: str | None,
    *,
    reading: bool = False,
    lock_timeout: float | None = None,
    event_types: ses.EventTypes | None = None,
) -> Iterator[ses.Database]:
    with open_store(
        url, reading=reading, lock_timeout=lock_timeout, event_types=event_types
    ) as store:
        # a command that reads or writes an encrypted database without its key fails
        # with KeyRequired at its first use; verify, stats and listings need none
        yield store.database(database_name(name), without_key=True)


def parse_json(text: str, param: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except RecursionError:
        raise click.BadParameter("JSON nested too deeply", param_hint=f"'{param}'") from None
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=f"'{param}'") from None


class ExpectedVersion(click.ParamType[int]):
    name = "version"
    words: ClassVar[dict[str, int]] = {
        "any": ses.ANY,
        "no-stream": ses.NO_STREAM,
        "stream-exists": ses.STREAM_EXISTS,
    }

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in self.words:
            return self.words[word]
        if word.isdigit() and int(word) < 2**63:
            return int(word)
        self.fail(
            f"{value!r} is not a version >= 0, 'any', 'no-stream' or 'stream-exists'", param, ctx
        )
