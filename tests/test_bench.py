"""Smoke runs of the benchmark harness (SQLite rows, NATS rows): tiny sizes, the shape of its
table and JSON, and its option errors only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import nats
import pytest
from click.testing import CliRunner

import safe_eventstore as ses
from safe_eventstore import bench
from safe_eventstore.bench import nats_rows
from safe_eventstore.bench._sqlite_references import RawSqlite
from safe_eventstore.cli import main
from safe_eventstore.testing.nats_servers import NatsServer


def test_quick_run_writes_rows_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    rows = bench.run(quick=True, directory=tmp_path, out=out)

    ids = [r.id for r in rows]
    for expected in ("W1", "W2", "W3", "W4", "W5", "W6", "W6-live"):
        assert expected in ids
    references = ("W1-es", "W2-es", "W3-es", "W4-es", "W5-es", "raw-1", "raw-16", "raw-16q")
    for reference in (*references, "raw-bulk"):
        assert reference in ids
    by_id = {r.id: r for r in rows}
    assert set(by_id["W1"].ratios) == {"W1-es", "raw-1"}
    assert set(by_id["W2"].ratios) == {"W2-es", "W1", "raw-16"}
    # the machine's ceiling for threads, with the store's group commit and without it
    assert set(by_id["raw-16"].ratios) == {"raw-1", "W1"}
    assert set(by_id["raw-16q"].ratios) == {"raw-1", "W1"}
    assert by_id["raw-16"].count == by_id["raw-16q"].count == by_id["W2"].count
    assert set(by_id["W3"].ratios) == {"W3-es", "raw-bulk"}
    assert set(by_id["W4"].ratios) == {"W4-es"}
    assert set(by_id["W5"].ratios) == {"W5-es"}
    assert by_id["W4"].count == by_id["W4-es"].count == bench.QUICK.read
    assert by_id["W5"].count == by_id["W5-es"].count == bench.QUICK.read
    assert by_id["W6"].count == bench.QUICK.read
    # the encrypted read beside the cost of its cipher alone, and the ceiling that sets
    assert by_id["W4-open"].count == by_id["W4-enc"].count == bench.QUICK.read
    assert 0 < by_id["W4-enc"].notes["ceiling"] < 1
    assert by_id["W4-open"].notes["us_per_event"] > 0
    assert all(r.rate > 0 for r in rows)
    assert {"p50_ms", "p99_ms"} <= set(by_id["W6-live"].notes)
    # the command rows, each beside its reference, with its target
    assert set(by_id["C1"].ratios) == {"C1-es", "C1-floor"}
    assert set(by_id["C2"].ratios) == {"C2-es"}
    assert set(by_id["C3"].ratios) == {"C2", "C3-es", "C3-floor"}
    # the floors: a command's own durable append with nothing else, in the same rounds
    assert set(by_id["C1-floor"].ratios) == {"C1-es"}
    assert set(by_id["C3-floor"].ratios) == {"C2"}
    assert by_id["C1-floor"].count == by_id["C3-floor"].count == bench.QUICK.commands
    assert set(by_id["C4"].ratios) == {"C4-full", "C4-es"}
    assert set(by_id["C4-full"].ratios) == {"C4-full-es"}
    assert by_id["C1"].count == by_id["C1-es"].count == bench.QUICK.commands
    assert by_id["C4"].count == by_id["C4-full-es"].count == bench.QUICK.loads
    targets = {r.id: r.notes["target"] for r in rows if "target" in r.notes}
    assert targets == {
        "C1": ">= 1.0x C1-es", "C2": ">= 1.0x C2-es", "C3": ">= 3.0x C2", "C4": ">= 20.0x C4-full",
        "H3": "< 50 ms p99", "P1": ">= 2.0x P1-es, >= 0.5x W6", "P2": "< 20 ms p99",
        "P3": "< 5 ms p99",
    }  # fmt: skip
    # the read-model query page, beside a scan and a plain table
    assert set(by_id["P3"].ratios) == {"P3-scan", "P3-raw"}
    assert by_id["P3"].count == by_id["P3-raw"].count == bench.QUICK.pages
    # the HTTP API's rows, each beside the same operation in-process
    for key in ("H1", "H2", "H3"):
        assert set(by_id[key].ratios) == {f"{key}-lib"}

    document = json.loads(out.read_text())
    assert {"machine", "sizes", "rows"} <= set(document)
    assert {"date", "nproc", "python", "sqlite"} <= set(document["machine"])
    assert [r["id"] for r in document["rows"]] == ids
    c3 = next(r for r in document["rows"] if r["id"] == "C3")
    assert set(c3["ratios"]) == {"C2", "C3-es", "C3-floor"}
    assert c3["notes"]["target"] == ">= 3.0x C2"
    assert document["notes"]["durability-es"] == "synchronous = FULL"

    text = bench.format_table(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| id")
    assert len(lines) == len(rows) + 2
    assert list(tmp_path.iterdir()) == [out]  # the stores were removed


def test_the_raw_rows_of_sixteen_threads_are_all_stored(tmp_path: Path) -> None:
    raw = RawSqlite(tmp_path)
    try:
        raw.concurrent(16, 160)
        raw.queued(16, 160)
    finally:
        raw.close()
    for name in ("raw-group.sqlite", "raw-queue.sqlite"):
        with contextlib.closing(sqlite3.connect(tmp_path / name)) as conn:
            rows = conn.execute("SELECT stream, count(*) FROM events GROUP BY stream").fetchall()
        assert len(rows) == 16 and {count for _, count in rows} == {10}, name


def test_a_failed_commit_of_raw_rows_wakes_every_thread_and_is_raised(tmp_path: Path) -> None:
    raw = RawSqlite(tmp_path)
    raw.queue_path = tmp_path / "no such directory" / "raw-queue.sqlite"
    raised: list[BaseException] = []

    def run() -> None:
        try:
            raw.queued(16, 160)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    raw.close()
    assert not thread.is_alive()  # no writer left waiting for its commit
    assert len(raised) == 1 and isinstance(raised[0], sqlite3.OperationalError)


def test_run_without_references(tmp_path: Path) -> None:
    rows = bench.run(quick=True, directory=tmp_path, references=False)
    assert {r.system for r in rows} == {"safe-eventstore"}
    assert set({r.id: r for r in rows}["W2"].ratios) == {"W1"}


def test_only_one_family_of_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = bench.run(quick=True, directory=tmp_path, only="C")
    assert {r.workload for r in commands} == {"C1", "C2", "C3", "C4"}
    writes = bench.run(quick=True, directory=tmp_path, references=False, only="W")
    assert {r.workload for r in writes} == {"W1", "W2", "W3", "W4", "W5", "W6"}
    queries = bench.run(quick=True, directory=tmp_path, only="P")
    assert {r.id for r in queries} == {"W6", "P1", "P1-es", "P2", "P3", "P3-scan", "P3-raw"}
    with pytest.raises(ses.InvalidInput, match="only"):
        bench.run(quick=True, directory=tmp_path, only="X")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(
        main, ["bench", "--quick", "--dir", str(tmp_path), "--only", "C", "--no-references"]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert "\nC3-floor " in result.output and "\nW1 " not in result.output
    result = CliRunner().invoke(main, ["bench", "--quick", "--only", "C", "--nats"])
    assert result.exit_code == 2 and "not --nats" in result.output


def test_bench_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main, ["bench", "--quick", "--out", str(out), "--dir", str(tmp_path), "--events", "200"]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    for row in ("W1", "W2", "W3", "W4", "W5", "W6", "W6-live", "W1-es", "raw-1"):
        assert f"\n{row} " in result.output
    document = json.loads(out.read_text())
    assert document["sizes"]["read"] == 200
    assert {r["id"]: r["count"] for r in document["rows"]}["W4"] == 200


# -- the NATS rows (a real nats-server: the harness's own, or the suite's) ---------------------


def test_nats_rows_on_a_server_started_for_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "nats.json"
    result = CliRunner().invoke(
        main, ["bench", "--nats", "--quick", "--out", str(out), "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    for row in (
        "W1",
        "W2",
        "W3",
        "W4",
        "W5",
        "W6",
        "W6-live",
        "raw-1",
        "raw-16",
        "raw-pipe",
        "raw-batch",
        "raw-ordered",
        "raw-get",
        "raw-ordered+decode",
        "core-read",
        "P2",
    ):
        assert f"\n{row} " in result.output
    document = json.loads(out.read_text())
    assert document["notes"] == {"backend": "nats", "replicas": 1}
    by_id = {r["id"]: r for r in document["rows"]}
    assert set(by_id["W1"]["ratios"]) == {"raw-1"}
    assert set(by_id["W2"]["ratios"]) == {"W1", "raw-pipe", "raw-16"}
    assert set(by_id["raw-16"]["ratios"]) == {"raw-1"}
    assert set(by_id["W3"]["ratios"]) == {"raw-pipe", "raw-batch"}
    assert set(by_id["W4"]["ratios"]) == {"raw-ordered", "raw-ordered+decode", "raw-get"}
    assert set(by_id["W6"]["ratios"]) == {"raw-ordered", "raw-ordered+decode", "raw-get"}
    assert set(by_id["raw-ordered+decode"]["ratios"]) == {"raw-ordered"}
    reads = {
        by_id[k]["count"]
        for k in ("W4", "W5", "W6", "raw-ordered", "raw-get", "raw-ordered+decode", "core-read")
    }
    assert reads == {nats_rows.QUICK.read}
    assert all(r["rate"] > 0 for r in document["rows"])
    assert list(tmp_path.iterdir()) == [out]  # the server's directory was removed


def test_nats_rows_on_a_cluster_started_for_the_run(tmp_path: Path) -> None:
    out = tmp_path / "cluster.json"
    rows = nats_rows.run(quick=True, cluster=True, directory=tmp_path, out=out)
    assert {
        "W1", "W2", "W3", "W4", "W5", "W6", "raw-1", "raw-pipe", "raw-batch", "raw-ordered",
        "raw-get",
    } <= {r.id for r in rows}  # fmt: skip
    assert json.loads(out.read_text())["notes"] == {"backend": "nats", "replicas": 3}
    assert list(tmp_path.iterdir()) == [out]  # the three servers' directories were removed


def test_nats_rows_on_existing_servers_leave_no_streams(nats_server: NatsServer) -> None:
    rows = nats_rows.run(quick=True, url=nats_server.url, references=False)
    assert {r.system for r in rows} == {"safe-eventstore"}
    assert set({r.id: r for r in rows}["W2"].ratios) == {"W1"}

    async def names() -> list[str]:
        nc = await nats.connect(nats_server.url)
        try:
            return [i.config.name or "" for i in await nc.jetstream().streams_info()]
        finally:
            await nc.close()

    assert not [n for n in asyncio.run(names()) if "bench" in n]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--cluster"], 2, "go with --nats"),
        (["--nats", "--cluster", "--nats-url", "nats://h:1"], 2, "names existing ones"),
        (["--nats", "--replicas", "3"], 2, "goes with --nats-url"),
        (["--nats", "--nats-url", "http://h:1"], 2, "takes nats://"),
        (["--nats", "--nats-url", "nats://127.0.0.1:9?timeout=1"], 1, "cannot connect to NATS"),
    ],
)
def test_bad_nats_options_fail_in_one_line(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = CliRunner().invoke(main, ["bench", "--quick", "--dir", str(tmp_path), *args])
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    *progress, last = result.stderr.strip().splitlines()  # progress: the servers' line
    assert last.startswith("error: ") and message in last and len(progress) <= 1, result.stderr


def test_the_harness_imports_nats_only_for_the_nats_rows() -> None:
    code = (
        "import sys, safe_eventstore, safe_eventstore.cli, safe_eventstore.bench\n"
        "assert 'nats' not in sys.modules, 'nats imported'\n"
        "assert 'safe_eventstore.testing.nats_servers' not in sys.modules\n"
        "import safe_eventstore.bench.nats_rows\n"
        "assert 'nats' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
