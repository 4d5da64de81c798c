"""The connection each group commit writes through, and the batch's transaction on it.

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
from ..base import Signer
from ..group_commit import GroupCommit
from ._append import AppendItem, AppendRequest, run_group
from ._checkpoints import BACKSTOP, checkpointer
from ._errors import WriteFailed, translated
from ._pending import Known

__all__ = ["GroupWriter"]


class GroupWriter:
    """One group commit's connection to a database, opened at its first batch."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        begin: Callable[[sqlite3.Connection], None],
        announce: Callable[[], None],
    ) -> None:
        self._connect = connect
        #: opens a batch's write transaction on the connection
        self.begin = begin
        #: tells the database's readers of a commit (called after the batch's threads woke)
        self.announce = announce
        self._conn: sqlite3.Connection | None = None
        # the write-ahead log's checkpoints, run beside this connection's commits
        self.checkpoints = checkpointer(connect)
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
            conn = self._connect()
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP}")
            self._conn = conn
        return conn

    def commit(self, batch: list[AppendRequest], *, db: str, signer: Signer | None) -> bool:
        """Run ``batch`` (and the requests queued meanwhile) in one transaction opened by
        :attr:`begin`, holding :attr:`lock`: each request gets its result or error. Whether
        it committed; when the whole batch failed, every request has the error."""
        conn: sqlite3.Connection | None = None
        known, begin = self.known, self.begin
        try:
            conn = self.connection()
            try:
                run_group(
                    conn, known, batch, isolate=False, begin=begin, db=db, signer=signer,
                    more=self.more,
                )  # fmt: skip
            except WriteFailed as failed:
                # A write failed although every check passed, and its statements held the
                # rows of several requests: redo the batch with each request in a savepoint
                # of its own, so the failure stays with the request that caused it.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if len(batch) == 1:
                    raise failed.cause from None
                run_group(conn, known, batch, isolate=True, begin=begin, db=db, signer=signer)
        except Exception as exc:
            known.forget()
            if conn is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
            error = translated(exc)
            for request in batch:
                request.result, request.error = None, error
            return False
        except BaseException:
            known.forget()
            if conn is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.checkpoints.wake()
        return True

    def close(self) -> None:
        """Close the connection, once the batch running (if any) is done, and stop its
        checkpoints."""
        with self.lock:
            self._closed = True
            conn, self._conn = self._conn, None
            self.known.forget()
        self.checkpoints.close()
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
