"""Committing sealed appends: each as a chain where that is allowed, the rest in one atomic
batch (see :mod:`._append`); the outcome of each, and the heads it leaves."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Coroutine
from typing import Any

from ..._exceptions import InvalidEvent, StoreUnavailable
from ..._model import AppendResult
from ..base import EVENT, Head, result_of
from ._connection import ApiError, Connection, NoStream
from ._reads import MAX_CHAIN_TAGS
from ._records import CHUNKS, encode_copy, split_payload
from ._sealing import EXPECT, Message, Prepared, Retry
from ._state import DbState

__all__ = ["CONFLICTS", "Committer", "Outcome"]

MSG_ID = "Nats-Msg-Id"
AFTER = "Nats-Expected-Last-Msg-Id"
CONFLICTS = {10070, 10071, 10164}  # wrong last msg id / sequence; that subject is busy
TOO_LARGE = 10199  # more messages than the server takes in one batch

Outcome = list[AppendResult] | BaseException


def _failure(exc: ApiError, *, alone: bool, size: int) -> Exception:
    if exc.code in CONFLICTS:
        return Retry(exc.description, wait=False)
    if exc.code == TOO_LARGE and alone:
        return InvalidEvent(
            f"this append takes {size} NATS messages, more than the server commits in one "
            f"batch ({exc.description}): split it"
        )
    return Retry(exc.description, wait=True)


def _unknown(prepared: list[Prepared], exc: Exception) -> Retry:
    """No answer to a publish (lost connection, time out, no leader): the appends may have
    been stored, so their retries look for their entries first."""
    for p in prepared:
        p.request.unsure = True
    return Retry(str(exc) or "no acknowledgement in time", wait=True)


class Committer:
    """Publishes sealed appends and places their entries by the server's acknowledgement."""

    def __init__(self, conn: Connection, *, chunk: int) -> None:
        self.conn = conn
        self.chunk = chunk
        # message ids for chains: unique to this process (a random prefix), cheap to make
        self.ids = secrets.token_hex(8) + "."
        self.counter = itertools.count()

    async def commit(self, d: DbState, prepared: list[Prepared], *, chains: bool) -> list[Outcome]:
        """Commit the appends, each as a chain where that is allowed, the rest in one atomic
        batch; the outcome of each, in order."""
        seen: dict[bytes, int] = {}
        for p in prepared:
            for a in p.blobs:
                seen[a] = seen.get(a, 0) + 1
        chained: list[Prepared] = []
        batched: list[Prepared] = []
        for p in prepared:
            chain = (
                chains
                and len(p.entries) == 1
                and not p.names
                and not any(copy for _, _, _, copy in p.pointers)
                and len(p.pointers) <= MAX_CHAIN_TAGS + 1
                and p.checkpoint is None
                and not p.checks
                and all(seen[a] == 1 and len(p.request.blobs[a]) <= self.chunk for a in p.blobs)
            )
            (chained if chain else batched).append(p)
        if not batched:
            return await self._chains(d, chained)
        work: list[Coroutine[Any, Any, list[Outcome]]] = [self._batch(d, batched)]
        if chained:
            work.append(self._chains(d, chained))
        done = await asyncio.gather(*work, return_exceptions=True)
        outcomes: dict[int, Outcome] = {}
        for group, outcome in zip((batched, chained), done, strict=False):
            for k, p in enumerate(group):
                outcomes[id(p)] = outcome if isinstance(outcome, BaseException) else outcome[k]
        return [outcomes[id(p)] for p in prepared]

    async def _chains(self, d: DbState, chained: list[Prepared]) -> list[Outcome]:
        """Publish each append as a chain, all back to back; the outcome of each."""
        chains = [self._chain_messages(d, p) for p in chained]
        acks = await self.conn.publish_chains(chains)
        outcomes: list[Outcome] = []
        for p, msgs, ack in zip(chained, chains, acks, strict=True):
            if isinstance(ack, ApiError):
                outcomes.append(_failure(ack, alone=True, size=len(msgs)))
            elif isinstance(ack, StoreUnavailable | NoStream | TimeoutError):
                outcomes.append(_unknown([p], ack))
            elif isinstance(ack, Exception):
                outcomes.append(ack)
            else:
                position = int(ack["seq"])
                d.observe(position)
                d.known(p.blobs)
                outcomes.append(self._done(d, p, position))
        return outcomes

    def _chain_messages(self, d: DbState, p: Prepared) -> list[Message]:
        msgs = [m for a in p.blobs for m in self._blob_messages(d, a, p.request.blobs[a])]
        entry_at = len(msgs) + len(p.pointers)
        for subject, _, headers, _ in p.pointers:  # here the entry comes after them
            msgs.append((subject, str(entry_at - len(msgs)).encode(), headers))
        msgs += p.entries
        previous = ""
        for _, _, headers in msgs:
            if previous:
                headers[AFTER] = previous
            previous = headers[MSG_ID] = f"{self.ids}{next(self.counter)}"
        del headers[MSG_ID]  # the entry, last, needs none
        return msgs

    async def _batch(self, d: DbState, prepared: list[Prepared]) -> list[Outcome]:
        """Entries first (so that a database's first entry is at position 1), then payload
        chunks, markers and checkpoints: all stored together, or none."""
        msgs: list[Message] = []
        for p in prepared:
            msgs.extend(p.entries)
        blobs = list(dict.fromkeys(a for p in prepared for a in p.blobs))
        for address in blobs:
            payload = next(p.request.blobs[address] for p in prepared if address in p.blobs)
            msgs.extend(self._blob_messages(d, address, payload))
        checkpoints: dict[int, int] = {}
        first = 0
        for p in prepared:
            # the condition's checks before the append's own tags: on a literal subject
            # (g.<tag>.<type>) the server counts the batch's earlier messages, so a check
            # after the event's own tag there would always fail
            msgs.extend(p.checks)
            for subject, entry, headers, copy in p.pointers:  # here the entry is further back
                delta = first + entry - len(msgs)
                if copy:
                    data = encode_copy(delta, p.entries[entry][1])
                else:
                    data = str(delta).encode()
                msgs.append((subject, data, headers))
            msgs.extend(p.names)
            first += len(p.entries)
            if p.checkpoint is not None:
                checkpoints[id(p)] = len(msgs)
                msgs.append(p.checkpoint)
        try:
            ack = await self.conn.publish_batch(msgs)
        except ApiError as exc:
            raise _failure(exc, alone=len(prepared) == 1, size=len(msgs)) from None
        except (StoreUnavailable, NoStream, TimeoutError) as exc:
            raise _unknown(prepared, exc) from None
        last = int(ack["seq"])
        d.observe(last)
        base = last - len(msgs) + 1
        d.known(blobs)
        results: list[Outcome] = []
        first = base
        for p in prepared:
            if p.request.checkpoint is not None:
                name, position = p.request.checkpoint
                d.checkpoints[name] = (position, base + checkpoints[id(p)])
            results.append(self._done(d, p, first))
            first += len(p.entries)
        return results

    def _done(self, d: DbState, p: Prepared, first: int) -> list[AppendResult]:
        """Place an append's entries from position ``first`` on; remember the new heads."""
        r = p.request
        done: dict[int, AppendResult] = {}
        for n, at in p.placed:
            plan = p.plans[n]
            assert isinstance(plan, list)
            for k, e in enumerate(plan):
                e.position = first + at + k
            stream = r.writes[n].stream
            head = p.heads[stream]
            versions = [e.version for e in plan if e.kind == EVENT]
            version = versions[-1] if versions else (head.version if head else -1)
            end = plan[-1]
            d.remember(stream, Head(end.seq, version, end.hash, end.position))
            done[n] = result_of(plan)
        return [q if isinstance(q, AppendResult) else done[n] for n, q in enumerate(p.plans)]

    def _blob_messages(self, d: DbState, address: bytes, payload: bytes) -> list[Message]:
        chunks = split_payload(payload, self.chunk)
        msgs = []
        for n, chunk in enumerate(chunks):
            headers = {EXPECT: "0"}
            if n == 0 and len(chunks) > 1:
                headers[CHUNKS] = str(len(chunks))
            msgs.append((d.layout.blob(address, n), chunk, headers))
        return msgs
