"""Smoke runs of the P rows of the benchmark harness (projections): tiny sizes, the rows,
their ratios and notes, and ``--only P`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from safe_eventstore import bench
from safe_eventstore.bench import projection_rows
from safe_eventstore.cli import main


def test_only_the_projection_rows_with_w6_beside_them(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    rows = bench.run(quick=True, directory=tmp_path, out=out, only="P")
    by_id = {r.id: r for r in rows}
    assert list(by_id) == ["W6", "P1", "P1-es", "P2", "P3", "P3-scan", "P3-raw"]
    events = bench.QUICK.read
    assert by_id["P1"].count == by_id["P1-es"].count == by_id["W6"].count == events
    assert set(by_id["P1"].ratios) == {"P1-es", "W6"}
    assert by_id["P1"].ratios["W6"] == pytest.approx(by_id["P1"].rate / by_id["W6"].rate)
    assert by_id["P1"].notes["target"] == ">= 2.0x P1-es, >= 0.5x W6"
    assert by_id["P1"].what.endswith(f"{projection_rows.accounts(bench.QUICK)} account balances")
    p2 = by_id["P2"]
    assert p2.count == bench.QUICK.latency and p2.unit == "ms p99"
    assert 0 < p2.notes["p50_ms"] <= p2.notes["p99_ms"] == pytest.approx(p2.rate, abs=1e-3)
    assert p2.notes["target"] == "< 20 ms p99"
    document = json.loads(out.read_text())
    # the library's durability, read back from its application's and its view's files
    assert document["notes"]["durability-p1-es"] == (
        "application: synchronous = FULL, view: synchronous = FULL"
    )
    assert list(tmp_path.iterdir()) == [out]  # the stores were removed


def test_projection_rows_without_references(tmp_path: Path) -> None:
    rows = bench.run(quick=True, directory=tmp_path, references=False, only="P")
    by_id = {r.id: r for r in rows}
    assert list(by_id) == ["W6", "P1", "P2", "P3"]  # P3 with neither a scan nor plain sqlite3
    assert set(by_id["P1"].ratios) == {"W6"}


def test_only_p_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(main, ["bench", "--quick", "--dir", str(tmp_path), "--only", "P"])
    assert result.exit_code == 0, (result.output, result.exception)
    for row in ("W6", "P1", "P1-es", "P2", "P3", "P3-scan", "P3-raw"):
        assert f"\n{row} " in result.output
    assert "\nW1 " not in result.output and "\nC1 " not in result.output
