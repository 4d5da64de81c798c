"""Benchmark: SAFE EventStore on NATS JetStream, side by side with raw nats-py.

Starts its own ``nats-server`` (one server, or with ``--cluster`` three on loopback with 3
replicas) unless ``--url`` names one, runs every workload interleaved with its references,
and prints a table of rates and ratios. Only ratios from one run mean anything: absolute
figures move with the machine and whatever else it is doing.

=======  ========================================================================
W1       single-event appends, one writer, expected versions
W2       single-event appends, 16 writers (threads) on distinct streams
W3       appends of 100-event batches
W4       ``read_stream`` of one long stream, decoded (``--read``, default 20,000)
W5       ``read_all`` over the same events
W6       subscription catch-up over the same events; live latency, append to delivery
raw-1    nats-py: one publish at a time, with Nats-Expected-Last-Subject-Sequence
raw-pipe nats-py: pipelined publishes (publish_async, acknowledgements awaited together)
raw-get  nats-py: batched direct gets of the same number of messages, not decoded
=======  ========================================================================

Targets: W1 >= 0.7x raw-1; W2 >= 5x W1.

::

    python benchmarks/nats_bench.py                 # one server, replicas 1
    python benchmarks/nats_bench.py --cluster       # 3 servers, replicas 3
    python benchmarks/nats_bench.py --read 100000 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nats
from nats.js.api import StorageType, StreamConfig

from safe_eventstore.bench import (
    Row,
    Workloads,
    add_ratios,
    best_reads,
    format_table,
    latency_rows,
    our_reads,
    timer,
)
from safe_eventstore.storage.nats.servers import NatsCluster, NatsServer


@dataclass(frozen=True)
class Sizes:
    single: int = 2000  # W1, raw-1: appends by one writer
    writers: int = 16  # W2: concurrent writers
    concurrent: int = 8000  # W2: appends in all
    batches: int = 100  # W3: batches appended
    batch: int = 100  # W3: events per batch
    pipelined: int = 10_000  # raw-pipe: messages
    read: int = 20_000  # W4, W5, W6, raw-get: events read
    latency: int = 300  # W6: live events timed one by one
    rounds: int = 5  # write workloads are cut into this many interleaved rounds
    read_repeat: int = 3  # each read runs this often; the fastest run counts


QUICK = Sizes(
    single=20, writers=4, concurrent=40, batches=2, batch=10, pipelined=100, read=300,
    latency=5, rounds=1, read_repeat=1,
)  # fmt: skip


def _data(i: int) -> dict[str, Any]:
    return {"account": "acc-1", "amount": i, "currency": "EUR"}


class Ours(Workloads):
    """The harness's W1-W6 workloads, on a NATS store."""

    fill_step = 100  # stays well inside the server's 1000-message atomic batch limit
    settle = 0.2  # the subscriber's ordered consumer needs a moment to be created


