"""The NATS connection's header parser gives what nats-py's own gives, for any header block."""

from __future__ import annotations

import pytest

pytest.importorskip("nats")

from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client

from safe_eventstore.storage.nats._connection import _Client

DIRECT_GET = (
    b"Nats-Stream: ses_bank\r\nNats-Subject: ses.bank.s.Account.Account-1\r\n"
    b"Nats-Sequence: 12345\r\nNats-Time-Stamp: 2026-12-04T12:00:00.123456789Z\r\n"
    b"Nats-Num-Pending: 7655\r\nNats-Last-Sequence: 12344\r\n\r\n"
)


@pytest.mark.parametrize(
    "raw",
    [
        DIRECT_GET,
        b"",
        b"\r\n\r\n",
        b"A:1\r\nA: 2\r\n",  # the last value wins
        b"Name:Value\r\nName2:\tValue2\r\n",
        b"Bad Name: x\r\nGood: y\r\n",  # whitespace inside a name: skipped
        b"\x1cName: x\r\nName\x1f: y\r\n",  # str whitespace that bytes.strip keeps
        b"No colon here\r\n: empty name\r\n",
        b"Caf\xc3\xa9: x\r\nKey: caf\xc3\xa9\r\nKey2: \xff\xfe\r\n",  # non-ASCII bytes
        b"K: v\x1c\r\nK2: \x0bv\x0c\r\n",
        b"K: a:b:c\r\nLone\nNewline: v\r\n",
    ],
)
def test_the_parser_matches_nats_py(raw: bytes) -> None:
    assert _Client._parse_header_lines(raw) == Client._parse_header_lines(raw)


@given(st.lists(st.binary(max_size=12) | st.sampled_from([b":", b"\r\n", b" ", b"\t", b"\x1c"])))
def test_the_parser_matches_nats_py_on_any_bytes(parts: list[bytes]) -> None:
    raw = b"".join(parts)
    assert _Client._parse_header_lines(raw) == Client._parse_header_lines(raw)
