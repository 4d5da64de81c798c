"""Leases on a 3-node NATS cluster: a lease taken through one server is refused through the
others, each client connected to one server only (the contract's tests, run on the cluster
too, connect to any of them)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

import safe_eventstore as ses
from safe_eventstore.testing.nats_servers import NatsCluster

from ..conftest import drop


@pytest.fixture
def node_urls(nats_cluster: NatsCluster) -> Iterator[list[str]]:
    """One URL per server of the cluster, all naming one fresh store (3 replicas)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield [f"{s.url}?prefix={prefix}&replicas=3" for s in nats_cluster.servers]
    drop(nats_cluster.url, prefix)


def test_a_lease_taken_through_one_node_is_refused_through_the_others(
    node_urls: list[str],
) -> None:
    stores = [ses.open(url) for url in node_urls]
    try:
        first = stores[0].create_database("bank")
        dbs = [first, *(s.database("bank") for s in stores[1:])]
        lease = dbs[0].take_lease("projection-balances", "node-1", ttl=0.5, info={"n": 1})
        assert lease is not None and lease.epoch == 1
        for k, db in enumerate(dbs[1:], 2):
            assert db.take_lease("projection-balances", f"node-{k}", ttl=600) is None
            assert db.release_lease("projection-balances", f"node-{k}") is False
            seen = db.get_lease("projection-balances")
            assert seen is not None and seen.owner == "node-1"
        while not lease.expired():
            time.sleep(0.05)
        taken = dbs[2].take_lease("projection-balances", "node-3", ttl=600)
        assert taken is not None and (taken.owner, taken.epoch) == ("node-3", 2)
        assert dbs[0].take_lease("projection-balances", "node-1", ttl=600) is None
        assert dbs[1].take_lease("projection-balances", "node-2", ttl=600) is None
        assert dbs[2].release_lease("projection-balances", "node-3") is True
        again = dbs[1].take_lease("projection-balances", "node-2", ttl=600)
        assert again is not None and (again.owner, again.epoch) == ("node-2", 3)
        assert [x.owner for x in dbs[0].list_leases()] == ["node-2"]
    finally:
        for store in stores:
            store.close()
