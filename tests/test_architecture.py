"""The import rules of docs/architecture.md, as import-linter contracts in pyproject.toml.

The contracts run on the package as it is, and on copies of it with one rule broken, to show
that they catch what they claim to. Packages that do not exist yet (``web/``, ``cqrs/``,
``projections/``, ``crypto/``) are optional layers; the rules that can only name existing
modules are required here as soon as such a package appears."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(safe_eventstore.__file__).parent
CONFIG = ROOT / "pyproject.toml"

# the packages above the public API: they use it and nothing below it
FRONT = ("cli", "web", "cqrs", "projections", "eventsourcing")
COMING = ("web", "cqrs", "projections", "crypto")
# the storage package's modules that are not backends
STORAGE_SHARED = {
    "__init__",
    "base",
    "group_commit",
    "background",
    "_factories",
    "_sequence",
    "_signatures",
    "_leases",
    "documents",
}


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).parent / "lint-imports"
    command = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert command, "lint-imports not found: pip install -e '.[dev]'"
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [command, "--no-cache", "--no-logo", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_the_import_rules_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def test_every_layer_is_placed_and_the_coming_packages_have_theirs() -> None:
    layers = contracts()["layers"]
    assert layers["exhaustive"] is True  # a new top-level module must be given a layer
    named = " ".join(layers["layers"])
    for package in COMING:
        assert f"({package})" in named or (PACKAGE / package).is_dir(), package


def test_packages_above_the_public_api_have_their_rule() -> None:
    sources = contracts()["public-api-only"]["source_modules"]
    for package in FRONT:
        if (PACKAGE / package).exists() or (PACKAGE / f"{package}.py").exists():
            assert f"safe_eventstore.{package}" in sources, package


def test_every_backend_is_under_the_backend_rules() -> None:
    backends = {
        f"safe_eventstore.storage.{path.stem}"
        for path in (PACKAGE / "storage").iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists())
        and path.stem not in STORAGE_SHARED
    }
    assert {"safe_eventstore.storage.memory", "safe_eventstore.storage.sqlite"} <= backends
    rules = contracts()
    assert set(rules["backends-independent"]["modules"]) == backends
    assert set(rules["backends-below-the-store"]["source_modules"]) == backends
    assert set(rules["backends-loaded-by-the-registry"]["protected_modules"]) == backends
    assert backends <= set(rules["store-without-backends"]["forbidden_modules"])


def _module(root: Path, name: str) -> Path:
    path = root.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@pytest.mark.parametrize(
    ("importer", "line", "broken"),
    [
        ("safe_eventstore.storage.memory", "from . import sqlite", "another backend"),
        ("safe_eventstore.storage.memory", "from .. import _store", "layer"),
        ("safe_eventstore._codec", "from .storage import base", "layer"),
        ("safe_eventstore._store", "from .storage import memory", "only through the entry"),
        ("safe_eventstore._database", "from . import testing", "never imports the test"),
        ("safe_eventstore.eventsourcing", "from .. import bench", "bench command"),
        ("safe_eventstore.cli", "from safe_eventstore.storage import base", "public API only"),
        ("safe_eventstore.cqrs", "from safe_eventstore import _model", "public API only"),
        ("safe_eventstore.cqrs._router", "from ..storage import memory", "public API only"),
        ("safe_eventstore._database", "from . import cqrs", "layer"),
        ("safe_eventstore.projections", "from safe_eventstore import _codec", "public API only"),
        ("safe_eventstore.projections._io", "from ..storage import sqlite", "public API only"),
        ("safe_eventstore.cqrs", "from .. import projections", "layer"),
    ],
)
def test_a_broken_rule_is_reported(tmp_path: Path, importer: str, line: str, broken: str) -> None:
    shutil.copytree(PACKAGE, tmp_path / "safe_eventstore", ignore=shutil.ignore_patterns("*.pyc"))
    module = _module(tmp_path, importer)
    module.write_text(module.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path, pythonpath=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken_lines = [x for x in result.stdout.splitlines() if x.endswith(" BROKEN")]
    assert any(broken in x for x in broken_lines), result.stdout
