"""Two OS processes racing commands on one aggregate (SQLite and NATS: the backends shared
across processes): the stream's versions stay contiguous and the final state is the sum of
every acknowledged command, so no update is lost and none is applied twice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore import cqrs

from ..conftest import fresh_store
from .bank import Account, Deposit, new_id, routes

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = 60

CHILD = """
import sys
import safe_eventstore as ses
from safe_eventstore import cqrs
from tests.cqrs.bank import Deposit, routes

url, id, first, count, cache = sys.argv[1:]
with ses.open(url) as store:
    router = cqrs.CommandRouter(store.database("bank"), retries=1000, cache=cache == "cache")
    routes(router)
    print("ready", flush=True)
    sys.stdin.readline()
    for amount in range(int(first), int(first) + int(count)):
        router.execute(Deposit(target_id=id, amount=amount))
        print(amount, flush=True)
"""


@pytest.fixture(params=["sqlite", "nats"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'store'}"
    else:
        yield from fresh_store(request, "single")


def _child(url: str, id: str, first: int, cache: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, id, str(first), str(COMMANDS), cache],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_processes_racing_commands_lose_no_update(shared_url: str) -> None:
    with ses.open(shared_url) as store:
        db = store.create_database("bank")
        id = new_id()
        router = cqrs.CommandRouter(db)
        routes(router)
        router.execute(Deposit(target_id=id, amount=1))
        children = [_child(shared_url, id, 1000, "cache"), _child(shared_url, id, 2000, "")]
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        acknowledged = [1]
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            acknowledged += [int(line) for line in out.split()]
        assert len(acknowledged) == 1 + 2 * COMMANDS
        events = list(db.read_stream(f"Account-{id}"))
        assert [e.version for e in events] == list(range(len(acknowledged)))
        assert sorted(e.data.amount for e in events) == sorted(acknowledged)
        assert cqrs.Repository(db, Account).get(id).balance == sum(acknowledged)
