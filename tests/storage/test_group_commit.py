"""Group commit on the SQLite backend: concurrent appends share a transaction, and each keeps
its own checks, result and error."""

from __future__ import annotations

import functools
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.group_commit import GroupCommit, Request
from safe_eventstore.storage.sqlite import SqliteStorage

from ._batches import group_of as _group
from ._batches import in_one_batch as _in_one_batch

_START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ses.Store]:
    with ses.open(str(tmp_path / "store")) as store:
        store.create_database("bank")
        yield store


def _append(db: ses.Database, stream: str, expected: int, **kw: Any) -> Callable[[], object]:
    return lambda: db.append(
        stream, [ses.NewEvent("Deposited", {"n": 1})], expected_version=expected, **kw
    )


def test_lone_events_of_a_batch_go_in_statements_the_variable_limit_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a lone event's row binds eight values (_rows.insert_singles): thirty single appends in
    # one batch take one statement, which also clears the flags of the heads they follow;
    # a connection that binds 99 values takes twelve rows a statement, so three, and the
    # flags are cleared by a statement of their own. Their rows are those of the general
    # sequence, which binds all fourteen values of each.
    from safe_eventstore.storage.sqlite import _append as backend
    from safe_eventstore.storage.sqlite import _records

    events = [
        ses.NewEvent("Deposited", {"n": i}, timestamp=_START + timedelta(seconds=i))
        for i in range(60)
    ]

    def rows(directory: Path, limit: int | None) -> list[tuple[Any, ...]]:
        with ses.open(str(directory)) as store:
            db = store.create_database("bank")
            storage = store.storage
            assert isinstance(storage, SqliteStorage)
            storage._group("bank")
            conn = storage._writers[-1].connection()
            if limit is not None:
                conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
            inserts: list[str] = []
            conn.set_trace_callback(inserts.append)
            for i in range(30):  # the heads the batch's appends follow
                db.append(f"Account-{i}", [events[i]], expected_version=ses.NO_STREAM)
            inserts.clear()
            calls: list[Callable[[], object]] = [
                functools.partial(db.append, f"Account-{i}", [events[30 + i]], expected_version=0)
                for i in range(30)
            ]
            results = _in_one_batch(store, calls)
            assert sorted(r.position for r in results) == list(range(31, 61))  # type: ignore[attr-defined]
            assert db.verify().ok
            assert [[e.data["n"] for e in db.read_stream(f"Account-{i}")] for i in range(30)] == [
                [i, 30 + i] for i in range(30)
            ]
            statements = sum(s.startswith("INSERT INTO entries") for s in inserts)
            statements += 100 * sum(s.startswith("UPDATE entries") for s in inserts)
        conn = sqlite3.connect(directory / "bank.sqlite3")
        try:
            stored = conn.execute("SELECT * FROM entries ORDER BY position").fetchall()
        finally:
            conn.close()
        # the batch takes the threads' appends in the order they queued: each row without
        # its position (in its column and its record)
        placeless = []
        for r in stored:
            entry = _records.decode(r[-1])
            entry.position = 0
            placeless.append((*r[1:-1], _records.encode(entry)))
        return [(statements, *r) for r in sorted(placeless)]

    folded = rows(tmp_path / "folded", None)
    assert folded[0][0] == 1  # one statement, no UPDATE
    lone = rows(tmp_path / "lone", 99)
    assert lone[0][0] == 103  # three statements and an UPDATE

    def general_sequence(self: Any, request: Any, write: Any, blobs: Any) -> None:
        if backend._drafted(request, [write]):  # drafts left to the leader (Write.later)
            backend._run_request(self, request, isolate=False, db="bank", signer=None)

    monkeypatch.setattr(backend._Transaction, "append_one", general_sequence)
    general = rows(tmp_path / "general", None)
    assert general[0][0] == 101  # all bound, in one statement, and an UPDATE
    assert [r[1:] for r in lone] == [r[1:] for r in general] == [r[1:] for r in folded]


