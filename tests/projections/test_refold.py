"""Rebuilding a projection version in place, on request: the agent folds its source again
with the handlers it runs now and corrects the keys whose states differ, readers reading all
along."""

from __future__ import annotations

import time

import pytest

import safe_eventstore as ses
from safe_eventstore import projections


def _balances(rates: dict[str, int]) -> projections.Projection:
    p = projections.Projection(
        "balances",
        source=projections.category("Account"),
        types=["Deposited"],
        initial={"balance": 0},
        indexes=["balance"],
    )

    @p.on("Deposited")
    def _(state: dict[str, int], event: ses.RecordedEvent) -> dict[str, int]:
        return {"balance": state["balance"] + rates["x"] * int(event.data["amount"])}

    return p


def _turn(agent: projections.Agent, ttl: float) -> None:
    time.sleep(ttl / 3 + 0.05)  # past the next lease check, where the log is read
    agent.run_once()


def test_a_requested_rebuild_corrects_the_states_in_place(db: ses.Database) -> None:
    for n in range(30):
        db.append(f"Account-{n % 3}", [ses.NewEvent("Deposited", {"amount": n})])
    db.append("Other-1", [ses.NewEvent("Deposited", {"amount": 5})])
    rates = {"x": 2}  # a bug: every deposit counted twice
    p = _balances(rates)
    ttl = 0.6
    with projections.Agent(db, [p], lease_ttl=ttl, owner="a") as agent:
        agent.run_once()
        model = projections.ReadModel(db, p)
        wrong = {k: model.state(f"Account-{k}")["balance"] for k in range(3)}
        assert wrong == {k: 2 * sum(n for n in range(30) if n % 3 == k) for k in range(3)}
        rates["x"] = 1  # the handler fixed, the version unchanged
        assert projections.request_rebuild(db, "balances") == [1]
        _turn(agent, ttl)
        right = {k: sum(n for n in range(30) if n % 3 == k) for k in range(3)}
        assert {k: model.state(f"Account-{k}")["balance"] for k in range(3)} == right
        history = model.history("Account-1")
        assert history[-1].correction and history[-2].state["balance"] == wrong[1]
        page = model.query({"balance": (">=", 0)}, order_by="balance", limit=10)
        assert [s["balance"] for _, s in page.items] == sorted(right.values())
        status = projections.status(db, "balances")[0]
        assert status.state == "running" and status.lag_events == 0
        # asked once, done once: nothing more is written on the next turns
        last = db.last_position()
        _turn(agent, ttl)
        log = db.read_stream("projection.balances.v1.log")
        assert [e.type for e in log].count("ProjectionRebuilt") == 1
        assert db.last_position() == last
        # the projection goes on with new events after its rebuild
        db.append("Account-0", [ses.NewEvent("Deposited", {"amount": 1000})])
        agent.run_once()
        assert model.state("Account-0")["balance"] == right[0] + 1000


def test_a_rebuild_request_of_an_unknown_projection_writes_nothing(db: ses.Database) -> None:
    before = db.last_position()
    with pytest.raises(projections.ProjectionNotFound):
        projections.request_rebuild(db, "nope")
    with pytest.raises(projections.ProjectionNotFound):
        projections.request_rebuild(db, "bad name!")
    assert db.last_position() == before
