"""What a newcomer runs into: huge numbers, deep JSON, pipes, narrow columns, read-only
commands in the wrong directory, global options, a held lock."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import safe_eventstore as ses

from .. import sqlite_rows
from .support import database, fails, module, ok, process_env, run

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ["read", "A-1", "--from-version", HUGE],
        ["read", "A-1", "--limit", HUGE],
        ["read-all", "--from-position", HUGE],
        ["tail", "--from-position", HUGE, "--timeout", "0"],
        ["streams", "--limit", HUGE],
        ["append", "A-1", "T", "{}", "--expected-version", HUGE],
        ["restructure", "A-1", HUGE, "--hide", "--reason", "r"],
    ],
)
def test_huge_numbers_are_usage_errors(db_url: str, args: list[str]) -> None:
    ok("append", "A-1", "T", "{}", "--store", db_url)
    line = fails(2, *args, "--store", db_url)
    assert HUGE in line or "range" in line


def test_the_largest_counts_still_work(db_url: str) -> None:
    ok("append", "A-1", "T", "{}", "--store", db_url)
    biggest = str(2**63 - 1)
    assert ok("read", "A-1", "--limit", biggest, "--store", db_url).stdout.count("\n") == 2
    assert "no events" in ok("read", "A-1", "--from-version", biggest, "--store", db_url).stderr
    assert "A-1" in ok("streams", "--limit", biggest, "--store", db_url).stdout


def test_deeply_nested_json_is_an_input_error(db_url: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert "nested too deeply" in fails(2, "append", "A-1", "T", "-", "--store", db_url,
                                         input=deep)  # fmt: skip
    line = json.dumps({"stream": "A-1", "type": "T", "data": 0})
    lines = line + "\n" + line.replace("0}", deep + "}") + "\n"
    assert "line 2: JSON nested too deeply" in fails(2, "import", "--store", db_url, input=lines)
    with database(db_url) as db:
        assert db.stream_version("A-1") is None


def test_read_json_into_head_exits_quietly(db_url: str, tmp_path: Path) -> None:
    with database(db_url) as db:
        for _ in range(5):  # more than a pipe holds: the writer meets the closed pipe
            db.append("A-1", [ses.NewEvent("T", {"pad": "x" * 500}) for _ in range(200)])
    command = " ".join(module("read", "A-1", "--json", "--store", db_url)) + " | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=120,
        cwd=tmp_path, env=process_env(),
    )  # fmt: skip
    assert json.loads(done.stdout)["version"] == 0
    assert done.stderr == ""  # no traceback, no "Exception ignored"


def test_piped_output_is_never_wrapped(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS")
    stream = "Account-" + "7" * 150
    data = {"note": "word " * 100}
    with database(db_url) as db:
        db.append(stream, [ses.NewEvent("Noted", data, metadata={"by": "z" * 120})])
    table = ok("read", stream, "--store", db_url).stdout.splitlines()
    assert len(table) == 2
    assert json.dumps(data, separators=(",", ":")) in table[1]
    assert '{"by":"' + "z" * 120 + '"}' in table[1]
    listed = ok("streams", "--store", db_url).stdout.splitlines()
    assert len(listed) == 2 and listed[1].split()[0] == stream
    tailed = ok("tail", "--timeout", "0", "--store", db_url).stdout.splitlines()
    assert len(tailed) == 1 and stream in tailed[0] and "word " * 100 in tailed[0]


def test_every_printing_command_speaks_json(db_url: str) -> None:
    # a payload large enough for SQLite to deduplicate (smaller ones stay in their entries)
    data = '{"amount": 1, "note": "' + "n" * 300 + '"}'
    for stream in ("Account-1", "Order-1"):
        ok("append", stream, "T", data, "--store", db_url)

    def lines(*args: str) -> list[object]:
        out = ok(*args, "--json", "--store", db_url).stdout
        return [json.loads(line) for line in out.splitlines()]

    assert lines("db", "list") == [{"database": "default"}]
    assert lines("categories") == [{"category": "Account"}, {"category": "Order"}]
    assert lines("streams") == [
        {"stream": "Account-1", "category": "Account", "version": 0},
        {"stream": "Order-1", "category": "Order", "version": 0},
    ]
    [stats] = lines("stats")
    assert isinstance(stats, dict) and stats["events"] == 2 and stats["dedup_ratio"] == 2.0
    [report] = lines("verify")
    assert report == {"ok": True, "streams": 2, "entries": 2, "payloads": 1, "problems": []}


def test_verify_json_reports_problems_and_exits_1(db_url: str, tmp_path: Path) -> None:
    ok("append", "A-1", "T", "{}", "--store", db_url)
    with sqlite3.connect(tmp_path / "store" / "default.sqlite3") as conn:
        sqlite_rows.rewrite(conn, "1", metadata=b'{"x":1}')
    conn.close()
    result = run("verify", "--json", "--store", db_url)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["problems"] == [
        {"stream": "A-1", "seq": 0, "message": "entry altered: its hash does not match"}
    ]
    assert result.stderr.startswith("error: verify found 1 problem in")


def test_global_options_work_before_the_command(url: str) -> None:
    ok("--store", url, "db", "create", "bank")
    assert ok("--store", url, "db", "list").stdout.split() == ["bank"]
    ok("--store", url, "--db", "bank", "append", "A-1", "T", "{}")
    assert "A-1" in ok("--store", url, "--db", "bank", "streams").stdout
    assert "A-1" in ok("streams", "--store", url, "--db", "bank").stdout
    # the command's own option wins over the global one
    assert "no database 'other'" in fails(1, "--db", "bank", "streams", "--db", "other",
                                          "--store", url)  # fmt: skip


def test_database_comes_from_the_environment(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok("db", "create", "bank", "--store", url)
    monkeypatch.setenv("SAFE_EVENTSTORE_DATABASE", "bank")
    ok("append", "A-1", "T", "{}", "--store", url)
    with database(url, "bank") as db:
        assert db.stream_version("A-1") == 0
    assert "no database 'nope'" in fails(1, "streams", "--db", "nope", "--store", url)


def test_db_create_on_memory_says_nothing_persists() -> None:
    result = ok("db", "create", "bank", "--store", "memory://")
    assert "created database bank" in result.stdout
    assert "nothing persists" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["db", "list"],
        ["streams"],
        ["categories"],
        ["read", "A-1"],
        ["read-all"],
        ["stats"],
        ["verify"],
        ["export"],
        ["tail", "--timeout", "0"],
    ],
)
def test_commands_that_read_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert "no store at safe-eventstore-data" in fails(1, *args)
    new = tmp_path / "new" / "dir"
    assert f"no store at {new}" in fails(1, *args, "--store", str(new))
    assert f"no store at {new}" in fails(1, *args, "--store", f"sqlite://{new}")
    assert list(tmp_path.iterdir()) == []


@contextmanager
def write_lock_held(path: Path, seconds: float) -> Iterator[None]:
    """A second process holds the SQLite file's write lock for ``seconds`` from now."""
    script = (
        "import sqlite3, sys, time\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "conn.rollback()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
        holder.wait(timeout=60)


def test_a_write_waiting_for_a_lock_says_so(db_url: str, tmp_path: Path) -> None:
    with write_lock_held(tmp_path / "store" / "default.sqlite3", 2.0):
        result = ok("append", "A-1", "T", "{}", "--store", db_url)
    assert "waiting for the write lock on" in result.stderr
    assert "first version 0" in result.stdout


def test_a_quick_write_says_nothing_of_locks(db_url: str) -> None:
    assert ok("append", "A-1", "T", "{}", "--store", db_url).stderr == ""


def test_lock_timeout_gives_up_with_a_typed_error(db_url: str, tmp_path: Path) -> None:
    with write_lock_held(tmp_path / "store" / "default.sqlite3", 3.0):
        result = run("append", "A-1", "T", "{}", "--lock-timeout", "0.2", "--store", db_url)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "lock" in line
    with database(db_url) as db:
        assert db.stream_version("A-1") is None


def test_errors_of_a_newcomer_are_one_line(db_url: str, tmp_path: Path) -> None:
    ok("append", "A-1", "T", "{}", "--store", db_url)
    cases: list[tuple[int, list[str]]] = [
        (2, ["read"]),
        (2, ["read", "A-1", "--category", "A"]),
        (2, ["read", "$all", "--from-version", "1"]),
        (2, ["read", "A-1", "--from-position", "1"]),
        (2, ["read", "A-1", "--correlation-id", "nope"]),
        (2, ["read", "bad name"]),
        (2, ["read", "--category", "bad name"]),
        (2, ["restructure", "A-1", "0", "--reason", "r"]),
        (2, ["restructure", "A-1", "0", "T", "--reason", "r"]),
        (2, ["restructure", "A-1", "0", "T", "{}", "--hide", "--reason", "r"]),
        (1, ["restructure", "A-1", "5", "--hide", "--reason", "r"]),
        (1, ["restructure", "B-1", "0", "--hide", "--reason", "r"]),
        (2, ["import", str(tmp_path / "missing.jsonl")]),
        (2, ["append", "A-1", "T", "{}", "--lock-timeout", "-1"]),
    ]
    for code, args in cases:
        fails(code, *args, "--store", db_url)
    assert os.listdir(tmp_path) == ["store"]


def test_progress_shows_on_a_terminal_only(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok("append", "A-1", "T", "{}", "--store", db_url)
    assert ok("verify", "--store", db_url).stderr == ""
    assert ok("read", "A-1", "--store", db_url).stderr == ""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat the output as a terminal
    assert "verifying database default" in ok("verify", "--store", db_url).stderr
    assert "reading stream A-1" in ok("read", "A-1", "--store", db_url).stderr


def _damage_last_payload(url: str) -> None:
    path = Path(url.removeprefix("sqlite://")) / "default.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(  # a small payload, kept in its entry's row
            "UPDATE entries SET data = CAST('{\"amount\": 9}' AS BLOB) "
            "WHERE position = (SELECT max(position) FROM entries)"
        )


@pytest.mark.parametrize(
    "command", [["read", "A-1"], ["read", "A-1", "--json"], ["read-all"], ["tail"]]
)
def test_a_damaged_payload_comes_after_the_intact_events(db_url: str, command: list[str]) -> None:
    with database(db_url) as db:
        for amount in (1, 2, 3):
            db.append("A-1", [ses.NewEvent("Deposited", {"amount": amount})])
    _damage_last_payload(db_url)
    result = run(*command, "--store", db_url)
    assert result.exit_code == 1, result.output
    assert '"amount":1' in result.stdout and '"amount":2' in result.stdout
    assert '"amount":9' not in result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        "error: A-1@2: payload does not match its address"
    )
