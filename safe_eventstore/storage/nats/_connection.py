"""One NATS connection: connecting, requests and their replies, the JetStream API, publishing.

The event loop that drives it, and the threads that run that loop, are :mod:`._loop`'s; the
errors, and the translation of nats-py's into the store's tree, are :mod:`._errors`'s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ..._exceptions import StorageError, StoreUnavailable
from ._errors import ApiError, NoStream, TooMany, acknowledged, api_error, status_error
from ._loop import LoopDriver
from ._protocol import FastParser

__all__ = ["ApiError", "Connection", "NoStream", "RawHandler", "TooMany", "api_error"]

# called on the loop with a delivery's subject, reply subject, data and raw header block
RawHandler = Callable[[bytes, bytes, bytes, bytes], None]

API = "$JS.API"
_FLOW_BYTES = 8 * 1024 * 1024  # ask for an ack at least this often inside a large batch
_BYTES_WHITESPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() strips, as nats-py strips
_FIRST_CONNECT_ATTEMPTS = 2  # retries of each server before the first connection fails


def _check_end(status: str, description: str) -> None:
    """Raise the error a batched direct get's end-of-batch status stands for, if any."""
    if status in ("204", "404"):
        return
    if status == "503":
        raise NoStream("no JetStream stream answered")
    if status == "413":
        raise TooMany(description)
    raise status_error(status, description)


class _Replies:
    """The messages answering one batched direct get, up to its end-of-batch status."""

    __slots__ = ("done", "msgs", "status")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.msgs: list[Msg] = []
        self.status: tuple[str, str] = ("", "")
        self.done: asyncio.Future[None] = loop.create_future()


class _Entries:
    """The messages answering one batched direct get of a scan, raw: each one's data and
    stream sequence, and the header block of the last, up to the end-of-batch status."""

    __slots__ = ("done", "last", "msgs", "status")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.msgs: list[tuple[bytes, int]] = []
        self.last = b""
        self.status: tuple[str, str] = ("", "")
        self.done: asyncio.Future[None] = loop.create_future()


def _header(headers: bytes, name: bytes) -> bytes | None:
    """The value of the header whose line starts with ``name`` in a raw header block."""
    i = headers.find(name)
    if i < 0:
        return None
    i += len(name)
    end = headers.find(b"\r", i)
    return headers[i : end if end >= 0 else len(headers)].strip()


class _Client(Client):
    """nats-py's client, with a faster parser of message headers.

    Every message a direct get returns carries five or six headers, and nats-py checks each
    header name for whitespace one character at a time in a generator: that check was the
    largest single cost of reading. This parser gives the same result (names holding
    whitespace or non-ASCII bytes are skipped, values decoded leniently), faster. It replaces
    a private method of the exactly pinned nats-py; ``tests/storage/test_nats_headers.py``
    checks it against the original.

    Its protocol parser is :class:`~._protocol.FastParser`: deliveries to a subscription
    registered in :attr:`raw` skip nats-py's handling of a message (its header parsing,
    message object, queue and task) and reach their handler as raw bytes. A long scan's
    consumer delivers one message per entry, and that handling was most of what reading
    one cost.
    """

    def __init__(self) -> None:
        super().__init__()
        self.raw: dict[int, RawHandler] = {}
        self._ps = FastParser(self)

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        # the fast parser hands raw messages over itself; nats-py's, which reads the rest of
        # a buffer after any other line, hands them over here
        handler = self.raw.get(sid)
        if handler is None:
            await super()._process_msg(sid, subject, reply, data, headers)
        else:
            handler(subject, reply, data, headers or b"")

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:  # rare: the original's byte-wise rules
            return Client._parse_header_lines(raw)
        out: dict[str, str] = {}
        for line in text.split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                key = key.strip(_BYTES_WHITESPACE)
                if not key or key.split() == [key]:  # no whitespace inside the name
                    out[key] = value.strip(_BYTES_WHITESPACE)
        return out


