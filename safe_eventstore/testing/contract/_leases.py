"""Leases: taken, renewed and released; refused to another owner until they expire; taken by
exactly one of several racing threads or processes; bad input refused with nothing written."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import safe_eventstore as ses

from ._fixtures import DATABASE, PATIENCE, _finish, _python, _shared

SHORT = 0.3  # seconds: a time to live that a test waits out
LONG = 600.0  # seconds: a time to live no test waits out


def _wait_out(lease: ses.Lease) -> None:
    """Sleep until ``lease`` has expired by this process's clock."""
    while not lease.expired():
        time.sleep(max((lease.expires_at - datetime.now(UTC)).total_seconds(), 0.01))


def _leases(db: ses.Database) -> list[tuple[str, str, int, dict[str, Any]]]:
    return [(x.name, x.owner, x.epoch, x.info) for x in db.list_leases()]


def test_a_lease_is_taken_renewed_and_released(db: ses.Database) -> None:
    assert db.get_lease("projection-balances") is None
    assert db.list_leases() == []
    before = datetime.now(UTC)
    lease = db.take_lease("projection-balances", "agent-a", ttl=LONG)
    assert lease is not None
    assert (lease.name, lease.owner, lease.epoch, lease.info) == (
        "projection-balances", "agent-a", 1, {},
    )  # fmt: skip
    assert lease.expires_at.tzinfo is not None
    assert lease.expires_at >= before + timedelta(seconds=LONG - 1)
    assert not lease.expired()
    assert lease.expired(lease.expires_at)
    assert db.get_lease("projection-balances") == lease

    renewed = db.take_lease("projection-balances", "agent-a", ttl=LONG, info={"state": "running"})
    assert renewed is not None
    assert (renewed.owner, renewed.epoch, renewed.info) == ("agent-a", 1, {"state": "running"})
    assert renewed.expires_at >= lease.expires_at
    assert db.get_lease("projection-balances") == renewed

    assert db.release_lease("projection-balances", "agent-b") is False  # not its holder
    assert db.get_lease("projection-balances") == renewed
    assert db.release_lease("projection-balances", "agent-a") is True
    assert db.release_lease("projection-balances", "agent-a") is False  # free already
    assert db.get_lease("projection-balances") is None
    assert db.list_leases() == []
    assert db.release_lease("never-taken", "agent-a") is False

    # free again: anyone may take it, with a new epoch (the epoch never goes back)
    again = db.take_lease("projection-balances", "agent-b", ttl=LONG)
    assert again is not None and (again.owner, again.epoch) == ("agent-b", 2)


def test_another_owner_is_refused_until_the_lease_expires(db: ses.Database) -> None:
    first = db.take_lease("job", "agent-a", ttl=SHORT, info={"n": 1})
    assert first is not None and first.epoch == 1
    assert db.take_lease("job", "agent-b", ttl=LONG, info={"n": 2}) is None
    assert db.get_lease("job") == first  # the refused take changed nothing
    _wait_out(first)
    stored = db.get_lease("job")
    assert stored == first and stored.expired()  # an expired lease is still listed
    assert _leases(db) == [("job", "agent-a", 1, {"n": 1})]

    taken = db.take_lease("job", "agent-b", ttl=LONG, info={"n": 2})
    assert taken is not None and (taken.owner, taken.epoch, taken.info) == ("agent-b", 2, {"n": 2})
    assert db.take_lease("job", "agent-a", ttl=LONG) is None
    assert db.release_lease("job", "agent-a") is False  # it lost the lease
    assert db.get_lease("job") == taken

    # the holder renews past expiry (nobody took it in between): the epoch stays
    short = db.take_lease("job", "agent-b", ttl=SHORT)
    assert short is not None and short.epoch == 2
    _wait_out(short)
    late = db.take_lease("job", "agent-b", ttl=LONG)
    assert late is not None and late.epoch == 2


def test_lease_info_names_and_listing(store: ses.Store, db: ses.Database) -> None:
    info = {"state": "running", "rate": 1234.5, "pid": 4242, "host": "héte", "tags": [1, None]}
    names = ["b-lease", "a.lease*>", "émail", "L" + "é" * 150]  # names a backend escapes
    for n, name in enumerate(names):
        assert db.take_lease(name, f"owner {n} é", ttl=LONG, info=info) is not None
    assert [x.name for x in db.list_leases()] == sorted(names)
    for n, name in enumerate(names):
        lease = db.get_lease(name)
        assert lease is not None and lease.owner == f"owner {n} é" and lease.info == info
    assert db.release_lease("émail", "owner 2 é")
    assert [x.name for x in db.list_leases()] == sorted(set(names) - {"émail"})

    big = {"blob": "x" * 4000}  # at the limit is fine
    assert db.take_lease("big", "o", ttl=LONG, info=big) is not None
    assert db.get_lease("big").info == big  # type: ignore[union-attr]

    # leases belong to their database
    other = store.create_database("other")
    assert other.list_leases() == []
    assert other.take_lease("b-lease", "someone", ttl=LONG) is not None
    assert db.get_lease("b-lease").owner == "owner 0 é"  # type: ignore[union-attr]


