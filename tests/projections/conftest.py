"""Stores for the read side's tests: memory, SQLite and a real NATS server (the store's own
test servers), each test with a fresh, empty one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses

from ..conftest import fresh_store


@pytest.fixture(params=["memory", "sqlite", "nats"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'store'}"
    else:
        yield from fresh_store(request, "single")


@pytest.fixture
def store(store_url: str) -> Iterator[ses.Store]:
    with ses.open(store_url) as opened:
        yield opened


@pytest.fixture
def db(store: ses.Store) -> ses.Database:
    return store.create_database("bank")
