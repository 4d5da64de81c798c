"""`safe-eventstore projections run` as real processes: SIGKILLed again and again with new
appends between, and two agents on one store where the active one is killed and the standby
takes over (SQLite, a NATS server, a three-server NATS cluster); each time the read model
ends equal to a from-scratch build."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

from ..backends import backend_url
from ..conftest import fresh_store

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="signals")]

ROOT = Path(ses.__file__).resolve().parent.parent
ACCOUNTS = 20
TTL = "1.5"

# A second application of an event fails loudly (a recorded failure the test would see);
# a short sleep per event keeps a catch-up running long enough to be killed in the middle.
APP = """
import time
from safe_eventstore import projections

sums = projections.Projection("sums", source=projections.category("Account"),
                              types=["Deposited"], initial={"sum": 0, "n": 0, "last": 0})

@sums.on("Deposited")
def deposited(state, event):
    if event.position <= state["last"]:
        raise RuntimeError(f"applied twice: {event.position}")
    time.sleep(0.001)
    return {"sum": state["sum"] + event.data["amount"], "n": state["n"] + 1,
            "last": event.position}
"""


@pytest.fixture(params=["sqlite", "nats", "nats-cluster"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "nats-cluster":  # three servers, three replicas
        yield from fresh_store(request, "cluster")
    else:
        yield from backend_url(request, tmp_path)


class Agent:
    """A `projections run` process whose output lines are collected as they come."""

    def __init__(self, url: str, app_dir: Path, owner: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for name in ("SAFE_EVENTSTORE_URL", "SAFE_EVENTSTORE_DATABASE", "FORCE_COLOR"):
            env.pop(name, None)
        self.owner = owner
        self.process = subprocess.Popen(
            [sys.executable, "-m", "safe_eventstore", "projections", "run", "app:sums",
             "--store", url, "--db", "crash", "--lease-ttl", TTL, "--owner", owner,
             "--page-size", "25"],
            cwd=app_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.errors = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, words: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not any(words in line for line in self.seen):
            assert self.process.poll() is None, (self.seen, self.stderr())
            try:
                self.seen.append(self.lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                raise AssertionError(f"{self.owner} never printed {words!r}: {self.seen}") from None

    def stderr(self) -> str:
        if self.process.poll() is not None and self.process.stderr is not None:
            if not self.process.stderr.closed:
                self.errors = self.process.stderr.read()
                self.process.stderr.close()
        return self.errors

    def _ended(self) -> int:
        self.reader.join(30)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.stderr()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.process.returncode

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self._ended()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        return self._ended()


def _app(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    return tmp_path


def _append(db: ses.Database, rng: random.Random, n: int) -> None:
    for _ in range(n // 25):
        streams: dict[str, list[Any]] = {}
        for _ in range(25):
            event = ses.NewEvent("Deposited", {"amount": rng.randint(1, 100)})
            streams.setdefault(f"Account-{rng.randrange(ACCOUNTS)}", []).append(event)
        db.append_batch([ses.StreamAppend(s, events) for s, events in streams.items()])


def _until(check: Callable[[], bool], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "never caught up"
        time.sleep(0.1)


def _caught_up(db: ses.Database) -> bool:
    found = projections.status(db, "sums")[0]
    assert found.state != "failed", found.failure
    return found.lag_events == 0


def _check_model(db: ses.Database) -> None:
    expected: dict[str, dict[str, int]] = {}
    for event in db.read_category("Account"):
        s = expected.setdefault(event.stream, {"sum": 0, "n": 0, "last": 0})
        s["sum"] += event.data["amount"]
        s["n"] += 1
        s["last"] = event.position
    p = projections.Projection("sums", source=projections.category("Account"))
    model = projections.ReadModel(db, p)
    assert {stream: model.state(stream) for stream in expected} == expected


def test_killed_agents_leave_a_read_model_equal_to_a_from_scratch_build(tmp_path: Path) -> None:
    rng = random.Random(5)
    url = f"sqlite://{tmp_path / 'store'}"
    app = _app(tmp_path)
    with ses.open(url) as store:
        _append(store.create_database("crash"), rng, 3000)
    checkpoints = []
    for run in range(4):
        agent = Agent(url, app, owner=f"run{run}")
        agent.wait_for("sums v1: running")  # after the killed one's lease ran out
        time.sleep(rng.uniform(0.2, 1.0))
        agent.kill()
        with ses.open(url) as store:
            db = store.database("crash")
            checkpoints.append(db.get_checkpoint("projection.sums.v1") or 0)
            _append(db, rng, 100)
    last = Agent(url, app, owner="last")
    with ses.open(url) as store:
        db = store.database("crash")
        _until(lambda: _caught_up(db))
        assert last.stop() == 0, last.stderr()
        assert "agent stopped, leases released" in last.seen
        assert db.get_lease("projection.sums.v1") is None
        assert projections.status(db, "sums")[0].state == "stopped"
        _check_model(db)
        assert checkpoints == sorted(checkpoints)
        assert db.verify().problems == []


def test_a_standby_agent_process_takes_over_from_a_killed_one(url: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    app = _app(tmp_path)
    with ses.open(url) as store:
        _append(store.create_database("crash"), rng, 500)
    first = Agent(url, app, owner="first")
    first.wait_for("sums v1: running")
    second = Agent(url, app, owner="second")
    second.wait_for("sums v1: standby")
    with ses.open(url) as store:
        db = store.database("crash")
        _until(lambda: projections.status(db, "sums")[0].standby == 1)
        assert projections.status(db, "sums")[0].owner == "first"
        _append(db, rng, 500)
        first.kill()
        killed = time.monotonic()
        second.wait_for("sums v1: running")
        print(f"take-over after {time.monotonic() - killed:.2f} s (lease ttl {TTL} s)")
        _append(db, rng, 100)
        _until(lambda: _caught_up(db))
        assert projections.status(db, "sums")[0].owner == "second"
        assert second.stop() == 0, second.stderr()
        _check_model(db)
