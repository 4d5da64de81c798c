"""What one process knows of a database, and small helpers to read stored messages."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg

from ..._model import AppendCondition
from ..base import Head, Write
from ._names import Layout

if TYPE_CHECKING:
    from ._scans import Scanner

__all__ = ["DbState", "Request", "Watcher", "pending_of", "seq_of", "subject_of"]

HEADS = 100_000  # streams whose heads are remembered per database
BLOBS = 200_000  # payload addresses remembered as stored, per database
CURSORS = 1024  # where the next page of a read starts, for reads that page on
LONGS = 64  # where the next page of a long scan starts, per database


def seq_of(msg: Msg) -> int:
    """A stored message's stream sequence: the position, for an entry."""
    headers = msg.headers or {}
    seq = headers.get("Nats-Sequence")
    if seq is None:
        return int(msg.metadata.sequence.stream)  # a consumer delivery says it in its reply
    return int(seq)


def subject_of(msg: Msg) -> str:
    """The subject a message was stored on (a direct get answers on an inbox)."""
    return (msg.headers or {}).get("Nats-Subject") or msg.subject


def pending_of(msg: Msg) -> int:
    """How many messages on the asked-for subjects follow this one in the stream."""
    return int((msg.headers or {}).get("Nats-Num-Pending", "0"))


@dataclass
class Watcher:
    """Follows a database's entries with an ordered JetStream consumer, to wake waiters."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    last: int = 0
    sub: Any = None


@dataclass
class Request:
    """One append waiting for the database's committer."""

    writes: list[Write]
    blobs: dict[bytes, bytes]
    checkpoint: tuple[str, int] | None
    future: asyncio.Future[Any]
    condition: AppendCondition | None = None
    # an attempt may have been stored unseen (its acknowledgement was lost): where to look
    # for its entries, by stream (the position of the lowest head an attempt sealed on)
    unsure: bool = False
    since: dict[str, int] = field(default_factory=dict)


@dataclass
class DbState:
    """What this process knows of one database. Touched on the event loop thread only."""

    layout: Layout
    seen: int = 0  # the highest stream sequence observed: reads ask for at least this much
    heads: OrderedDict[str, Head] = field(default_factory=OrderedDict)
    blobs: set[bytes] = field(default_factory=set)  # payload addresses known to be stored
    # -> (value, seq); value None: deleted (seq 0: never stored)
    checkpoints: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    cursors: OrderedDict[tuple[str, str, int], int] = field(default_factory=OrderedDict)
    # long scans: their scanners by (scope, the position their next page starts at), and
    # where the next page of a scan that read a full page by direct gets starts
    scanners: OrderedDict[tuple[str, int], Scanner] = field(default_factory=OrderedDict)
    longs: OrderedDict[tuple[str, int], None] = field(default_factory=OrderedDict)
    names: list[str] = field(default_factory=list)  # every stream, sorted
    categories: dict[str, list[str]] = field(default_factory=dict)
    listed: int = 0  # streams are known up to this sequence
    replicas: int | None = None
    tally: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("events", "restructures", "logical", "stored"), 0)
    )
    addresses: set[bytes] = field(default_factory=set)  # payloads the tally has counted
    sorted_addresses: list[bytes] | None = None
    tallied: int = 0  # entries are counted up to this sequence
    watcher: Watcher | None = None
    queue: list[Request] = field(default_factory=list)  # appends waiting to be committed
    committing: bool = False
    committer: asyncio.Task[None] | None = None  # held, so that the task is not collected

    def observe(self, seq: int) -> None:
        if seq > self.seen:
            self.seen = seq

    def known(self, addresses: Iterable[bytes]) -> None:
        """Remember payloads as stored (forgetting all past a bound: forgetting only costs
        an append that stores one of them again a retry)."""
        if len(self.blobs) > BLOBS:
            self.blobs.clear()
        self.blobs.update(addresses)

    def remember(self, stream: str, head: Head) -> None:
        self.heads[stream] = head
        self.heads.move_to_end(stream)
        if len(self.heads) > HEADS:
            self.heads.popitem(last=False)

    def long(self, scope: str, position: int) -> None:
        self.longs[(scope, position)] = None
        if len(self.longs) > LONGS:
            self.longs.popitem(last=False)

    def cursor(self, key: tuple[str, str, int], position: int) -> None:
        self.cursors[key] = position
        if len(self.cursors) > CURSORS:
            self.cursors.popitem(last=False)
