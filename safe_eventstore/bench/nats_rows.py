"""The benchmark harness's NATS rows: W1-W6 on a NATS JetStream store, beside raw nats-py.

``safe-eventstore bench --nats`` runs them (on a ``nats-server`` started for the run, three
with ``--cluster``, or on the servers of ``--nats-url``); :func:`run` is the same from
Python. Every workload is interleaved with its references, as in the SQLite rows, and only
ratios from one run mean anything.

===========  ========================================================================
W1           single-event appends, one writer, expected versions
W2           single-event appends, concurrent writers (threads) on distinct streams
W3           appends of 100-event batches
W4           ``read_stream`` of one long stream, decoded
W5           ``read_all`` over the same events
W6           subscription catch-up over the same events; live latency, append to delivery
raw-1        nats-py: one publish at a time, with Nats-Expected-Last-Subject-Sequence
raw-16       raw-1 from 16 threads on the one connection, its loop in a thread of its own
raw-pipe     nats-py: pipelined publishes, 256 acknowledgements in flight
raw-batch    nats-py: atomic batches of 100 messages, one after another (what W3 is built on)
raw-ordered  nats-py: an ordered push consumer reading the stored messages back, not decoded
raw-get      nats-py: batched direct gets of the same number of messages, not decoded
raw-ordered+decode
             nats-py: an ordered push consumer reading W4-W6's own stored entries, each
             decoded into an event as the store decodes it: the ceiling of W4-W6 for any
             backend that reads through nats-py
core-read    ``read_all`` of the same events on the memory backend: the core's decoding alone
===========  ========================================================================

Targets: W1 >= 0.7x raw-1; W2 >= 5x W1; W3 >= 0.5x raw-pipe; W4, W5 and W6 catch-up >= 0.7x
raw-ordered. The references are in :mod:`._nats_raw`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import nats

from .._exceptions import StoreUnavailable
from ..testing.nats_servers import NatsCluster, NatsServer
from ._nats_raw import ACKS_IN_FLIGHT, BATCH, RawNats
from ._rows import (
    Row,
    add_ratios,
    best_reads,
    latency_rows,
    our_reads,
    our_write_rows,
    summed_row,
    write_json,
)  # fmt: skip
from ._workloads import Sizes, Workloads, per_round
from .projection_rows import lag_rows

__all__ = ["QUICK", "SIZES", "run"]

SIZES = Sizes(batches=100, read=20_000, latency=300, pipelined=50_000, rounds=5)
"""The NATS rows' default sizes: a round trip per append makes W1-W3 slower than on SQLite,
and reads go over the network. raw-pipe publishes 10,000 messages a round, long enough for
its window of acknowledgements to fill."""

QUICK = Sizes(
    single=20, writers=4, concurrent=40, batches=2, batch=10, read=300, latency=5,
    pipelined=100, rounds=1, read_repeat=1,
)  # fmt: skip
"""Tiny sizes for a smoke run."""


class _Ours(Workloads):
    """The harness's W1-W6 workloads, on a NATS store."""

    fill_step = 100  # stays well inside the server's 1000-message atomic batch limit
    settle = 0.2  # the subscriber's ordered consumer needs a moment to be created


_REFERENCES = {
    "W1": ("raw-1",),
    "W2": ("W1", "raw-pipe", "raw-16"),
    "raw-16": ("raw-1",),
    "W3": ("raw-pipe", "raw-batch"),
    "raw-batch": ("raw-pipe",),
    "W4": ("raw-ordered", "raw-ordered+decode", "raw-get"),
    "W5": ("raw-ordered", "raw-ordered+decode", "raw-get"),
    "W6": ("raw-ordered", "raw-ordered+decode", "raw-get"),
    "raw-get": ("raw-ordered",),
    "raw-ordered+decode": ("raw-ordered",),
    "core-read": ("raw-ordered",),
}


