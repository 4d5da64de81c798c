"""The storage contract on real NATS servers: one server, and a 3-node cluster with 3 replicas.

The servers are started once per module on loopback ports; every test gets a store of its
own through a fresh name prefix, and its JetStream streams are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.testing.contract import *  # noqa: F403
from safe_eventstore.testing.contract import _python
from safe_eventstore.testing.nats_servers import NatsServer

from ..conftest import drop, fresh_store

PATIENCE = 30.0  # seconds: only turns a hang into a failure


@pytest.fixture(params=["single", "cluster"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from fresh_store(request, request.param)


def test_the_fixture_gives_each_test_an_empty_store(store_url: str, tmp_path: Path) -> None:
    with ses.open(store_url) as store:
        assert store.list_databases() == []


# -- NATS only: server-side concurrency, a second client, typed errors, the CLI -----------------


def _finish(proc: subprocess.Popen[str]) -> None:
    """Wait for a child process to succeed, and close its pipes."""
    _, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0, err


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        assert proc.stderr is not None
        raise AssertionError(f"child process ended: {proc.stderr.read()}")
    return line.strip()


def _version(db: ses.Database) -> int:
    version = db.stream_version("Race-1")
    return -1 if version is None else version


def test_the_server_lets_exactly_one_of_two_clients_win_each_version(store_url: str) -> None:
    """Two stores (two connections, each with its own remembered heads) append with the same
    expected version at the same moment, forty times: the server takes exactly one."""
    with ses.open(store_url) as first, ses.open(store_url) as second:
        dbs = [first.create_database("race"), second.database("race")]
        start = threading.Barrier(2)
        outcomes: list[list[str]] = [[], []]

        def racer(k: int) -> None:
            for version in range(-1, 39):
                start.wait(PATIENCE)
                event = ses.NewEvent("Raced", {"by": k, "expected": version})
                try:
                    dbs[k].append("Race-1", [event], expected_version=version)
                    outcomes[k].append("won")
                except ses.WrongExpectedVersion:
                    outcomes[k].append("lost")
                    # the winner may still be committing: wait until its version is readable
                    deadline = time.monotonic() + PATIENCE
                    while _version(dbs[k]) <= version:
                        assert time.monotonic() < deadline

        threads = [threading.Thread(target=racer, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PATIENCE * 4)
        assert [sorted(pair) for pair in zip(*outcomes, strict=True)] == [["lost", "won"]] * 40
        events = dbs[0].read_stream("Race-1")
        assert [e.version for e in events] == list(range(40))
        assert [e.data["expected"] for e in events] == list(range(-1, 39))
        assert dbs[1].verify().ok


_RACER = """
import json, sys, uuid
import safe_eventstore as ses

url, count = sys.argv[1], int(sys.argv[2])
with ses.open(url) as store:
    db = store.database("race")
    print("ready", flush=True)
    sys.stdin.readline()
    won, lost = [], 0
    while len(won) < count:
        version = db.stream_version("Race-1")
        expected = ses.NO_STREAM if version is None else version
        event_id = uuid.uuid4()
        try:
            result = db.append(
                "Race-1", [ses.NewEvent("Raced", {}, event_id=event_id)], expected_version=expected
            )
        except ses.WrongExpectedVersion:
            lost += 1
            continue
        won.append([result.first_version, str(event_id)])
    print(json.dumps({"won": won, "lost": lost}), flush=True)
"""


@pytest.mark.slow
def test_two_processes_racing_on_one_stream_each_win_distinct_versions(store_url: str) -> None:
    count = 60
    with ses.open(store_url) as store:
        db = store.create_database("race")
        racers = [_python(_RACER, store_url, str(count)) for _ in range(2)]
        for racer in racers:
            assert _line(racer) == "ready"
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        results = [json.loads(_line(racer)) for racer in racers]
        for racer in racers:
            _finish(racer)
        won = [tuple(w) for r in results for w in r["won"]]
        assert sorted(v for v, _ in won) == list(range(2 * count))  # each version won once
        events = db.read_stream("Race-1")
        assert [(e.version, str(e.event_id)) for e in events] == sorted(won)
        assert db.verify().ok
    lost = sum(r["lost"] for r in results)
    print(f"two processes, {2 * count} versions: {lost} appends lost a race")


_FOLLOWER = """
import json, sys
import safe_eventstore as ses

