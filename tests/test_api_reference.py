"""docs/api.md names every public name and matches the docstrings it is generated from."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import safe_eventstore as ses

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = runpy.run_path(str(ROOT / "scripts" / "api_reference.py"))


def test_the_reference_page_is_up_to_date() -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    assert page == GENERATOR["render"](), "run: .venv/bin/python scripts/api_reference.py"


def test_every_public_name_has_a_section() -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    sections = set(re.findall(r"^### `([^`]+)`$", page, flags=re.M))
    assert sections == set(ses.__all__)


def test_every_public_name_and_method_is_documented() -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    undocumented = [
        block.splitlines()[0]
        for block in re.split(r"^#{3,4} ", page, flags=re.M)[1:]
        if not block.split("```")[-1].strip()
    ]
    assert undocumented == []
