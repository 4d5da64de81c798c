"""The read side in the console and the API: each projection's status, a failed one's
record and its retry, and switching readers between built versions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

import safe_eventstore as ses
from safe_eventstore import projections
from safe_eventstore.web import create_app

from .console import form_token


def _balances(version: int, factor: int) -> projections.Projection:
    p = projections.Projection(
        "balances",
        source=projections.category("Account"),
        version=version,
        types=["Deposited"],
        initial=0,
    )

    @p.on("Deposited")
    def _(state: int, event: ses.RecordedEvent) -> int:
        return state + factor * int(event.data["amount"])

    return p


def _broken() -> projections.Projection:
    p = projections.Projection("audit", source=projections.category("Account"), types=["Deposited"])

    @p.on("Deposited")
    def _(state: object, event: ses.RecordedEvent) -> object:
        if event.data["amount"] == 13:
            raise ValueError("unlucky amount")
        return event.data["amount"]

    return p


@pytest.fixture
def bank(store: ses.Store) -> Iterator[ses.Database]:
    db = store.database("bank")
    for n, amount in enumerate([5, 13, 7]):
        db.append(f"Account-{n}", [ses.NewEvent("Deposited", {"amount": amount})])
    yield db


def _row(page: str, name: str, version: int) -> str:
    found = re.search(
        rf'<tr class="state-(\w+)" data-projection="{name}" data-version="{version}">(.*?)</tr>',
        page,
        re.S,
    )
    assert found, f"no row for {name} v{version}"
    return found.group(1) + " " + found.group(2)


def test_the_page_shows_each_projection_and_a_failure_with_its_event(
    client: TestClient, bank: ses.Database
) -> None:
    with projections.Agent(bank, [_balances(1, 1), _broken()], owner="agent-1") as agent:
        agent.run_once()
        page = client.get("/db/bank/projections")
        assert page.status_code == 200 and 'href="/db/bank/projections"' in page.text
        balances = _row(page.text, "balances", 1)
        assert balances.startswith("running") and "agent-1" in balances
        assert re.search(r'<td class="num">3</td>\s*<td class="num">3</td>', balances)
        audit = _row(page.text, "audit", 1)
        assert audit.startswith("failed") and 'class="retry"' in audit
        assert "Account-1@0" in page.text and "unlucky amount" in page.text
        assert 'href="/db/bank/events/Account-1/0"' in page.text
        table = client.get("/db/bank/projections/table")
        assert table.status_code == 200 and "<html" not in table.text
        assert _row(table.text, "audit", 1).startswith("failed")


def test_retry_from_the_page_records_a_retry_the_agent_resumes_from(
    client: TestClient, bank: ses.Database
) -> None:
    with projections.Agent(bank, [_broken()], owner="agent-1") as agent:
        agent.run_once()
        assert projections.status(bank)[0].state == "failed"
        token = form_token(client, "/db/bank/projections")
        done = client.post(
            "/db/bank/projections/audit/retry", data={"csrf_token": token}, follow_redirects=False
        )
        assert done.status_code == 303
        shown = client.get(done.headers["location"]).text
        assert "retry recorded for audit v1" in shown
        assert projections.status(bank)[0].state != "failed"
        again = client.post("/db/bank/projections/audit/retry", data={"csrf_token": token})
        assert again.status_code == 200 and "no failure to retry" in again.text
        unknown = client.post("/db/bank/projections/nope/retry", data={"csrf_token": token})
        assert unknown.status_code == 404 and "nope" in unknown.text
        forged = client.post("/db/bank/projections/audit/retry", data={"csrf_token": "x"})
        assert forged.status_code == 403


def test_readers_are_switched_between_built_versions_from_the_page(
    client: TestClient, bank: ses.Database
) -> None:
    with projections.Runner(bank, [_balances(1, 1), _balances(2, 10)]) as runner:
        runner.run_once()
    assert projections.active_version(bank, "balances") == 2
    page = client.get("/db/bank/projections").text
    assert "serving" in _row(page, "balances", 2) and 'class="promote"' not in _row(
        page, "balances", 2
    )
    assert 'class="promote"' in _row(page, "balances", 1)
    token = form_token(client, "/db/bank/projections")
    back = client.post(
        "/db/bank/projections/balances/promote",
        data={"csrf_token": token, "version": "1"},
        follow_redirects=False,
    )
    assert back.status_code == 303 and projections.active_version(bank, "balances") == 1
    for bad in ("0", "x", "99"):
        refused = client.post(
            "/db/bank/projections/balances/promote", data={"csrf_token": token, "version": bad}
        )
        assert refused.status_code == 422, bad
    assert projections.active_version(bank, "balances") == 1


def test_the_api_lists_projections_retries_and_promotes(
    client: TestClient, bank: ses.Database
) -> None:
    with projections.Agent(bank, [_balances(1, 1), _broken()], owner="agent-1") as agent:
        agent.run_once()
        listed = client.get("/api/v1/databases/bank/projections")
        assert listed.status_code == 200
        by_name = {p["name"]: p for p in listed.json()["projections"]}
        assert by_name["balances"]["state"] == "running" and by_name["balances"]["position"] == 3
        assert by_name["audit"]["failure"]["stream"] == "Account-1"
        assert "unlucky" in by_name["audit"]["failure"]["error"]
        retried = client.post("/api/v1/databases/bank/projections/audit/retry")
        assert retried.status_code == 200 and retried.json() == {"retried": [1]}
    missing = client.post("/api/v1/databases/bank/projections/nope/retry")
    assert missing.status_code == 404 and missing.json()["error"] == "ProjectionNotFound"
    bad_name = client.post("/api/v1/databases/bank/projections/no%20pe/retry")
    assert bad_name.status_code == 422
    unbuilt = client.post(
        "/api/v1/databases/bank/projections/balances/promote", json={"version": 7}
    )
    assert unbuilt.status_code == 422 and unbuilt.json()["error"] == "UnbuiltVersion"
    ok = client.post("/api/v1/databases/bank/projections/balances/promote", json={"version": 1})
    assert ok.status_code == 200 and ok.json() == {"name": "balances", "active_version": 1}
    assert client.get("/api/v1/databases/nope/projections").status_code == 404


def test_read_only_shows_projections_and_refuses_their_actions(
    store: ses.Store, bank: ses.Database
) -> None:
    with projections.Agent(bank, [_broken()], owner="agent-1") as agent:
        agent.run_once()
    with TestClient(create_app(store, read_only=True)) as client:
        page = client.get("/db/bank/projections")
        assert page.status_code == 200 and "failed" in page.text
        assert 'class="retry"' not in page.text
        token = form_token(client, "/db/bank/verify")  # verifying writes nothing: its form stays
        refused = client.post("/db/bank/projections/audit/retry", data={"csrf_token": token})
        assert refused.status_code == 403
        api = client.post("/api/v1/databases/bank/projections/audit/retry")
        assert api.status_code == 403
    assert projections.status(bank)[0].state == "failed"


def test_an_empty_database_says_there_are_no_projections(client: TestClient) -> None:
    page = client.get("/db/bank/projections")
    assert page.status_code == 200 and "no projections recorded" in page.text
    assert client.get("/api/v1/databases/bank/projections").json() == {"projections": []}


def test_a_rebuild_is_asked_from_the_page_and_the_api(
    client: TestClient, bank: ses.Database
) -> None:
    with projections.Agent(bank, [_balances(1, 1)], owner="agent-1") as agent:
        agent.run_once()
        page = client.get("/db/bank/projections").text
        assert 'class="rebuild"' in _row(page, "balances", 1)
        token = form_token(client, "/db/bank/projections")
        asked = client.post(
            "/db/bank/projections/balances/rebuild",
            data={"csrf_token": token, "version": "1"},
            follow_redirects=False,
        )
        assert asked.status_code == 303
        assert "rebuild requested for balances v1" in client.get(asked.headers["location"]).text
        api = client.post("/api/v1/databases/bank/projections/balances/rebuild")
        assert api.status_code == 200 and api.json() == {"requested": [1]}
        log = [e.type for e in bank.read_stream("projection.balances.v1.log")]
        assert log.count("ProjectionRebuildRequested") == 2
        missing = client.post(
            "/db/bank/projections/nope/rebuild", data={"csrf_token": token, "version": "1"}
        )
        assert missing.status_code == 404
        assert client.post("/api/v1/databases/bank/projections/nope/rebuild").status_code == 404
