"""A SQLite store is readable by its owner only: the directory 0700, every file in it 0600
(database files, their write-ahead log, shared memory and ping files, the marker), whatever
the umask; an older store opened for writing is tightened the same way."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask, under which files are made world-readable (0644) unless
    the store says otherwise. The tests run in one process: restored afterwards."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: _mode(p) for p in sorted(directory.iterdir())}


def _write(directory: Path) -> None:
    """A database with events, written while a second handle keeps its WAL and shared
    memory in place (the last connection to close would remove them)."""
    with ses.open(f"sqlite://{directory}") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"})])
        db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 5})])


@pytest.mark.usefixtures("open_umask")
def test_a_new_store_and_all_its_files_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    with ses.open(f"sqlite://{directory}") as keeper:
        _write(directory)
        assert keeper.database("bank").read_stream("Account-1")  # holds WAL and -shm open
        assert _mode(directory) == 0o700
        modes = _modes(directory)
        names = set(modes)
        assert {
            "safe-eventstore.json",
            "bank.sqlite3",
            "bank.sqlite3-wal",
            "bank.sqlite3-shm",
            "bank.sqlite3-ping",
        } <= names
        assert modes == dict.fromkeys(names, 0o600)


@pytest.mark.usefixtures("open_umask")
def test_an_empty_directory_given_for_a_store_becomes_private(tmp_path: Path) -> None:
    directory = tmp_path / "given"
    directory.mkdir(mode=0o755)
    _write(directory)
    assert _mode(directory) == 0o700
    assert set(_modes(directory).values()) == {0o600}


@pytest.mark.usefixtures("open_umask")
def test_a_store_others_may_read_keeps_its_modes_and_warns_when_written(
    tmp_path: Path,
) -> None:
    """A store made before stores were private, or opened to other users by its owner on
    purpose, keeps its modes (read-only readers under another user go on working); a
    process that writes to one of its databases is warned once."""
    directory = tmp_path / "store"
    _write(directory)
    # a connection of its own keeps a write-ahead log and shared memory in place
    raw = sqlite3.connect(directory / "bank.sqlite3", isolation_level=None)
    try:
        raw.execute("PRAGMA wal_autocheckpoint = 0")
        raw.execute("UPDATE entries SET record = record")
        for path in [directory, *directory.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        assert {"bank.sqlite3-wal", "bank.sqlite3-shm"} <= set(_modes(directory))
        with ses.open(f"sqlite://{directory}") as store:
            db = store.database("bank")
            assert db.read_stream("Account-1")  # reading says nothing (warnings are errors)
            with pytest.warns(ses.StoreWarning, match="may be read by other users") as caught:
                db.append("Account-1", [ses.NewEvent("Withdrawn", {"amount": 1})])
            assert "chmod -R go=" in str(caught[0].message)
            db.append("Account-1", [ses.NewEvent("Withdrawn", {"amount": 2})])  # warned once
            assert [e.version for e in db.read_stream("Account-1")] == [0, 1, 2, 3]
        assert _mode(directory) == 0o755
        assert set(_modes(directory).values()) == {0o644}
        # a new database in it is private all the same
        with ses.open(f"sqlite://{directory}") as store, pytest.warns(ses.StoreWarning):
            store.create_database("shop").append("Order-1", [ses.NewEvent("Placed")])
        assert _mode(directory / "shop.sqlite3") == 0o600
    finally:
        raw.close()


@pytest.mark.usefixtures("open_umask")
def test_an_export_file_is_private(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from safe_eventstore.cli import main

    directory = tmp_path / "store"
    _write(directory)
    out = tmp_path / "bank.jsonl"
    result = CliRunner().invoke(
        main, ["--store", str(directory), "--db", "bank", "export", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert _mode(out) == 0o600
