"""Fixtures of the command-line tests: a plain terminal, a store, a store with a database."""

from __future__ import annotations

from pathlib import Path

import pytest

import safe_eventstore as ses

from .support import ENVIRONMENT


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables do not wrap cells in the assertions


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/store"


@pytest.fixture
def db_url(url: str) -> str:
    """A store whose ``default`` database exists."""
    with ses.open(url) as store:
        store.create_database("default")
    return url
