"""A real process running the transfer saga kills itself (SIGKILL) right after a command
took effect, before the page that sent it is stored: again and again, until the saga is
done. Each restart folds the page again and sends the same commands with the same ids; the
router answers them as replays, so every step of every transfer took effect once. Timer
commands are among them: a kill between firing a timer and recording it fires it again,
with the same id, to no effect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import safe_eventstore as ses
from examples.bank.transfers import bank_router

from .test_process import _bank, check_saga

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]

ROOT = Path(ses.__file__).resolve().parent.parent

# The router kills its own process after its ``kill``-th command that took effect (a replay
# does not count, so every run makes progress), between the command and the state batch.
CHILD = """
import os, signal, sys
from datetime import timedelta
import safe_eventstore as ses
from examples.bank.transfers import bank_router
from safe_eventstore import cqrs, projections
from examples.bank import routes
from examples.bank.transfers import transfer_routes, transfer_saga

path, kill, page = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class Dies(cqrs.CommandRouter):
    effects = 0

    def execute(self, command):
        result = super().execute(command)
        print(command.command_id, "replayed" if result.replayed else "new", flush=True)
        if not result.replayed and result.streams:
            Dies.effects += 1
            if Dies.effects == kill:
                os.kill(os.getpid(), signal.SIGKILL)
        return result

def router(db):
    r = Dies(db)
    routes(r)
    transfer_routes(r)
    return r

with ses.open(path) as store:
    db = store.database("bank")
    with projections.Runner(db, [transfer_saga(timedelta(0), router)], page_size=page) as run:
        run.run_once()
print("done", flush=True)
"""


def _child(path: Path, kill: int, page: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", CHILD, f"sqlite://{path}", str(kill), str(page)]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def test_a_saga_killed_between_its_commands_and_its_state_takes_each_step_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store"
    with ses.open(f"sqlite://{path}") as store:
        _bank(bank_router(store.create_database("bank")))
    kills, replays = 0, 0
    for run in range(60):
        done = _child(path, kill=1 + run % 2, page=3 + run % 5)
        replays += done.stdout.count("replayed")
        if done.returncode == 0:
            assert done.stdout.rstrip().endswith("done"), done.stderr
            break
        assert done.returncode == -9, done.stderr
        kills += 1
    else:
        pytest.fail("the saga did not finish in 60 runs")
    assert kills >= 8  # a kill after (nearly) every command of the saga
    assert replays >= kills - 1  # each restart sent the last command again, replayed
    with ses.open(f"sqlite://{path}") as store:
        db = store.database("bank")
        check_saga(db)
        assert db.verify().problems == []
