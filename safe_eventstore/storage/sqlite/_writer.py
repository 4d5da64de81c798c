"""The connection each group commit writes through.

Reads use a connection per thread. Appends go through a group commit (one leader at a
time), and its leader may be any thread; were it to write through its own thread's
connection, every change of leader would find that connection's :class:`Known` stale (the
other threads' connections committed meanwhile), and read the last position and each
stream's head again. So each group keeps one connection of its own, used by whichever
thread leads: what its last commit left stays valid while no *other* connection commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from ..._exceptions import StoreClosed
from ..._model import AppendResult
from ..group_commit import GroupCommit
from ._append import AppendItem, AppendRequest, Known

__all__ = ["GroupWriter"]


class GroupWriter:
    """One group commit's connection to a database, opened at its first batch."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self.known = Known()
        # held while a batch runs: close() may not close the connection under a statement,
        # which crashes the sqlite3 module instead of raising
        self.lock = threading.Lock()
        self._closed = False
        self.group: GroupCommit[AppendItem, list[AppendResult]] | None = None

    def more(self, batch: list[AppendRequest]) -> bool:
        """Add the requests queued meanwhile to ``batch``, before its commit."""
        return self.group is not None and self.group.take_queued(batch)

    def connection(self) -> sqlite3.Connection:
        """The connection, opened if need be; called by the leader, holding :attr:`lock`."""
        if self._closed:
            raise StoreClosed("the store is closed")
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect()
        return conn

    def close(self) -> None:
        """Close the connection, once the batch running (if any) is done."""
        with self.lock:
            self._closed = True
            conn, self._conn = self._conn, None
            self.known.forget()
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
