"""A commit wakes a waiter in another process through the database's ping file (sent by a
thread of its own, see storage/sqlite/_notify.py), not the waiter's next check."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import SqliteStorage
from safe_eventstore.testing.contract import _python

PATIENCE = 30.0  # seconds: only turns a hang into a failure

_WAITER = """
import sys
import safe_eventstore as ses
with ses.open(sys.argv[1]) as store:
    storage = store.storage
    position = storage.last_position("bank")
    print("ready", flush=True)
    for _ in range(int(sys.argv[2])):
        assert storage.wait("bank", position, 30.0)
        position = storage.last_position("bank")
        print(position, flush=True)
"""


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return line.strip()


def test_a_commit_wakes_a_waiter_in_another_process(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):  # elsewhere waiters check every 50 ms
        return
    with ses.open(str(tmp_path / "store")) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened")])
        appends = 5
        waiter = _python(_WAITER, str(tmp_path / "store"), str(appends))
        try:
            assert _line(waiter) == "ready"
            time.sleep(0.3)  # the waiter is waiting (and watching) by now
            waits = []
            for n in range(appends):
                started = time.monotonic()
                position = db.append("Account-1", [ses.NewEvent("Deposited", {"n": n})]).position
                assert int(_line(waiter)) == position
                waits.append(time.monotonic() - started)
            # A waiter not woken by the ping would see each commit at its next check, up
            # to a second later: five of them all within half a second is then a 1-in-32
            # chance. Woken, each takes milliseconds.
            assert max(waits) < 0.5, waits
            waiter.communicate(timeout=PATIENCE)
            assert waiter.returncode == 0
        finally:
            if waiter.poll() is None:
                waiter.kill()
        storage = store.storage
        assert isinstance(storage, SqliteStorage)
        pinger = storage._pingers["bank"]
        assert pinger.runs >= 1  # the pings came from the ping thread
