"""The NATS rows' references: plain nats-py on a JetStream stream configured like ours.

Each reference is the best this harness found nats-py to do for its job on one connection
(docs/performance.md, "NATS references"), so that a ratio to it does not flatter the store.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import uuid
from collections.abc import Callable

import nats
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from ._workloads import state, threads, timer

__all__ = ["ACKS_IN_FLIGHT", "BATCH", "RawNats"]

ACKS_IN_FLIGHT = 256  # raw-pipe: publishes whose acknowledgement is awaited, at most
BATCH = 100  # raw-batch: messages per atomic batch, as in W3's appends


class RawNats:
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
            allow_atomic=True,
            # as a database's stream: the window decides what an atomic batch costs the server
            duplicate_window=1.0,
        )
        self.loop.run_until_complete(self.js.add_stream(config))

    def single(self, n: int) -> float:
        """``raw-1``: one publish at a time, each expecting the subject's last sequence."""
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

    def pipelined(self, n: int, subject: str | None = None) -> float:
        """``raw-pipe``: ``n`` publishes with up to :data:`ACKS_IN_FLIGHT` acknowledgements
        outstanding, each acknowledgement checked for an error. A reply inbox of its own
        and a counter beat ``js.publish_async`` (a future, a token and a done-callback per
        message, and the acknowledgement parsed) in every trial here."""
        self.round += 1
        subject = subject or f"{self.name}.pipe.{self.round}"

        async def run() -> None:
            window = asyncio.Semaphore(ACKS_IN_FLIGHT)
            done = self.loop.create_future()
            inbox = self.nc.new_inbox()
            left = n

            async def acknowledged(msg: Msg) -> None:
                nonlocal left
                window.release()
                if b'"error"' in msg.data:  # a refusal; an acknowledgement names no error
                    if not done.done():
                        done.set_exception(RuntimeError(msg.data.decode()))
                    return
                left -= 1
                if left == 0:
                    done.set_result(None)

            sub = await self.nc.subscribe(
                f"{inbox}.*", cb=acknowledged, pending_msgs_limit=-1, pending_bytes_limit=-1
            )
            try:
                for i in range(n):
                    await window.acquire()
                    await self.nc.publish(subject, state(i), reply=f"{inbox}.{i}")
                await asyncio.wait_for(done, 60)
            finally:
                await sub.unsubscribe()

        with timer() as t:
            self.loop.run_until_complete(run())
        return t[0]

    def batches(self, batches: int) -> float:
        """``raw-batch``: atomic batches of :data:`BATCH` messages, one after another, each
        commit acknowledged before the next batch: what W3's appends are built on."""
        self.round += 1
        subject = f"{self.name}.batch.{self.round}"

        async def run() -> None:
            for b in range(batches):
                batch = secrets.token_urlsafe(12)
                for k in range(1, BATCH + 1):
                    headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(k)}
                    payload = state(b * BATCH + k)
                    if k < BATCH:
                        await self.nc.publish(subject, payload, headers=headers)
                        continue
                    headers["Nats-Batch-Commit"] = "1"
                    reply = await self.nc.request(subject, payload, timeout=10, headers=headers)
                    if "error" in json.loads(reply.data):
                        raise RuntimeError(reply.data.decode())

        with timer() as t:
            self.loop.run_until_complete(run())
        return t[0]

    def fill(self, n: int) -> None:
        self.pipelined(n, f"{self.name}.reads")

    def read(self, n: int) -> tuple[int, float]:
        """``raw-get``: batched direct gets of 1000 messages, as our reads make them."""

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

    def ordered(self, n: int) -> tuple[int, float]:
        """``raw-ordered``: an ordered push consumer (nats-py's) reading the stored messages
        from the first, into a callback: the fastest way nats-py reads a stream back."""
        return self.ordered_decoding(n, self.name, f"{self.name}.reads", None)

    def ordered_decoding(
        self, n: int, stream: str, subject: str, decode: Callable[[bytes, int], object] | None
    ) -> tuple[int, float]:
        """:meth:`ordered` on any stream's subject; with ``decode``, each message's data and
        stream sequence are passed to it in the callback (``raw-ordered+decode``)."""

        async def run() -> int:
            done = self.loop.create_future()
            count = 0

            async def delivered(msg: Msg) -> None:
                nonlocal count
                if decode is not None:
                    decode(msg.data, int(msg.reply.split(".")[5]))
                count += 1
                if count == n:
                    done.set_result(None)

            sub = await self.js.subscribe(
                subject,
                stream=stream,
                ordered_consumer=True,
                cb=delivered,
                pending_msgs_limit=-1,
                pending_bytes_limit=-1,
            )
            try:
                await asyncio.wait_for(done, 60)
            finally:
                await sub.unsubscribe()
            return count

        with timer() as t:
            count = self.loop.run_until_complete(run())
        return count, t[0]

    def close(self) -> None:
        self.loop.run_until_complete(self.js.delete_stream(self.name))
        self.loop.run_until_complete(self.nc.close())
        self.loop.close()