url, count = sys.argv[1], int(sys.argv[2])
with ses.open(url) as store:
    db = store.database("shared")
    stored = db.read_all()[:]
    print(json.dumps({
        "databases": store.list_databases(),
        "categories": db.list_categories(),
        "streams": db.list_streams(),
        "versions": {s: db.stream_version(s) for s in db.list_streams()},
        "events": [[e.stream, e.version, e.position, e.data] for e in stored],
    }), flush=True)
    with db.subscribe(from_position=stored[-1].position + 1) as sub:
        print("subscribed", flush=True)
        for _ in range(count):
            e = sub.get(timeout=30)
            print(json.dumps([e.stream, e.version, e.position, e.data]), flush=True)
"""


@pytest.mark.slow
def test_a_second_process_sees_the_same_store_and_follows_it_live(store_url: str) -> None:
    with ses.open(store_url) as store:
        store.create_database("other")
        db = store.create_database("shared")
        for n in range(6):
            db.append(("Order-1", "Order-2", "Cart-1")[n % 3], [ses.NewEvent("Added", {"n": n})])
        follower = _python(_FOLLOWER, store_url, "5")
        seen = json.loads(_line(follower))
        assert seen["databases"] == ["other", "shared"]
        assert seen["categories"] == db.list_categories() == ["Cart", "Order"]
        assert seen["streams"] == db.list_streams() == ["Cart-1", "Order-1", "Order-2"]
        assert seen["versions"] == {"Cart-1": 1, "Order-1": 1, "Order-2": 1}
        mine = [[e.stream, e.version, e.position, e.data] for e in db.read_all()]
        assert seen["events"] == mine
        assert _line(follower) == "subscribed"
        live = []
        for n in range(6, 11):
            db.append("Order-1", [ses.NewEvent("Added", {"n": n})])
            started = time.monotonic()
            live.append(json.loads(_line(follower)))
            assert time.monotonic() - started < PATIENCE / 3  # woken by the append
        _finish(follower)
        assert live == [[e.stream, e.version, e.position, e.data] for e in db.read_all()][6:]


def test_the_cli_works_on_a_nats_store(store_url: str) -> None:
    from click.testing import CliRunner

    from safe_eventstore.cli import main

    def ok(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--store", store_url])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    assert "created database bank" in ok("db", "create", "bank")
    assert ok("db", "list").split() == ["bank"]
    ok("append", "Account-1", "Opened", '{"owner": "ann"}', "--db", "bank")
    ok(
        "append",
        "Account-1",
        "Deposited",
        '{"amount": 5}',
        "--db",
        "bank",
        "--expected-version",
        "0",
    )
    assert "Deposited" in ok("read", "Account-1", "--db", "bank")
    assert "Account-1" in ok("streams", "--db", "bank")
    assert "ok" in ok("verify", "--db", "bank").lower()
    assert "2" in ok("stats", "--db", "bank")


def _typed(exc: BaseException) -> None:
    """An error the store raises is one of its own, whatever the driver said underneath."""
    assert isinstance(exc, ses.SafeEventStoreError)
    assert type(exc).__module__.startswith("safe_eventstore"), type(exc)


def test_no_server_at_the_address_is_store_unavailable() -> None:
    from safe_eventstore.testing.nats_servers import free_port

    started = time.monotonic()
    port = free_port()
    with pytest.raises(ses.StoreUnavailable, match=f"cannot connect to NATS at .*:{port}") as info:
        ses.open(f"nats://127.0.0.1:{port}?timeout=1")
    _typed(info.value)
    assert time.monotonic() - started < 10


def _unserved_at_first(monkeypatch: pytest.MonkeyPatch, times: int | None) -> list[int]:
    """Make a database's stream not answer its first ``times`` reads of the last position
    (every one, for ``None``), as a replicated stream does right after it is created until
    its servers serve it; the list counts the reads."""
    from safe_eventstore.storage.nats._connection import NoStream
    from safe_eventstore.storage.nats._reads import Reader

    real = Reader.last_position
    calls: list[int] = []

    async def last_position(self: Reader, d: object) -> int:
        calls.append(1)
        if times is None or len(calls) <= times:
            raise NoStream("no JetStream stream answered")
        return await real(self, d)  # type: ignore[arg-type]

    monkeypatch.setattr(Reader, "last_position", last_position)
    return calls


@pytest.fixture
def single_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty store on the single server (``store_url`` without the cluster)."""
    yield from fresh_store(request, "single")


