"""Each page of the console through the test client: what it shows, and how it pages."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

import safe_eventstore as ses

from .console import form_token, shop


@pytest.fixture
def bank(store: ses.Store) -> ses.Database:
    return store.database("bank")


def test_the_databases_page_lists_each_with_its_event_count(
    client: TestClient, bank: ses.Database
) -> None:
    shop(bank)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    row = re.search(r'<a href="/db/bank">bank</a></td>\s*<td class="num">(\d+)</td>', page.text)
    assert row and row.group(1) == "4"  # the restructure is no event
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_database_is_created_from_the_form(client: TestClient, store: ses.Store) -> None:
    token = form_token(client)
    created = client.post(
        "/databases", data={"name": "shop", "csrf_token": token}, follow_redirects=False
    )
    assert created.status_code == 303 and created.headers["location"] == "/db/shop"
    assert "shop" in store.list_databases()
    bad = client.post("/databases", data={"name": "Bad Name", "csrf_token": token})
    assert bad.status_code == 422 and "InvalidName" not in bad.text and "name" in bad.text
    again = client.post("/databases", data={"name": "shop", "csrf_token": token})
    assert again.status_code == 422 and "exists" in again.text


def test_a_database_page_shows_categories_stats_and_the_rate_chart(
    client: TestClient, bank: ses.Database
) -> None:
    shop(bank)
    page = client.get("/db/bank").text
    categories = re.findall(r"category=(\w+)\">\1</a></td>\s*<td class=\"num\">(\d+)", page)
    assert categories == [("Order", "2"), ("Payment", "1"), ("Shipment", "1")]
    assert "dedup ratio" in page and 'id="rate-chart"' in page
    assert page.count("<rect ") == 24


def test_an_unknown_database_is_a_404_page(client: TestClient) -> None:
    page = client.get("/db/nope")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html") and "nope" in page.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/db/bank/streams/%24bad", 422),
        ("/db/bank/events/%24bad/0", 422),
        ("/db/bank/events/Order-1/7", 404),
        ("/db/bank/tail?stream=%24bad", 422),
        ("/db/bank/verify?job=unknown", 404),
    ],
)
def test_bad_addresses_are_error_pages(client: TestClient, path: str, status: int) -> None:
    page = client.get(path)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert '<p class="error">' in page.text


def test_streams_are_filtered_by_prefix_and_paged(client: TestClient, bank: ses.Database) -> None:
    for n in range(120):
        bank.append(f"Account-{n:03}", [ses.NewEvent("Opened", {})])
    bank.append("Accounting-1", [ses.NewEvent("Booked", {})])
    first = client.get("/db/bank/streams", params={"prefix": "Account-"}).text
    names = re.findall(r">(Account-\d{3})</a>", first)
    assert names == [f"Account-{n:03}" for n in range(50)]
    following = re.search(r'after=([^"&]+)" rel="next"', first)
    assert following
    second = client.get(
        "/db/bank/streams", params={"prefix": "Account-", "after": following.group(1)}
    ).text
    assert re.findall(r">(Account-\d{3})</a>", second) == [
        f"Account-{n:03}" for n in range(50, 100)
    ]
    exact = client.get("/db/bank/streams", params={"prefix": "Accounting-1"}).text
    assert re.findall(r">(Account\w*-\d+)</a>", exact) == ["Accounting-1"]
    category = client.get("/db/bank/streams", params={"category": "Accounting"}).text
    assert re.findall(r">(Account\w*-\d+)</a>", category) == ["Accounting-1"]


def test_a_stream_pages_forwards_and_backwards(client: TestClient, bank: ses.Database) -> None:
    bank.append("Big-1", [ses.NewEvent("Tick", {"n": n}) for n in range(130)])

    def versions(**params: object) -> list[int]:
        page = client.get("/db/bank/streams/Big-1", params=params).text
        return [int(v) for v in re.findall(r'/events/Big-1/(\d+)">', page)]

    assert versions() == list(range(50))
    assert versions(**{"from": 50}) == list(range(50, 100))
    assert versions(backwards=1) == list(range(129, 79, -1))
    assert versions(**{"from": 79, "backwards": 1}) == list(range(79, 29, -1))
    last = client.get("/db/bank/streams/Big-1", params={"backwards": 1}).text
    assert 'rel="prev"' in last and "from=79&amp;backwards=1" in last
    assert '<span class="off">newer' in last  # the newest page has no newer one


def test_a_stream_marks_restructured_events_and_shows_the_raw_history(
    client: TestClient, bank: ses.Database
) -> None:
    shop(bank)
    read = client.get("/db/bank/streams/Order-2").text
    assert "restructured" in read and "&#34;total&#34;: 50" in read
    raw = client.get("/db/bank/streams/Order-2", params={"raw": 1}).text
    assert "raw history" in raw and "restructure of 0" in raw
    assert "&#34;total&#34;: 5000" in raw


def test_an_event_page_shows_its_fields_and_its_relatives(
    client: TestClient, bank: ses.Database
) -> None:
    corr, placed, paid = shop(bank)
    page = client.get("/db/bank/events/Payment-1/0").text
    assert str(paid) in page and str(corr) in page and str(placed) in page
    [event] = bank.read_stream("Payment-1")
    assert event.address in page and "<th>codec</th><td>json</td>" in page
    assert re.search(r'id="parent-link" href="/db/bank/events/Order-1/0"', page)
    assert '<a href="/db/bank/events/Shipment-1/0">Shipment-1@0 OrderShipped</a>' in page
    assert f'id="correlation-link" href="/db/bank/search?q={corr}"' in page
    assert page.count('<g class="node') == 3  # parent, the event, its child


def test_search_finds_an_event_id_a_correlation_chain_and_streams(
    client: TestClient, bank: ses.Database
) -> None:
    corr, placed, _ = shop(bank)
    chain = client.get("/db/bank/search", params={"q": str(corr)}).text
    assert re.findall(r'/events/(\w+-1)/0">', chain) == ["Order-1", "Payment-1", "Shipment-1"]
    assert "no lookup by event id" in chain
    one = client.get("/db/bank/search", params={"q": str(placed)}).text
    assert re.findall(r'/events/(\w+-\d)/0">', one) == ["Order-1"]
    streams = client.get("/db/bank/search", params={"q": "Order-"}).text
    assert re.findall(r'streams/(Order-\d)">', streams) == ["Order-1", "Order-2"]


def test_the_tail_page_shows_the_latest_events(client: TestClient, bank: ses.Database) -> None:
    shop(bank)
    page = client.get("/db/bank/tail", params={"category": "Order"}).text
    assert re.findall(r'/events/(Order-\d)/0">', page) == ["Order-1", "Order-2"]
    assert f'data-from="{bank.last_position() + 1}"' in page


def test_the_tail_sends_new_events_as_escaped_rows(client: TestClient, bank: ses.Database) -> None:
    bank.append("Order-1", [ses.NewEvent("OrderPlaced", {"note": "<i>x</i>"})])
    start = bank.last_position()
    bank.append("Order-2", [ses.NewEvent("OrderPlaced", {"note": "<b>y</b>"})])
    with client.stream(
        "GET", "/db/bank/tail/events", params={"category": "Order", "from": start + 1}
    ) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        for line in events.iter_lines():
            lines.append(line)
            if not line and any(seen.startswith("data:") for seen in lines):
                break  # the end of the first event
    text = "\n".join(lines)
    assert "event: row" in text and f"id: {start + 1}" in text and "Order-2@0" in text
    assert "&lt;b&gt;y&lt;/b&gt;" in text and "<b>" not in text


def test_verify_runs_with_progress_and_shows_its_report(
    client: TestClient, bank: ses.Database
) -> None:
    shop(bank)
    token = form_token(client, "/db/bank/verify")
    started = client.post("/db/bank/verify", data={"csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303
    job = started.headers["location"].split("job=")[1]
    deadline = time.monotonic() + 30
    while True:
        status = client.get("/db/bank/verify/status", params={"job": job}).text
        if "verify-result" in status or time.monotonic() > deadline:
            break
        assert "<progress" in status and 'hx-trigger="every 1s"' in status
        time.sleep(0.05)
    assert "ok: no problem found" in status and "hx-trigger" not in status
    assert '<th>entries</th><td class="num">5</td>' in status  # 4 events, 1 restructure


def test_static_files_are_served_and_nothing_else(client: TestClient) -> None:
    script = client.get("/static/htmx-2.0.11.min.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert client.get("/static/htmx-LICENSE.txt").status_code == 200
    assert client.get("/static/..%2F_app.py").status_code == 404
    assert client.get("/static/_pages.py").status_code == 404
