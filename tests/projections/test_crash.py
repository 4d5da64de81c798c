"""A real process running a projection is SIGKILLed mid-run, several times, on SQLite; after
a final run the read model equals a from-scratch fold: every source event applied exactly
once (the states and the checkpoint are stored in one batch, so a kill loses both or
neither)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]

ROOT = Path(ses.__file__).resolve().parent.parent
KILLS = 5
ACCOUNTS = 20

# The handler refuses an event at or below the last position its key's state has seen (a
# second application would fail loudly), and prints one line per event it applied, so the
# test can kill the child in the middle of a page, before that page is stored.
CHILD = """
import sys
import safe_eventstore as ses
from safe_eventstore import projections

path, page = sys.argv[1], int(sys.argv[2])
p = projections.Projection("sums", source=projections.category("Account"), types=["Deposited"],
                           initial={"sum": 0, "n": 0, "last": 0})

@p.on("Deposited")
def deposited(state, event):
    if event.position <= state["last"]:
        raise RuntimeError(f"applied twice: {event.position}")
    print(event.position, flush=True)
    return {"sum": state["sum"] + event.data["amount"], "n": state["n"] + 1,
            "last": event.position}

with ses.open(path) as store, projections.Runner(store.database("crash"), [p],
                                                 page_size=page) as runner:
    runner.run_once()
print("done", flush=True)
"""


def _append(db: ses.Database, rng: random.Random, n: int) -> None:
    for _ in range(n // 25):
        streams: dict[str, list[Any]] = {}
        for _ in range(25):
            account = f"Account-{rng.randrange(ACCOUNTS)}"
            event = ses.NewEvent("Deposited", {"amount": rng.randint(1, 100)})
            streams.setdefault(account, []).append(event)
        db.append_batch([ses.StreamAppend(s, events) for s, events in streams.items()])


def _child(path: Path, page: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, f"sqlite://{path}", str(page)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )


def _kill_after(child: subprocess.Popen[str], lines: int) -> None:
    assert child.stdout is not None
    for _ in range(lines):
        line = child.stdout.readline()
        assert line and line.strip() != "done", "the child finished before it was killed"
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def test_killed_runs_leave_a_read_model_equal_to_a_from_scratch_build(tmp_path: Path) -> None:
    rng = random.Random(14)
    path = tmp_path / "store"
    with ses.open(f"sqlite://{path}") as store:
        _append(store.create_database("crash"), rng, 6000)  # far more than 5 runs reach
    checkpoints = []
    for _ in range(KILLS):
        page = rng.choice([20, 50, 80])
        # a line past the first page means that page is stored: each run moves forward
        _kill_after(_child(path, page=page), rng.randint(page + 1, 400))
        with ses.open(f"sqlite://{path}") as store:
            db = store.database("crash")
            checkpoints.append(db.get_checkpoint("projection.sums.v1") or 0)
            _append(db, rng, 100)  # new events between the runs
    finished = _child(path, page=50)
    out, _ = finished.communicate(timeout=300)
    assert finished.returncode == 0 and out.rstrip().endswith("done")
    with ses.open(f"sqlite://{path}") as store:
        db = store.database("crash")
        source = list(db.read_category("Account"))
        # every killed run stored at least one page, and none reached the end
        assert all(c < source[-1].position for c in checkpoints)
        assert all(a < b for a, b in zip([0, *checkpoints], checkpoints, strict=False))
        expected: dict[str, dict[str, int]] = {}
        for event in source:
            s = expected.setdefault(event.stream, {"sum": 0, "n": 0, "last": 0})
            s["sum"] += event.data["amount"]
            s["n"] += 1
            s["last"] = event.position
        p = projections.Projection("sums", source=projections.category("Account"))
        model = projections.ReadModel(db, p)
        assert {stream: model.state(stream) for stream in expected} == expected
        assert db.get_checkpoint("projection.sums.v1") == source[-1].position
        assert db.verify().problems == []
