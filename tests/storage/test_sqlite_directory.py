"""The SQLite store directory: made only by a write, by any number of processes at once;
readable without write permission; a write that waits for another process's lock says so
and gives up after ``lock_timeout``."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import MARKER, SqliteStorage

PATIENCE = 120.0  # seconds: only turns a hang into a failure


def _url(path: Path) -> str:
    return f"sqlite://{path}"


# -- opening creates nothing ---------------------------------------------------------------------


def test_opening_a_new_directory_creates_nothing_until_a_write(tmp_path: Path) -> None:
    path = tmp_path / "new" / "store"
    with ses.open(_url(path)) as store:
        assert store.list_databases() == []
        assert not store.storage.has_database("bank")
        with pytest.raises(ses.DatabaseNotFound):
            store.database("bank")
        with pytest.raises(ses.DatabaseNotFound):
            store.storage.read_all("bank", from_position=0, limit=10)
        with pytest.raises(ses.DatabaseNotFound):
            store.storage.wait("bank", 0, 0.01)
        assert not (tmp_path / "new").exists()
        store.create_database("bank")  # the first write makes the directory and marker
        assert (path / MARKER).is_file()
        assert store.list_databases() == ["bank"]


def test_opening_an_empty_directory_leaves_it_empty(tmp_path: Path) -> None:
    with ses.open(_url(tmp_path)) as store:
        assert store.list_databases() == []
        with pytest.raises(ses.DatabaseNotFound):
            store.database("bank")
    assert os.listdir(tmp_path) == []


def test_the_default_directory_is_not_made_by_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SAFE_EVENTSTORE_URL", raising=False)
    with ses.open() as store:
        assert store.list_databases() == []
        with pytest.raises(ses.DatabaseNotFound):
            store.database("bank")
    assert os.listdir(tmp_path) == []


def test_a_leftover_temporary_marker_does_not_block_the_directory(tmp_path: Path) -> None:
    # what an opener killed between writing its temporary marker and renaming it leaves
    (tmp_path / f".{MARKER}.0123456789abcdef0123456789abcdef").write_text('{"form')
    with ses.open(_url(tmp_path)) as store:
        store.create_database("bank").append("Account-1", [ses.NewEvent("Opened")])
    with ses.open(_url(tmp_path)) as store:
        assert store.list_databases() == ["bank"]
        assert [e.type for e in store.database("bank").read_all()] == ["Opened"]


def test_a_leftover_temporary_marker_beside_a_marker_is_harmless(tmp_path: Path) -> None:
    with ses.open(_url(tmp_path)) as store:
        store.create_database("bank")
    (tmp_path / f".{MARKER}.feedfacefeedfacefeedfacefeedface").write_text("")
    with ses.open(_url(tmp_path)) as store:
        assert store.list_databases() == ["bank"]


def test_foreign_content_is_still_refused_beside_a_temporary_marker(tmp_path: Path) -> None:
    (tmp_path / f".{MARKER}.0123").write_text("")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ses.InvalidURL):
        ses.open(_url(tmp_path))


_OPENER = """
import os, sys, time
import safe_eventstore as ses

base, me, count, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for r in range(rounds):
    # a barrier: every opener starts round r at about the same time
    open(os.path.join(base, f"ready-{r}-{me}"), "w").close()
    while sum(os.path.exists(os.path.join(base, f"ready-{r}-{n}")) for n in range(count)) < count:
        time.sleep(0.001)
    path = os.path.join(base, f"round-{r}", "store")
    try:  # a failure is reported, and the next round goes on (the barrier needs everyone)
        with ses.open(f"sqlite://{path}") as store:
            store.create_database(f"p{me}")
        with ses.open(f"sqlite://{path}") as store:
            assert f"p{me}" in store.list_databases()
        print("ok", r, flush=True)
    except Exception as exc:
        print("failed", r, type(exc).__name__, exc, flush=True)
