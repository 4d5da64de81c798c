"""NATS servers for the NATS tests: one ``nats-server -js``, and a 3-node cluster, each
started once per test session (when a test asks for it) on loopback ports, stopped at its
end. ``fresh_store`` gives a test an empty store on either."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import nats
import pytest

from safe_eventstore.testing.nats_servers import NatsCluster, NatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("nats-single")) as server:
        yield server


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path_factory.mktemp("nats-cluster")) as cluster:
        yield cluster


def drop(url: str, prefix: str) -> None:
    """Delete the JetStream streams of one store (so that the servers stay light)."""

    async def delete() -> None:
        nc = await nats.connect(url.split("?")[0].split(","), connect_timeout=2)
        try:
            js = nc.jetstream()
            for info in await js.streams_info():
                name = info.config.name or ""
                if name.startswith(f"{prefix}_"):
                    await js.delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(delete())


def fresh_store(request: pytest.FixtureRequest, kind: str) -> Iterator[str]:
    """The URL of an empty store (a fresh prefix) on the single server or on the cluster
    (3 replicas); its streams are deleted after the test."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    if kind == "single":
        base = request.getfixturevalue("nats_server").url
        url = f"{base}?prefix={prefix}"
    else:
        base = request.getfixturevalue("nats_cluster").url
        url = f"{base}?prefix={prefix}&replicas=3"
    yield url
    drop(base, prefix)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Playwright's sync API keeps an event loop running in the main thread for as long as
    # its session-wide fixtures live, so asyncio.run() in any test after the first browser
    # test would fail: the browser tests go last, whatever paths the command line names.
    items.sort(key=lambda item: "browser" in item.path.parts)
