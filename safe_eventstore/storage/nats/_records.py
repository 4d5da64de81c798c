"""What the messages of a database hold: entries, payload chunks and small markers."""

from __future__ import annotations

from typing import Any

import msgspec

from ..._exceptions import IntegrityError
from ..base import Entry

__all__ = [
    "CHUNKS",
    "FORMAT",
    "INLINE_BELOW",
    "decode_copy",
    "decode_entry",
    "encode_copy",
    "encode_entry",
    "split_payload",
]

FORMAT = 2  # 1: entries without the payload field (stored before payloads were kept inline)
INLINE_BELOW = 256  # a payload shorter than this is kept in its entry, not as a message
CHUNKS = "Ses-Chunks"  # on a payload's first message: how many it was cut into, if more than 1
_encoder = msgspec.msgpack.Encoder()
_Row = tuple[
    int,  # FORMAT
    str,  # stream
    int,  # seq
    int,  # version (for a restructure: the version it restructures)
    int,  # kind
    bytes,  # event_id
    str | None,  # type
    bytes | None,  # correlation_id
    bytes | None,  # causation_id
    int,  # timestamp
    bytes,  # metadata
    list[str],  # tags
    bytes | None,  # address
    str | None,  # codec
    int,  # size
    bytes | None,  # prev_hash
    bytes,  # hash
    int,  # the stream's last event version once this entry is stored
]
_Row2 = tuple[
    int, str, int, int, int, bytes, str | None, bytes | None, bytes | None, int, bytes,
    list[str], bytes | None, str | None, int, bytes | None, bytes, int,
    bytes | None,  # the payload, when it is kept in the entry (shorter than INLINE_BELOW)
]  # fmt: skip
_FORMAT_1 = b"\xdc\x00\x12"  # how an array of 18 items (a format 1 row) starts in MessagePack
_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(_Row2)
_decoder_1: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(_Row)
_copy_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(tuple[int, bytes])


def encode_entry(e: Entry, events: int, payload: bytes | None = None) -> bytes:
    """An entry's message; ``payload``, if given, is kept in it (its address stays the
    entry's reference, hashed and checked on every read as for a payload message)."""
    return _encoder.encode(
        (
            FORMAT, e.stream, e.seq, e.version, e.kind, e.event_id, e.type, e.correlation_id,
            e.causation_id, e.timestamp, e.metadata, list(e.tags), e.address, e.codec, e.size,
            e.prev_hash, e.hash, events, payload,
        )
    )  # fmt: skip


def decode_entry(data: bytes, position: int) -> tuple[Entry, int]:
    """The entry a message holds, placed at ``position`` (with its payload when the entry
    keeps it), and the stream's event version once it was stored."""
    old = data[:3] == _FORMAT_1
    try:
        r = (_decoder_1 if old else _decoder).decode(data)
    except msgspec.DecodeError as exc:
        raise IntegrityError(f"the entry at position {position} cannot be decoded: {exc}") from None
    entry = Entry(
        r[1], r[2], r[3], position, r[4], r[5], r[6], r[7], r[8], r[9], r[10], tuple(r[11]),
        r[12], r[13], None if old else r[18], r[14], r[15], r[16],
    )  # fmt: skip
    return entry, r[17]


def encode_copy(delta: int, entry: bytes) -> bytes:
    """A copy of an entry stored ``delta`` messages away from it (a restructure's copy)."""
    return _encoder.encode((delta, entry))


def decode_copy(data: bytes, seq: int) -> tuple[Entry, int]:
    """The entry a copy at sequence ``seq`` holds, placed where the entry itself is."""
    try:
        delta, entry = _copy_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise IntegrityError(f"the copy at sequence {seq} cannot be decoded: {exc}") from None
    return decode_entry(entry, seq + delta)


def split_payload(payload: bytes, chunk: int) -> list[bytes]:
    """A payload cut into messages of at most ``chunk`` bytes (an empty one stays one)."""
    if len(payload) <= chunk:
        return [payload]
    view = memoryview(payload)
    return [bytes(view[i : i + chunk]) for i in range(0, len(payload), chunk)]