def test_a_new_database_is_served_when_create_database_returns(
    single_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ses.open(single_url) as store:
        calls = _unserved_at_first(monkeypatch, 3)
        db = store.create_database("bank")
        assert len(calls) == 4  # it waited through three reads that found no server
        monkeypatch.undo()
        assert db.append("Account-1", [ses.NewEvent("Opened")]).position == 1


def test_a_new_database_no_server_serves_is_store_unavailable(
    single_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ses.open(f"{single_url}&timeout=0.5") as store:
        _unserved_at_first(monkeypatch, None)
        started = time.monotonic()
        with pytest.raises(ses.StoreUnavailable, match=r"no server served it within 0\.5 s"):
            store.create_database("bank")
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "query",
    ["replicas=0", "replicas=6", "replicas=2.5", "replicas=three", "prefix=a.b", "prefix=",
     "prefix=" + "x" * 33, "prefix=a_b", "timeout=0", "timeout=soon", "colour=blue"],
)  # fmt: skip
def test_bad_nats_options_are_invalid_urls(nats_server: NatsServer, query: str) -> None:
    with pytest.raises(ses.InvalidURL):
        ses.open(f"{nats_server.url}?{query}")


@pytest.mark.parametrize("url", ["nats://", "nats://,", "nats://host:4222/path"])
def test_bad_nats_addresses_are_invalid_urls(url: str) -> None:
    with pytest.raises(ses.InvalidURL):
        ses.open(url)


def test_more_replicas_than_servers_is_a_typed_error(nats_server: NatsServer) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with ses.open(f"{nats_server.url}?prefix={prefix}&replicas=3") as store:
        with pytest.raises(ses.StorageError) as info:
            store.create_database("bank")
        _typed(info.value)
        assert store.list_databases() == []


def test_a_database_removed_underneath_is_database_not_found(nats_server: NatsServer) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with ses.open(f"{nats_server.url}?prefix={prefix}") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {})])
        drop(nats_server.url, prefix)
        calls = [
            lambda: db.append("Account-1", [ses.NewEvent("Deposited", {})]),
            lambda: db.read_stream("Account-1")[:],
            lambda: db.read_all()[:],
            lambda: db.stream_version("Account-1"),
            db.list_streams,
            db.stats,
            lambda: db.get_checkpoint("reader"),
            lambda: db.save_checkpoint("reader", 1),
            lambda: store.database("bank"),
        ]
        for call in calls:
            with pytest.raises(ses.DatabaseNotFound) as info:
                call()
            _typed(info.value)


def _wait_stopped(pid: int) -> None:
    """Wait until every thread of a process is stopped (a busy machine takes a moment to
    stop them all after SIGSTOP, and a thread still running may answer). Linux only: where
    there is no /proc, return at once."""
    deadline = time.monotonic() + PATIENCE
    tasks = Path(f"/proc/{pid}/task")
    while tasks.exists():
        states = []
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        if all(state in ("T", "t") for state in states):
            return
        assert time.monotonic() < deadline
        time.sleep(0.001)


@pytest.mark.slow
def test_a_dead_or_frozen_server_gives_store_unavailable_and_work_resumes(
    tmp_path: Path,
) -> None:
    server = NatsServer(tmp_path / "alone")
    server.start()
    try:
        with ses.open(f"{server.url}?timeout=1") as store:
            db = store.create_database("bank")
            db.append("Account-1", [ses.NewEvent("Opened", {})])
            assert server.process is not None
            server.process.send_signal(signal.SIGSTOP)  # alive, but answers nothing
            _wait_stopped(server.process.pid)
            try:
                for call in (
                    lambda: db.append("Account-1", [ses.NewEvent("Deposited", {})]),
                    lambda: db.read_all()[:],
                ):
                    started = time.monotonic()
                    with pytest.raises(ses.StoreUnavailable) as info:
                        call()
                    _typed(info.value)
                    assert time.monotonic() - started < 10
            finally:
                server.process.send_signal(signal.SIGCONT)
            server.kill()
            for call in (
                lambda: db.append("Account-1", [ses.NewEvent("Deposited", {})]),
                lambda: db.read_stream("Account-1")[:],
                db.list_streams,
            ):
                with pytest.raises(ses.StoreUnavailable) as info:
                    call()
                _typed(info.value)
            server.start()  # the same data directory: the store reconnects by itself
            deadline = time.monotonic() + PATIENCE
            while True:
                try:
                    db.append("Account-1", [ses.NewEvent("Deposited", {"again": True})])
                    break
                except ses.StoreUnavailable:
                    assert time.monotonic() < deadline
            events = db.read_stream("Account-1")
            assert events[0].type == "Opened" and events[-1].data == {"again": True}
            assert [e.version for e in events] == list(range(len(events)))
            assert db.verify().ok
    finally:
        server.stop()


