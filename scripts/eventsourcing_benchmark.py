"""Side by side: the ``eventsourcing`` library's own performance tests, run in one process
for its recorders and for ours.

Runs ``test_performance`` of the aggregate, application and process recorder test cases
and ``test_concurrent_throughput`` of the application recorder test case, each ``--repeat``
times (the median is reported), for:

- the library's POPO (in-memory) recorders and ours on ``memory://``;
- the library's SQLite recorders (a file in WAL mode, SQLite's default synchronous=FULL)
  and ours on ``sqlite://`` with ``durability=full`` (fsync before acknowledging) and
  ``durability=relaxed``.

Usage: ``python scripts/eventsourcing_benchmark.py [--repeat 3] [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
import statistics
import tempfile
import unittest
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from eventsourcing.persistence import Recorder
from eventsourcing.popo import (
    POPOAggregateRecorder,
    POPOApplicationRecorder,
    POPOProcessRecorder,
)
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteDatastore,
    SQLiteProcessRecorder,
)
from eventsourcing.tests import persistence as lib

import safe_eventstore as ses
from safe_eventstore.eventsourcing import (
    SafeAggregateRecorder,
    SafeApplicationRecorder,
    SafeProcessRecorder,
)

# (test case, method, what the library prints) -> the row's label
TESTS = [
    ("aggregate", lib.AggregateRecorderTestCase, "test_performance"),
    ("application", lib.ApplicationRecorderTestCase, "test_performance"),
    ("process", lib.ProcessRecorderTestCase, "test_performance"),
    ("application", lib.ApplicationRecorderTestCase, "test_concurrent_throughput"),
]
_PER_SECOND = re.compile(r"(\d+) inserts per second")


class Resources:
    """Temporary directories and stores, removed when the run ends."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def directory(self) -> str:
        path = tempfile.mkdtemp(prefix="es-bench-")
        self._stack.callback(shutil.rmtree, path, True)
        return path

    def database(self, url: str) -> ses.Database:
        store = self._stack.enter_context(ses.open(url))
        return store.create_database(f"bench-{uuid.uuid4().hex[:8]}")

    def close(self) -> None:
        self._stack.close()


def ours(url: Callable[[Resources], str]) -> dict[str, Callable[[Resources], Recorder]]:
    return {
        "aggregate": lambda r: SafeAggregateRecorder(r.database(url(r))),
        "application": lambda r: SafeApplicationRecorder(r.database(url(r))),
        "process": lambda r: SafeProcessRecorder(r.database(url(r))),
    }


def library_sqlite() -> dict[str, Callable[[Resources], Recorder]]:
    def make(cls: Any) -> Callable[[Resources], Recorder]:
        def create(r: Resources) -> Recorder:
            datastore = SQLiteDatastore(db_name=f"{r.directory()}/events.db")
            recorder = cls(datastore)
            recorder.create_table()
            return recorder  # type: ignore[no-any-return]

        return create

    return {
        "aggregate": make(SQLiteAggregateRecorder),
        "application": make(SQLiteApplicationRecorder),
        "process": make(SQLiteProcessRecorder),
    }


SUBJECTS: dict[str, tuple[str, dict[str, Callable[[Resources], Recorder]]]] = {
    "popo": (
        "eventsourcing POPO (memory)",
        {
            "aggregate": lambda r: POPOAggregateRecorder(),
            "application": lambda r: POPOApplicationRecorder(),
            "process": lambda r: POPOProcessRecorder(),
        },
    ),
    "ses-memory": ("safe_eventstore memory://", ours(lambda r: "memory://")),
    "sqlite": ("eventsourcing SQLite (file, WAL)", library_sqlite()),
    "ses-sqlite": (
        "safe_eventstore sqlite:// durability=full",
        ours(lambda r: f"sqlite://{r.directory()}/store"),
    ),
    "ses-sqlite-relaxed": (
        "safe_eventstore sqlite:// durability=relaxed",
        ours(lambda r: f"sqlite://{r.directory()}/store?durability=relaxed"),
    ),
}
PAIRS = [("ses-memory", "popo"), ("ses-sqlite", "sqlite"), ("ses-sqlite-relaxed", "sqlite")]


def run_once(
    base: type[unittest.TestCase], method: str, factory: Callable[[Resources], Recorder]
) -> float:
    resources = Resources()

    class Case(base):  # type: ignore[valid-type,misc]
        def create_recorder(self) -> Recorder:
            return factory(resources)

    Case.__name__ = Case.__qualname__ = f"{base.__name__}"
    out = io.StringIO()
    result = unittest.TestResult()
    try:
        with contextlib.redirect_stdout(out):
            Case(method).run(result)
    finally:
        resources.close()
    problems = result.errors + result.failures
    if problems:
        raise RuntimeError(f"{base.__name__}.{method} failed:\n{problems[0][1]}")
    rates = _PER_SECOND.findall(out.getvalue())
    if not rates:
        raise RuntimeError(f"no rate in the output of {method}: {out.getvalue()!r}")
    return float(rates[-1])


def measure(repeat: int, only: list[str]) -> Iterator[tuple[str, str, dict[str, float]]]:
    keys = [k for k in SUBJECTS if not only or k in only]
    for kind, base, method in TESTS:
        # Rounds interleave the recorders, so a change of load on a shared machine falls
        # on all of them rather than on whichever ran then.
        runs: dict[str, list[float]] = {k: [] for k in keys}
        for _ in range(repeat):
            for key in keys:
                runs[key].append(run_once(base, method, SUBJECTS[key][1][kind]))
        yield kind, method, {k: statistics.median(v) for k, v in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--only", nargs="*", default=[], choices=sorted(SUBJECTS))
    args = parser.parse_args()
    keys = [k for k in SUBJECTS if not args.only or k in args.only]
    rows = list(measure(args.repeat, args.only))

    print(f"inserts per second, median of {args.repeat} runs, all in one process:")
    for key in keys:
        print(f"  {key:<20} {SUBJECTS[key][0]}")
    print()
    print(f"{'test':<40}" + "".join(f"{k:>20}" for k in keys))
    for kind, method, rates in rows:
        print(f"{kind + ' ' + method:<40}" + "".join(f"{rates[k]:>20,.0f}" for k in keys))
    pairs = [(a, b) for a, b in PAIRS if a in keys and b in keys]
    if pairs:
        print()
        print("ratio ours / library (above 1: ours inserts faster)")
        print(f"{'test':<40}" + "".join(f"{a + '/' + b:>26}" for a, b in pairs))
        for kind, method, rates in rows:
            print(
                f"{kind + ' ' + method:<40}"
                + "".join(f"{rates[a] / rates[b]:>26.2f}" for a, b in pairs)
            )


if __name__ == "__main__":
    main()
