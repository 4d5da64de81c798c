"""Retries on NATS whose earlier attempt lands late: its acknowledgement never came, and its
messages reach the server only after the retry began. The retry must give the append's
original result (never an error for an append that was stored, never a second copy).

The late landing is made on a real nats-server: the first batch publish raises a timeout
instead of sending, its messages are held, and they are published for real just before the
retry makes a chosen read."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.testing.nats_servers import NatsServer

from ..conftest import drop


@pytest.fixture
def db(nats_server: NatsServer) -> Iterator[ses.Database]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    try:
        with ses.open(f"{nats_server.url}?prefix={prefix}&timeout=3") as store:
            database = store.create_database("bank")
            database.append("Account-1", [ses.NewEvent("Opened", {})])
            yield database
    finally:
        drop(nats_server.url, prefix)


def _land_late(db: ses.Database, before: str) -> dict[str, Any]:
    """Hold the next batch publish (it raises a timeout) and publish it for real just
    before the next call of the reader's ``before``."""
    storage: Any = db._storage
    conn, reader = storage._conn, storage._reader
    real_batch, real_read = conn.publish_batch, getattr(reader, before)
    state: dict[str, Any] = {"held": None, "landed": None}

    async def publish_batch(msgs: Any) -> Any:
        if state["held"] is None:
            state["held"] = [(s, d, dict(h)) for s, d, h in msgs]
            raise TimeoutError
        return await real_batch(msgs)

    async def read(*args: Any, **kwargs: Any) -> Any:
        if state["held"] is not None and state["landed"] is None:
            state["landed"] = await real_batch(state["held"])
        return await real_read(*args, **kwargs)

    conn.publish_batch = publish_batch
    setattr(reader, before, read)
    return state


def test_a_conditional_append_refused_by_its_own_late_attempt_returns_its_result(
    db: ses.Database,
) -> None:
    state = _land_late(db, "last_on")  # lands between the retry's scan and its condition
    boundary = ses.Query([ses.QueryItem(tags=("student-1",))])
    result = db.append_events(
        [ses.NewEvent("Registered", {}, tags=("student-1",))],
        condition=ses.AppendCondition(boundary, after=None),
    )
    assert state["landed"] is not None
    stored = db.read_events(boundary)[:]
    assert [e.position for e in stored] == [result.position]


def test_a_checkpointed_append_refused_by_its_own_late_attempt_returns_its_result(
    db: ses.Database,
) -> None:
    state = _land_late(db, "checkpoint")  # lands between the retry's scan and checkpoint
    (result,) = db.append_batch(
        [ses.StreamAppend("Account-1", [ses.NewEvent("Deposited", {})])],
        checkpoint=("projector", 7),
    )
    assert state["landed"] is not None
    assert [e.version for e in db.read_stream("Account-1")] == [0, 1]
    assert (result.first_version, result.last_version) == (1, 1)
    assert db.get_checkpoint("projector") == 7


def test_a_checkpoint_alone_whose_acknowledgement_was_lost_is_not_refused(
    db: ses.Database,
) -> None:
    state = _land_late(db, "checkpoint")
    assert db.append_batch([], checkpoint=("projector", 3)) == []
    assert state["landed"] is not None
    assert db.get_checkpoint("projector") == 3
    with pytest.raises(ses.CheckpointConflict):  # an append that truly comes second
        db.append_batch([], checkpoint=("projector", 3))


def test_appends_queued_behind_a_failed_round_are_not_left_waiting(tmp_path: Any) -> None:
    """A frozen server makes the first append's round fail (its read times out) while a
    second append waits behind it; once the server thaws, the second one completes."""
    with NatsServer(tmp_path) as server, ses.open(f"{server.url}?timeout=2") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {})])
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            out: dict[str, object] = {}

            def append(key: str, stream: str) -> None:
                try:
                    out[key] = db.append(stream, [ses.NewEvent("Deposited", {})])
                except ses.SafeEventStoreError as exc:
                    out[key] = exc

            # a stream whose head the client does not know yet: its round reads it first
            first = threading.Thread(target=append, args=("first", "Other-1"), daemon=True)
            first.start()
            time.sleep(0.3)
            second = threading.Thread(target=append, args=("second", "Account-1"), daemon=True)
            second.start()
            first.join(10)
        finally:
            server.process.send_signal(signal.SIGCONT)
        second.join(15)
        assert not second.is_alive(), "the queued append never returned"
        assert "second" in out
