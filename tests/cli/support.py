"""Running the tool in the command-line tests: through click's runner, or as a process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from click.testing import CliRunner, Result

import safe_eventstore as ses
from safe_eventstore.cli import main

#: variables of the user's shell that would change what the tool prints or where it looks
ENVIRONMENT = (
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "SAFE_EVENTSTORE_URL",
    "SAFE_EVENTSTORE_DATABASE",
    "SAFE_EVENTSTORE_SIGNING_KEY",
    "SAFE_EVENTSTORE_KEYFILE",
)


@contextmanager
def database(url: str, name: str = "default") -> Iterator[ses.Database]:
    with ses.open(url) as store:
        yield store.database(name)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def fails(code: int, *args: str, input: str | None = None) -> str:
    """Runs a command that must fail cleanly; returns its one error line."""
    result = run(*args, input=input)
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def module(*args: str) -> list[str]:
    return [sys.executable, "-m", "safe_eventstore", *args]


def process_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ENVIRONMENT:
        env.pop(name, None)
    return env