"""


def test_many_processes_open_one_new_directory_at_once(tmp_path: Path) -> None:
    count, rounds = 8, 20
    for r in range(0, rounds, 2):  # half the rounds start from an empty directory
        (tmp_path / f"round-{r}" / "store").mkdir(parents=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, str(tmp_path), str(n), str(count), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]
    try:
        outs = [proc.communicate(timeout=PATIENCE) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert [line.split()[0] for line in out.splitlines()] == ["ok"] * rounds, out
    for r in range(rounds):
        with ses.open(_url(tmp_path / f"round-{r}" / "store")) as store:
            assert store.list_databases() == sorted(f"p{n}" for n in range(count))


# -- a store this process may only read ----------------------------------------------------------

# Run as the unprivileged user "nobody" (uid 65534): the tests run as root, which may write
# anywhere. Everything it needs is imported before it gives up root.
_READER = """
import os, sys
import safe_eventstore as ses
import safe_eventstore.storage.sqlite
import inotify_simple

os.setgid(65534)
os.setuid(65534)
path = sys.argv[1]
with ses.open(f"sqlite://{path}") as store:
    print("databases", store.list_databases())
    db = store.database("bank")
    print("read_stream", [e.type for e in db.read_stream("Account-1")])
    print("read_all", [e.type for e in db.read_all()])
    print("streams", list(db.list_streams()))
    print("events", db.stats()["events"])
    print("verify", db.verify().ok)
    with db.subscribe(idle_timeout=0.05) as sub:
        print("subscribe", [e.type for e in sub])
    for name, write in [
        ("append", lambda: db.append("Account-1", [ses.NewEvent("Closed")])),
        ("create", lambda: store.create_database("shop")),
        ("checkpoint", lambda: db.save_checkpoint("reader", 1)),
    ]:
        try:
            write()
            print(name, "written")
        except ses.StoreReadOnly as exc:
            print(name, "refused", exc)
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory that user nobody can reach (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="ses-read-only-"))
    path.chmod(0o755)
    try:
        yield path / "store"
    finally:
        shutil.rmtree(path)


def _read_as_nobody(path: Path) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", _READER, str(path)],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


def _seed(path: Path) -> None:
    with ses.open(_url(path)) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened"), ses.NewEvent("Deposited", {"n": 1})])


