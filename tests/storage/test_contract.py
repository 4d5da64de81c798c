"""The storage contract, run on every backend that ships with SAFE EventStore."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from safe_eventstore.testing import contract
from safe_eventstore.testing.contract import *  # noqa: F403


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"  # every open makes a new, empty store
    return f"sqlite://{tmp_path / 'store'}"


def test_the_contract_exports_every_test_of_its_modules() -> None:
    """A test written in a topic module but left out of the package's ``__all__`` would be
    run by no backend."""
    written: set[str] = set()
    for found in pkgutil.iter_modules(contract.__path__):
        module = importlib.import_module(f"{contract.__name__}.{found.name}")
        written |= {name for name in vars(module) if name.startswith("test_")}
    assert set(contract.__all__) == {"db", "store", *written}
    assert contract.__all__ == sorted(contract.__all__)
