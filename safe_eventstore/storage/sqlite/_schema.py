"""The layout of a store directory and of each database file: the schema and its migrations.

A database file records its schema version in ``PRAGMA user_version``; a connection that
finds an older one runs the migrations it lacks, in one write transaction, when it opens
the file. See docs/storage-format.md (and docs/performance.md for what each change saved).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..._exceptions import NotSupported
from . import _records

__all__ = [
    "FORMAT",
    "INLINE_BELOW",
    "MARKER",
    "PING",
    "SCHEMA",
    "SUFFIX",
    "USER_VERSION",
    "create",
    "migrate",
]

FORMAT = 1
MARKER = "safe-eventstore.json"
SUFFIX = ".sqlite3"
PING = ".sqlite3-ping"

SCHEMA = """
CREATE TABLE entries (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    category TEXT NOT NULL,
    event_id BLOB NOT NULL,
    type TEXT,
    correlation_id BLOB,
    causation_id BLOB,
    timestamp INTEGER NOT NULL,
    metadata BLOB NOT NULL,
    tags TEXT,
    address BLOB,
    codec TEXT,
    size INTEGER NOT NULL,
    prev_hash BLOB,
    hash BLOB NOT NULL
);
CREATE UNIQUE INDEX entries_stream_seq ON entries (stream, seq);
CREATE INDEX entries_category ON entries (category, position);
CREATE INDEX entries_event_id ON entries (event_id);
CREATE INDEX entries_restructures ON entries (position) WHERE kind = 1;
CREATE INDEX entries_stream_restructures ON entries (stream, position) WHERE kind = 1;
CREATE TABLE streams (
    name TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    last_version INTEGER NOT NULL,
    last_hash BLOB NOT NULL,
    last_position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX streams_category ON streams (category, name);
CREATE TABLE payloads (
    id INTEGER PRIMARY KEY,
    address BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL
);
CREATE TABLE checkpoints (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;
"""
# Version 2: the tags of event entries, indexed for queries by tag.
TAGS = """
CREATE TABLE IF NOT EXISTS tags (
    tag TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (tag, position)
) WITHOUT ROWID;
INSERT OR IGNORE INTO tags (tag, position)
    SELECT j.value, e.position FROM entries e, json_each(e.tags) j
    WHERE e.tags IS NOT NULL AND e.kind = 0;
PRAGMA user_version = 2;
"""
# Version 3: each entry also names its payload's row, so reads join payloads on the row id
# (one lookup of an integer key) instead of on the 32-byte address (an index of random
# keys, then the row): less work per event read (docs/performance.md). The address stays
# the entry's reference in the hash chain and is what reads check the payload against.
PAYLOAD_IDS = """
ALTER TABLE entries ADD COLUMN payload INTEGER;
UPDATE entries SET payload = (SELECT p.id FROM payloads p WHERE p.address = entries.address)
    WHERE address IS NOT NULL;
PRAGMA user_version = 3;
"""
# Version 4: no index on (stream, version). Reading a stream by version rides the
# (stream, seq) index instead, since an event's seq is its version plus the number of
# restructure entries before it; one index fewer is one page fewer in each append's commit
# (docs/performance.md). Versions stay unique: the append's checks
# decide them inside the write transaction, and verify checks their order.
NO_VERSION_INDEX = """
DROP INDEX IF EXISTS entries_stream_version;
PRAGMA user_version = 4;
"""
# Version 5: a stream's head is its last entry, flagged, instead of a row of its own. The
# streams table keeps only names and categories (written once, when a stream is created);
# each append flags its last entry and clears the flag of the entry it follows, which sits
# on a page the append writes anyway: one page fewer in each append's commit to an existing
# stream (docs/performance.md). The flag is the second record of where a stream ends, the
# job the head row did: an entry removed from a stream's end leaves no flagged entry after
# the chain's last (verify reports it).
HEAD_FLAGS = """
ALTER TABLE entries ADD COLUMN head INTEGER;
UPDATE entries SET head = 1 WHERE position IN (SELECT last_position FROM streams);
CREATE TABLE streams_v5 (name TEXT PRIMARY KEY, category TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO streams_v5 (name, category) SELECT name, category FROM streams;
DROP TABLE streams;
ALTER TABLE streams_v5 RENAME TO streams;
CREATE INDEX streams_category ON streams (category, name);
PRAGMA user_version = 5;
"""
# Version 6: only event ids that came from the caller are indexed. An id the store generated
# (a fresh UUIDv7) cannot name an earlier append, so no retry looks it up; entries carrying
# one are marked ``generated`` and left out of the index: one page fewer in each commit of
# appends without caller ids (docs/performance.md). Entries stored before stay indexed.
GENERATED_IDS = """
ALTER TABLE entries ADD COLUMN generated INTEGER;
CREATE INDEX entries_given_event_id ON entries (event_id) WHERE generated IS NULL;
DROP INDEX IF EXISTS entries_event_id;
PRAGMA user_version = 6;
"""
# Version 7: a payload shorter than INLINE_BELOW bytes is kept in its entry's row (``data``)
# instead of a content-addressed row of ``payloads``. The address stays in the entry and in
# its hash, and every read checks the bytes against it, wherever they are kept; only the
# deduplication is given up below the threshold, where a row of its own with its address
# index costs about as many bytes as it could save, and most of a batch append's pages
# (docs/performance.md). Entries stored before keep their payload rows.
INLINE_DATA = """
ALTER TABLE entries ADD COLUMN data BLOB;
PRAGMA user_version = 7;
"""
# Version 8: an entry row keeps the whole entry in one MessagePack value (``record``,
# see _records.py) beside the columns that SQL selects, filters and indexes by. Thirteen
# bound values a row instead of twenty-one, and a read decodes a record in one call instead
# of fetching fifteen columns (docs/performance.md). The columns a record repeats are laid
# over it when verification reads entries, so changing either breaks the chain it checks.
RECORDS = """
CREATE TABLE entries_v8 (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    category TEXT NOT NULL,
    event_id BLOB NOT NULL,
    type TEXT,
    size INTEGER NOT NULL,
    head INTEGER,
    generated INTEGER,
    payload INTEGER,
    data BLOB,
    record BLOB NOT NULL
);
INSERT INTO entries_v8 (position, stream, seq, version, kind, category, event_id, type, size,
    head, generated, payload, data, record)
    SELECT position, stream, seq, version, kind, category, event_id, type, size, head,
    generated, payload, data, ses_record(stream, seq, version, position, kind, event_id, type,
    correlation_id, causation_id, timestamp, metadata, tags, address, codec, size, prev_hash,
    hash) FROM entries ORDER BY position;
DROP TABLE entries;
ALTER TABLE entries_v8 RENAME TO entries;
CREATE UNIQUE INDEX entries_stream_seq ON entries (stream, seq);
CREATE INDEX entries_category ON entries (category, position);
CREATE INDEX entries_given_event_id ON entries (event_id) WHERE generated IS NULL;
CREATE INDEX entries_restructures ON entries (position) WHERE kind = 1;
CREATE INDEX entries_stream_restructures ON entries (stream, position) WHERE kind = 1;
PRAGMA user_version = 8;
"""
# Version 9: a record leaves out the hash of the entry before it (prev_hash), which that
# entry's record holds; reads that need it put it back (_records.linked). 33 bytes less in
# each row an append writes (docs/performance.md); the hash still covers it, so the chain
# is checked as before. Records written before keep theirs, so nothing is rewritten; the
# version tells an older release, which would take the missing hashes for a broken chain,
# that the file is not for it.
LINKED_RECORDS = """
PRAGMA user_version = 9;
"""
# Version 10: the event_id column holds an entry's id only where the index of ids has it
# (``generated IS NULL``); other rows leave it empty (X''), their record keeping the id. No
# query reads the column of those rows, and binding it is a measurable share of a batch
# append's insert (docs/performance.md). Verification lays a column over its record only
# where the column has an id. Rows written before keep theirs; the version tells an older
# release, which would lay the empty column over the record, that the file is not for it.
INDEXED_IDS = """
PRAGMA user_version = 10;
"""
INLINE_BELOW = 256
USER_VERSION = 10
MIGRATIONS = (
    TAGS, PAYLOAD_IDS, NO_VERSION_INDEX, HEAD_FLAGS, GENERATED_IDS, INLINE_DATA, RECORDS,
    LINKED_RECORDS, INDEXED_IDS,
)  # fmt: skip


def _functions(conn: sqlite3.Connection) -> None:
    # what the migration to version 8 calls from SQL to build each row's record
    conn.create_function("ses_record", 17, _records.from_columns, deterministic=True)


def create(conn: sqlite3.Connection) -> None:
    """Lay out a new, empty database file at the current schema version."""
    conn.execute("PRAGMA journal_mode = WAL")
    _functions(conn)
    conn.executescript(SCHEMA + "".join(MIGRATIONS))


def migrate(conn: sqlite3.Connection, begin: Callable[[sqlite3.Connection], None]) -> None:
    """Bring a database file opened by an older version up to :data:`USER_VERSION`, in one
    write transaction opened by ``begin``."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > USER_VERSION:
        raise NotSupported(
            f"the database file has schema version {version}, written by a newer version of "
            f"safe-eventstore; this one reads versions up to {USER_VERSION}: upgrade it"
        )
    if version == USER_VERSION:
        return
    _functions(conn)
    begin(conn)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for script in MIGRATIONS[max(0, version - 1) :]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