def run(
    *,
    sizes: Sizes | None = None,
    quick: bool = False,
    url: str | None = None,
    replicas: int | None = None,
    cluster: bool = False,
    directory: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    references: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    """Run the NATS rows and their references; return the rows (and write them as JSON to
    ``out`` when given).

    With ``url`` (``nats://host:port[,host:port...]``, with any of the store's options but
    ``prefix`` and ``replicas``, such as ``?timeout=5``) the rows run on those servers, in
    databases under a fresh name prefix, deleted afterwards; else on a ``nats-server``
    started for the run in a temporary directory under ``directory`` (three, with 3
    replicas, for ``cluster``). ``replicas`` defaults to 1 on one server and 3 on a cluster.
    """
    s = sizes or (QUICK if quick else SIZES)
    say = progress or (lambda _: None)
    options = ""  # the store's own options from ``url`` (timeout=...), kept
    with ExitStack() as stack:
        if url:
            base, _, query = url.partition("?")
            options = f"{query}&" if query else ""
            replicas = replicas or 1
        else:
            work = tempfile.mkdtemp(prefix="safe-eventstore-bench-nats-", dir=directory)
            stack.callback(shutil.rmtree, work, ignore_errors=True)
            if cluster:
                base = stack.enter_context(NatsCluster(work)).url
                replicas = replicas or 3
            else:
                base = stack.enter_context(NatsServer(work)).url
                replicas = replicas or 1
        servers = [
            h if h.startswith("nats://") else f"nats://{h}"
            for h in base.removeprefix("nats://").split(",")
        ]
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        say(f"servers {base}, replicas {replicas}")
        # on servers that outlive the run, its JetStream streams are deleted afterwards
        drop = prefix if url else None
        store_url = f"{base}?{options}prefix={prefix}&replicas={replicas}"
        rows = _rows(store_url, servers, replicas, s, say, references, drop)
    add_ratios(rows, _REFERENCES)
    if out is not None:
        write_json(rows, out, sizes=s, notes={"backend": "nats", "replicas": replicas})
    return rows


def _drop(servers: list[str], prefix: str) -> None:
    """Delete the JetStream streams (key-value buckets and object stores are streams too)
    whose names hold ``prefix``."""

    async def drop() -> None:
        nc = await nats.connect(servers, connect_timeout=5)
        try:
            js = nc.jetstream()
            for info in await js.streams_info():
                if prefix in (info.config.name or ""):
                    await js.delete_stream(info.config.name or "")
        finally:
            await nc.close()

    try:
        asyncio.run(drop())
    except Exception as exc:
        raise StoreUnavailable(f"could not delete the run's streams ({prefix}*): {exc}") from exc


def _core_reads(events: int) -> Workloads:
    """The read workloads' stream in a memory store: reading it is the core's work alone
    (decoding, checking payloads against their addresses), which every backend adds to
    what it costs to fetch the entries."""
    core = Workloads("memory://")
    core.fill(events)
    return core


def _decoding_read(ours: _Ours, raw: RawNats, events: int) -> Callable[[], tuple[int, float]]:
    """``raw-ordered+decode``: nats-py's ordered consumer on the read workloads' own
    database stream, each entry decoded (:func:`decode_entry`) and made an event by the
    database's decoder, payload checked against its address, as the store's reads do:
    what W4-W6 would cost with nothing else (no paging, no requests) on top."""
    storage: Any = ours.store.storage  # the NATS backend (the harness may not import it)
    stream, subject = storage.entries_of("reads")
    entry_of = storage.entry_of
    decoder = ours.reads._reader.decoder
    decoder.refresh()

    def decode(data: bytes, position: int) -> None:
        decoder.record(entry_of(data, position))

    return lambda: raw.ordered_decoding(events, stream, subject, decode)


def _rows(
    url: str,
    servers: list[str],
    replicas: int,
    s: Sizes,
    say: Callable[[str], None],
    references: bool,
    drop: str | None,
) -> list[Row]:
    ours = _Ours(url)
    raw = RawNats(servers, replicas) if references else None
    rows: list[Row] = []
    stack = ExitStack()
    try:
        timings: dict[str, list[float]] = {}
        single, each, batches = per_round(s)
        pipelined = max(1, s.pipelined // s.rounds)

        def measure(key: str, fn: Callable[[], float]) -> None:
            timings.setdefault(key, []).append(fn())

        for r in range(s.rounds):
            say(f"writes, round {r + 1} of {s.rounds}")
            measure("W1", lambda: ours.single(single))
            if raw:
                measure("raw-1", lambda: raw.single(single))
            measure("W2", lambda: ours.concurrent(s.writers, each * s.writers))
            if raw:
                measure("raw-16", lambda: raw.concurrent(s.writers, each * s.writers))
            measure("W3", lambda: ours.batches(batches, s.batch))
            if raw:
                measure("raw-pipe", lambda: raw.pipelined(pipelined))
                measure("raw-batch", lambda: raw.batches(batches))

        rows += our_write_rows(timings, s)
        if raw:
            rows += [
                summed_row(timings, "raw-1", "W1", "nats-py",
                           "publish + expected subject seq, 1 at a time", single * s.rounds),
                summed_row(timings, "raw-16", "W2", "nats-py",
                           f"raw-1 from {s.writers} threads, one loop thread",
                           each * s.writers * s.rounds),
                summed_row(timings, "raw-pipe", "W3", "nats-py",
                           f"publish, {ACKS_IN_FLIGHT} acks in flight", pipelined * s.rounds),
                summed_row(timings, "raw-batch", "W3", "nats-py",
                           f"atomic batches of {BATCH}, one at a time",
                           batches * BATCH * s.rounds),
            ]  # fmt: skip

        say(f"reads: storing {s.read:,} events")
        ours.fill(s.read)
        reads = our_reads(ours, s.read)
        if raw:
            raw.fill(s.read)
            core = _core_reads(s.read)
            stack.callback(core.close)
            reads += [
                ("core-read", "W5", "safe-eventstore", "read_all on the memory backend",
                 core.read_all),
                ("raw-ordered", "W4", "nats-py", "ordered push consumer, into a callback",
                 lambda: raw.ordered(s.read)),
                ("raw-get", "W4", "nats-py", "batched direct get, 1000 a request",
                 lambda: raw.read(s.read)),
                ("raw-ordered+decode", "W4", "nats-py",
                 "ordered push consumer on our entries, each decoded as the store does",
                 _decoding_read(ours, raw, s.read)),
            ]  # fmt: skip
        rows += best_reads(reads, s.read_repeat, say)

        say("W6: live latency")
        rows += latency_rows(ours.live_latency(s.latency))
        say("P2: live lag of a projection")
        rows += lag_rows(ours.store.create_database("p2"), s.latency)
    finally:
        stack.close()
        ours.close()
        if raw:
            raw.close()
        if drop:
            _drop(servers, drop)
    return rows