class Connection(LoopDriver):
    """A NATS connection owned by one store; every method is safe to call from any thread."""

    def __init__(
        self,
        servers: list[str],
        *,
        timeout: float,
        connect_timeout: float,
        name: str = "safe-eventstore",
    ) -> None:
        self._replies: dict[str, _Replies] = {}
        self._entries: dict[bytes, _Entries] = {}
        self._acks: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count(1)
        self._inbox = ""
        # consumers made by this connection, deleted on close: name -> (stream, subscription)
        self._consumers: dict[str, tuple[str, Subscription]] = {}
        self.lost: list[Callable[[], None]] = []  # told when the connection is lost
        self._sending: set[asyncio.Task[None]] = set()
        super().__init__(timeout)
        try:
            self.nc: _Client = self.call(
                self._connect(servers, connect_timeout, name),
                timeout=connect_timeout * (len(servers) + 1) + 1,
            )
        except StoreUnavailable as exc:
            self.close()
            raise StoreUnavailable(
                f"cannot connect to NATS at {', '.join(servers)}: {exc}"
            ) from None
        except BaseException:
            self.close()
            raise

    # -- connecting and closing -----------------------------------------------------------------

    async def _connect(self, servers: list[str], connect_timeout: float, name: str) -> _Client:
        async def quiet(exc: Exception) -> None:
            pass  # errors reach callers as exceptions; the default callback only logs

        async def disconnected() -> None:
            # answers to requests sent before are lost with the connection: say so now
            # rather than when each times out (the caller retries once reconnected)
            lost = StoreUnavailable("the connection to NATS was lost")
            for future in list(self._acks.values()):
                if not future.done():
                    future.set_exception(lost)
            waiting: list[_Replies | _Entries] = [*self._replies.values()]
            for replies in waiting + list(self._entries.values()):
                if not replies.done.done():
                    replies.done.set_exception(lost)
            for told in list(self.lost):
                told()

        nc = _Client()
        await nc.connect(
            servers,
            name=name,
            connect_timeout=max(1, round(connect_timeout)),
            allow_reconnect=True,
            # the first connection tries each server three times (a refused one fails in
            # about half a second); once connected, the client reconnects without end
            max_reconnect_attempts=_FIRST_CONNECT_ATTEMPTS,
            reconnect_time_wait=0.25,  # type: ignore[arg-type,unused-ignore]
            error_cb=quiet,
            disconnected_cb=disconnected,
            pending_size=64 * 1024 * 1024,
        )
        nc.options["max_reconnect_attempts"] = -1
        self._inbox = nc.new_inbox()
        await nc.subscribe(
            f"{self._inbox}.*",
            cb=self._on_reply,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        sub = await nc.subscribe(
            f"{self._inbox}.e.*", pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        nc.raw[sub._id] = self._on_entry
        return nc

    def _close_client(self) -> None:
        try:
            if getattr(self, "nc", None) is not None:
                if self._consumers:
                    self.loop.run_until_complete(asyncio.wait_for(self._delete_consumers(), 5))
                self.loop.run_until_complete(asyncio.wait_for(self.nc.close(), 5))
        except Exception:
            pass  # closing is best effort

    async def _delete_consumers(self) -> None:
        await asyncio.gather(
            *(self.delete_consumer(name) for name in list(self._consumers)),
            return_exceptions=True,
        )

    # -- consumers delivering into a handler of raw messages ------------------------------------

    async def push_consumer(self, stream: str, config: dict[str, Any], handler: RawHandler) -> str:
        """Make an ephemeral push consumer of ``stream`` with ``config`` (its delivery
        subject is added) whose deliveries reach ``handler`` raw; its name."""
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox, pending_msgs_limit=-1, pending_bytes_limit=-1)
        self.nc.raw[sub._id] = handler
        try:
            info = await self.api(
                f"CONSUMER.CREATE.{stream}",
                {"stream_name": stream, "config": {**config, "deliver_subject": inbox}},
            )
        except BaseException:
            self.nc.raw.pop(sub._id, None)
            await sub.unsubscribe()
            raise
        name = str(info["name"])
        self._consumers[name] = (stream, sub)
        return name

    async def delete_consumer(self, name: str) -> None:
        """Stop the deliveries of a consumer :meth:`push_consumer` made, and delete it."""
        stream, sub = self._consumers.pop(name, ("", None))
        if sub is None:
            return
        self.nc.raw.pop(sub._id, None)
        try:
            await sub.unsubscribe()
        finally:
            try:
                await self.api(f"CONSUMER.DELETE.{stream}.{name}")
            except ApiError:
                pass  # gone already (its inactivity threshold passed)

    def reply_soon(self, subject: str) -> None:
        """An empty message to ``subject``, sent from a handler that cannot await."""
        if subject:
            task = self.loop.create_task(self.nc.publish(subject, b""))
            self._sending.add(task)  # held until done, so that it is not collected
            task.add_done_callback(self._sending.discard)

    # -- the JetStream API ----------------------------------------------------------------------

    async def request(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> Msg:
        """One request and its answer (:class:`NoStream` when nothing answers)."""
        token = str(next(self._tokens))
        future: asyncio.Future[Msg] = self.loop.create_future()
        self._acks[token] = future
        try:
            reply = f"{self._inbox}.{token}"
            await self.nc.publish(subject, data, reply=reply, headers=headers)
            async with asyncio.timeout(self.timeout):
                msg = await future
        finally:
            self._acks.pop(token, None)
        if msg.headers and msg.headers.get("Status") == "503":
            raise NoStream("nothing answered on that subject")
        return msg

    async def api(self, op: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        msg = await self.request(f"{API}.{op}", payload)
        resp: dict[str, Any] = json.loads(msg.data)
        if "error" in resp:
            raise api_error(resp)
        return resp

    async def get_last(self, stream: str, subject: str, min_seq: int = 0) -> Msg | None:
        """The last message on ``subject`` (wildcards allowed), or ``None``."""
        req: dict[str, Any] = {"last_by_subj": subject}
        if min_seq:
            req["min_last_seq"] = min_seq
        msg = await self.request(f"{API}.DIRECT.GET.{stream}", json.dumps(req).encode())
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            return msg
        if status == "404":
            return None
        raise status_error(status, str(headers.get("Description", "")))

    async def get_batch(self, stream: str, req: dict[str, Any]) -> list[Msg]:
        """The messages a batched direct get returns (``next_by_subj`` or ``multi_last``)."""
        token = str(next(self._tokens))
        replies = _Replies(self.loop)
        self._replies[token] = replies
        try:
            await self._direct_get(stream, req, f"{self._inbox}.{token}", replies.done)
        finally:
            self._replies.pop(token, None)
        _check_end(*replies.status)
        return replies.msgs

    async def get_entries(
        self, stream: str, req: dict[str, Any]
    ) -> tuple[list[tuple[bytes, int]], int]:
        """:meth:`get_batch` for a scan (``next_by_subj``), its replies read raw: each
        message's data and stream sequence, and how many messages on the subject follow
        the last one."""
        token = str(next(self._tokens))
        replies = _Entries(self.loop)
        self._entries[token.encode()] = replies
        try:
            await self._direct_get(stream, req, f"{self._inbox}.e.{token}", replies.done)
        finally:
            self._entries.pop(token.encode(), None)
        _check_end(*replies.status)
        pending = _header(replies.last, b"\r\nNats-Num-Pending:") if replies.msgs else None
        return replies.msgs, int(pending or 0)

    async def _direct_get(
        self, stream: str, req: dict[str, Any], reply: str, done: asyncio.Future[None]
    ) -> None:
        """Send a batched direct get whose answers go to ``reply``, and wait until ``done``
        (the end-of-batch status came) or the timeout."""
        await self.nc.publish(f"{API}.DIRECT.GET.{stream}", json.dumps(req).encode(), reply=reply)
        async with asyncio.timeout(self.timeout):
            await done

    def _on_entry(self, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        replies = self._entries.get(subject[subject.rfind(b".") + 1 :])
        if replies is None or replies.done.done():
            return
        if headers[8:9] == b" ":  # "NATS/1.0 204 EOB\r\n...": the end of the batch
            line = headers[9 : headers.find(b"\r")].decode("ascii", "replace")
            status, _, description = line.partition(" ")
            replies.status = (status, description.strip())
            replies.done.set_result(None)
            return
        try:
            seq = int(_header(headers, b"\r\nNats-Sequence:") or b"")
        except ValueError:  # called by the parser: nothing may escape into it
            replies.status = ("500", "a direct get's reply without its sequence")
            replies.done.set_result(None)
            return
        replies.msgs.append((data, seq))
        replies.last = headers

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject.rpartition(".")[2]
        ack = self._acks.pop(token, None)
        if ack is not None:
            if not ack.done():
                ack.set_result(msg)
            return
        replies = self._replies.get(token)
        if replies is None or replies.done.done():
            return
        headers = msg.headers
        status = headers.get("Status") if headers else None
        if status is None:
            replies.msgs.append(msg)
            return
        assert headers is not None
        replies.status = (status, str(headers.get("Description", "")))
        replies.done.set_result(None)

    # -- publishing -----------------------------------------------------------------------------

    async def publish(self, subject: str, data: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """One JetStream publish; the acknowledgement, or :class:`ApiError`."""
        return acknowledged(await self.request(subject, data, headers))

    async def publish_chains(
        self, chains: list[list[tuple[str, bytes, dict[str, str]]]]
    ) -> list[dict[str, Any] | Exception]:
        """Publish each chain's messages back to back, one chain after another; for each
        chain, the acknowledgement of its last message (each message of a chain is refused
        unless the one before it was stored), or the error it met. The acknowledgements are
        awaited together, within one ``timeout``: a chain costs no task or timer of its own."""
        outcomes: list[dict[str, Any] | Exception | None] = [None] * len(chains)
        waiting: list[tuple[int, asyncio.Future[Msg]]] = []
        tokens = []
        try:
            for k, msgs in enumerate(chains):
                try:
                    for subject, data, headers in msgs[:-1]:
                        await self.nc.publish(subject, data, headers=headers)
                    subject, data, headers = msgs[-1]
                    token = str(next(self._tokens))
                    future: asyncio.Future[Msg] = self.loop.create_future()
                    self._acks[token] = future
                    tokens.append(token)
                    reply = f"{self._inbox}.{token}"
                    await self.nc.publish(subject, data, reply=reply, headers=headers)
                    waiting.append((k, future))
                except Exception as exc:
                    outcomes[k] = exc
            try:
                async with asyncio.timeout(self.timeout):
                    for k, future in waiting:
                        try:
                            outcomes[k] = acknowledged(await future)
                        except (StorageError, ValueError) as exc:
                            outcomes[k] = exc
            except TimeoutError as exc:
                for k, _ in waiting:
                    if outcomes[k] is None:
                        outcomes[k] = exc
        finally:
            for token in tokens:
                self._acks.pop(token, None)
        return [o if o is not None else AssertionError("no outcome") for o in outcomes]

    async def publish_batch(self, msgs: list[tuple[str, bytes, dict[str, str]]]) -> dict[str, Any]:
        """Publish ``msgs`` as one atomic batch (ADR-50): all are stored, or none."""
        batch = secrets.token_urlsafe(12)
        last = len(msgs)
        unacked = 0
        for n, (subject, data, headers) in enumerate(msgs, 1):
            headers["Nats-Batch-Id"] = batch
            headers["Nats-Batch-Sequence"] = str(n)
            if n == last:
                headers["Nats-Batch-Commit"] = "1"
                return await self.publish(subject, data, headers)
            unacked += len(data)
            if unacked >= _FLOW_BYTES:
                # a large batch waits for the server now and then instead of flooding it
                reply = await self.request(subject, data, headers)
                if reply.data:
                    resp = json.loads(reply.data)
                    if "error" in resp:
                        raise api_error(resp)
                unacked = 0
            else:
                await self.nc.publish(subject, data, headers=headers)
        raise AssertionError("an empty batch")
