"""Killing NATS servers under load: no acknowledged append is lost or stored twice.

A 3-node cluster on loopback keeps a database with 3 replicas. Four writer processes append
with expected versions to two shared streams. One server that does not lead the database's
stream is killed with SIGKILL and restarted; then the same is done to the stream's leader.
Afterwards every acknowledged append must be stored exactly once at the version it was
acknowledged with, versions must have no gaps, ``verify()`` must pass, and appends must have
resumed soon after each kill.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nats
import pytest

import safe_eventstore as ses
from safe_eventstore.testing.nats_servers import NatsCluster, NatsServer

RESUME_LIMIT = 20.0  # seconds from a kill to the first append acknowledged after it
STREAMS = ("Fault-1", "Fault-2")

_WRITER = """
import json, sys, time, uuid
import safe_eventstore as ses

url, worker = sys.argv[1], int(sys.argv[2])
streams = ("Fault-1", "Fault-2")
store = ses.open(url)
db = store.database("faults")
print(json.dumps(["ready"]), flush=True)
n = 0
event = None
while not sys.stdin.closed:
    stream = streams[(n + worker) % 2]
    if event is None:  # a failed append is retried with the same event id
        event = ses.NewEvent("Written", {"worker": worker, "n": n}, event_id=uuid.uuid4())
    started = time.time()
    try:
        version = db.stream_version(stream)
        expected = ses.NO_STREAM if version is None else version
        result = db.append(stream, [event], expected_version=expected)
    except ses.WrongExpectedVersion:
        continue  # another writer got there first: read the version again
    except ses.SafeEventStoreError as exc:
        print(json.dumps(["failed", time.time(), type(exc).__name__, str(exc)]), flush=True)
        time.sleep(0.05)
        continue
    print(json.dumps(["acked", time.time(), stream, str(event.event_id), result.first_version,
                      started]), flush=True)
    event = None
    n += 1
"""


class _Writer:
    """A writer process, and a thread collecting what it reports."""

    def __init__(self, url: str, worker: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(worker)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
        )
        self.reports: list[list[Any]] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            report = json.loads(line)
            if report[0] == "ready":
                self.ready.set()
            else:
                self.reports.append(report)

    def stop(self) -> str:
        # The collecting thread owns stdout until it ends at the process's end of output:
        # communicate() would read (and close) it under the thread.
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._thread.join(10)
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        with self.proc.stdin, self.proc.stdout, self.proc.stderr:
            return self.proc.stderr.read()


def _leader(url: str, stream: str) -> str:
    async def ask() -> str:
        nc = await nats.connect(url.split("?")[0].split(","), connect_timeout=2)
        try:
            info = await nc.jetstream().stream_info(stream)
            assert info.cluster is not None and info.cluster.leader is not None
            return info.cluster.leader
        finally:
            await nc.close()

    return asyncio.run(ask())


def _acks_after(writers: list[_Writer], moment: float) -> list[float]:
    """When the appends begun after ``moment`` were acknowledged."""
    reports = [r for w in writers for r in list(w.reports)]
    return sorted(r[1] for r in reports if r[0] == "acked" and r[5] > moment)


def _longest_stall(writers: list[_Writer], start: float, end: float) -> float:
    """The longest time between two acknowledgements (of any writer) in a window."""
    times = sorted(r[1] for w in writers for r in w.reports if r[0] == "acked")
    times = [start] + [t for t in times if start < t < end] + [end]
    return max(b - a for a, b in itertools.pairwise(times))


def _kill_and_restart(server: NatsServer, writers: list[_Writer]) -> float:
    """SIGKILL a server, restart it after a while; seconds until appends resumed."""
    killed = time.time()
    server.kill()
    deadline = time.monotonic() + RESUME_LIMIT * 2
    while not _acks_after(writers, killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(max(0.0, 3.0 - (time.time() - killed)))  # keep it down for 3 s at least
    server.start()
    after = _acks_after(writers, killed)
    assert after, f"no append was acknowledged within {RESUME_LIMIT * 2} s of the kill"
    return after[0] - killed


@pytest.mark.slow
def test_acknowledged_appends_survive_killing_a_follower_and_the_leader(tmp_path: Path) -> None:
    with NatsCluster(tmp_path) as cluster:
        url = f"{cluster.url}?prefix=faults&replicas=3&timeout=5"
        with ses.open(url) as store:
            store.create_database("faults")
        writers = [_Writer(url, k) for k in range(4)]
        try:
            for w in writers:
                assert w.ready.wait(30), w.stop()
            time.sleep(2)
            by_name = {s.name: s for s in cluster.servers}
            leader = _leader(url, "faults_faults")
            follower = next(s for name, s in by_name.items() if name != leader)
            follower_gap = _kill_and_restart(follower, writers)
            follower.wait_ready()
            time.sleep(2)
            leader = _leader(url, "faults_faults")
            leader_killed = time.time()
            leader_gap = _kill_and_restart(by_name[leader], writers)
            by_name[leader].wait_ready()
            time.sleep(2)
            stall = _longest_stall(writers, leader_killed, time.time() - 1)
        finally:
            errors = [w.stop() for w in writers]
        assert not any("Traceback" in e for e in errors), errors

        acked = [r for w in writers for r in w.reports if r[0] == "acked"]
        failed = [r for w in writers for r in w.reports if r[0] == "failed"]
        with ses.open(url) as store:
            db = store.database("faults")
            stored: dict[str, tuple[str, int]] = {}
            for stream in STREAMS:
                events = db.read_stream(stream)
                assert [e.version for e in events] == list(range(len(events)))
                for e in events:
                    assert str(e.event_id) not in stored, "an event is stored twice"
                    stored[str(e.event_id)] = (stream, e.version)
            lost = [a for a in acked if stored.get(a[3]) != (a[2], a[4])]
            report = db.verify()
            assert report.ok, [str(p) for p in report.problems]
        print(
            f"acknowledged {len(acked)}, failed with a clean error {len(failed)}, lost {len(lost)}"
            f" (appends resumed {follower_gap:.2f} s after killing a follower, "
            f"{leader_gap:.2f} s after killing the leader; longest stall {stall:.2f} s)"
        )
        assert lost == []
        assert len(stored) >= len(acked)  # plus those whose acknowledgement was lost
        assert follower_gap < RESUME_LIMIT
        assert leader_gap < RESUME_LIMIT
