"""Closing a SQLite store while other threads use it: they get StoreClosed, nothing
crashes. (Closing a connection under a running statement crashes the sqlite3 module
itself, so the scenario runs in a child process: a crash fails the test, not the suite.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCENARIO = textwrap.dedent(
    """
    import sys, threading, time
    import safe_eventstore as ses

    for n in range(15):
        store = ses.open(f"sqlite://{sys.argv[1]}/store-{n}")
        db = store.create_database("x")
        db.append("S-1", [ses.NewEvent("E", {"i": i}) for i in range(200)])
        failures = []

        def work(write):
            while True:
                try:
                    if write:
                        db.append("S-2", [ses.NewEvent("E", {})])
                    else:
                        list(db.read_category("S", limit=50))
                except ses.StoreClosed:
                    return
                except Exception as exc:
                    failures.append(exc)
                    return

        threads = [threading.Thread(target=work, args=(i == 0,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.02)
        store.close()
        for t in threads:
            t.join()
        assert not failures, failures
    print("ok")
    """
)


def test_closing_under_running_readers_and_writers_raises_store_closed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
