"""Two real processes rebuild the same new version of a projection at once, on SQLite, and
race to promote it when they have caught up: exactly one promotion is recorded per version,
and the read model equals a fold from scratch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="processes")]

ROOT = Path(ses.__file__).resolve().parent.parent
ACCOUNTS = 30

# Each version folds differently (amount times the version), so a reader can tell them apart.
# The child waits for the go file, so both children read the active version, then fold and
# promote, at the same time.
CHILD = """
import os, sys, time
import safe_eventstore as ses
from safe_eventstore import projections

url, version, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = projections.Projection("sums", source=projections.category("Account"), version=version,
                           types=["Deposited"], initial=0)

@p.on("Deposited")
def deposited(state, event):
    return state + event.data["amount"] * version

with ses.open(url) as store, projections.Runner(store.database("race"), [p],
                                                 page_size=40) as runner:
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    runner.run_once()
print("done", flush=True)
"""


def _sums(version: int) -> projections.Projection:
    return projections.Projection(
        "sums",
        source=projections.category("Account"),
        version=version,
        types=["Deposited"],
        initial=0,
    )


def _race(url: str, version: int, go: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, str(version), str(go)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.touch()
    for child in children:
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0 and out.strip() == "done"


def test_two_processes_rebuilding_one_version_record_one_promotion(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'store'}"
    with ses.open(url) as store:
        db = store.create_database("race")
        for n in range(60):
            db.append_batch(
                [
                    ses.StreamAppend(f"Account-{a}", [ses.NewEvent("Deposited", {"amount": n})])
                    for a in range(n % 3, ACCOUNTS, 3)
                ]
            )
        with projections.Runner(db, [_sums(1)]) as runner:
            runner.run_once()
    for version in (2, 3, 4):
        _race(url, version, tmp_path / f"go-{version}-{time.monotonic_ns()}")
    with ses.open(url) as store:
        db = store.database("race")
        promoted = [e.data["version"] for e in db.read_stream("projection.sums.active")]
        assert promoted == [1, 2, 3, 4]
        expected: dict[str, int] = {}
        for event in db.read_category("Account"):
            expected[event.stream] = expected.get(event.stream, 0) + event.data["amount"] * 4
        model = projections.ReadModel(db, _sums(4))
        assert {s: model.state(s) for s in expected} == expected
        # the older versions are kept, each complete, and readable by pinning them
        pinned = projections.ReadModel(db, _sums(4), version=2)
        assert {s: pinned.state(s) for s in expected} == {s: v // 2 for s, v in expected.items()}
