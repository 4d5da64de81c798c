"""Waking waiters when a database commits, in this process and in others.

In this process an append wakes them at once (:meth:`Notifier.bump`). Other processes learn
of a commit through inotify, from a write to the database's ping file: SQLite publishes a
commit through shared memory, which the file system does not report. A write to a file
is a system call that may wait on the file system's journal, as long as a commit's own
sync; so the committing thread does not ping, it wakes a thread that does (:func:`pings`),
which then rests :data:`PING_REST`: the commits of that rest share its next ping, which
bounds the pings a second whatever the rate of commits, and the delay it adds for a waiter
in another process.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..background import Background
from ._schema import PING

__all__ = ["PING_REST", "Notifier", "pings"]

PING_REST = 0.002
"""Seconds the ping thread rests after each ping: at most that, and the wake of a thread,
is what a waiter in another process waits longer than one in the committing process."""


def pings(ping: Callable[[], None]) -> Background:
    """The thread that runs ``ping`` after commits (woken by each; see above)."""
    return Background(
        ping, _nothing, rest=PING_REST, idle=1.0, name="safe-eventstore pings"
    )  # fmt: skip


def _nothing() -> None:
    pass


class Notifier:
    """Wakes waiters when a database commits: in this process at once (appends call
    :meth:`bump`), from other processes through inotify on the ping files (Linux; elsewhere
    waiters re-check every 50 ms)."""

    def __init__(self, directory: Path) -> None:
        self._changed = threading.Condition()
        self._generations: dict[str, int] = {}
        self._closed = False
        self._ino: Any = None
        if sys.platform.startswith("linux"):
            from inotify_simple import INotify, flags

            self._ino = INotify()
            self._ino.add_watch(directory, flags.MODIFY | flags.CREATE)
            threading.Thread(target=self._watch, name="safe-eventstore-notify", daemon=True).start()

    def _watch(self) -> None:
        try:
            while not self._closed:
                events = self._ino.read(timeout=500)
                touched = {e.name[: -len(PING)] for e in events if e.name.endswith(PING)}
                if touched:
                    with self._changed:
                        for db in touched:
                            self._generations[db] = self._generations.get(db, 0) + 1
                        self._changed.notify_all()
        finally:
            self._ino.close()  # here, not in close(): the descriptor may be in use

    def generation(self, db: str) -> int:
        with self._changed:
            return self._generations.get(db, 0)

    def bump(self, db: str) -> None:
        with self._changed:
            self._generations[db] = self._generations.get(db, 0) + 1
            self._changed.notify_all()

    def wait(self, db: str, seen: int, timeout: float) -> None:
        if self._ino is None:
            timeout = min(timeout, 0.05)
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or self._generations.get(db, 0) != seen, min(timeout, 1.0)
            )

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
