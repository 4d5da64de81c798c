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
        buf.extend(data)
        nc: Any = self.nc
        raw = getattr(nc, "raw", {})
        arg = self.msg_arg
        while buf:
            if self.state == AWAITING_CONTROL_LINE:
                op = bytes(buf[:4])
                if op != _HMSG and op != _MSG:
                    await super().parse()  # consumes all it can of the buffer
                    return
                end = buf.find(b"\r\n")
                if end < 0:
                    return  # the rest of the line has not arrived
                self._message_line(bytes(buf[:end]).split(), op == _HMSG)
                del buf[: end + 2]
                self.state = AWAITING_MSG_PAYLOAD
                continue
            needed = self.needed
            if len(buf) < needed + 2:
                return  # the rest of the message has not arrived
            size = self.header_needed
            if size:
                headers: bytes | None = bytes(buf[:size])
                payload = bytes(buf[size:needed])
                self.header_needed = 0
            else:
                headers = None
                payload = bytes(buf[:needed])
            del buf[: needed + 2]
            self.state = AWAITING_CONTROL_LINE
            sid = arg["sid"]
            handler = raw.get(sid)
            if handler is not None:
                handler(arg["subject"], arg["reply"], payload, headers or b"")
            else:
                await nc._process_msg(sid, arg["subject"], arg["reply"], payload, headers)

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