def test_leases_need_the_database(store: ses.Store) -> None:
    s = store.storage
    with pytest.raises(ses.DatabaseNotFound):
        s.take_lease("nothere", "job", "o", 1.0, b"{}", time.time_ns() // 1000)
    with pytest.raises(ses.DatabaseNotFound):
        s.read_leases("nothere")
    with pytest.raises(ses.DatabaseNotFound):
        s.release_lease("nothere", "job", "o")


_BAD_NAMES = ["", "x" * 201, "with space", "tab\there", "line\nbreak", "nul\x00", 7, None]
_BAD_OWNERS = ["", "o" * 201, 7, None, b"owner"]
_BAD_TTLS = [0, -1, 0.0, 3600.5, 10_000, True, "10", None, float("nan"), float("inf")]
_BAD_INFOS: list[Any] = [
    ["a list"],
    "text",
    {"blob": "x" * 4100},
    {"obj": object()},
    {1: "not a string key"},
]


def test_bad_lease_input_is_refused_and_changes_nothing(db: ses.Database) -> None:
    held = db.take_lease("held", "agent-a", ttl=LONG, info={"k": 1})
    before = db.list_leases()
    for name in _BAD_NAMES:
        with pytest.raises(ses.InvalidName):
            db.take_lease(name, "agent-b", ttl=LONG)  # type: ignore[arg-type]
        with pytest.raises(ses.InvalidName):
            db.release_lease(name, "agent-a")  # type: ignore[arg-type]
        with pytest.raises(ses.InvalidName):
            db.get_lease(name)  # type: ignore[arg-type]
    for owner in _BAD_OWNERS:
        with pytest.raises(ses.InvalidLease):
            db.take_lease("fresh", owner, ttl=LONG)  # type: ignore[arg-type]
        with pytest.raises(ses.InvalidLease):
            db.release_lease("held", owner)  # type: ignore[arg-type]
    for ttl in _BAD_TTLS:
        with pytest.raises(ses.InvalidLease):
            db.take_lease("fresh", "agent-b", ttl=ttl)  # type: ignore[arg-type]
        with pytest.raises(ses.InvalidLease):
            db.take_lease("held", "agent-a", ttl=ttl)  # type: ignore[arg-type]
    for info in _BAD_INFOS:
        with pytest.raises(ses.InvalidLease):
            db.take_lease("fresh", "agent-b", ttl=LONG, info=info)
        with pytest.raises(ses.InvalidLease):
            db.take_lease("held", "agent-a", ttl=LONG, info=info)
    assert issubclass(ses.InvalidLease, ses.InvalidInput)
    assert db.list_leases() == before
    assert db.get_lease("held") == held
    assert db.get_lease("fresh") is None
    with pytest.raises(ses.InvalidInput):
        held.expired(datetime(2030, 1, 1))  # type: ignore[union-attr]  # no time zone


def test_leases_through_the_async_api(store_url: str) -> None:
    async def main() -> None:
        async with ses.open_async(store_url) as store:
            db = await store.create_database("asyncdb")
            lease = await db.take_lease("job", "agent-a", ttl=LONG, info={"state": "up"})
            assert lease is not None and lease.epoch == 1
            assert await db.take_lease("job", "agent-b", ttl=LONG) is None
            assert await db.get_lease("job") == lease
            assert [x.name for x in await db.list_leases()] == ["job"]
            with pytest.raises(ses.InvalidLease):
                await db.take_lease("job", "agent-a", ttl=0)
            assert await db.release_lease("job", "agent-b") is False
            assert await db.release_lease("job", "agent-a") is True
            assert await db.get_lease("job") is None
            taken = await db.take_lease("job", "agent-b", ttl=LONG)
            assert taken is not None and (taken.owner, taken.epoch) == ("agent-b", 2)

    asyncio.run(main())


def test_racing_threads_take_a_free_lease_once(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    """Threads with handles of their own (other connections, when the store is shared) try
    to take one free lease at the same moment, round after round: one gets it each time."""
    clients = 4
    stores = (
        [ses.open(store_url) for _ in range(clients)]
        if store.storage.shared_across_processes
        else []
    )
    try:
        dbs = [s.database(DATABASE) for s in stores] or [db] * clients
        start = threading.Barrier(clients)
        winners: list[list[int]] = [[] for _ in range(3)]

        def racer(k: int) -> None:
            for r in range(3):
                start.wait(PATIENCE)
                if dbs[k].take_lease(f"round-{r}", f"thread-{k}", ttl=LONG) is not None:
                    winners[r].append(k)

        threads = [threading.Thread(target=racer, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PATIENCE)
        assert [len(w) for w in winners] == [1, 1, 1]
        for r, w in enumerate(winners):
            assert db.get_lease(f"round-{r}").owner == f"thread-{w[0]}"  # type: ignore[union-attr]
    finally:
        for s in stores:
            s.close()


_TAKER = """
import json, sys
import safe_eventstore as ses

url, database, owner = sys.argv[1], sys.argv[2], sys.argv[3]
with ses.open(url) as store:
    db = store.database(database)
    print("ready", flush=True)
    sys.stdin.readline()  # start together, to race for real
    lease = db.take_lease("the-one", owner, ttl=600, info={"owner": owner})
    print(json.dumps(None if lease is None else [lease.owner, lease.epoch]), flush=True)
"""


def test_racing_processes_take_a_free_lease_once(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    """Several processes, started together, try to take one free lease: exactly one wins,
    and the stored lease is the winner's."""
    _shared(store)
    takers = [_python(_TAKER, store_url, DATABASE, f"process-{k}") for k in range(4)]
    try:
        for taker in takers:
            assert taker.stdout is not None
            assert taker.stdout.readline().strip() == "ready"
        for taker in takers:
            assert taker.stdin is not None
            taker.stdin.write("go\n")
            taker.stdin.flush()
        results = [json.loads(_finish(taker)[-1]) for taker in takers]
    finally:
        for taker in takers:
            if taker.poll() is None:
                taker.kill()
            taker.communicate()  # reaped, its pipes closed
    won = [r for r in results if r is not None]
    assert len(won) == 1, results
    owner, epoch = won[0]
    assert epoch == 1
    lease = db.get_lease("the-one")
    assert lease is not None and lease.owner == owner and lease.info == {"owner": owner}