def test_a_failure_while_sealing_the_usual_append_fails_its_whole_group(
    store: ses.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the usual append's rows go into the group's pending rows as they are made: a failure
    # there (a bug) may leave some of them behind, so it fails the group's transaction
    # rather than the one request, and nothing of the group is stored
    from safe_eventstore.storage.sqlite import _usual as backend

    encode = backend.encode_values

    def failing(values: tuple[Any, ...]) -> bytes:
        if "Boom" in values:
            raise RuntimeError("sealing failed")
        return encode(values)

    db = store.database("bank")
    db.append("Account-0", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM)
    monkeypatch.setattr(backend, "encode_values", failing)
    calls: list[Callable[[], object]] = [
        _append(db, "Account-0", 0),
        lambda: db.append("Account-1", [ses.NewEvent("Boom")], expected_version=ses.NO_STREAM),
        _append(db, "Account-2", ses.NO_STREAM),
    ]
    results = _in_one_batch(store, calls)
    assert [type(r) for r in results] == [RuntimeError] * 3
    monkeypatch.undo()
    assert db.list_streams() == ["Account-0"]
    assert db.stream_version("Account-0") == 0
    assert db.verify().ok
    assert db.append("Account-0", [ses.NewEvent("Closed")], expected_version=0).last_version == 1


def test_concurrent_appends_share_one_transaction(store: ses.Store) -> None:
    db = store.database("bank")
    before = _group(store).batches
    results = _in_one_batch(store, [_append(db, f"Account-{i}", ses.NO_STREAM) for i in range(8)])
    assert _group(store).batches - before == 1  # the held leader's, which all others join
    assert all(isinstance(r, ses.AppendResult) for r in results)
    positions = sorted(r.position for r in results if isinstance(r, ses.AppendResult))
    assert positions == list(range(1, 9))
    assert [e.position for e in db.read_all()] == list(range(1, 9))
    assert db.verify().ok


def test_a_conflict_fails_only_its_own_append(store: ses.Store) -> None:
    db = store.database("bank")
    db.append("Account-0", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM)
    calls = [
        _append(db, "Account-1", ses.NO_STREAM),
        _append(db, "Account-2", ses.NO_STREAM),
        _append(db, "Account-0", ses.NO_STREAM),  # conflict: the stream exists
        _append(db, "Account-3", ses.NO_STREAM),
        _append(db, "Account-0", 5),  # conflict: wrong version
        _append(db, "Account-4", ses.NO_STREAM),
    ]
    results = _in_one_batch(store, calls)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 2
    assert all(isinstance(e, ses.WrongExpectedVersion) for e in errors)
    assert {e.actual for e in errors if isinstance(e, ses.WrongExpectedVersion)} == {0}
    ok = [r for r in results if isinstance(r, ses.AppendResult)]
    assert len(ok) == 4
    assert sorted(r.position for r in ok) == [2, 3, 4, 5]  # no gaps from the failed ones
    assert db.stream_version("Account-0") == 0
    assert db.verify().ok


def test_racing_appends_to_one_stream_in_one_batch(store: ses.Store) -> None:
    db = store.database("bank")
    results = _in_one_batch(store, [_append(db, "Account-1", ses.NO_STREAM) for _ in range(5)])
    assert sum(isinstance(r, ses.AppendResult) for r in results) == 1
    assert sum(isinstance(r, ses.WrongExpectedVersion) for r in results) == 4
    assert len(db.read_stream("Account-1")) == 1


def test_later_appends_in_a_batch_see_earlier_ones(store: ses.Store) -> None:
    db = store.database("bank")
    db.append("Account-1", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM)
    calls = [_append(db, "Account-1", ses.ANY) for _ in range(6)]
    results = _in_one_batch(store, calls)
    versions = sorted(r.first_version for r in results if isinstance(r, ses.AppendResult))
    assert versions == [1, 2, 3, 4, 5, 6]
    assert [e.version for e in db.read_stream("Account-1")] == list(range(7))
    assert db.verify().ok


def test_idempotent_retries_in_one_batch(store: ses.Store) -> None:
    db = store.database("bank")
    event = ses.NewEvent("Opened", event_id=uuid.uuid4())
    same = [lambda: db.append("Account-1", [event], expected_version=ses.NO_STREAM)] * 4
    results = _in_one_batch(store, [_append(db, "Account-9", ses.NO_STREAM), *same])
    assert len({r for r in results[1:]}) == 1  # every retry returns the one original result
    assert len(db.read_stream("Account-1")) == 1


def test_checkpoint_conflicts_are_per_append(store: ses.Store) -> None:
    db = store.database("bank")

    def tracked(stream: str, position: int) -> Callable[[], object]:
        return lambda: db.append_batch(
            [ses.StreamAppend(stream, [ses.NewEvent("Deposited")])], checkpoint=("input", position)
        )

    results = _in_one_batch(
        store, [tracked("Account-1", 1), tracked("Account-2", 1), tracked("Account-3", 2)]
    )
    assert isinstance(results[0], list)
    assert isinstance(results[1], ses.CheckpointConflict)
    assert isinstance(results[2], list)
    assert db.get_checkpoint("input") == 2
    assert db.read_stream("Account-2") == []


def test_a_failed_transaction_fails_every_append_in_it(store: ses.Store) -> None:
    db = store.database("bank")
    storage = store.storage
    assert isinstance(storage, SqliteStorage)
    storage.lock_timeout = storage._slice = 0.05  # new connections give up on the lock quickly
    lock = sqlite3.connect(storage._path("bank"), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's lock
    try:
        calls = [_append(db, f"Account-{i}", ses.NO_STREAM) for i in range(4)]
        results = _in_one_batch(store, calls)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert all(isinstance(r, ses.StoreUnavailable) for r in results)
    assert db.read_all() == []
    db.append("Account-1", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM)
    assert db.verify().ok


def test_many_writers_fewer_transactions(store: ses.Store) -> None:
    db = store.database("bank")
    writers, appends = 8, 40
    before = _group(store).batches
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(k: int) -> None:
        barrier.wait()
        try:
            for i in range(appends):
                db.append(
                    f"Account-{k}",
                    [ses.NewEvent("Deposited", {"i": i})],
                    expected_version=i - 1 if i else ses.NO_STREAM,
                )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    batches = _group(store).batches - before
    assert batches < writers * appends
    for k in range(writers):
        assert [e.data["i"] for e in db.read_stream(f"Account-{k}")] == list(range(appends))
    assert [e.position for e in db.read_all()] == list(range(1, writers * appends + 1))
    assert db.verify().ok


def test_an_interrupted_leader_fails_its_batch_but_not_the_queue() -> None:
    calls: list[list[int]] = []
    entered = threading.Event()
    release = threading.Event()

    def run(batch: list[Request[int, int]]) -> None:
        calls.append(sorted(r.item for r in batch))
        if len(calls) == 1:  # the first leader, alone: hold it while the others queue
            entered.set()
            release.wait(10)
        if len(calls) == 2:  # the next batch: its leader is interrupted
            raise KeyboardInterrupt
        for r in batch:
            r.result = r.item * 10

    group: GroupCommit[int, int] = GroupCommit(run)
    outcome: dict[int, object] = {}

    def submit(i: int) -> None:
        try:
            outcome[i] = group.submit(i)
        except BaseException as exc:
            outcome[i] = exc

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    entered.wait(10)
    followers = [threading.Thread(target=submit, args=(i,)) for i in (1, 2, 3)]
    for t in followers:
        t.start()
    while len(group._queue) < 3:
        time.sleep(0.001)
    release.set()
    for t in [first, *followers]:
        t.join(10)
    assert outcome[0] == 0
    assert calls[1] == [1, 2, 3]
    interrupted = [outcome[i] for i in (1, 2, 3)]
    assert sum(isinstance(o, KeyboardInterrupt) for o in interrupted) == 1  # the leader's
    errors = [o for o in interrupted if isinstance(o, ses.StorageError)]
    assert len(errors) == 2
    assert "may or may not be stored" in str(errors[0])
    assert group.submit(4) == 40  # the queue goes on
    assert not group._leading


def test_a_leader_takes_the_requests_queued_meanwhile_into_its_batch() -> None:
    calls: list[list[int]] = []
    taken: list[bool] = []
    entered = threading.Event()
    release = threading.Event()

    def run(batch: list[Request[int, int]]) -> None:
        if not calls:  # the first leader, alone: hold it while the others queue
            entered.set()
            release.wait(10)
            taken.append(group.take_queued(batch, 3))  # room for two of the three
            taken.append(group.take_queued(batch, 3))  # no room left
        calls.append(sorted(r.item for r in batch))
        for r in batch:
            r.result = r.item * 10

    group: GroupCommit[int, int] = GroupCommit(run)
    outcome: dict[int, object] = {}

    def submit(i: int) -> None:
        outcome[i] = group.submit(i)

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    entered.wait(10)
    for i in (1, 2, 3):  # queued in this order
        t = threading.Thread(target=submit, args=(i,))
        t.start()
        while len(group._queue) < i:
            time.sleep(0.001)
    release.set()
    while len(outcome) < 4:
        time.sleep(0.001)
    assert taken == [True, False]
    assert calls == [[0, 1, 2], [3]]  # the last one queued led the next batch
    assert outcome == {0: 0, 1: 10, 2: 20, 3: 30}
    assert not group._leading and not group._queue


def test_what_run_returns_is_called_once_the_batch_threads_are_woken() -> None:
    # The SQLite backend tells readers of a commit this way: after the wakes, so that no
    # append's result waits for it. Here it waits for the other thread's result, which it
    # would never see if it ran before the wakes (the wait then times out).
    entered = threading.Event()
    release = threading.Event()
    outcome: dict[int, int] = {}
    seen: list[set[int]] = []

    def then() -> None:
        deadline = time.monotonic() + 10
        while len(outcome) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        seen.append(set(outcome))

    def run(batch: list[Request[int, int]]) -> Callable[[], None] | None:
        if not entered.is_set():  # the first leader, alone: hold it while two queue
            entered.set()
            release.wait(10)
        for r in batch:
            r.result = r.item * 10
        return then if len(batch) == 2 else None

    group: GroupCommit[int, int] = GroupCommit(run)

    def submit(i: int) -> None:
        outcome[i] = group.submit(i)

    threads = [threading.Thread(target=submit, args=(0,))]
    threads[0].start()
    entered.wait(10)
    for i in (1, 2):
        threads.append(threading.Thread(target=submit, args=(i,)))
        threads[-1].start()
        while len(group._queue) < i:
            time.sleep(0.001)
    release.set()
    for t in threads:
        t.join(10)
    assert outcome == {0: 0, 1: 10, 2: 20}
    # the leader of [1, 2] ran ``then`` before its own submit returned, after the other's
    assert len(seen) == 1 and len(seen[0]) == 2 and 0 in seen[0]


def test_late_appends_commit_with_the_batch_and_fail_on_their_own(store: ses.Store) -> None:
    db = store.database("bank")
    db.append("Account-0", [ses.NewEvent("Opened")])
    before = _group(store).batches
    # Account-0 exists: its append is refused, the others' are stored
    streams = ["Account-1", "Account-2", "Account-0", "Account-3"]
    results = _in_one_batch(store, [_append(db, s, ses.NO_STREAM) for s in streams])
    assert _group(store).batches - before == 1
    assert isinstance(results[2], ses.WrongExpectedVersion)
    pairs = zip(streams, results, strict=True)
    stored = {s: r.position for s, r in pairs if isinstance(r, ses.AppendResult)}
    assert sorted(stored.values()) == [2, 3, 4]
    assert {e.stream: e.position for e in db.read_all() if e.stream != "Account-0"} == stored
    assert db.verify().ok


def test_an_append_queued_while_the_rows_are_written_shares_their_commit(
    store: ses.Store,
) -> None:
    # The leader writes its batch's rows once nothing more is queued, then looks again:
    # an append queued meanwhile (here: while the leader is between the two looks) joins
    # the same transaction instead of waiting for the next one.
    db = store.database("bank")
    group = _group(store)
    assert isinstance(store.storage, SqliteStorage)
    (writer,) = [w for w in store.storage._writers if w.group is group]
    looks: list[int] = []
    late: list[threading.Thread] = []
    more = writer.more

    def look(batch: list[Request[Any, Any]]) -> bool:
        conn = writer.connection()
        looks.append(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
        if len(looks) == 2:  # the first look found nothing: the rows were written since
            late.append(threading.Thread(target=_append(db, "Account-2", ses.NO_STREAM)))
            late[0].start()
            deadline = time.monotonic() + 10
            while not group._queue:
                assert time.monotonic() < deadline
                time.sleep(0.001)
        return more(batch)

    writer.more = look  # type: ignore[method-assign]
    before = group.batches
    first = db.append("Account-1", [ses.NewEvent("Opened")], expected_version=ses.NO_STREAM)
    assert looks[:2] == [0, 1]  # the second look came after the first append's row
    late[0].join(10)
    assert group.batches - before == 1
    assert [(e.stream, e.position) for e in db.read_all()] == [("Account-1", 1), ("Account-2", 2)]
    assert first.position == 1
    assert db.verify().ok


def test_a_failed_write_fails_only_its_own_append(
    store: ses.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safe_eventstore.storage.sqlite import _append as backend

    write = backend.Pending.write

    def failing(self: backend.Pending, conn: sqlite3.Connection, **kw: Any) -> None:
        if "Poison-1" in self.streams:
            raise backend.WriteFailed(sqlite3.OperationalError("disk I/O error"))
        write(self, conn, **kw)

    monkeypatch.setattr(backend.Pending, "write", failing)
    db = store.database("bank")
    calls = [_append(db, f"Account-{i}", ses.NO_STREAM) for i in range(3)]
    calls.insert(2, _append(db, "Poison-1", ses.NO_STREAM))
    results = _in_one_batch(store, calls)
    assert isinstance(results[2], ses.StorageError)
    assert "disk I/O error" in str(results[2])
    assert all(isinstance(r, ses.AppendResult) for i, r in enumerate(results) if i != 2)
    assert [e.position for e in db.read_all()] == [1, 2, 3]
    with pytest.raises(ses.StorageError):
        db.append("Poison-1", [ses.NewEvent("Opened")])
    assert db.read_stream("Poison-1") == []
    assert db.verify().ok


def test_a_failed_write_leaves_no_head_for_the_next_append_to_its_stream(
    store: ses.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redone append by append, a request whose write fails is rolled back to its savepoint;
    # the next request to the same stream must not take the head the failed one would have
    # left (it was never stored).
    from safe_eventstore.storage.sqlite import _append as backend

    write = backend.Pending.write

    def failing(self: backend.Pending, conn: sqlite3.Connection, **kw: Any) -> None:
        if any(row[7] == "Poison" for row in self.entries) or any(  # row[7]: the event type
            row[5] == "Poison"
            for row in self.singles  # (a lone event's row: its [5])
        ):
            raise backend.WriteFailed(sqlite3.OperationalError("disk I/O error"))
        write(self, conn, **kw)

    monkeypatch.setattr(backend.Pending, "write", failing)
    db = store.database("bank")

    def poison() -> object:
        return db.append("Account-1", [ses.NewEvent("Poison")])

    calls = [
        _append(db, "Account-0", ses.NO_STREAM),
        poison,
        _append(db, "Account-1", ses.NO_STREAM),
    ]
    results = _in_one_batch(store, calls)
    assert isinstance(results[1], ses.StorageError)
    assert results[2] == ses.AppendResult(0, 0, 2)
    assert db.stream_version("Account-1") == 0
    assert db.list_streams() == ["Account-0", "Account-1"]
    assert db.verify().ok


def test_idempotent_retry_of_a_generator_batch(store: ses.Store) -> None:
    db = store.database("bank")
    ids = [uuid.uuid4() for _ in range(3)]
    first = db.append("Account-1", (ses.NewEvent("Deposited", event_id=i) for i in ids))
    again = db.append("Account-1", (ses.NewEvent("Deposited", event_id=i) for i in ids))
    assert again == first
    assert len(db.read_stream("Account-1")) == 3


@pytest.mark.parametrize("seed", range(25))
def test_a_batch_matches_appending_one_by_one(tmp_path: Path, seed: int) -> None:
    """A random batch of appends (conflicts, retries, checkpoints, multi-stream, append
    conditions) committed as one group gives every append the result or error it gets when
    appended alone, in order, and stores the same entries (hashes included) as the memory
    backend."""
    from safe_eventstore.storage.memory import MemoryStorage

    rng = random.Random(seed)
    items: list[Any] = []

    class Capture:
        def submit(self, item: Any) -> list[ses.AppendResult]:
            items.append(item)
            return [ses.AppendResult(0, 0, 0)]  # a stand-in: the real run comes below

    with ses.open(str(tmp_path / "store")) as store:
        store.create_database("bank")
        storage = store.storage
        assert isinstance(storage, SqliteStorage)
        db = store.database("bank")
        storage._groups["bank"] = Capture()  # type: ignore[assignment]
        used_ids: list[uuid.UUID] = []
        history: list[tuple[list[ses.StreamAppend], tuple[str, int] | None]] = []
        for _ in range(20):
            if history and rng.random() < 0.25:  # a retry of an earlier batch
                appends, checkpoint = rng.choice(history)
            else:
                streams = rng.sample(["Account-1", "Account-2", "Ledger-1"], rng.randint(1, 2))
                appends = []
                for stream in streams:
                    expected = rng.choice([ses.ANY, ses.ANY, ses.ANY, ses.NO_STREAM, 0, 1, 2])
                    events = []
                    for _ in range(rng.randint(1, 3)):
                        event_id = None
                        if used_ids and rng.random() < 0.1:  # makes a partial retry
                            event_id = rng.choice(used_ids)
                        elif rng.random() < 0.6:
                            event_id = uuid.UUID(int=rng.getrandbits(128))
                            used_ids.append(event_id)
                        data = {"n": rng.randint(0, 3)}
                        tags = rng.choice([(), (), ("course-1",), ("course-2",)])
                        events.append(ses.NewEvent("Posted", data, event_id=event_id, tags=tags))
                    appends.append(ses.StreamAppend(stream, events, expected))
                checkpoint = ("input", rng.randint(1, 9)) if rng.random() < 0.3 else None
                history.append((appends, checkpoint))
            try:
                roll = rng.random()
                if roll < 0.2:  # events of no stream, under an append condition (DCB)
                    tag = rng.choice(["course-1", "course-2"])
                    query = ses.Query([ses.QueryItem(tags=[tag])])
                    after = rng.choice([None, 0, 2, 4, 6])
                    db.append_events(
                        [ses.NewEvent("Booked", {"n": 1}, tags=(tag, "student-1"))],
                        condition=ses.AppendCondition(query, after=after),
                    )
                elif roll < 0.25:  # a checkpoint alone
                    db.append_batch([], checkpoint=("input", rng.randint(1, 9)))
                else:
                    db.append_batch(appends, checkpoint=checkpoint)
            except ses.InvalidEvent:
                pass  # e.g. an id repeated inside one batch: refused before the storage
        del storage._groups["bank"]

        memory = MemoryStorage()
        memory.create_database("bank")
        expected_outcomes: list[object] = []
        for writes, blobs, checkpoint, condition, _documents in items:
            try:
                expected_outcomes.append(
                    memory.append("bank", writes, blobs, checkpoint=checkpoint, condition=condition)
                )
            except ses.SafeEventStoreError as exc:
                expected_outcomes.append(type(exc))

        batch = [Request(item) for item in items]
        storage._commit_group(storage._writer("bank"), "bank", batch)
        outcomes = [type(r.error) if r.error is not None else r.result for r in batch]
        assert outcomes == expected_outcomes

        def entries(s: Any) -> list[tuple[Any, ...]]:
            rows = []
            for e in s.read_all("bank", from_position=0, limit=10_000):
                # read_all may leave the chain out; read_entries gives the whole entry
                (whole,) = s.read_entries("bank", e.stream, from_seq=e.seq, limit=1)
                rows.append((e.stream, e.seq, e.version, e.position, e.event_id, whole.hash))
            return rows

        assert entries(storage) == entries(memory)
        assert storage.get_checkpoint("bank", "input") == memory.get_checkpoint("bank", "input")
        assert db.verify().ok


RACER = """
import sys, threading
import safe_eventstore as ses

path, name, threads, appends = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = ses.open(path)
db = store.database("bank")

def race(t):
    for i in range(appends):
        while True:  # optimistic concurrency: re-read the version and try again
            version = db.stream_version("Shared-1")
            expected = ses.NO_STREAM if version is None else version
            try:
                db.append("Shared-1", [ses.NewEvent("Posted", {"by": f"{name}-{t}-{i}"})],
                          expected_version=expected)
                break
            except ses.WrongExpectedVersion:
                pass
        db.append(f"Own-{name}-{t}", [ses.NewEvent("Posted", {"i": i})])

workers = [threading.Thread(target=race, args=(t,)) for t in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
store.close()
"""


@pytest.mark.slow
def test_group_commit_across_processes(tmp_path: Path) -> None:
    """Two processes, four threads each, racing on one stream with expected versions: every
    append lands once, versions have no gaps, positions increase, the chains verify."""
    path = tmp_path / "store"
    with ses.open(str(path)) as store:
        store.create_database("bank")
    root = Path(ses.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    threads, appends = 4, 25
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), name, str(threads), str(appends)], env=env
        )
        for name in ("a", "b")
    ]
    for child in children:
        assert child.wait(120) == 0
    with ses.open(str(path)) as store:
        db = store.database("bank")
        shared = list(db.read_stream("Shared-1"))
        assert [e.version for e in shared] == list(range(2 * threads * appends))
        assert len({e.data["by"] for e in shared}) == len(shared)
        positions = [e.position for e in db.read_all()]
        assert positions == sorted(positions) == list(range(1, len(positions) + 1))
        assert len(positions) == 2 * 2 * threads * appends
        assert db.verify().ok