def _share(path: Path) -> None:
    """Let other users read the store (new stores are their owner's alone)."""
    for p in [path, *path.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def _check_read_only(out: dict[str, str], path: Path, events: list[str]) -> None:
    assert out["databases"] == "['bank']"
    assert out["read_stream"] == out["read_all"] == out["subscribe"] == repr(events)
    assert out["streams"] == "['Account-1']"
    assert out["events"] == str(len(events))
    assert out["verify"] == "True"
    for write in ("append", "create", "checkpoint"):
        assert out[write].startswith("refused"), out[write]
        assert str(path) in out[write] and "permission" in out[write]


def test_a_store_without_write_permission_is_readable(shared_dir: Path) -> None:
    _seed(shared_dir)
    _share(shared_dir)
    before = sorted(os.listdir(shared_dir))
    _check_read_only(_read_as_nobody(shared_dir), shared_dir, ["Opened", "Deposited"])
    assert sorted(os.listdir(shared_dir)) == before
    with ses.open(_url(shared_dir)) as store:  # root may still write
        with pytest.warns(ses.StoreWarning, match="may be read by other users"):
            store.database("bank").append("Account-1", [ses.NewEvent("Closed")])


def test_a_store_being_written_is_readable_without_write_permission(shared_dir: Path) -> None:
    _seed(shared_dir)
    _share(shared_dir)
    with ses.open(_url(shared_dir)) as store:  # keeps the write-ahead log open
        with pytest.warns(ses.StoreWarning, match="may be read by other users"):
            store.database("bank").append("Account-1", [ses.NewEvent("Closed")])
        assert (shared_dir / "bank.sqlite3-wal").exists()
        out = _read_as_nobody(shared_dir)
    _check_read_only(out, shared_dir, ["Opened", "Deposited", "Closed"])


def test_a_read_only_database_file_refuses_writes_in_process(tmp_path: Path) -> None:
    # The file alone is read-only (for root too, SQLite's mode=ro is honoured).
    _seed(tmp_path)
    storage = SqliteStorage(tmp_path)
    storage._read_only.add("bank")
    with ses.Store(storage, url=_url(tmp_path)) as store:
        db = store.database("bank")
        assert [e.type for e in db.read_all()] == ["Opened", "Deposited"]
        with pytest.raises(ses.StoreReadOnly, match=r"bank\.sqlite3"):
            db.append("Account-1", [ses.NewEvent("Closed")])
        with pytest.raises(ses.StoreReadOnly):
            db.save_checkpoint("reader", 1)
        assert [e.type for e in db.read_all()] == ["Opened", "Deposited"]


# -- waiting for another process's lock ------------------------------------------------------


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    _seed(tmp_path)
    blocker = sqlite3.connect(
        tmp_path / "bank.sqlite3", isolation_level=None, check_same_thread=False
    )
    blocker.execute("BEGIN IMMEDIATE")  # as another process holding the write lock would
    try:
        yield tmp_path, blocker
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()


def test_a_lock_held_past_the_timeout_raises_store_locked(
    locked: tuple[Path, sqlite3.Connection],
) -> None:
    path, _ = locked
    notices: list[str] = []
    with ses.open(f"{_url(path)}?lock_timeout=1.5") as store:
        store.storage.on_lock_wait = notices.append
        db = store.database("bank")
        with pytest.raises(ses.StoreLocked, match="lock_timeout") as info:
            db.append("Account-1", [ses.NewEvent("Closed")])
        assert str(path / "bank.sqlite3") in str(info.value)
        assert isinstance(info.value, ses.StoreUnavailable)
        assert len(notices) == 1 and "waiting for the write lock" in notices[0]
        with pytest.raises(ses.StoreLocked):
            db.save_checkpoint("reader", 1)


def test_a_write_waits_for_the_lock_and_says_so(locked: tuple[Path, sqlite3.Connection]) -> None:
    path, blocker = locked
    notices: list[str] = []
    with ses.open(_url(path), lock_timeout=60) as store:
        store.storage.on_lock_wait = notices.append
        db = store.database("bank")
        released = threading.Timer(3.0, lambda: blocker.execute("ROLLBACK"))
        released.start()
        try:
            result = db.append("Account-1", [ses.NewEvent("Closed")])
        finally:
            released.join()
        assert result.first_version == 2
        assert len(notices) == 1 and str(path / "bank.sqlite3") in notices[0]


def test_a_short_lock_timeout_gives_up_without_a_notice(
    locked: tuple[Path, sqlite3.Connection],
) -> None:
    path, _ = locked
    notices: list[str] = []
    with ses.open(_url(path), lock_timeout=0.2) as store:
        store.storage.on_lock_wait = notices.append
        with pytest.raises(ses.StoreLocked):
            store.database("bank").append("Account-1", [ses.NewEvent("Closed")])
    assert notices == []


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1e9", ""])
def test_a_bad_lock_timeout_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ses.InvalidURL, match="lock_timeout"):
        ses.open(f"{_url(tmp_path / 'store')}?lock_timeout={value}")
    assert not (tmp_path / "store").exists()


def test_lock_timeout_as_url_option_or_keyword(tmp_path: Path) -> None:
    with ses.open(f"{_url(tmp_path)}?lock_timeout=5") as store:
        assert isinstance(store.storage, SqliteStorage)
        assert store.storage.lock_timeout == 5
    with ses.open(_url(tmp_path), lock_timeout=0.5) as store:
        assert isinstance(store.storage, SqliteStorage)
        assert store.storage.lock_timeout == 0.5
