"""The demo's end: a shop's few thousand events, and the web console served over them."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import httpx2
import pytest

from .support import database, fails, module, ok, process_env

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_fills_its_database_with_a_shop(url: str) -> None:
    out = ok("demo", "--store", url).stdout
    appended = re.search(r"appended ([\d,]+) events of orders", out)
    assert appended
    with database(url, "demo") as db:
        stats = db.stats()
        assert (
            int(appended.group(1).replace(",", "")) + 10 == stats["events"] + stats["restructures"]
        )
        assert 2000 < stats["events"] < 10_000
        assert {"Order", "Payment", "Shipment", "Inventory", "Customer"} <= set(
            db.list_categories()
        )
        [shipped] = db.read_stream("Shipment-0")
        [paid] = db.read_stream("Payment-0")
        assert shipped.causation_id == paid.event_id
        assert shipped.correlation_id == paid.correlation_id is not None
        assert db.verify().ok


def test_serve_after_the_demo_needs_a_lasting_store() -> None:
    line = fails(1, "demo", "--store", "memory://", "--serve")
    assert "memory://" in line


def test_the_demo_script_ends_serving_and_takes_no_serve() -> None:
    script = (ROOT / "scripts" / "demo.sh").read_text()
    assert 'safe-eventstore demo --serve "$@"' in script  # a later --no-serve wins


def test_the_demo_ends_with_the_console_open(url: str, tmp_path: Path) -> None:
    with subprocess.Popen(
        module("demo", "--store", url, "--serve", "--port", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=process_env(),
    ) as process:  # fmt: skip
        _check_the_console(process)


def _check_the_console(process: subprocess.Popen[str]) -> None:
    try:
        assert process.stdout is not None
        address = None
        for line in process.stdout:
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                address = found.group(1)
                break
        assert address, process.stderr.read() if process.stderr else ""
        page = httpx2.get(address + "db/demo", timeout=30)
        assert page.status_code == 200
        assert "Inventory" in page.text and 'id="rate-chart"' in page.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if it hangs
            process.kill()
            pytest.fail("the server did not stop on Ctrl-C")
