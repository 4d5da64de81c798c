"""An append to NATS that gets no answer: retried inside the store while its outcome is
unknown, and, when that runs out of time, an :class:`~safe_eventstore.AppendOutcomeUnknown`
after which the caller's retry of the same call stores nothing twice.

A real nats-server is frozen (SIGSTOP) while the append is in flight, so its messages wait
unread in the server's socket; it is then resumed (it stores them late) or killed and
restarted on its data directory (they are lost)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.testing.nats_servers import NatsServer

pytestmark = pytest.mark.slow

TIMEOUT = 1.0  # the store's: each request's wait, and how long an append keeps retrying


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        _resume(server)
        server.stop()


def _freeze(server: NatsServer) -> None:
    """SIGSTOP, then wait until every thread of the server is stopped (on a busy machine a
    thread may still answer for a moment). Linux only: without /proc, return at once."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    deadline = time.monotonic() + 30
    tasks = Path(f"/proc/{server.process.pid}/task")
    while tasks.exists():
        states = []
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        if all(state in ("T", "t") for state in states):
            return
        assert time.monotonic() < deadline
        time.sleep(0.001)


def _resume(server: NatsServer) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.send_signal(signal.SIGCONT)


def _events(n: int, ids: str = "given") -> list[ses.NewEvent]:
    # "made": the ids each NewEvent makes, which an append with an expected version finds
    # by position (no markers); "given": ids of the caller's, found by their markers
    if ids == "made":
        return [ses.NewEvent("Deposited", {"n": k}) for k in range(n)]
    return [ses.NewEvent("Deposited", {"n": k}, event_id=uuid.uuid4()) for k in range(n)]


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def _ids(db: ses.Database, stream: str) -> list[uuid.UUID | None]:
    return [e.event_id for e in db.read_stream(stream)]


@pytest.mark.parametrize("ids", ["given", "made"])
@pytest.mark.parametrize("shape", ["batch", "single"])
def test_an_append_the_server_answers_late_is_retried_inside_and_stored_once(
    server: NatsServer, shape: str, ids: str
) -> None:
    timeout = 2 * TIMEOUT  # room for the server to answer the retry once resumed
    with ses.open(f"{server.url}?timeout={timeout}") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {})])
        db.append("Account-2", [ses.NewEvent("Opened", {})])
        # streams whose heads the store knows, so that the append is sent at once
        if shape == "batch":  # an atomic batch of three events
            stream, events = "Account-2", _events(3, ids)
        else:  # a chain: one event (its marker, if any, then its entry)
            stream, events = "Account-1", _events(1, ids)
        expected = 0
        _freeze(server)
        thread, box = _in_thread(lambda: db.append(stream, events, expected_version=expected))
        # the first attempt's acknowledgement times out; the store's retry is waiting
        time.sleep(timeout * 1.3)
        _resume(server)
        thread.join(30)
        assert "error" not in box, box
        result: ses.AppendResult = box["result"]
        stored = db.read_stream(stream)
        mine = [e for e in stored if e.event_id in {x.event_id for x in events}]
        assert [e.event_id for e in mine] == [x.event_id for x in events]
        assert [e.position for e in mine][-1] == result.position
        assert [e.version for e in stored] == list(range(len(stored)))
        assert db.verify().ok


@pytest.mark.parametrize("ids", ["given", "made"])
@pytest.mark.parametrize("after", ["resumed", "restarted"])
def test_an_append_whose_outcome_stays_unknown_says_so_and_its_retry_stores_it_once(
    server: NatsServer, after: str, ids: str
) -> None:
    with ses.open(f"{server.url}?timeout={TIMEOUT}") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {})])
        events = _events(3, ids)

        def append() -> ses.AppendResult:
            return db.append("Account-1", events, expected_version=0)

        _freeze(server)
        try:
            with pytest.raises(ses.AppendOutcomeUnknown) as info:
                append()
        finally:
            if after == "resumed":  # the server reads the append's messages now
                _resume(server)
            else:  # they are lost with the process
                server.kill()
                server.start()
        assert isinstance(info.value, ses.StoreUnavailable)
        assert "retrying the same call with the same events is safe" in str(info.value)
        deadline = time.monotonic() + 30
        if after == "resumed":  # the unanswered attempt lands late, before the retry
            while len(db.read_stream("Account-1")) < 4:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        while True:  # the caller's retry: the same call, the same event objects
            try:
                result = append()
                break
            except ses.StoreUnavailable:  # the client is still reconnecting
                assert time.monotonic() < deadline
        again = append()  # and once more, for good measure
        assert again.position == result.position
        assert _ids(db, "Account-1")[1:] == [e.event_id for e in events]
        assert [e.version for e in db.read_stream("Account-1")] == [0, 1, 2, 3]
        assert db.verify().ok


def test_an_append_to_a_server_that_never_answers_is_store_unavailable_not_unknown(
    server: NatsServer,
) -> None:
    """Nothing was sent (the store could not even read the stream's head): the outcome is
    known, nothing is stored."""
    with ses.open(f"{server.url}?timeout={TIMEOUT}") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {})])
        with ses.open(f"{server.url}?timeout={TIMEOUT}") as second:
            other = second.database("bank")
            _freeze(server)
            try:
                # a new handle knows no head of this stream: it reads it before sending
                with pytest.raises(ses.StoreUnavailable) as info:
                    other.append("Account-1", _events(1), expected_version=0)
                assert not isinstance(info.value, ses.AppendOutcomeUnknown)
            finally:
                _resume(server)
        assert len(db.read_stream("Account-1")) == 1
