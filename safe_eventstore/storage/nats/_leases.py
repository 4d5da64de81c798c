"""Leases on NATS: one subject per lease in the database's own JetStream stream.

=====================================  =====================================================
``ses.bank.l.<lease>``                 a lease's record (JSON; rolled up: the last is kept;
                                       an empty owner once it was released)
=====================================  =====================================================

Taking or releasing a lease reads the subject's last message from the stream's leader (not
a direct get, which a replica may answer from behind) and publishes the new record expecting
that message to be still the subject's last (``Nats-Expected-Last-Subject-Sequence``). The
leader checks the expectation and stores the message in one step, on one server or on a
cluster alike, so of several takers racing on any machines exactly one gets a free lease; a
refused publish reads again and decides again. Listings read from the leader too, one
message at a time (a database holds few leases), so that a client connected to any server
sees every lease taken through the others. The records are kept by the database's
stream, and go with it.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from .._leases import LeaseRecord, decide_release, decide_take
from ._append import CONFLICTS
from ._append import EXPECT as EXPECT_SEQ
from ._connection import ApiError, Connection, NoStream
from ._state import DbState

__all__ = ["Leases"]

NO_MESSAGE = 10037
STREAM_NOT_FOUND = 10059
_decoder = msgspec.json.Decoder(LeaseRecord)


class Leases:
    """The lease operations on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def _get(self, d: DbState, body: dict[str, Any]) -> tuple[LeaseRecord | None, int]:
        """The message a get from the stream's leader finds, as a record, and its sequence
        (``None, 0`` when it finds none)."""
        try:
            resp = await self.conn.api(f"STREAM.MSG.GET.{d.layout.stream_name}", body)
        except ApiError as exc:
            if exc.code == NO_MESSAGE:
                return None, 0
            if exc.code == STREAM_NOT_FOUND:
                raise NoStream("no such stream") from None
            raise
        message = resp["message"]
        seq = int(message["seq"])
        d.observe(seq)
        return _decoder.decode(base64.b64decode(message.get("data") or "")), seq

    async def _current(self, d: DbState, name: str) -> tuple[LeaseRecord | None, int]:
        """The lease's record, as the stream's leader has it, and its message's sequence
        (0 when there is none)."""
        return await self._get(d, {"last_by_subj": d.layout.lease(name)})

    async def _put(self, d: DbState, record: LeaseRecord, after: int) -> bool:
        """Store ``record`` if the message at ``after`` is still its subject's last."""
        headers = {"Nats-Rollup": "sub", EXPECT_SEQ: str(after)}
        try:
            ack = await self.conn.publish(
                d.layout.lease(record.name), msgspec.json.encode(record), headers
            )
        except ApiError as exc:
            if exc.code in CONFLICTS:
                return False
            raise
        d.observe(int(ack["seq"]))
        return True

    async def take(
        self, d: DbState, name: str, owner: str, ttl: float, info: bytes, now: int
    ) -> LeaseRecord | None:
        while True:
            current, seq = await self._current(d, name)
            taken = decide_take(current, name, owner, ttl, info, now)
            if taken is None or await self._put(d, taken, seq):
                return taken

    async def release(self, d: DbState, name: str, owner: str) -> bool:
        while True:
            current, seq = await self._current(d, name)
            freed = decide_release(current, owner)
            if freed is None:
                return False
            if await self._put(d, freed, seq):
                return True

    async def read(self, d: DbState, name: str | None) -> list[LeaseRecord]:
        if name is not None:
            current, _ = await self._current(d, name)
            return [] if current is None else [current]
        # from the leader too, one message at a time: a database holds few leases
        found: dict[str, LeaseRecord] = {}
        start = 1
        while True:
            record, seq = await self._get(d, {"seq": start, "next_by_subj": d.layout.leases})
            if record is None:
                return [found[n] for n in sorted(found)]
            found[record.name] = record  # in order: the last of a subject wins
            start = seq + 1
