"""Checkpoints of the write-ahead log, run beside the appends instead of inside them.

SQLite copies the write-ahead log back into the database file (a checkpoint) inside the
commit that takes the log past ``wal_autocheckpoint`` pages: that commit, and the append
waiting on it, then takes several times as long as the others. SQLite's documentation on
write-ahead logging names the alternative: turn the automatic checkpoints down and run
them on a thread of one's own (https://www.sqlite.org/wal.html, "Automatic
Checkpoint"). :func:`checkpointer` is that thread for one group commit's connection:
woken after each commit, it runs a passive checkpoint (which waits for no reader or
writer), then rests, so that it does not compete with the commits' own writes for the
disk, and so that the commits in between share the next checkpoint. The writing
connection keeps a higher automatic threshold (:data:`BACKSTOP`), for when the thread
cannot keep up (a reader holding old pages, a stalled disk).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..background import Background

__all__ = ["BACKSTOP", "checkpointer"]

BACKSTOP = 4000
"""``wal_autocheckpoint`` of a connection whose commits wake a :func:`checkpointer`: four
times SQLite's default, reached only when the thread falls behind."""

REST = 0.05  # seconds after each checkpoint
IDLE = 1.0  # seconds without a commit after which the thread ends


class _Checkpoints:
    """The thread's own connection, opened at its first checkpoint."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None

    def run(self) -> None:
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            pass  # the next one, or the writer's own backstop, catches up

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def checkpointer(connect: Callable[[], sqlite3.Connection]) -> Background:
    """Passive checkpoints, on a thread of their own, of the file ``connect`` opens."""
    checkpoints = _Checkpoints(connect)
    return Background(
        checkpoints.run, checkpoints.close, rest=REST, idle=IDLE,
        name="safe-eventstore checkpoints",
    )  # fmt: skip
