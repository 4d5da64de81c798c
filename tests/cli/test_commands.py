"""The command-line tool, through click's test runner and as a real ``python -m`` process."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

import safe_eventstore as ses

from .. import sqlite_rows
from .support import database, fails, module, ok, process_env, run

# -- databases and errors -----------------------------------------------------------------


def test_db_create_and_list(url: str) -> None:
    assert "created database bank" in ok("db", "create", "bank", "--store", url).stdout
    ok("db", "create", "audit", "--store", url)
    assert ok("db", "list", "--store", url).stdout.split() == ["audit", "bank"]


def test_db_list_of_an_empty_store_says_so(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    result = ok("db", "list", "--store", f"sqlite://{tmp_path}/store")
    assert result.stdout == ""
    assert "no databases" in result.stderr


def test_creating_an_existing_database_is_one_red_line(db_url: str) -> None:
    assert "exists" in fails(1, "db", "create", "default", "--store", db_url)


def test_invalid_database_name_is_an_input_error(url: str) -> None:
    assert "invalid database name" in fails(2, "db", "create", "Bank!", "--store", url)


def test_missing_database_exits_1(db_url: str) -> None:
    assert "no database 'nope'" in fails(1, "streams", "--db", "nope", "--store", db_url)


def test_unknown_store_scheme_is_an_input_error() -> None:
    assert "unknown store URL scheme" in fails(2, "db", "list", "--store", "ftp://example")


def test_unknown_option_is_a_one_line_usage_error(db_url: str) -> None:
    line = fails(2, "read", "Account-1", "--colour", "--store", db_url)
    assert "--colour" in line and "read --help" in line


def test_unknown_command_is_a_usage_error() -> None:
    assert "no such command" in fails(2, "launch")


def test_help_and_version() -> None:
    assert "demo" in ok("--help").stdout
    assert "--expected-version" in ok("append", "--help").stdout
    assert ses.__version__ in ok("--version").stdout


def test_default_store_is_the_embedded_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ok("db", "create", "bank")
    assert (tmp_path / "safe-eventstore-data" / "bank.sqlite3").is_file()


def test_store_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFE_EVENTSTORE_URL", f"sqlite://{tmp_path}/env-store")
    ok("db", "create", "bank")
    assert (tmp_path / "env-store" / "bank.sqlite3").is_file()


# -- append and read ----------------------------------------------------------------------


def test_append_prints_versions_and_position(db_url: str) -> None:
    out = ok("append", "Account-1", "Opened", '{"owner": "ann"}', "--store", db_url).stdout
    assert "first version 0, last version 0, position 1" in out
    out = ok("append", "Account-2", "Opened", "{}", "--store", db_url).stdout
    assert "first version 0, last version 0, position 2" in out


@pytest.mark.parametrize(
    ("expected", "code"),
    [("any", 0), ("no-stream", 1), ("stream-exists", 0), ("0", 0), ("3", 1), ("soon", 2)],
)
def test_append_expected_version(db_url: str, expected: str, code: int) -> None:
    ok("append", "Account-1", "Opened", "{}", "--store", db_url)
    args = ("append", "Account-1", "Deposited", '{"amount": 1}')
    args += ("--expected-version", expected, "--store", db_url)
    if code == 0:
        ok(*args)
    else:
        fails(code, *args)


def test_wrong_expected_version_names_the_actual_version(db_url: str) -> None:
    ok("append", "Account-1", "Opened", "{}", "--store", db_url)
    line = fails(1, "append", "Account-1", "Opened", "{}", "--expected-version", "no-stream",
                 "--store", db_url)  # fmt: skip
    assert "actual 0" in line


def test_bad_json_is_an_input_error(db_url: str) -> None:
    assert "not valid JSON" in fails(2, "append", "A-1", "T", "{amount: 1}", "--store", db_url)
    line = fails(2, "append", "A-1", "T", "{}", "--metadata", "[1]", "--store", db_url)
    assert "metadata" in line
    assert "invalid stream name" in fails(2, "append", "A 1", "T", "{}", "--store", db_url)
    with database(db_url) as db:
        assert db.stream_version("A-1") is None


def test_append_reads_data_from_stdin(db_url: str) -> None:
    ok("append", "A-1", "T", "-", "--store", db_url, input='{"from": "stdin"}\n')
    with database(db_url) as db:
        [event] = db.read_stream("A-1")
    assert event.data == {"from": "stdin"}


def test_append_with_an_event_id_is_idempotent(db_url: str) -> None:
    args = ("append", "A-1", "T", "{}", "--event-id", "0c6f1f4e-7a6e-4a43-9b69-1c1e0c6d2a11")
    first = ok(*args, "--store", db_url).stdout
    assert ok(*args, "--store", db_url).stdout == first
    assert "not a valid UUID" in fails(2, "append", "A-1", "T", "{}", "--event-id", "x")


def test_read_shows_a_table(db_url: str) -> None:
    ok("append", "Account-1", "Opened", '{"owner": "ann"}', "--store", db_url)
    ok("append", "Account-1", "Deposited", '{"amount": 100}', "--metadata", '{"user": "ann"}',
       "--store", db_url)  # fmt: skip
    out = ok("read", "Account-1", "--store", db_url).stdout
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["version", "position", "type", "data", "metadata"]
    assert lines[1].split()[:4] == ["0", "1", "Opened", '{"owner":"ann"}']
    assert lines[2].split()[:5] == ["1", "2", "Deposited", '{"amount":100}', '{"user":"ann"}']


def test_read_json_prints_one_object_per_line(db_url: str) -> None:
    for amount in (1, 2, 3):
        ok("append", "Account-1", "Deposited", json.dumps({"amount": amount}), "--store", db_url)
    out = ok("read", "Account-1", "--json", "--store", db_url).stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["version"], e["position"], e["data"]) for e in events] == [
        (0, 1, {"amount": 1}),
        (1, 2, {"amount": 2}),
        (2, 3, {"amount": 3}),
    ]
    first = events[0]
    assert first["stream"] == "Account-1" and first["type"] == "Deposited"
    assert first["kind"] == "event" and first["restructured"] is False
    assert len(first["event_id"]) == 36 and first["timestamp"].startswith("20")


def test_read_options(db_url: str) -> None:
    for amount in range(5):
        ok("append", "A-1", "T", json.dumps(amount), "--store", db_url)

    def versions(*options: str) -> list[int]:
        out = ok("read", "A-1", "--json", *options, "--store", db_url).stdout
        return [json.loads(line)["version"] for line in out.splitlines()]

    assert versions() == [0, 1, 2, 3, 4]
    assert versions("--from-version", "2", "--limit", "2") == [2, 3]
    assert versions("--backwards", "--limit", "2") == [4, 3]
    assert versions("--backwards", "--from-version", "1") == [1, 0]
    assert "--raw" in fails(2, "read", "A-1", "--raw", "--backwards", "--store", db_url)
    fails(2, "read", "A-1", "--limit", "-1", "--store", db_url)


def test_read_raw_shows_restructure_entries(db_url: str) -> None:
    with ses.open(db_url) as store:
        db = store.database("default")
        db.append("Account-2", [ses.NewEvent("Deposited", {"amount": 5000})])
        db.restructure("Account-2", 0, ses.NewEvent("Deposited", {"amount": 50}), reason="typo")
    plain = ok("read", "Account-2", "--store", db_url).stdout
    assert '{"amount":50}' in plain and "5000" not in plain and "restructured: typo" in plain
    raw = ok("read", "Account-2", "--raw", "--store", db_url).stdout.splitlines()
    assert raw[1].split()[:5] == ["event", "0", "1", "Deposited", '{"amount":5000}']
    assert raw[2].split()[:5] == ["restructure", "0", "2", "Deposited", '{"amount":50}']
    assert "replaces v0: typo" in raw[2]
    lines = ok("read", "Account-2", "--raw", "--json", "--store", db_url).stdout.splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["event", "restructure"]


def test_read_of_a_missing_stream_is_an_error_not_an_empty_result(db_url: str) -> None:
    line = fails(1, "read", "Nothing-1", "--store", db_url)
    assert "stream 'Nothing-1' does not exist" in line
    ok("append", "A-1", "T", "{}", "--store", db_url)
    empty = ok("read", "A-1", "--from-version", "5", "--store", db_url)
    assert empty.stdout == "" and "no events in stream A-1 from version 5" in empty.stderr
    nothing = ok("read", "A-1", "--limit", "0", "--store", db_url)
    assert nothing.stdout == "" and nothing.stderr == ""
    assert "does not exist" in fails(1, "read", "Nothing-1", "--limit", "0", "--store", db_url)


def test_streams_lists_filters_and_pages(db_url: str) -> None:
    for stream in ("Account-1", "Account-2", "Order-1"):
        ok("append", stream, "T", "{}", "--store", db_url)
    ok("append", "Account-2", "T", "{}", "--store", db_url)
    lines = ok("streams", "--store", db_url).stdout.splitlines()
    assert [line.split() for line in lines] == [
        ["stream", "category", "version"],
        ["Account-1", "Account", "0"],
        ["Account-2", "Account", "1"],
        ["Order-1", "Order", "0"],
    ]
    out = ok("streams", "--category", "Account", "--store", db_url).stdout
    assert "Account-2" in out and "Order-1" not in out
    result = ok("streams", "--limit", "1", "--after", "Account-1", "--store", db_url)
    assert "Account-2" in result.stdout and "Order-1" not in result.stdout
    assert "--after Account-2" in result.stderr


# -- tail ---------------------------------------------------------------------------------


def test_tail_catches_up_and_resumes_from_its_checkpoint(db_url: str) -> None:
    for n in range(3):
        ok("append", f"Account-{n}", "Opened", "{}", "--store", db_url)
    args = ("tail", "--checkpoint", "printer", "--timeout", "0.1", "--json", "--store", db_url)
    first = ok(*args).stdout.splitlines()
    assert [json.loads(line)["position"] for line in first] == [1, 2, 3]
    with database(db_url) as db:
        assert db.get_checkpoint("printer") == 3
    ok("append", "Account-9", "Opened", "{}", "--store", db_url)
    second = ok(*args)
    assert [json.loads(line)["stream"] for line in second.stdout.splitlines()] == ["Account-9"]
    assert "checkpoint 'printer'" in second.stderr


def test_tail_filters_by_stream_or_category(db_url: str) -> None:
    for stream in ("Account-1", "Order-1", "Account-2"):
        ok("append", stream, "T", "{}", "--store", db_url)
    out = ok("tail", "--category", "Account", "--timeout", "0", "--store", db_url).stdout
    assert "Account-1@0" in out and "Account-2@0" in out and "Order-1" not in out
    out = ok("tail", "--stream", "Order-1", "--timeout", "0", "--store", db_url).stdout
    assert out.split()[:3] == ["2", "Order-1@0", "T"]
    assert "not both" in fails(2, "tail", "--stream", "A-1", "--category", "A")


def test_tail_follows_live_appends(db_url: str) -> None:
    def append_later() -> None:
        time.sleep(0.2)
        with ses.open(db_url) as store:
            store.database("default").append("Live-1", [ses.NewEvent("Arrived", {"n": 1})])

    writer = threading.Thread(target=append_later)
    writer.start()
    result = ok("tail", "--from-position", "1", "--timeout", "1.5", "--json", "--store", db_url)
    writer.join()
    [event] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (event["stream"], event["data"]) == ("Live-1", {"n": 1})
    assert "no new event for 1.5 s" in result.stderr


# -- verify, stats, demo ------------------------------------------------------------------


def test_verify_ok(db_url: str) -> None:
    ok("append", "A-1", "T", "{}", "--store", db_url)
    # a small payload is kept in its entry (and checked with it), a large one has its row
    assert "ok: 1 stream, 1 entry, 0 payloads verified" in ok("verify", "--store", db_url).stdout
    ok("append", "A-1", "T", '{"note": "' + "n" * 300 + '"}', "--store", db_url)
    assert "ok: 1 stream, 2 entries, 1 payload verified" in ok("verify", "--store", db_url).stdout


def test_verify_lists_problems_and_exits_1(db_url: str, tmp_path: Path) -> None:
    note = "n" * 300  # payloads large enough for rows of their own
    ok("append", "A-1", "T", '{"amount": 1, "note": "' + note + '"}', "--store", db_url)
    ok("append", "A-1", "T", '{"amount": 2, "note": "' + note + '"}', "--store", db_url)
    with sqlite3.connect(tmp_path / "store" / "default.sqlite3") as conn:
        sqlite_rows.rewrite(conn, "position = 1", metadata=b'{"x":1}')
        conn.execute("UPDATE payloads SET data = CAST('{\"amount\":3}' AS BLOB) WHERE id = 2")
    conn.close()
    result = run("verify", "--store", db_url)
    assert result.exit_code == 1
    assert "A-1@0: entry altered" in result.stdout
    assert "does not match its address" in result.stdout
    assert "A-1@1: payload does not match the entry's address" in result.stdout
    # the altered payload is named once as a payload and once as the event that holds it
    assert result.stderr.startswith("error: verify found 3 problems")
    assert "payload does not match" in fails(1, "read", "A-1", "--store", db_url)


def test_stats_shows_the_dedup_ratio(db_url: str) -> None:
    data = '{"amount": 100, "note": "' + "n" * 300 + '"}'  # large enough to deduplicate
    for stream in ("A-1", "A-2"):
        ok("append", stream, "Deposited", data, "--store", db_url)
    rows = dict(
        line.rsplit(None, 1) for line in ok("stats", "--store", db_url).stdout.splitlines()[1:]
    )
    assert rows["events"] == "2" and rows["payloads stored"] == "1"
    assert rows["dedup ratio"] == "2.00x"


def test_demo_runs_on_a_memory_store() -> None:
    out = ok("demo", "--store", "memory://").stdout
    assert "new database demo" in out
    assert "expected version 0, actual 2" in out
    assert "replaces v2" in out
    assert "delivered live" in out and "now holds 60" in out
    assert "ok: 3 streams, 10 entries, 8 payloads verified" in out
    assert "dedup ratio" in out


def test_demo_twice_makes_a_fresh_database_each_time(url: str) -> None:
    ok("demo", "--store", url)
    assert "new database demo-2" in ok("demo", "--store", url).stdout
    assert ok("db", "list", "--store", url).stdout.split() == ["demo", "demo-2"]
    with database(url, "demo-2") as db:
        assert db.get_checkpoint("balances") == 10


# -- as a real process --------------------------------------------------------------------


def test_module_runs_the_demo_twice(url: str, tmp_path: Path) -> None:
    for name in ("demo", "demo-2"):
        done = subprocess.run(
            module("demo", "--store", url), capture_output=True, text=True, timeout=120,
            cwd=tmp_path, env=process_env(),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"new database {name}" in done.stdout
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["read", "A-1", "--db", "missing"], 1, "no database 'missing'"),
        (["append", "A-1", "T", "{oops"], 2, "not valid JSON"),
        (["append", "A-1", "T", "{}", "--expected-version", "later"], 2, "'later'"),
        (["frobnicate"], 2, "no such command"),
    ],
)
def test_module_errors_are_one_line_without_traceback(
    db_url: str, tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    done = subprocess.run(
        module(*args, "--store", db_url) if args[0] != "frobnicate" else module(*args),
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=process_env(),
    )  # fmt: skip
    assert done.returncode == code
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and words in line


def test_module_tail_stops_cleanly_on_ctrl_c(db_url: str, tmp_path: Path) -> None:
    ok("append", "A-1", "T", '{"n": 1}', "--store", db_url)
    tail = subprocess.Popen(
        module("tail", "--checkpoint", "printer", "--json", "--store", db_url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=process_env(),
    )  # fmt: skip
    watchdog = threading.Timer(60, tail.kill)
    watchdog.start()
    try:
        assert tail.stdout is not None
        assert json.loads(tail.stdout.readline())["position"] == 1
        with database(db_url) as db:
            deadline = time.monotonic() + 30
            while db.get_checkpoint("printer") is None and time.monotonic() < deadline:
                time.sleep(0.02)  # caught up: it saves the checkpoint before it waits
            assert db.get_checkpoint("printer") == 1
        tail.send_signal(signal.SIGINT)  # while it waits for new events
        _, err = tail.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if tail.poll() is None:
            tail.kill()
            tail.communicate()
    assert tail.returncode in (0, 130), err
    assert "Traceback" not in err
