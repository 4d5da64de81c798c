"""Long forward scans through a consumer that delivers a scope's stored messages in order.

A read that goes on where a read of the same scope ended after a full page (the next page of
``read_all``, of a category, of a long stream, of a subscription's catch-up) is a long scan:
instead of one batched direct get per page, an ephemeral push consumer (filtered on the
scope, from the read's position, no acknowledgements, in memory, one replica) delivers the
messages, and is kept between the pages, keyed by its scope and the position the next page
starts at. Its deliveries skip nats-py's handling of messages (see
:class:`~._connection.Connection`): the reply subject of each says its position and how many
messages followed it on the scope when it was delivered, and no header is parsed.

What a read through a consumer must keep:

- read-your-writes: when the consumer has delivered all it knew of, the last message on the
  scope is asked for with ``min_last_seq`` (as every direct get asks), and the read ends
  only if that is one it has;
- its place: a delivery whose consumer sequence is not the next one, a heartbeat that says
  a delivery was missed, a status other than a heartbeat or a flow control request, a lost
  connection, or a consumer that delivers nothing within the timeout, breaks the scanner;
  the read goes on by direct gets from the position after the last message it took;
- the server's resources: a scanner is deleted when its scan reaches the end, when it has
  not been used for :data:`IDLE` seconds, when a database has more than :data:`KEPT`, and
  when the store closes (the server's inactivity threshold is the last resort, for a
  process that dies).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from ..._exceptions import StorageError
from ..base import Entry
from ._connection import Connection
from ._records import decode_entry
from ._state import DbState, seq_of

__all__ = ["IDLE", "KEPT", "Scanner", "Scans"]

IDLE = 2.0  # seconds an unused scanner is kept
KEPT = 4  # scanners kept per database
_HEARTBEAT_NS = 5 * 10**9  # the consumer's idle heartbeat (flow control requires one)
_INACTIVE_NS = 60 * 10**9  # the server deletes a consumer nobody listens to after this
_STATUS = b" "  # a header block "NATS/1.0 100 ..." is a status; an entry's is "NATS/1.0\r\n..."

MORE, END, BROKEN = 0, 1, 2  # how a take ended: at its limit, at the scope's end, broken


class Scanner:
    """One consumer delivering a scope's messages from a position, and what it delivered
    that no read has taken yet."""

    def __init__(self, conn: Connection, d: DbState, scope: str, start: int) -> None:
        self.conn = conn
        self.stream = d.layout.stream_name
        self.scope = scope
        self.next = start  # the position the next message taken is at or after
        self.name = ""
        self.buf: deque[tuple[bytes, int]] = deque()  # (data, position)
        self.dseq = 0  # the consumer sequence of the last delivery
        self.pending = -1  # messages on the scope after the last delivery, when it was made
        self.received = 0  # deliveries, and reads' takes of them: flow control is
        self.taken = 0  # answered once the deliveries before its request are taken
        self.flow: deque[tuple[int, str]] = deque()
        self.broken = False
        self.waiter: asyncio.Future[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        config = {
            "deliver_policy": "by_start_sequence",
            "opt_start_seq": self.next,
            "ack_policy": "none",
            "max_deliver": 1,
            "replay_policy": "instant",
            "filter_subject": self.scope,
            "flow_control": True,
            "idle_heartbeat": _HEARTBEAT_NS,
            "inactive_threshold": _INACTIVE_NS,
            "mem_storage": True,
            "num_replicas": 1,
        }
        self.conn.lost.append(self.lose)
        try:
            self.name = await self.conn.push_consumer(self.stream, config, self.deliver)
        except BaseException:
            self.conn.lost.remove(self.lose)
            raise

    async def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.lose in self.conn.lost:
            self.conn.lost.remove(self.lose)
        self.buf.clear()
        try:
            await self.conn.delete_consumer(self.name)
        except StorageError:
            pass  # the server deletes it once its inactivity threshold passes

    # -- deliveries (called on the loop, raw) -----------------------------------------------------

    def deliver(self, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        # called by the connection's parser: nothing may escape into it
        try:
            if headers and headers[8:9] == _STATUS:
                self._status(reply, headers)
            else:
                self._entry(reply, data)
        except (ValueError, IndexError):
            self.lose()  # not what a consumer delivers
        self._wake()

    def _entry(self, reply: bytes, data: bytes) -> None:
        # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<time>.<pending>, or with
        # a domain and an account hash after $JS.ACK (and maybe a token at the end)
        t = reply.split(b".")
        at = 5 if len(t) == 9 else 7 if len(t) in (11, 12) else -1
        if at < 0 or int(t[at + 1]) != self.dseq + 1:
            self.lose()
            return
        self.dseq += 1
        self.received += 1
        self.pending = int(t[at + 3])
        self.buf.append((data, int(t[at])))

    def _status(self, reply: bytes, headers: bytes) -> None:
        text = headers.decode("ascii", "replace")
        if text[9:12] != "100":  # the consumer was deleted, or worse
            self.lose()
            return
        if reply:  # a flow control request: answered once what came before it is taken
            if self.taken >= self.received:
                self.conn.reply_soon(reply.decode())
            else:
                self.flow.append((self.received, reply.decode()))
            return
        fields = {}
        for line in text.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if int(fields.get("Nats-Last-Consumer", "0") or 0) > self.dseq:
            self.lose()  # a delivery went missing
        stalled = fields.get("Nats-Consumer-Stalled")
        if stalled:
            self.conn.reply_soon(stalled)

    def lose(self) -> None:
        self.broken = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- reading --------------------------------------------------------------------------------

    async def take(
        self, d: DbState, limit: int, keep: Callable[[Entry], bool] | None
    ) -> tuple[list[Entry], int]:
        """Up to ``limit`` entries that ``keep`` selects, from where the last take ended;
        and whether the scope may hold more (:data:`MORE`), holds no more (:data:`END`),
        or the scanner broke (:data:`BROKEN`: read on from :attr:`next` another way)."""
        out: list[Entry] = []
        buf = self.buf
        ended = MORE
        while len(out) < limit:
            if self.broken:
                ended = BROKEN
                break
            if not buf:
                self._answer_flow()
                if self.pending <= 0 and not await self._more_stored(d):
                    ended = END
                    break
                if not self.broken and not buf:
                    await self._wait()
                continue
            data, position = buf.popleft()
            self.taken += 1
            self.next = position + 1
            entry, _ = decode_entry(data, position)
            if keep is None or keep(entry):
                out.append(entry)
        self._answer_flow()
        d.observe(self.next - 1)
        return out, ended

    def _answer_flow(self) -> None:
        flow = self.flow
        while flow and self.taken >= flow[0][0]:
            self.conn.reply_soon(flow.popleft()[1])

    async def _more_stored(self, d: DbState) -> bool:
        """Whether the scope holds a message at or after :attr:`next` that a read must
        see (the highest sequence this process has seen is asked for)."""
        msg = await self.conn.get_last(self.stream, self.scope, d.seen)
        if msg is None:
            return False
        last = seq_of(msg)
        d.observe(last)
        return last >= self.next

    async def _wait(self) -> None:
        self.waiter = self.conn.loop.create_future()
        try:
            async with asyncio.timeout(self.conn.timeout):
                await self.waiter
        except TimeoutError:
            self.broken = True
        finally:
            self.waiter = None


class Scans:
    """The scanners of a connection's databases, kept between pages."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._closing: set[asyncio.Task[None]] = set()

    async def resume(self, d: DbState, scope: str, start: int, long: bool) -> Scanner | None:
        """The scanner whose next page starts at ``start``; for a ``long`` scan without
        one, a new one (``None`` if the server would not make it)."""
        scanner: Scanner | None = d.scanners.pop((scope, start), None)
        if scanner is not None:
            if scanner.timer is not None:
                scanner.timer.cancel()
            return scanner
        if not long:
            return None
        scanner = Scanner(self.conn, d, scope, start)
        try:
            await scanner.open()
        except StorageError:
            return None  # (too many consumers, a server that will not): direct gets
        return scanner

    def keep(self, d: DbState, scanner: Scanner) -> None:
        key = (scanner.scope, scanner.next)
        d.scanners[key] = scanner
        scanner.timer = self.conn.loop.call_later(IDLE, self._idle, d, key, scanner)
        while len(d.scanners) > KEPT:
            self.drop(d.scanners.popitem(last=False)[1])

    def _idle(self, d: DbState, key: tuple[str, int], scanner: Scanner) -> None:
        if d.scanners.get(key) is scanner:
            del d.scanners[key]
            self.drop(scanner)

    def drop(self, scanner: Scanner) -> None:
        task = self.conn.loop.create_task(scanner.close())
        self._closing.add(task)  # held until done, so that it is not collected
        task.add_done_callback(self._closing.discard)
