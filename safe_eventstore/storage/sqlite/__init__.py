"""The embedded default: a directory holding one SQLite file per database.

Layout: ``<dir>/safe-eventstore.json`` marks the directory as a store; ``<dir>/<db>.sqlite3``
holds one database in WAL mode. Appends run in ``BEGIN IMMEDIATE`` transactions, so the
expected-version check and the write are one step under SQLite's write lock, and positions
are assigned in commit order. See docs/storage-format.md.

The package's modules, by concern: ``_schema`` (the directory's names, the schema and its
migrations), ``_append`` (the append path: group commit's transaction, the rows pending a
write, the caches of what the last commit left), ``_rows`` (entry rows and the statements
that insert them: runs, every value bound, head flags), ``_writer`` (each group commit's own
connection, and its batch's transaction on it), ``_checkpoints`` (the write-ahead log's
checkpoints, on a thread beside the commits), ``_records`` (an entry row's record),
``_reads`` (the read statements), ``_notify`` (waking waiters on a commit), ``_errors``
(SQLite's errors translated) and ``_storage`` (:class:`SqliteStorage`, which ties them
together).
"""

from __future__ import annotations

from ._schema import FORMAT, MARKER, SUFFIX, USER_VERSION
from ._storage import SqliteStorage

__all__ = ["FORMAT", "MARKER", "SUFFIX", "USER_VERSION", "SqliteStorage"]
