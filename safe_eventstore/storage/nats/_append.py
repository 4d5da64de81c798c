"""Appending: every check that decides an append is made by the server as it stores it.

An append is a set of messages: its entries, the chunks of payloads not stored yet, a marker
per event id that came from the caller, and the checkpoint it carries. Each message expects
something of the stream (an expected-last-subject-sequence header), and the server refuses
it if that is not so:

* the first entry of each write expects the stream's last entry to be the head the entries
  were sealed on: the optimistic concurrency check, which also keeps the hash chain whole;
* a payload chunk expects nothing to be stored on its subject yet (stored once per address);
* an id marker expects the marker it replaces, if any (an idempotent retry fails here);
* a checkpoint expects the message holding its current value (it only moves forward).

Event ids the core generated (``Write.new_ids``: fresh UUIDv7s) cannot be stored already, so
their events get no marker; nor do ids made with their events in a write with a concrete
expected version (``by_position``): the head expectation stores such a write once, and a retry
finds its earlier attempt right after the version it expects. A single event without a
marker whose payload is known to be stored is one message, its entry, like a plain publish.

The messages go to the server in one of two ways:

* an atomic batch (ADR-50): stored all together or not at all. Every append can go this way;
  appends that wait while another batch is in flight are committed together in the next one
  (group commit), since a batch costs about the same whatever its size;
* a chain, for an append of a single entry to a single-replica database, where the server
  stages every atomic batch in files of its own (slow for one entry: docs/nats-mapping.md).
  Each message of a chain carries a ``Nats-Msg-Id`` and expects the one before it to be
  the stream's last message (``Nats-Expected-Last-Msg-Id``), so the entry, last, is stored
  only right after its payload, marker and tags. A chain that breaks leaves at most a
  payload no entry refers to (invisible, and reused by the next append of the same bytes) or
  a marker or tag whose entry is missing (which their readers check for); its entry is
  never stored alone.

A process remembers the heads, payloads and checkpoints it has seen and seals appends on
them without reading first. When the server refuses an append, or a remembered head makes
:func:`plan_append` refuse it, the append is tried again alone, as a batch, on freshly read
heads and markers; only then are its errors final.

An attempt that gets no answer (the connection is lost, or the acknowledgement does not come
in time) may have been stored. Its retry reads the heads afresh and then looks for its own
entries, by event id, after the lowest head an attempt of it was sealed on: found, its
original result is returned and nothing is written. An attempt stored only after that
read expects the very head the retry reads (nothing was appended to the stream in between),
so the server stores one of the two and refuses the other. So an append is stored once,
marker or not.

Why this module does not run :func:`~safe_eventstore.storage.base.run_append`, which drives
the atomic step of the memory and SQLite backends: here no step holds a lock while the checks
run. The checks that decide an append are made twice: first here, on heads and checkpoints
this process remembers (reading only what it does not know), to seal the entries and to
refuse early; then by the server, as headers expecting the sequences those checks saw, when
it stores the messages. Positions come from the server's acknowledgement, after the checks,
and a refused or unanswered attempt is decided again on fresh reads (:meth:`Appender.alone`).
What the sequence shares with the other backends is what decides an append: the planning and
sealing (:func:`~safe_eventstore.storage.base.plan_append`), the idempotent-retry short cut
(:func:`~safe_eventstore.storage.base.retried`), the condition and checkpoint rules
(:func:`~safe_eventstore.storage.base.check_condition`,
:func:`~safe_eventstore.storage.base.check_checkpoint`) and the results
(:func:`~safe_eventstore.storage.base.result_of`).

This module queues appends, groups them into rounds and retries them alone; sealing an
append and laying out its messages is :mod:`._sealing`'s, publishing them :mod:`._committing`'s.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

from ..._exceptions import AppendOutcomeUnknown, StoreUnavailable
from ..._model import AppendCondition, AppendResult
from ..base import EVENT, Write, indexed
from ._committing import CONFLICTS, Committer
from ._connection import NoStream
from ._reads import Reader
from ._sealing import EXPECT, Prepared, Retry, Sealer
from ._state import DbState, Request

# EXPECT, CONFLICTS and Retry are the storage's too: it decides a database's creation with them
__all__ = ["CONFLICTS", "EXPECT", "Appender", "Retry", "outcome_unknown"]

BATCH_LIMIT = 1000  # the server's default for that
ROUND = 64  # appends committed together at most


def outcome_unknown(reason: str) -> AppendOutcomeUnknown:
    """The error of an append that was sent at least once without an answer, when its
    retries ran out of time: it may be stored, and the caller may retry it safely."""
    return AppendOutcomeUnknown(
        f"the append may or may not have been stored ({reason}); retrying the same call "
        "with the same events is safe: an append stored before returns its result"
    )


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():
        return  # its caller gave up
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Appender:
    """Seals appends on known heads and commits them, alone or together."""

    def __init__(self, reader: Reader, *, chunk: int, timeout: float) -> None:
        self.reader = reader
        self.conn = reader.conn
        self.chunk = chunk
        self.timeout = timeout
        self.sealer = Sealer(reader, chunk=chunk)
        self.committer = Committer(reader.conn, chunk=chunk)

    def request(
        self,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None,
        condition: AppendCondition | None = None,
    ) -> Request:
        """An append to commit; made in the caller's thread (its future is only created
        there: it is settled and awaited on the loop)."""
        return Request(writes, blobs, checkpoint, self.conn.loop.create_future(), condition)

    async def append(self, d: DbState, request: Request) -> list[AppendResult]:
        if d.replicas is None:
            await self.reader.replicas(d)
        if d.committing:
            d.queue.append(request)
        else:
            # nothing in flight: commit this one here, and then whatever queued up meanwhile
            d.committing = True
            try:
                await self._round(d, [request])
            finally:
                # whatever happened to this round, appends queued meanwhile get theirs
                d.committing = False
                if d.queue:
                    self._commit_queued(d)
        try:
            results: list[AppendResult] = await request.future
            return results
        except Retry:
            pass
        return await self.alone(d, request)

    def submit(self, d: DbState, request: Request) -> asyncio.Future[list[AppendResult]]:
        """Queue an append for the database's committer, without a task of its own (for a
        caller that waits while another thread runs the loop); its future. The database's
        replication must be known. An outcome of :class:`Retry` means: retry it
        :meth:`alone`."""
        d.queue.append(request)
        if not d.committing:
            self._commit_queued(d)
        return request.future

    def _commit_queued(self, d: DbState) -> None:
        d.committing = True
        d.committer = asyncio.get_running_loop().create_task(self._rounds(d))

    async def alone(self, d: DbState, request: Request) -> list[AppendResult]:
        """Retry one append on freshly read state until it is decided or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        pause = 0.002
        exc: Exception
        while True:
            try:
                streams = [w.stream for w in request.writes]
                heads = await self.reader.heads(d, streams, fresh=True)
                prepared = await self.sealer.prepare(d, request, heads, fresh=True)
                if isinstance(prepared, list):
                    return prepared
                (outcome,) = await self.committer.commit(d, [prepared], chains=False)
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
            except NoStream:
                if not await self.reader.exists(d):
                    raise
                exc = Retry("the database's stream has no leader now", wait=True)
            except (Retry, StoreUnavailable) as failure:
                exc = failure
            if loop.time() >= deadline:
                reason = f"no decision within {self.timeout:g} s: {exc}"
                if request.unsure:  # an attempt was sent and got no answer
                    raise outcome_unknown(reason)
                raise StoreUnavailable(f"could not append: {reason}")
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.5)

    # -- group commit -----------------------------------------------------------------------------

    async def _rounds(self, d: DbState) -> None:
        try:
            while d.queue:
                try:
                    await self._round(d, self._take(d))
                except Exception:  # its appends are settled: each is retried alone
                    continue
        finally:
            d.committing = False

    def _take(self, d: DbState) -> list[Request]:
        """The waiting appends that fit in one batch: distinct streams and checkpoints. An
        append with a condition goes alone: the server checks a wildcard subject (``s.>``,
        ``g.<tag>.*``) against what was stored before the batch, so it would not see an
        event of another append of the same batch that its condition is about."""
        taken: list[Request] = []
        rest: list[Request] = []
        streams: set[str] = set()
        names: set[str] = set()
        size = 0
        for r in d.queue:
            if r.future.done():
                continue
            mine = {w.stream for w in r.writes}
            name = r.checkpoint[0] if r.checkpoint is not None else None
            cost = self._cost(r)
            fits = not (mine & streams) and name not in names and size + cost <= BATCH_LIMIT
            alone = r.condition is not None or (taken and taken[0].condition is not None)
            if taken and (not fits or alone or len(taken) >= ROUND):
                rest.append(r)
                continue
            taken.append(r)
            streams |= mine
            if name is not None:
                names.add(name)
            size += cost
        d.queue = rest
        return taken

    def _cost(self, r: Request) -> int:
        """At most how many messages an append takes."""
        size = 1  # a checkpoint
        for w in r.writes:
            # an entry each, a marker or copy each (a marker only for an indexed id), its
            # tags, its stream's name
            keyed = indexed(w)
            pointers = sum(1 for x in w.drafts if keyed or x.kind != EVENT)
            size += len(w.drafts) + pointers + sum(len(x.tags) for x in w.drafts) + 1
        return size + sum(max(1, math.ceil(len(b) / self.chunk)) for b in r.blobs.values())

    async def _round(self, d: DbState, taken: list[Request]) -> None:
        """Commit some waiting appends together; every one of them is settled, whatever
        happens (an append left unsettled by a fault or a cancellation is retried alone)."""
        try:
            await self._settle_round(d, taken)
        finally:
            for r in taken:
                if not r.future.done():
                    r.unsure = True  # it may have been published
                    _settle(r.future, Retry("its group commit was interrupted", wait=True))

    async def _settle_round(self, d: DbState, taken: list[Request]) -> None:
        try:
            streams = [w.stream for r in taken for w in r.writes]
            heads = await self.reader.heads(d, streams, fresh=False)
        except Exception as exc:  # a fault, or a timeout of the read: each is retried alone
            for r in taken:
                _settle(r.future, Retry(str(exc) or type(exc).__name__, wait=True))
            return
        prepared: list[Prepared] = []
        for r in taken:
            try:
                p = await self.sealer.prepare(d, r, heads, fresh=False)
            except Exception as exc:
                _settle(r.future, exc)
                continue
            if isinstance(p, list):
                _settle(r.future, p)
            else:
                prepared.append(p)
        if not prepared:
            return
        # a database's first entry goes in a batch, entries first, to sit at position 1
        outcomes = await self.committer.commit(d, prepared, chains=d.replicas == 1 and d.seen > 0)
        for p, outcome in zip(prepared, outcomes, strict=True):
            _settle(p.request.future, outcome)
