"""docs/projections.md's example runs, and the package's public names are documented."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

from safe_eventstore import projections

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "projections.md"


def test_the_example_of_the_docs_runs(tmp_path: Path) -> None:
    [example] = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.M | re.S)[:1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", example],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["105", "100"]


def test_every_public_name_is_sorted_and_documented() -> None:
    names = projections.__all__
    assert names == sorted(names)
    for name in names:
        obj = getattr(projections, name)
        assert inspect.getdoc(obj), name
        if inspect.isclass(obj) and not issubclass(obj, Exception):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(member):
                    assert inspect.getdoc(member), f"{name}.{attr}"
