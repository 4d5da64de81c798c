"""The write-ahead log's checkpoints run on a thread beside the appends
(storage/sqlite/_checkpoints.py), not inside the commit that crosses the threshold."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import SqliteStorage
from safe_eventstore.storage.sqlite._checkpoints import BACKSTOP, checkpointer
from safe_eventstore.storage.sqlite._writer import GroupWriter


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _writer(store: ses.Store) -> GroupWriter:
    storage = store.storage
    assert isinstance(storage, SqliteStorage)
    (writer,) = storage._writers
    return writer


def _events(n: int) -> list[ses.NewEvent]:
    return [ses.NewEvent("Deposited", {"n": i}) for i in range(n)]


def test_the_log_is_copied_into_the_database_file_beside_the_appends(tmp_path: Path) -> None:
    with ses.open(str(tmp_path / "store")) as store:
        db = store.create_database("bank")
        for k in range(20):
            db.append(f"Account-{k}", _events(50))
        writer = _writer(store)
        conn = writer.connection()
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP,)
        runs = writer.checkpoints.runs
        db.append("Account-last", _events(50))  # wakes the thread once more
        assert _until(lambda: writer.checkpoints.runs > runs)
        # the database file alone (without its log) holds every entry now
        copy = tmp_path / "copy.sqlite3"
        shutil.copy(tmp_path / "store" / "bank.sqlite3", copy)
        alone = sqlite3.connect(copy)
        try:
            assert alone.execute("SELECT count(*) FROM entries").fetchone() == (21 * 50,)
        finally:
            alone.close()


def test_the_thread_ends_when_idle_and_with_the_store(tmp_path: Path) -> None:
    store = ses.open(str(tmp_path / "store"))
    db = store.create_database("bank")
    db.append("Account-1", _events(3))
    checkpoints = _writer(store).checkpoints
    assert checkpoints.running
    assert _until(lambda: not checkpoints.running)  # about a second without a commit
    db.append("Account-1", _events(3))  # starts again
    assert checkpoints.running
    store.close()
    assert not checkpoints.running
    checkpoints.wake()  # after close: nothing starts
    assert not checkpoints.running


def test_a_checkpoint_that_fails_leaves_the_thread_to_try_again(tmp_path: Path) -> None:
    attempts: list[int] = []

    def connect() -> sqlite3.Connection:
        attempts.append(1)
        if len(attempts) == 1:
            raise sqlite3.OperationalError("unable to open database file")
        return sqlite3.connect(tmp_path / "file.sqlite3", isolation_level=None)

    checkpoints = checkpointer(connect)
    try:
        checkpoints.wake()
        assert _until(lambda: checkpoints.runs == 1)
        assert checkpoints.running and len(attempts) == 1
        checkpoints.wake()  # connects again, and checkpoints
        assert _until(lambda: checkpoints.runs == 2)
        assert checkpoints.running and len(attempts) == 2
    finally:
        checkpoints.close()
    assert not checkpoints.running


def test_background_work_runs_once_for_the_wakes_of_a_rest_and_ends_with_done() -> None:
    from safe_eventstore.storage.background import Background

    ran: list[int] = []
    ended: list[int] = []
    work = Background(
        lambda: ran.append(1), lambda: ended.append(1), rest=0.2, idle=0.3, name="test"
    )
    work.wake()
    assert _until(lambda: len(ran) == 1)
    for _ in range(5):  # during the rest: one more run for all of them
        work.wake()
    assert _until(lambda: len(ran) == 2)
    time.sleep(0.3)
    assert len(ran) == 2
    assert _until(lambda: not work.running) and ended == [1]  # idle: ended, done ran
    work.wake()
    assert _until(lambda: len(ran) == 3)
    work.close()  # ends the rest at once
    assert not work.running and ended == [1, 1]
