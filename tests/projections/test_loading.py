"""Projections found by import path; every kind of bad path a typed error, and through the
command line one clean line with exit 2, before anything is written."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import safe_eventstore as ses
from safe_eventstore import projections
from safe_eventstore.cli import main

APP = """
import safe_eventstore as ses
from safe_eventstore import projections

def make(name):
    p = projections.Projection(name, source=projections.category("Account"), initial=0,
                               types=["Deposited"])

    @p.on("Deposited")
    def deposited(state, event):
        return state + event.data["amount"]

    return p

balances = make("balances")
both = [make("one"), make("two")]
pair = (make("three"),)

def factory():
    return [make("four")]

def needs_argument(x):
    return make("five")

not_a_projection = 42
again = make("balances")
"""

BROKEN = """
import safe_eventstore as ses
from safe_eventstore import projections

p = projections.Projection("typo", source=projections.category("Account"))

@p.on("Depossited")
def deposited(state, event):
    return state
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[str]:
    """The name of a fresh module holding projections (and one that fails to import)."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(APP))
    (tmp_path / f"{name}_broken.py").write_text(textwrap.dedent(BROKEN))
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))


def test_paths_name_projections_lists_and_factories(app: str) -> None:
    found = projections.load([f"{app}:balances", f"{app}:both", f"{app}:pair", f"{app}:factory"])
    assert [p.name for p in found] == ["balances", "one", "two", "three", "four"]


@pytest.mark.parametrize(
    ("path", "error", "words"),
    [
        ("no_such_module_here:x", projections.ProjectionNotFound, "cannot import"),
        ("{app}:missing", projections.ProjectionNotFound, "no attribute"),
        ("{app}", projections.ProjectionNotFound, "import path"),
        ("{app}:not_a_projection", projections.InvalidProjection, "not a projection"),
        ("{app}:needs_argument", projections.InvalidProjection, "not a projection"),
        ("{app}_broken:p", projections.UnknownEventType, "Depossited"),
    ],
)
def test_bad_paths_are_typed_errors(
    app: str, path: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        projections.load([path.format(app=app)])


def test_two_projections_with_one_name_across_paths(app: str) -> None:
    with pytest.raises(projections.DuplicateProjection, match="balances"):
        projections.load([f"{app}:balances", f"{app}:again"])


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert isinstance(result.exception, SystemExit | None)
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr.strip()


@pytest.mark.parametrize(
    "path",
    ["no_such_module_here:x", "{app}:missing", "{app}_broken:p", "{app}:not_a_projection"],
)
def test_the_run_command_refuses_bad_paths_before_writing(
    app: str, path: str, tmp_path: Path
) -> None:
    url = f"sqlite://{tmp_path / 'store'}"
    with ses.open(url) as store:
        store.create_database("default")
    code, err = _cli("projections", "run", path.format(app=app), "--store", url)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ")
    code, err = _cli("projections", "run", f"{app}:balances", f"{app}:again", "--store", url)
    assert code == 2 and "two projections named 'balances'" in err
    with ses.open(url) as store:
        db = store.database("default")
        assert db.last_position() == 0 and db.list_checkpoints() == {}
        assert db.list_leases() == []


def test_status_and_retry_commands(app: str, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'store'}"
    with ses.open(url) as store:
        db = store.create_database("default")
        db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 5})])
        with projections.Agent(db, projections.load([f"{app}:balances"]), owner="me") as agent:
            agent.run_once()
    code, err = _cli("projections", "status", "nothing", "--store", url)
    assert code == 2 and err.startswith("error: no projection 'nothing'")
    code, err = _cli("projections", "retry", "nothing", "--store", url)
    assert code == 2 and err.startswith("error: no projection 'nothing'")
    result = CliRunner().invoke(main, ["projections", "status", "--json", "--store", url])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["name"] == "balances" and record["state"] == "stopped"
    assert record["lag_events"] == 0 and record["failure"] is None
    result = CliRunner().invoke(main, ["projections", "status", "--store", url])
    assert result.exit_code == 0 and "balances" in result.stdout and "stopped" in result.stdout
    result = CliRunner().invoke(main, ["projections", "retry", "balances", "--store", url])
    assert result.exit_code == 0 and "not failed" in result.stdout
    code, err = _cli("projections", "rebuild", "nothing", "--store", url)
    assert code == 2 and err.startswith("error: no projection 'nothing'")
    result = CliRunner().invoke(main, ["projections", "rebuild", "balances", "--store", url])
    assert result.exit_code == 0 and "rebuild requested for balances v1" in result.stdout
