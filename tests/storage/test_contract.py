"""The storage contract, run on every backend that ships with SAFE EventStore."""

from __future__ import annotations

from pathlib import Path

import pytest

from safe_eventstore.testing.contract import *  # noqa: F403


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"  # every open makes a new, empty store
    return f"sqlite://{tmp_path / 'store'}"