def test_an_append_refused_halfway_leaves_nothing_that_counts(store_url: str) -> None:
    """A store whose remembered head is out of date has its append refused by the server,
    possibly after the payload and the id marker went in (on one replica, an append of one
    entry is a chain of messages, the entry last). Retried afresh, the append is stored once;
    retried again with the same event id, it is recognised; stats and listings see only
    what entries refer to."""
    note = "n" * 300  # payloads of their own messages, not kept in their entries
    with ses.open(store_url) as first, ses.open(store_url) as second:
        a = first.create_database("bank")
        b = second.database("bank")
        a.append("Account-1", [ses.NewEvent("Opened", {"note": note})])
        assert b.stream_version("Account-1") == 0  # b remembers this head
        a.append("Account-1", [ses.NewEvent("Deposited", {"by": "a", "note": note})])
        event = ses.NewEvent("Deposited", {"by": "b", "note": note}, event_id=uuid.uuid4())
        result = b.append("Account-1", [event])  # refused on the stale head, then stored
        assert (result.first_version, result.last_version) == (2, 2)
        for db in (a, b):
            assert db.append("Account-1", [event]) == result
            with pytest.raises(ses.IdempotencyConflict):
                db.append("Account-1", [event, ses.NewEvent("Deposited", {})])
        events = a.read_stream("Account-1")
        assert [e.version for e in events] == [0, 1, 2]
        assert [e.event_id for e in events].count(event.event_id) == 1
        stats = a.stats()
        assert (stats["events"], stats["streams"], stats["payloads"]) == (3, 1, 3)
        report = b.verify()
        assert report.ok and report.payloads == 3