class Raw:
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
                payload = json.dumps(_data(i)).encode()
                headers = {"Nats-Expected-Last-Subject-Sequence": str(last)}
                ack = await self.js.publish(subject, payload, headers=headers)
                last = ack.seq

        with timer() as t:
            self.loop.run_until_complete(run())
        return t[0]

    def pipelined(self, n: int) -> float:
        self.round += 1
        subject = f"{self.name}.pipe.{self.round}"

        async def run() -> None:
            futures = [
                await self.js.publish_async(subject, json.dumps(_data(i)).encode())
                for i in range(n)
            ]
            await asyncio.gather(*futures)

        with timer() as t:
            self.loop.run_until_complete(run())
        return t[0]

    def fill(self, n: int) -> None:
        async def run() -> None:
            futures = [
                await self.js.publish_async(f"{self.name}.reads", json.dumps(_data(i)).encode())
                for i in range(n)
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


REFERENCES = {
    "W1": ("raw-1",),
    "W2": ("W1", "raw-pipe"),
    "W3": ("raw-pipe",),
    "W4": ("raw-get",),
    "W5": ("raw-get",),
    "W6": ("raw-get",),
}


def run(
    url: str, servers: list[str], replicas: int, s: Sizes, say: Callable[[str], None]
) -> list[Row]:
    ours = Ours(url)
    raw = Raw(servers, replicas)
    rows: list[Row] = []
    try:
        timings: dict[str, list[float]] = {}
        single = max(1, s.single // s.rounds)
        each = max(1, s.concurrent // s.writers // s.rounds)
        batches = max(1, s.batches // s.rounds)
        pipelined = max(1, s.pipelined // s.rounds)

        def measure(key: str, fn: Callable[[], float]) -> None:
            timings.setdefault(key, []).append(fn())

        for r in range(s.rounds):
            say(f"writes, round {r + 1} of {s.rounds}")
            measure("W1", lambda: ours.single(single))
            measure("raw-1", lambda: raw.single(single))
            measure("W2", lambda: ours.concurrent(s.writers, each * s.writers))
            measure("W3", lambda: ours.batches(batches, s.batch))
            measure("raw-pipe", lambda: raw.pipelined(pipelined))

        def add(key: str, workload: str, system: str, what: str, count: int) -> None:
            seconds = sum(timings[key])
            rows.append(
                Row(key, workload, system, what, count, seconds, count / seconds, "events/s")
            )

        add("W1", "W1", "safe-eventstore", "single-event appends, 1 writer", single * s.rounds)
        add(
            "raw-1",
            "W1",
            "nats-py",
            "publish + expected subject seq, 1 at a time",
            single * s.rounds,
        )
        add(
            "W2", "W2", "safe-eventstore", f"single-event appends, {s.writers} writers",
            each * s.writers * s.rounds,
        )  # fmt: skip
        add(
            "W3",
            "W3",
            "safe-eventstore",
            f"{s.batch}-event batch appends",
            batches * s.batch * s.rounds,
        )
        add("raw-pipe", "W3", "nats-py", "publish_async, pipelined", pipelined * s.rounds)

        say(f"reads: storing {s.read:,} events")
        ours.fill(s.read)
        raw.fill(s.read)
        reads = our_reads(ours, s.read)
        reads.append(
            ("raw-get", "W4", "nats-py", "batched direct get, 1000 a request",
             lambda: raw.read(s.read))
        )  # fmt: skip
        rows += best_reads(reads, s.read_repeat, say)

        say("W6: live latency")
        rows += latency_rows(ours.live_latency(s.latency))
    finally:
        ours.close()
        raw.close()
    add_ratios(rows, REFERENCES)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an existing NATS server or cluster (nats://host:port,...)")
    parser.add_argument("--cluster", action="store_true", help="start 3 servers, replicas 3")
    parser.add_argument("--replicas", type=int, help="replicas of the databases (with --url)")
    parser.add_argument("--read", type=int, help="events read in W4-W6 (default 20,000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--json", help="write the rows and the machine facts here")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    if args.read:
        sizes = Sizes(**{**asdict(sizes), "read": args.read})
    say = lambda m: print(f"... {m}", file=sys.stderr, flush=True)  # noqa: E731
    with ExitStack() as stack:
        if args.url:
            base = args.url.split("?")[0]
            replicas = args.replicas or 1
        else:
            work = tempfile.mkdtemp(prefix="nats-bench-")
            stack.callback(shutil.rmtree, work, ignore_errors=True)
            if args.cluster:
                cluster = stack.enter_context(NatsCluster(work))
                base, replicas = cluster.url, 3
            else:
                server = stack.enter_context(NatsServer(work))
                base, replicas = server.url, 1
        servers = [
            h if h.startswith("nats://") else f"nats://{h}"
            for h in base.removeprefix("nats://").split(",")
        ]
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        url = f"{base}?prefix={prefix}&replicas={replicas}"
        say(f"servers {base}, replicas {replicas}")
        rows = run(url, servers, replicas, sizes, say)
    print(format_table(rows))
    w1 = next(r for r in rows if r.id == "W1")
    w2 = next(r for r in rows if r.id == "W2")
    print(
        f"\ntargets: W1 {w1.ratios.get('raw-1', 0):.2f}x raw-1 (want >= 0.70); "
        f"W2 {w2.ratios.get('W1', 0):.2f}x W1 (want >= 5)"
    )
    if args.json:
        facts = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "replicas": replicas,
            "sizes": asdict(sizes),
        }
        document = {"machine": facts, "rows": [asdict(r) for r in rows]}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
