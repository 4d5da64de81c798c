"""The fixtures every topic uses (built from ``store_url``) and the helpers they share."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import safe_eventstore as ses

DATABASE = "contract"
MiB = 1024 * 1024
PATIENCE = 30.0
"""Seconds a test waits for something that should happen at once: generous on purpose, it
only turns a hang into a failure."""


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[ses.Store]:
    """The store under test, opened once per test from ``store_url``."""
    opened = ses.open(store_url)
    yield opened
    opened.close()


@pytest.fixture
def db(store: ses.Store) -> ses.Database:
    """A fresh database in the store under test."""
    return store.create_database(DATABASE)


# -- helpers ---------------------------------------------------------------------------------


def _new(type: str = "Deposited", **data: Any) -> ses.NewEvent:
    return ses.NewEvent(type, data)


def _unique(name: str) -> str:
    """An event type name no other test uses: the type registry is global to the process."""
    return f"{name}.{uuid.uuid4().hex[:12]}"


def _history(db: ses.Database) -> list[tuple[str, int, int, uuid.UUID]]:
    return [(e.stream, e.version, e.position, e.event_id) for e in db.read_all()]


def _snapshot(db: ses.Database) -> tuple[Any, ...]:
    """Everything an append could change, to show that a refused one changed nothing."""
    streams = db.list_streams(limit=10_000)
    raw = {
        s: [(e.kind, e.version, e.position, e.event_id) for e in db.read_stream(s, raw=True)]
        for s in streams
    }
    versions = {s: db.stream_version(s) for s in streams}
    return _history(db), db.stats(), raw, versions, db.list_categories()


def _take(sub: ses.Subscription, count: int) -> list[ses.RecordedEvent]:
    """The next ``count`` events of a subscription, each of which must arrive in time."""
    events: list[ses.RecordedEvent] = []
    for _ in range(count):
        event = sub.get(timeout=PATIENCE)
        assert event is not None, f"only {len(events)} of {count} events arrived"
        events.append(event)
    return events


def _shared(store: ses.Store) -> None:
    """Skip a test that needs other processes when the backend lives in this one only."""
    if not store.storage.shared_across_processes:
        scheme = store.url.partition("://")[0] or store.url
        pytest.skip(f"{scheme} is confined to one process")


class _Background:
    """Runs a function in a thread after ``delay`` seconds; ``join`` re-raises its error."""

    def __init__(self, fn: Callable[[], object], delay: float = 0.0) -> None:
        self._fn = fn
        self._delay = delay
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            time.sleep(self._delay)
            self._fn()
        except BaseException as exc:
            self._error = exc

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> None:
        self._thread.join(PATIENCE)
        assert not self._thread.is_alive(), "the background thread did not finish"
        if self._error is not None:
            raise self._error


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    """Start a child Python process running ``script`` with ``args``."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> list[str]:
    """Wait for a child process; its stdout lines, after checking that it succeeded."""
    out, err = proc.communicate(timeout=PATIENCE * 2)
    assert proc.returncode == 0, f"child process failed ({proc.returncode}):\n{err}"
    return out.splitlines()


def _in_new_subscription(db: ses.Database, count: int, **scope: Any) -> list[ses.RecordedEvent]:
    with db.subscribe(**scope) as sub:
        events = _take(sub, count)
        assert sub.get(timeout=0) is None
    return events


def _query(*items: tuple[list[str], list[str]]) -> ses.Query:
    """A query from ``(types, tags)`` pairs, one per item."""
    return ses.Query([ses.QueryItem(tuple(types), tuple(tags)) for types, tags in items])


def _fill(db: ses.Database) -> ses.Database:
    """Account-1 v0-v2 and Order-1 v0-v1 interleaved, a restructure, then Account-2 v0."""
    db.append("Account-1", [ses.NewEvent("Opened")])
    db.append("Order-1", [ses.NewEvent("Placed")])
    db.append("Account-1", [ses.NewEvent("Deposited", {"n": 1})])
    db.append("Order-1", [ses.NewEvent("Shipped")])
    db.append("Account-1", [ses.NewEvent("Deposited", {"n": 2})])
    db.restructure("Account-1", 1, None, reason="a duplicate")
    db.append("Account-2", [ses.NewEvent("Opened")])
    return db