class AckLoser:
    """A TCP relay in front of a NATS server. Armed, it keeps the next publish
    acknowledgement from the client (the server has stored the message by then), and
    either cuts the client's connection or leaves it open for the client to time out."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"nats://127.0.0.1:{self.listener.getsockname()[1]}"
        self.armed: str | None = None
        self.lost = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next_ack(self, how: str) -> None:
        self.armed = how

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for src, dst, acks in ((client, server, False), (server, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, acks), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, acks: bool) -> None:
        try:
            while data := src.recv(65536):
                if acks and self.armed and b'"seq":' in data:  # a JetStream publish ack
                    with self.lock:
                        how, self.armed = self.armed, None
                        self.lost += 1
                    if how == "cut":
                        break
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


@pytest.mark.parametrize("how", ["cut", "timeout"])
def test_an_append_whose_acknowledgement_is_lost_is_stored_once(
    nats_server: NatsServer, how: str
) -> None:
    """The server stores an append, but its acknowledgement never reaches the client (the
    connection drops, or the client times out): the store tries again and must find the
    append stored, returning its original result, not store it twice (appends with
    generated event ids carry no marker to find it by). Covers a chain (one event, to an
    existing stream), a batch (a new stream; several events), a conditional append and a
    restructure."""
    relay = AckLoser(nats_server.port)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    try:
        with ses.open(f"{relay.url}?prefix={prefix}&timeout=2") as store:
            db = store.create_database("bank")
            db.append("Account-1", [ses.NewEvent("Opened", {})])
            lost = 0
            calls = [
                lambda: db.append(
                    "Account-1", [ses.NewEvent("Deposited", {"n": 1})], expected_version=0
                ),
                lambda: db.append("Account-1", [ses.NewEvent("Deposited", {"n": 2})]),
                lambda: db.append(
                    "Account-2", [ses.NewEvent("Opened", {})], expected_version=ses.NO_STREAM
                ),
                lambda: db.append(
                    "Account-2", [ses.NewEvent("Deposited", {"n": n}) for n in range(3)]
                ),
                lambda: db.append_events(
                    [ses.NewEvent("Registered", {}, tags=("student-1",))],
                    condition=ses.AppendCondition(
                        ses.Query([ses.QueryItem(tags=("student-1",))]), None
                    ),
                ),
                lambda: db.restructure("Account-2", 2, ses.NewEvent("Fixed", {}), reason="typo"),
            ]
            results = []
            for call in calls:
                relay.lose_next_ack(how)
                results.append(call())
                assert relay.lost == lost + 1  # the acknowledgement was really lost
                lost = relay.lost
            streams = {s: db.read_stream(s)[:] for s in ("Account-1", "Account-2", "$events")}
            assert [e.type for e in streams["Account-1"]] == ["Opened", "Deposited", "Deposited"]
            assert [e.type for e in streams["Account-2"]] == [
                "Opened", "Deposited", "Fixed", "Deposited"
            ]  # fmt: skip
            assert [e.type for e in streams["$events"]] == ["Registered"]
            expected = [
                (1, 1, streams["Account-1"][1].position),
                (2, 2, streams["Account-1"][2].position),
                (0, 0, streams["Account-2"][0].position),
                (1, 3, streams["Account-2"][3].position),
                (0, 0, streams["$events"][0].position),
            ]
            raw = db.read_stream("Account-2", raw=True)[:]
            assert [e.kind for e in raw] == ["event"] * 4 + ["restructure"]
            expected.append((2, 2, raw[-1].position))
            got = [(r.first_version, r.last_version, r.position) for r in results]
            assert got == expected
            assert (db.stats()["events"], db.stats()["restructures"]) == (8, 1)
            assert db.verify().ok
    finally:
        relay.close()
        drop(nats_server.url, prefix)


@pytest.mark.slow
def test_payloads_span_many_messages_and_a_batch_past_the_limit_stores_nothing(
    tmp_path: Path,
) -> None:
    """On a server that takes messages of at most 64 KiB, a 6 MiB event is cut into about a
    hundred chunks, stored in one atomic batch and read back whole; an append that needs more
    messages than the server commits in one batch is refused and stores nothing."""
    with NatsServer(tmp_path / "small", max_payload=64 * 1024) as server:
        with ses.open(server.url) as store:
            db = store.create_database("files")
            db.append("File-0", [ses.NewEvent("Created", {})])
            payload = os.urandom(6 * 1024 * 1024)
            result = db.append("File-1", [ses.NewEvent("Uploaded", payload)])
            (event,) = db.read_stream("File-1")
            assert event.data == payload and event.position == result.position
            before = db.stats()
            too_many = [ses.NewEvent("Uploaded", os.urandom(40_000)) for _ in range(600)]
            with pytest.raises(ses.InvalidEvent):
                db.append("File-2", too_many)
            assert db.stream_version("File-2") is None
            assert db.stats() == before
            report = db.verify()
            assert report.ok and report.payloads == 1  # the first event's is in its entry


def test_a_server_without_jetstream_is_store_unavailable(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "plain", jetstream=False) as server:
        with ses.open(f"{server.url}?timeout=2") as store:
            for call in (store.list_databases, lambda: store.create_database("bank")):
                with pytest.raises(ses.StoreUnavailable) as info:
                    call()
                _typed(info.value)
            with pytest.raises(ses.SafeEventStoreError) as info:
                store.database("bank")
            _typed(info.value)


def test_versions_and_seqs_are_found_anywhere_in_a_long_stream(store_url: str) -> None:
    """A stream's entries share one subject; an entry of a given version or seq is found by
    bisecting positions. Check it against the whole stream, with restructures in between,
    other streams' entries interleaved, and nothing remembered from earlier reads."""
    with ses.open(store_url) as store:
        db = store.create_database("long")
        for n in range(120):
            db.append("Long-1", [ses.NewEvent("Step", {"n": n})])
            if n % 7 == 3:
                db.append("Other-1", [ses.NewEvent("Noise", {"n": n})])
            if n % 17 == 5:
                db.restructure("Long-1", n // 2, ses.NewEvent("Fixed", {"n": n}), reason="t")
        raw = [(e.kind, e.version, e.position) for e in db.read_stream("Long-1", raw=True)]
        assert len(raw) == 120 + len(range(5, 120, 17))
    for version in (0, 1, 2, 57, 58, 118, 119):
        with ses.open(store_url) as store:  # nothing remembered
            db = store.database("long")
            got = [e.version for e in db.read_stream("Long-1", from_version=version, limit=3)]
            assert got == list(range(version, min(version + 3, 120)))
            back = [
                e.version for e in db.read_stream("Long-1", from_version=version, backwards=True)
            ]
            assert back == list(range(version, -1, -1))
            entries = [(e.kind, e.version, e.position) for e in db.read_stream(
                "Long-1", raw=True, from_version=version, limit=4)]  # fmt: skip
            first = next(i for i, r in enumerate(raw) if r[0] == "event" and r[1] == version)
            assert entries == raw[first : first + 4]
    with ses.open(store_url) as store:
        db = store.database("long")
        assert [e.version for e in db.read_stream("Long-1", from_version=120)] == []
        assert db.read_stream("Long-1", backwards=True, limit=1)[0].version == 119
        assert db.verify().ok
