"""An entry row's record (schema 8): the whole entry as one MessagePack value.

The columns of an entry row are what SQL selects and indexes by; everything an entry is
sits in its ``record``, which a read decodes into an :class:`Entry` in one call. A row's
payload is not in its record: it is the row's ``data``, or its row of payloads. Nor,
from schema 9 on, is the hash of the entry before it in its stream (``prev_hash``), which
that entry's record holds: :func:`linked` puts it back where a read needs it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from ..._exceptions import IntegrityError
from ..base import Entry

__all__ = [
    "decode",
    "encode",
    "encode_values",
    "entries",
    "entries_as_stored",
    "from_columns",
    "linked",
]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)
_tags = msgspec.json.Decoder(tuple[str, ...])


def encode(e: Entry) -> bytes:
    """The record of ``e`` (whose payload is ``None``: payloads are kept apart), without
    its ``prev_hash``: the hash of the entry before it, kept in that entry's record."""
    prev, e.prev_hash = e.prev_hash, None
    try:
        return _encoder.encode(e)
    finally:
        e.prev_hash = prev


# encode_values(values): the record of the entry whose fields, in Entry's order, are
# ``values`` (its payload and prev_hash given as None): the bytes encode() makes of that
# entry, without making it (an array-like Struct encodes as the array of its fields). The
# encoder's own method, called once an append on the usual append's path.
encode_values: Callable[[tuple[Any, ...]], bytes] = _encoder.encode


def decode(record: bytes, position: object = "?") -> Entry:
    try:
        return _decoder.decode(record)
    except msgspec.DecodeError as exc:
        raise IntegrityError(f"the entry at position {position} cannot be decoded: {exc}") from None


def entries(rows: Iterable[tuple[Any, ...]]) -> list[Entry]:
    """The entries of rows ``(record, payload)``: what reads that decode events select."""
    out: list[Entry] = []
    append = out.append
    decode_entry = _decoder.decode
    try:
        for record, payload in rows:
            e = decode_entry(record)
            e.payload = payload
            append(e)
    except msgspec.DecodeError:
        decode(record)  # raises IntegrityError
    return out


def entries_as_stored(rows: Iterable[tuple[Any, ...]]) -> list[Entry]:
    """The entries of rows ``(record, payload, position, stream, seq, version, kind,
    event_id, type, size)``: the record with the row's columns laid over it. Verification
    reads these, so a column changed behind the store's back (the columns are what queries
    select by) breaks the hash chain it checks, as a changed record does. An empty
    ``event_id`` column (the id is not indexed, schema 10) leaves the record's id."""
    out: list[Entry] = []
    for record, payload, position, stream, seq, version, kind, event_id, type_, size in rows:
        e = decode(record, position)
        e.payload = payload
        e.position, e.stream, e.seq, e.version, e.kind = position, stream, seq, version, kind
        e.type, e.size = type_, size
        if event_id:
            e.event_id = event_id
        out.append(e)
    return out


def linked(conn: sqlite3.Connection, entries: list[Entry]) -> list[Entry]:
    """``entries`` (of any streams) with the ``prev_hash`` their records leave out: the
    hash of the entry before each in its stream, from the entry before it in ``entries``
    when that is the one, else read. An entry with no entry before it keeps ``None``;
    records written before schema 9 keep theirs."""
    before: Entry | None = None
    for e in entries:
        if e.prev_hash is None and e.seq > 0:
            if before is not None and before.stream == e.stream and before.seq == e.seq - 1:
                e.prev_hash = before.hash
            else:
                e.prev_hash = _hash_before(conn, e.stream, e.seq)
        before = e
    return entries


def _hash_before(conn: sqlite3.Connection, stream: str, seq: int) -> bytes | None:
    # the entry before, whatever its seq: verify reports a gap, and the hash of the entry
    # after it, which chained to the missing one, no longer matches
    row = conn.execute(
        "SELECT record, position FROM entries WHERE stream = ? AND seq < ? "
        "ORDER BY seq DESC LIMIT 1",
        (stream, seq),
    ).fetchone()
    return None if row is None else decode(*row).hash


def from_columns(*columns: Any) -> bytes:
    """The record of a row of schema 7, from its columns in Entry's order (tags as JSON
    text or NULL, no payload): the migration to schema 8 calls it from SQL."""
    fields = list(columns)
    fields[11] = _tags.decode(fields[11]) if fields[11] else ()
    fields.insert(14, None)  # the payload
    return _encoder.encode(Entry(*fields))
