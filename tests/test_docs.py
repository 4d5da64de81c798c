"""The documentation runs: the README's code blocks and every example under examples/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
APPLICATIONS = sorted(p.parent.name for p in (ROOT / "examples").glob("*/__main__.py"))


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.M | re.S)


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SAFE_EVENTSTORE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def test_readme_quick_start_runs(capsys: pytest.CaptureFixture[str]) -> None:
    quick_start = python_blocks()[0]
    body = quick_start.split("with ses.open(", 1)[1].splitlines()[1:]
    assert len([line for line in body if line.strip()]) <= 5, "keep the quick start short"
    exec(compile(quick_start, str(README), "exec"), {"__name__": "readme"})
    assert "[(0, 'Deposited', {'amount': 100})]" in capsys.readouterr().out


@pytest.mark.parametrize("number", range(len(python_blocks())))
def test_readme_code_block_runs_in_a_fresh_process(number: int, tmp_path: Path) -> None:
    # In a process of its own: a block that registers typed events must not change the
    # default registry the other tests read with.
    done = run_python(["-c", python_blocks()[number]], tmp_path)
    assert done.returncode == 0, done.stderr


def test_readme_keeps_the_fresh_machine_commands() -> None:
    text = README.read_text()
    assert "```sh\nbash scripts/demo.sh\n```" in text
    assert "```sh\nbash scripts/test.sh\n```" in text


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(example: Path, tmp_path: Path) -> None:
    done = run_python([str(example)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert list(tmp_path.iterdir()) == [], "examples leave nothing behind"


# what each application example must say it did
APPLICATION_OUTPUT = {
    "bank": [
        "Bob's deposit sent twice: replayed=True, stored once",
        "one atomic save of Account-ann, Account-bob",
        "refused, neither account changed",
        "Ann: balance 180 at version 2",
        "Bob: balance 170 at version 2",
        """Dora's deposit as stored: {"amount":70}, as read: """
        "Deposited(amount=70, currency='EUR')",
        "Dora: balance 50",
        "transfer t1: completed",
        "transfer t2: failed (account gus is closed)",
        "transfer t3: failed (timed out)",
        "transfer t4: failed (account finn: 500 passes the overdraft limit)",
        "a run after the end applies 0 events: nothing is issued twice",
        "balances {'eve': 250, 'finn': 50, 'gus': 0}, total 300: money conserved",
    ],
    "notebook": [
        "refused: a note has at most 100 characters, not 101",
        "NoteBook-groceries at version 1: ['milk', 'bread, the dark one']",
    ],
}


@pytest.mark.parametrize("name", APPLICATIONS)
def test_application_example_runs_as_a_module(name: str, tmp_path: Path) -> None:
    done = run_python(["-m", f"examples.{name}"], tmp_path)
    assert done.returncode == 0, done.stderr
    for line in APPLICATION_OUTPUT[name]:
        assert line in done.stdout
    assert list(tmp_path.iterdir()) == [], "examples leave nothing behind"


def test_readme_application_runs(tmp_path: Path) -> None:
    [block] = [b for b in python_blocks() if "cqrs.CommandRouter" in b]
    done = run_python(["-c", block], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "100"


def test_there_are_examples() -> None:
    assert set(APPLICATIONS) == set(APPLICATION_OUTPUT) >= {"bank", "notebook"}
    assert {p.name for p in EXAMPLES} >= {"quickstart.py", "subscription.py"}
