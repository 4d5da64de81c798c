"""A real process running a projection with indexes is SIGKILLed mid-run, several times, on
SQLite: after every kill the documents agree with the key streams' last states and with the
checkpoint (they are stored in one batch), and after a final run the queries answer as a
from-scratch fold."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

from .test_crash import ROOT, _append, _kill_after

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]

KILLS = 3
COLLECTION = "projection.sums.v1"

CHILD = """
import sys
import safe_eventstore as ses
from safe_eventstore import projections

path, page = sys.argv[1], int(sys.argv[2])
p = projections.Projection("sums", source=projections.category("Account"), types=["Deposited"],
                           initial={"sum": 0, "n": 0, "last": 0}, indexes=["sum", "n"])

@p.on("Deposited")
def deposited(state, event):
    print(event.position, flush=True)
    return {"sum": state["sum"] + event.data["amount"], "n": state["n"] + 1,
            "last": event.position}

with ses.open(path) as store, projections.Runner(store.database("crash"), [p],
                                                 page_size=page) as runner:
    runner.run_once()
print("done", flush=True)
"""


def _child(path: Path, page: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, f"sqlite://{path}", str(page)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )


def _agree(db: ses.Database) -> int:
    """Documents equal the key streams' last states, none past the checkpoint; how many."""
    checkpoint = db.get_checkpoint(COLLECTION) or 0
    streams = db.list_streams(COLLECTION, limit=10_000)
    last = {}
    for stream in streams:
        [entry] = db.read_stream(stream, backwards=True, limit=1)
        last[entry.data["key"]] = entry.data["state"]
    documents = dict(db.query_documents(COLLECTION, limit=1000).items)
    assert documents == last
    assert all(state["last"] <= checkpoint for state in documents.values())
    return len(documents)


def test_killed_runs_leave_documents_that_agree_with_states_and_checkpoint(
    tmp_path: Path,
) -> None:
    rng = random.Random(41)
    path = tmp_path / "store"
    with ses.open(f"sqlite://{path}") as store:
        _append(store.create_database("crash"), rng, 4000)
    for _ in range(KILLS):
        page = rng.choice([20, 50])
        _kill_after(_child(path, page=page), rng.randint(page + 1, 300))
        with ses.open(f"sqlite://{path}") as store:
            db = store.database("crash")
            assert _agree(db) > 0
            _append(db, rng, 100)
    finished = _child(path, page=50)
    out, _ = finished.communicate(timeout=300)
    assert finished.returncode == 0 and out.rstrip().endswith("done")
    with ses.open(f"sqlite://{path}") as store:
        db = store.database("crash")
        _agree(db)
        expected: dict[str, int] = {}
        for event in db.read_category("Account"):
            expected[event.stream] = expected.get(event.stream, 0) + event.data["amount"]
        p = projections.Projection(
            "sums", source=projections.category("Account"), indexes=["sum", "n"]
        )
        page = projections.ReadModel(db, p).query(order_by="sum", descending=True, limit=1000)
        assert [(k, s["sum"]) for k, s in page.items] == sorted(
            expected.items(), key=lambda kv: (kv[1], kv[0]), reverse=True
        )
