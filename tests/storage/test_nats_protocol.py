"""The connection's protocol parser calls the client as nats-py's own parser does, however
the bytes arrive cut; messages of raw subscriptions reach their handler with the same
arguments."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("nats")

from hypothesis import given, settings
from hypothesis import strategies as st
from nats.errors import ProtocolError
from nats.protocol.parser import Parser

from safe_eventstore.storage.nats._connection import _Client as _Connected
from safe_eventstore.storage.nats._protocol import FastParser

ENTRY_HEADERS = b"NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 41\r\n\r\n"
HEARTBEAT = b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 7\r\n\r\n"


def _msg(subject: bytes, sid: int, reply: bytes, payload: bytes) -> bytes:
    line = b"MSG %s %d %s%d\r\n" % (subject, sid, reply + b" " if reply else b"", len(payload))
    return line + payload + b"\r\n"


def _hmsg(subject: bytes, sid: int, reply: bytes, headers: bytes, payload: bytes) -> bytes:
    total = len(headers) + len(payload)
    r = reply + b" " if reply else b""
    line = b"HMSG %s %d %s%d %d\r\n" % (subject, sid, r, len(headers), total)
    return line + headers + payload + b"\r\n"


STREAM = b"".join(
    [
        b'INFO {"server_id":"x","max_payload":1048576}\r\n',
        _msg(b"_INBOX.a.1", 1, b"", b"hello"),
        _msg(b"_INBOX.a.2", 2, b"$JS.ACK.s.c.1.5.1.0.3", b""),
        b"PING\r\n",
        _hmsg(b"ses.db.s.A.A-1", 3, b"$JS.ACK.ses_db.c.1.9.1.17.2", ENTRY_HEADERS, b"\x93\x01\x02"),
        b"+OK\r\n",
        _hmsg(b"_INBOX.b", 3, b"", HEARTBEAT, b""),
        _hmsg(b"_INBOX.c", 4, b"$JS.FC.s.c.x", b"NATS/1.0 100 FlowControl Request\r\n\r\n", b""),
        _msg(b"_INBOX.a.3", 3, b"r", b"x\r\ny" * 50),
        b"PONG\r\n",
        _msg(b"ends", 1, b"", b"!"),
    ]
)


class _Client:
    """What a parser calls, recorded; sid 3 is a raw subscription (for the fast parser)."""

    def __init__(self, raw: bool) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.raw = {3: self._raw} if raw else {}

    def _raw(self, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        self.calls.append(("msg", 3, bytes(subject), bytes(reply), data, headers or None))

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        if sid in self.raw:  # as the connection's client does: nats-py's parser calls this
            await _Connected._process_msg(self, sid, subject, reply, data, headers)  # type: ignore[arg-type]
            return
        self.calls.append(("msg", sid, bytes(subject), bytes(reply), data, headers))

    async def _process_ping(self) -> None:
        self.calls.append(("ping",))

    async def _process_pong(self) -> None:
        self.calls.append(("pong",))

    async def _process_info(self, info: dict[str, Any]) -> None:
        self.calls.append(("info", info))

    async def _process_err(self, err: str) -> None:
        self.calls.append(("err", err))


def _feed(parser_class: type[Parser], raw: bool, chunks: list[bytes]) -> list[tuple[Any, ...]]:
    client = _Client(raw)
    parser = parser_class(client)

    async def feed() -> None:
        for chunk in chunks:
            await parser.parse(chunk)

    asyncio.run(feed())
    return client.calls


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def test_whole_the_parsers_agree() -> None:
    expected = _feed(Parser, False, [STREAM])
    assert len([c for c in expected if c[0] == "msg"]) == 7
    assert _feed(FastParser, False, [STREAM]) == expected
    assert _feed(FastParser, True, [STREAM]) == expected


def test_byte_by_byte_the_parsers_agree() -> None:
    chunks = [STREAM[i : i + 1] for i in range(len(STREAM))]
    expected = _feed(Parser, False, [STREAM])
    assert _feed(FastParser, True, chunks) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=12))
def test_cut_anywhere_the_parsers_agree(cuts: list[int]) -> None:
    chunks = _cut(STREAM, cuts)
    assert _feed(FastParser, True, chunks) == _feed(Parser, False, chunks)


@pytest.mark.parametrize("line", [b"MSG a\r\n", b"HMSG a 1 2\r\n", b"MSG a b 3\r\nabc\r\n"])
def test_a_malformed_message_line_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        _feed(FastParser, True, [line])
    with pytest.raises(ProtocolError):
        _feed(Parser, False, [line])


def test_a_raw_message_that_nats_py_parser_reads_reaches_its_handler() -> None:
    """After a line it does not read itself (``PING``, ``+OK``), the fast parser leaves the
    rest of the buffer to nats-py's, which hands messages to the client: the client hands
    a raw subscription's to its handler."""
    calls = _feed(FastParser, True, [b"PING\r\n" + STREAM])
    expected = _feed(Parser, False, [b"PING\r\n" + STREAM])
    assert calls == expected
