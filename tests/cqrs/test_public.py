"""The toolkit's public surface: one sorted ``__all__``, its errors in the store's tree as
drawn, a docstring on every public name and method, and a documentation page that runs."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import safe_eventstore as ses
from safe_eventstore import cqrs
from safe_eventstore.cqrs import _errors

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cqrs.md"


def _isort_style(name: str) -> tuple[int, str]:
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def test_all_is_sorted_and_complete() -> None:
    assert cqrs.__all__ == sorted(cqrs.__all__, key=_isort_style)
    assert all(hasattr(cqrs, name) for name in cqrs.__all__)
    assert set(_errors.__all__) <= set(cqrs.__all__)


def test_the_errors_sit_in_the_stores_tree_as_drawn() -> None:
    lines = (_errors.__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "SafeEventStoreError")
    indent = len(lines[start]) - len(lines[start].lstrip())
    stack = ["SafeEventStoreError"]
    drawn: dict[str, str] = {}
    for line in lines[start + 1 :]:
        match = re.match(r"((?:│   |    )*)[├└]── (\w+)", line[indent:])
        if match is None:
            continue
        depth = len(match.group(1)) // 4 + 1
        del stack[depth:]
        drawn[match.group(2)] = stack[-1]
        stack.append(match.group(2))
    assert set(_errors.__all__) <= set(drawn)
    for name, parent in drawn.items():
        error = getattr(cqrs, name, None) or getattr(ses, name)
        assert issubclass(error, getattr(ses, parent)), (name, parent)


def test_every_public_name_and_method_has_a_docstring() -> None:
    missing = []
    for name in cqrs.__all__:
        obj = getattr(cqrs, name)
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if member.startswith("_"):
                    continue
                if (callable(value) or isinstance(value, property)) and not inspect.getdoc(value):
                    missing.append(f"{name}.{member}")
    assert missing == []


def test_the_page_names_every_public_name() -> None:
    page = PAGE.read_text()
    assert [name for name in cqrs.__all__ if f"`{name}`" not in page] == []


def test_the_pages_first_example_runs(tmp_path: Path) -> None:
    first = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.M | re.S)[0]
    result = subprocess.run(
        [sys.executable, "-c", first], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5", "True", "5"]
