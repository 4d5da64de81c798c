"""Fixtures of the web tests: a store, and the app serving it through the test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import safe_eventstore as ses
from safe_eventstore.web import create_app


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ses.Store]:
    with ses.open(f"sqlite://{tmp_path}/store", durability="relaxed") as store:
        store.create_database("bank")
        yield store


@pytest.fixture
def client(store: ses.Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client
