"""Crash tests with real processes: a child appends batches and reports each acknowledged
append; the test SIGKILLs it at a random moment, several times, then checks that every
acknowledged append is stored, that no batch is stored in part, and that ``verify`` is ok."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

import safe_eventstore as ses

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]

ROOT = Path(ses.__file__).resolve().parent.parent
KILLS = 4

# Each batch goes to one or two streams (two make a multi-stream atomic batch); every event
# carries its batch id and the batch's size, so a partly stored batch shows. A line on
# stdout is printed only after the append returned: an acknowledgement.
CHILD = """
import random, sys, threading
import safe_eventstore as ses

path, run, writers, durability = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
store = ses.open(path, durability=durability)
db = store.database("crash")
out = threading.Lock()

def write(w):
    rng = random.Random(f"{run}-{w}")
    n = 0
    while True:
        n += 1
        batch = f"{run}-{w}-{n}"
        streams = [f"Account-{w}-{rng.randrange(4)}"]
        if rng.random() < 0.3:
            streams.append(f"Ledger-{w}-{rng.randrange(2)}")
        size = rng.randint(1, 30)
        appends = [
            ses.StreamAppend(
                s,
                [ses.NewEvent("Posted", {"batch": batch, "size": size * len(streams), "i": i,
                                         "pad": "x" * rng.randrange(200)})
                 for i in range(size)],
            )
            for s in streams
        ]
        db.append_batch(appends)
        with out:
            sys.stdout.write(f"{batch} {size * len(streams)}\\n")
            sys.stdout.flush()

with out:
    print("ready", flush=True)
threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(writers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def _run_and_kill(
    path: Path, run: int, writers: int, durability: str, rng: random.Random
) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(run), str(writers), durability],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    acked: dict[str, int] = {}
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "ready":
                ready.set()
            else:
                lines.append(line)

    reader = threading.Thread(target=read)
    reader.start()
    assert ready.wait(30), "the child did not start"
    time.sleep(rng.uniform(0.2, 1.0))
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    reader.join(30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    for line in lines:
        parts = line.split()
        if len(parts) == 2:  # a line cut short by the kill was never a whole acknowledgement
            acked[parts[0]] = int(parts[1])
    return acked


def _check(path: Path, acked: dict[str, int]) -> None:
    with ses.open(str(path)) as store:
        db = store.database("crash")
        stored: dict[str, int] = defaultdict(int)
        sizes: dict[str, int] = {}
        for event in db.read_all():
            batch = event.data["batch"]
            stored[batch] += 1
            sizes[batch] = event.data["size"]
        missing = [b for b in acked if stored.get(b) != acked[b]]
        assert not missing, f"acknowledged batches lost or cut: {missing[:5]}"
        partial = [b for b, n in stored.items() if n != sizes[b]]
        assert not partial, f"batches stored in part: {partial[:5]}"
        report = db.verify()
        assert report.ok, report.problems[:5]


@pytest.mark.parametrize(
    ("writers", "durability"),
    [(1, "full"), (1, "relaxed"), (8, "full")],
    ids=["1-writer", "1-writer-relaxed", "8-writers"],
)
def test_acknowledged_appends_survive_sigkill(
    tmp_path: Path, writers: int, durability: str
) -> None:
    path = tmp_path / "store"
    with ses.open(str(path)) as store:
        store.create_database("crash")
    rng = random.Random()
    acked: dict[str, int] = {}
    for run in range(KILLS):
        got = _run_and_kill(path, run, writers, durability, rng)
        assert got, "the child acknowledged nothing before the kill"
        acked.update(got)
        _check(path, acked)
