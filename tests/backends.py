"""Fixtures of a fresh store on each backend: memory, SQLite and a real NATS server (the
store's own test servers), for the test packages that run everything on all three."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses

from .conftest import fresh_store

BACKENDS = ["memory", "sqlite", "nats"]


def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store of the backend the test is parametrized with."""
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'store'}"
    else:
        yield from fresh_store(request, "single")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[ses.Store]:
    with ses.open(store_url) as opened:
        yield opened


@pytest.fixture
def db(store: ses.Store) -> ses.Database:
    return store.create_database("bank")
