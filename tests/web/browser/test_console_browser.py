"""The console's pages in a real headless Chromium: a few paths a person takes, each ending
with a screenshot in test-artifacts/browser/."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Page, expect

import safe_eventstore as ses
from safe_eventstore import projections

from .conftest import BIG

pytestmark = pytest.mark.slow  # one store with a 1,000,000-event stream, built once


def test_open_the_console_and_create_a_database(
    page: Page, served: dict[str, Any], shots: Path
) -> None:
    page.goto(served["url"] + "/")
    expect(page.locator("h1")).to_have_text("Databases")
    expect(page.locator("#databases")).to_contain_text("big")
    page.screenshot(path=shots / "databases.png", full_page=True)
    page.fill("input[name=name]", "made-in-browser")
    page.click("#create-database button")
    expect(page).to_have_url(served["url"] + "/db/made-in-browser")
    expect(page.locator("h1")).to_have_text("Database made-in-browser")
    assert "made-in-browser" in served["store"].list_databases()


def test_an_event_appended_through_the_api_appears_in_the_live_tail(
    page: Page, served: dict[str, Any], shots: Path
) -> None:
    page.goto(served["url"] + "/db/shop/tail?category=Order")
    expect(page.locator("#tail-state")).to_have_text("live")

    def append(n: int) -> None:
        answer = httpx2.post(
            f"{served['url']}/api/v1/databases/shop/streams/Order-{n}/events",
            json={"events": [{"type": "OrderPlaced", "data": {"total": n}}]},
        )
        assert answer.status_code == 201, answer.text

    append(100)
    expect(page.locator("#tail-rows")).to_contain_text("Order-100@0")
    page.screenshot(path=shots / "tail.png", full_page=True)
    page.click("#tail-toggle")
    expect(page.locator("#tail-state")).to_have_text("paused")
    append(101)
    page.wait_for_timeout(300)  # time for a row that should not come
    expect(page.locator("#tail-rows")).not_to_contain_text("Order-101@0")
    page.click("#tail-toggle")
    expect(page.locator("#tail-rows")).to_contain_text("Order-101@0")
    assert page.locator("#tail-rows tr", has_text="Order-101@0").count() == 1


def test_a_million_event_stream_pages_both_ways(
    page: Page, served: dict[str, Any], shots: Path
) -> None:
    page.goto(served["url"] + "/db/big/streams/Big-1?backwards=1")
    versions = page.locator("table.events tbody tr td:first-child")
    expect(versions.first).to_have_text(str(BIG - 1))
    page.click("a[rel=prev]")  # older, swapped in by htmx
    expect(versions.first).to_have_text(str(BIG - 51))
    expect(page).to_have_url(f"{served['url']}/db/big/streams/Big-1?from={BIG - 51}&backwards=1")
    page.click("a[rel=next]")  # newer
    expect(versions.first).to_have_text(str(BIG - 50))
    page.click("a[rel=first]")
    expect(versions.first).to_have_text("0")
    page.click("button[data-details=open]")
    expect(page.locator("details.event").first).to_have_attribute("open", "")
    page.screenshot(path=shots / "big-stream.png", full_page=False)


def test_follow_a_correlation_link_and_the_causation_tree(
    page: Page, served: dict[str, Any], shots: Path
) -> None:
    page.goto(served["url"] + "/db/shop/events/Payment-1/0")
    expect(page.locator("svg.tree g.node")).to_have_count(3)
    page.screenshot(path=shots / "event.png", full_page=True)
    page.click("#correlation-link")
    matches = page.locator("#matches tbody tr")
    expect(matches).to_have_count(3)
    expect(matches.nth(0)).to_contain_text("Order-1@0")
    page.click("text=Order-1@0")
    expect(page.locator("h1")).to_contain_text("Order-1")
    page.screenshot(path=shots / "correlation.png", full_page=True)


def test_event_data_never_runs_as_script(page: Page, served: dict[str, Any]) -> None:
    evil = "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"
    db = served["store"].database("shop")
    db.append(
        "Evil-<script>window.pwned=3<", [ses.NewEvent("<img>", {"x": evil}, metadata={"m": evil})]
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in (
        "/db/shop/streams?category=Evil",
        "/db/shop/streams/Evil-%3Cscript%3Ewindow.pwned%3D3%3C",
        "/db/shop/events/Evil-%3Cscript%3Ewindow.pwned%3D3%3C/0",
        "/db/shop/tail",
    ):
        page.goto(served["url"] + path)
        if page.locator("button[data-details=open]").count():
            page.click("button[data-details=open]")
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.pwned") == "undefined", path
    expect(page.locator("#tail-rows")).to_contain_text("Evil-<script>window.pwned=3<@0")
    assert dialogs == []


def test_a_failed_projection_is_shown_and_retried_from_its_page(
    page: Page, served: dict[str, Any], shots: Path
) -> None:
    db = served["store"].create_database("ledger")
    db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 13})])
    audit = projections.Projection(
        "audit", source=projections.category("Account"), types=["Deposited"]
    )

    @audit.on("Deposited")
    def _(state: object, event: ses.RecordedEvent) -> object:
        raise ValueError("unlucky amount")

    def work() -> None:
        with projections.Agent(db, [audit], owner="agent-b") as agent:
            agent.run_once()

    # Playwright's sync API keeps an event loop in this thread: the sync agent runs in another
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    page.goto(served["url"] + "/db/ledger/projections")
    row = page.locator('tr[data-projection="audit"]')
    expect(row.locator("td.state")).to_have_text("failed")
    expect(page.locator("tr.failure")).to_contain_text("unlucky amount")
    page.screenshot(path=shots / "projections.png", full_page=True)
    row.locator("button.retry").click()
    expect(page.locator("#projections-message")).to_contain_text("retry recorded for audit v1")
    expect(row.locator("td.state")).to_have_text("stopped")
    expect(page.locator("tr.failure")).to_have_count(0)
