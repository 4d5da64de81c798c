"""What a group commit keeps between statements: the rows of its checked appends not yet
written (:class:`Pending`), and what the connection's last commit left (:class:`Known`).

The rows of the appends that pass their checks collect in a :class:`Pending` and are
written together, one statement per table (see _append.py). What the connection's last
commit left (the last position, stream heads) is kept in a :class:`Known` and reused while
no other connection has committed, so a lone writer reads neither again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..._model import AppendCondition
from ..base import BatchSignature, Head, Write
from ..documents import DocumentRow
from . import _documents, _rows, _signatures
from ._errors import WriteFailed

__all__ = ["Known", "Pending"]


class Pending:
    """Rows of checked appends not yet written, and the position the next entry follows."""

    def __init__(self, position: int, variables: int) -> None:
        self.position = self._written = position
        self.variables = variables  # values a statement may bind on the connection
        self.entries: list[tuple[Any, ...]] = []
        self.singles: list[tuple[Any, ...]] = []  # rows of lone events (_rows.insert_singles)
        self.runs: list[_rows.Statement] = []  # the rows of writes that are runs
        self.streams_new: list[tuple[str, str]] = []
        self.flags_off: list[tuple[int, str, int]] = []  # heads followed: position, stream, seq
        self.tags: list[tuple[str, int]] = []
        self.blobs: dict[bytes, bytes] = {}
        self.checkpoints: dict[str, int] = {}
        self.streams: set[str] = set()
        self.signatures: list[BatchSignature] = []
        self.documents: list[DocumentRow] = []
        self.signed_before = False  # a signature is known to be stored: the table is there

    def add(
        self,
        writes: list[Write],
        entries: list[tuple[Any, ...]],
        runs: list[_rows.Statement],
        streams_new: list[tuple[str, str]],
        flags_off: list[tuple[int, str, int]],
        tags: list[tuple[str, int]],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None,
        position: int,
    ) -> None:
        self.entries += entries
        self.runs += runs
        self.streams_new += streams_new
        self.flags_off += flags_off
        self.tags += tags
        self.blobs.update(blobs)
        if checkpoint is not None:
            self.checkpoints[checkpoint[0]] = checkpoint[1]
        for w in writes:
            self.streams.add(w.stream)
        self.position = position

    def touches(
        self,
        writes: list[Write],
        checkpoint: tuple[str, int] | None,
        condition: AppendCondition | None,
    ) -> bool:
        """Whether an append's checks would read rows that are still unwritten."""
        if not self.streams and not self.checkpoints:
            return False
        if condition is not None or (checkpoint is not None and checkpoint[0] in self.checkpoints):
            return True
        if len(writes) == 1:  # the usual append
            return writes[0].stream in self.streams
        return any(w.stream in self.streams for w in writes)

    def write(self, conn: sqlite3.Connection, *, last: bool = False) -> None:
        """Write the rows, and forget them unless this is the ``last`` write of the group."""
        if not self.streams and not self.checkpoints:
            return
        try:
            if self.checkpoints:
                conn.executemany(
                    "INSERT INTO checkpoints (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    self.checkpoints.items(),
                )
            entries = self.entries
            if self.blobs:
                conn.executemany(
                    "INSERT OR IGNORE INTO payloads (address, data) VALUES (?, ?)",
                    self.blobs.items(),
                )
                entries = _rows.with_payload_ids(conn, entries)
            if entries:
                _rows.insert_rows(conn, entries, self.variables)
            folded = False
            if self.singles:
                folded = _rows.insert_singles(conn, self.singles, self.variables, self.flags_off)
            for sql, values in self.runs:
                conn.execute(sql, values)
            if self.tags:
                conn.executemany(
                    "INSERT OR IGNORE INTO tags (tag, position) VALUES (?, ?)", self.tags
                )
            if self.flags_off and not folded:
                _rows.clear_heads(conn, self.flags_off, self.variables)
            if self.streams_new:
                conn.executemany(
                    "INSERT INTO streams (name, category) VALUES (?, ?)", self.streams_new
                )
            if self.signatures:
                _signatures.write(conn, self.signatures, table=self.signed_before)
            if self.documents:
                _documents.write(conn, self.documents)
        except sqlite3.Error as exc:
            raise WriteFailed(exc) from exc
        if not last:
            self._written = self.position
            self.clear()

    def clear(self) -> None:
        """Forget the unwritten rows (after a rollback to before them)."""
        self.position = self._written
        self.entries, self.singles, self.runs, self.tags, self.blobs = [], [], [], [], {}
        self.streams_new, self.flags_off = [], []
        self.checkpoints, self.streams = {}, set()
        self.signatures, self.documents = [], []


class Known:
    """What one connection's last commit left in a database: the last position and the
    heads of the streams it wrote or looked up, valid while ``PRAGMA data_version`` (which
    changes when any *other* connection commits, and never for the connection's own
    commits) still reads ``version``. Lets a writer that is the database's only one (a
    single appender) skip the reads of the last position and of each stream's head."""

    LIMIT = 1_000  # heads kept at most (per thread and database); beyond, forgotten together

    def __init__(self) -> None:
        self.version: int | None = None
        self.position = 0
        self.heads: dict[str, Head] = {}

    def check(self, conn: sqlite3.Connection) -> tuple[int, bool]:
        """The connection's data version, and whether what is known still holds (inside
        the write transaction, so nothing can change it until the commit)."""
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if version != self.version:
            self.forget()
        return version, self.version is not None

    def forget(self) -> None:
        self.version = None
        self.heads = {}

    def committed(self, version: int, position: int, heads: dict[str, Head]) -> None:
        if len(self.heads) + len(heads) > self.LIMIT:
            self.heads = {}
        self.heads.update(heads)
        self.version, self.position = version, position
