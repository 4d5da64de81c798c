"""Running appends of several threads in one SQLite group commit, for tests that need them
in one transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import safe_eventstore as ses
from safe_eventstore.storage.group_commit import GroupCommit, Request
from safe_eventstore.storage.sqlite import SqliteStorage


def group_of(store: ses.Store, db: str = "bank") -> GroupCommit[Any, Any]:
    """The group commit of ``db``'s unsigned appends."""
    assert isinstance(store.storage, SqliteStorage)
    return store.storage._group(db)


def in_one_batch(
    store: ses.Store, calls: list[Callable[[], object]], db: str = "bank"
) -> list[object]:
    """Run ``calls`` in threads so that the first leads a batch that blocks until all the
    others have queued: they then join it before its commit, one transaction. Each call's
    result, or the exception it raised."""
    group = group_of(store, db)
    run = group._run
    release = threading.Event()

    def held(batch: list[Request[Any, Any]]) -> Any:
        release.wait(10)
        return run(batch)

    group._run = held
    results: list[object] = [None] * len(calls)

    def call(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    first = threading.Thread(target=call, args=(0,))
    first.start()
    deadline = time.monotonic() + 10
    while not group._leading:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, len(calls))]
    for t in others:
        t.start()
    while len(group._queue) < len(others):
        assert time.monotonic() < deadline
        time.sleep(0.001)
    group._run = run
    release.set()
    for t in [first, *others]:
        t.join(10)
    return results
