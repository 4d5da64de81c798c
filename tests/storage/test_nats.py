"""The storage contract on real NATS servers: one server, and a 3-node cluster with 3 replicas.

The servers are started once per module on loopback ports; every test gets a store of its
own through a fresh name prefix, and its JetStream streams are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from safe_eventstore.storage.nats.servers import NatsCluster, NatsServer
from safe_eventstore.testing.contract import *  # noqa: F403


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("nats-single")) as server:
        yield server


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path_factory.mktemp("nats-cluster")) as cluster:
        yield cluster


def _drop(url: str, prefix: str) -> None:
    """Delete the JetStream streams of one store (so that the servers stay light)."""

    async def drop() -> None:
        nc = await nats.connect(url.split("?")[0].split(","), connect_timeout=2)
        try:
            js = nc.jetstream()
            for info in await js.streams_info():
                name = info.config.name or ""
                if name.startswith(f"{prefix}_"):
                    await js.delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(drop())


@pytest.fixture(params=["single", "cluster"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "single":
        base = request.getfixturevalue("nats_server").url
        url = f"{base}?prefix={prefix}"
    else:
        base = request.getfixturevalue("nats_cluster").url
        url = f"{base}?prefix={prefix}&replicas=3"
    yield url
    _drop(base, prefix)


def test_the_fixture_gives_each_test_an_empty_store(store_url: str, tmp_path: Path) -> None:
    import safe_eventstore as ses

    with ses.open(store_url) as store:
        assert store.list_databases() == []
