"""The NATS backend's entry records: entries keep short payloads, and entries stored in the
first format (no payload field) still read."""

from __future__ import annotations

import msgspec
import pytest

pytest.importorskip("nats")

from safe_eventstore.storage.base import Entry
from safe_eventstore.storage.nats._records import INLINE_BELOW, decode_entry, encode_entry


def _entry() -> Entry:
    return Entry(
        "Account-1", 3, 2, 0, 0, b"i" * 16, "Deposited", None, None, 1_700_000_000_000_000,
        b"{}", ("t",), b"a" * 32, "json", None, 7, b"p" * 32, b"h" * 32,
    )  # fmt: skip


@pytest.mark.parametrize("payload", [None, b"", b'{"n":1}', b"x" * (INLINE_BELOW - 1)])
def test_an_entry_keeps_its_payload_when_given_one(payload: bytes | None) -> None:
    entry, events = decode_entry(encode_entry(_entry(), 2, payload), 42)
    assert events == 2 and entry.position == 42 and entry.payload == payload
    assert msgspec.structs.replace(entry, position=0, payload=None) == _entry()


def test_an_entry_of_the_first_format_still_reads() -> None:
    e = _entry()
    row = (
        1, e.stream, e.seq, e.version, e.kind, e.event_id, e.type, e.correlation_id,
        e.causation_id, e.timestamp, e.metadata, list(e.tags), e.address, e.codec, e.size,
        e.prev_hash, e.hash, 2,
    )  # fmt: skip
    entry, events = decode_entry(msgspec.msgpack.encode(row), 42)
    assert events == 2 and entry.payload is None
    assert msgspec.structs.replace(entry, position=0) == e
