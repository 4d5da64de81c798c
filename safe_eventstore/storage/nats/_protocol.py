"""A faster reader of the NATS protocol for the store's connection.

nats-py's parser tries a regular expression for ``MSG`` and then one for ``HMSG`` on every
message, and hands each to the client through a coroutine. A long scan receives one ``HMSG``
per entry (entries are stored with headers), and that was the largest of nats-py's costs
per entry left. This parser reads the two message lines by splitting them, hands a message
of a subscription registered as raw (see :class:`~._connection.Connection`) straight to its
handler, and leaves every other line to nats-py's parser, with which it shares its state.
It subclasses a class of the exactly pinned nats-py; ``tests/storage/test_nats_protocol.py``
checks that it calls the client as the original does, however the bytes are cut.
"""

from __future__ import annotations

from typing import Any

from nats.errors import ProtocolError
from nats.protocol.parser import AWAITING_CONTROL_LINE, AWAITING_MSG_PAYLOAD, Parser

__all__ = ["FastParser"]

_HMSG = b"HMSG"
_MSG = b"MSG "


class FastParser(Parser):
    """nats-py's protocol parser, with its two message lines read faster."""

    async def parse(self, data: bytes = b"") -> None:
        buf = self.buf
        if buf:
            buf.extend(data)
            data = bytes(buf)
            buf.clear()
        nc: Any = self.nc
        raw = getattr(nc, "raw", {})
        arg = self.msg_arg
        # read through the chunk by index; only what is left of it is kept in the buffer
        at, size = 0, len(data)
        while at < size:
            if self.state == AWAITING_CONTROL_LINE:
                op = data[at : at + 4]
                if op != _HMSG and op != _MSG:
                    buf.extend(data[at:] if at else data)
                    await super().parse()  # consumes all it can of the buffer
                    return
                end = data.find(b"\r\n", at)
                if end < 0:
                    break  # the rest of the line has not arrived
                self._message_line(data[at:end].split(), op == _HMSG)
                at = end + 2
                self.state = AWAITING_MSG_PAYLOAD
                continue
            needed = self.needed
            if size - at < needed + 2:
                break  # the rest of the message has not arrived
            split = self.header_needed
            if split:
                headers: bytes | None = data[at : at + split]
                payload = data[at + split : at + needed]
                self.header_needed = 0
            else:
                headers = None
                payload = data[at : at + needed]
            at += needed + 2
            self.state = AWAITING_CONTROL_LINE
            sid = arg["sid"]
            handler = raw.get(sid)
            if handler is not None:
                handler(arg["subject"], arg["reply"], payload, headers or b"")
            else:
                await nc._process_msg(sid, arg["subject"], arg["reply"], payload, headers)
        if at < size:
            buf.extend(data[at:])

    def _message_line(self, args: list[bytes], with_headers: bool) -> None:
        """``MSG subject sid [reply] size`` or ``HMSG subject sid [reply] hsize size``."""
        sizes = 2 if with_headers else 1
        try:
            if len(args) == 3 + sizes:
                reply = b""
            elif len(args) == 4 + sizes:
                reply = args[3]
            else:
                raise ValueError(len(args))
            self.msg_arg["subject"] = args[1]
            self.msg_arg["sid"] = int(args[2])
            self.msg_arg["reply"] = reply
            self.header_needed = int(args[-2]) if with_headers else 0
            self.needed = int(args[-1])
        except ValueError:
            raise ProtocolError("nats: malformed MSG") from None
