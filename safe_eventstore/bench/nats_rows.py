"""The benchmark harness's NATS rows: W1-W6 on a NATS JetStream store, beside raw nats-py.

``safe-eventstore bench --nats`` runs them (on a ``nats-server`` started for the run, three
with ``--cluster``, or on the servers of ``--nats-url``); :func:`run` is the same from
Python. Every workload is interleaved with its references, as in the SQLite rows, and only
ratios from one run mean anything.

=======  ========================================================================
W1       single-event appends, one writer, expected versions
W2       single-event appends, concurrent writers (threads) on distinct streams
W3       appends of 100-event batches
W4       ``read_stream`` of one long stream, decoded
W5       ``read_all`` over the same events
W6       subscription catch-up over the same events; live latency, append to delivery
raw-1    nats-py: one publish at a time, with Nats-Expected-Last-Subject-Sequence
raw-16   raw-1 from 16 threads on the one connection, its loop in a thread of its own
raw-pipe nats-py: pipelined publishes (publish_async, acknowledgements awaited together)
raw-get  nats-py: batched direct gets of the same number of messages, not decoded
=======  ========================================================================

Targets: W1 >= 0.7x raw-1; W2 >= 5x W1.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack

import nats
from nats.js.api import StorageType, StreamConfig

from .._exceptions import StoreUnavailable
from ..testing.nats_servers import NatsCluster, NatsServer
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
from ._workloads import Sizes, Workloads, per_round, state, threads, timer

__all__ = ["QUICK", "SIZES", "run"]

SIZES = Sizes(batches=100, read=20_000, latency=300, rounds=5)
"""The NATS rows' default sizes: a round trip per append makes W1-W3 slower than on SQLite,
and reads go over the network."""

QUICK = Sizes(
    single=20, writers=4, concurrent=40, batches=2, batch=10, read=300, latency=5,
    pipelined=100, rounds=1, read_repeat=1,
)  # fmt: skip
"""Tiny sizes for a smoke run."""


class _Ours(Workloads):
    """The harness's W1-W6 workloads, on a NATS store."""

    fill_step = 100  # stays well inside the server's 1000-message atomic batch limit
    settle = 0.2  # the subscriber's ordered consumer needs a moment to be created


class _Raw:
    """Plain nats-py on its own asyncio loop, on a JetStream stream like ours."""

    def __init__(self, servers: list[str], replicas: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.name = f"raw_{uuid.uuid4().hex[:8]}"
        self.round = 0
        self.nc = self.loop.run_until_complete(nats.connect(servers))
        self.js = self.nc.jetstream()
        config = StreamConfig(
            name=self.name,
            subjects=[f"{self.name}.>"],
            storage=StorageType.FILE,
            num_replicas=replicas,
            allow_direct=True,
        )
        self.loop.run_until_complete(self.js.add_stream(config))

    def single(self, n: int) -> float:
        self.round += 1
        subject = f"{self.name}.single.{self.round}"

        async def run() -> None:
            last = 0
            for i in range(n):
                payload = state(i)
                headers = {"Nats-Expected-Last-Subject-Sequence": str(last)}
                ack = await self.js.publish(subject, payload, headers=headers)
                last = ack.seq

        with timer() as t:
            self.loop.run_until_complete(run())
        return t[0]

    def concurrent(self, writers: int, n: int) -> float:
        """``raw-1`` from ``writers`` threads at once, one subject each, on the one
        connection, its event loop running in a thread of its own: how threads use nats-py
        when each waits for its publish's acknowledgement."""
        self.round += 1
        each, r = n // writers, self.round
        runner = threading.Thread(target=self.loop.run_forever, daemon=True)
        runner.start()

        def work(k: int) -> None:
            subject, last = f"{self.name}.threads.{r}.{k}", 0
            for i in range(each):
                headers = {"Nats-Expected-Last-Subject-Sequence": str(last)}
                publish = self.js.publish(subject, state(i), headers=headers)
                last = asyncio.run_coroutine_threadsafe(publish, self.loop).result().seq

        try:
            return threads(writers, work)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            runner.join()

    def pipelined(self, n: int) -> float:
        self.round += 1
        subject = f"{self.name}.pipe.{self.round}"

        async def run() -> None:
            futures = [await self.js.publish_async(subject, state(i)) for i in range(n)]
            await asyncio.gather(*futures)

        with timer() as t:
            self.loop.run_until_complete(run())
        return t[0]

    def fill(self, n: int) -> None:
        async def run() -> None:
            futures = [
                await self.js.publish_async(f"{self.name}.reads", state(i)) for i in range(n)
            ]
            await asyncio.gather(*futures)

        self.loop.run_until_complete(run())

    def read(self, n: int) -> tuple[int, float]:
        async def run() -> int:
            count, seq = 0, 1
            inbox = self.nc.new_inbox()
            sub = await self.nc.subscribe(inbox)
            while count < n:
                request = {"seq": seq, "batch": 1000, "next_by_subj": f"{self.name}.reads"}
                await self.nc.publish(
                    f"$JS.API.DIRECT.GET.{self.name}", json.dumps(request).encode(), reply=inbox
                )
                got = 0
                while True:
                    msg = await sub.next_msg(10)
                    if msg.headers and msg.headers.get("Status"):
                        break
                    got += 1
                    seq = int(msg.headers["Nats-Sequence"]) + 1 if msg.headers else seq
                count += got
                if got == 0:
                    break
            await sub.unsubscribe()
            return count

        with timer() as t:
            count = self.loop.run_until_complete(run())
        return count, t[0]

    def close(self) -> None:
        self.loop.run_until_complete(self.js.delete_stream(self.name))
        self.loop.run_until_complete(self.nc.close())
        self.loop.close()


_REFERENCES = {
    "W1": ("raw-1",),
    "W2": ("W1", "raw-pipe", "raw-16"),
    "raw-16": ("raw-1",),
    "W3": ("raw-pipe",),
    "W4": ("raw-get",),
    "W5": ("raw-get",),
    "W6": ("raw-get",),
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
    raw = _Raw(servers, replicas) if references else None
    rows: list[Row] = []
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

        rows += our_write_rows(timings, s)
        if raw:
            rows += [
                summed_row(timings, "raw-1", "W1", "nats-py",
                           "publish + expected subject seq, 1 at a time", single * s.rounds),
                summed_row(timings, "raw-16", "W2", "nats-py",
                           f"raw-1 from {s.writers} threads, one loop thread",
                           each * s.writers * s.rounds),
                summed_row(timings, "raw-pipe", "W3", "nats-py", "publish_async, pipelined",
                           pipelined * s.rounds),
            ]  # fmt: skip

        say(f"reads: storing {s.read:,} events")
        ours.fill(s.read)
        reads = our_reads(ours, s.read)
        if raw:
            raw.fill(s.read)
            reads.append(
                ("raw-get", "W4", "nats-py", "batched direct get, 1000 a request",
                 lambda: raw.read(s.read))
            )  # fmt: skip
        rows += best_reads(reads, s.read_repeat, say)

        say("W6: live latency")
        rows += latency_rows(ours.live_latency(s.latency))
    finally:
        ours.close()
        if raw:
            raw.close()
        if drop:
            _drop(servers, drop)
    return rows
