"""The security points, each shown failing when its protection is off: the bearer token of
the API, the console's session, read-only serving, body and page limits, browser headers."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse

import safe_eventstore as ses
from safe_eventstore.web import create_app
from safe_eventstore.web._security import log_in, log_out

from .support import problem

API = "/api/v1/databases"
TOKEN = "correct-horse-battery"
APPEND = {"events": [{"type": "Opened"}]}


def test_without_a_token_the_api_is_open(store: ses.Store) -> None:
    # the baseline the token test is measured against: the same call passes unprotected
    assert TestClient(create_app(store)).get(API).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", API),
        ("POST", API),
        ("GET", f"{API}/bank/events"),
        ("POST", f"{API}/bank/streams/A-1/events"),
        ("GET", f"{API}/bank/subscribe"),
        ("POST", f"{API}/bank/verify"),
    ],
)
def test_with_a_token_every_api_call_needs_it(store: ses.Store, method: str, path: str) -> None:
    client = TestClient(create_app(store, token=TOKEN))
    missing = client.request(method, path, json=APPEND)
    assert problem(missing, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.request(method, path, json=APPEND, headers={"Authorization": "Bearer nope"})
    problem(wrong, 401)
    basic = client.request(method, path, json=APPEND, headers={"Authorization": f"Basic {TOKEN}"})
    problem(basic, 401)
    assert store.database("bank").last_position() == 0


def test_the_right_bearer_token_passes(store: ses.Store) -> None:
    client = TestClient(create_app(store, token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        client.post(f"{API}/bank/streams/A-1/events", json=APPEND, headers=auth).status_code == 201
    )
    assert client.get(API, headers=auth).status_code == 200


def test_an_empty_token_is_refused(store: ses.Store) -> None:
    with pytest.raises(ses.InvalidInput):
        create_app(store, token="")


@pytest.fixture
def pages(store: ses.Store) -> Iterator[TestClient]:
    """An app with a token and, standing in for the console's login form, two routes that
    log a browser in and out."""
    app = create_app(store, token=TOKEN)

    async def login(request: Request) -> PlainTextResponse:
        form = await request.json()
        return PlainTextResponse("in" if log_in(request, form["token"]) else "refused")

    def logout(request: Request) -> PlainTextResponse:
        log_out(request)
        return PlainTextResponse("out")

    app.add_api_route("/test-login", login, methods=["POST"])
    app.add_api_route("/test-logout", logout, methods=["POST"])
    with TestClient(app) as client:
        yield client


def test_pages_need_a_session_when_there_is_a_token(pages: TestClient) -> None:
    page = pages.get("/", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/"
    assert pages.post("/test-login", json={"token": "nope"}).text == "refused"
    assert pages.get("/", follow_redirects=False).status_code == 303
    assert pages.post("/test-login", json={"token": TOKEN}).text == "in"
    assert pages.get("/", follow_redirects=False).status_code == 200  # the databases page
    pages.post("/test-logout")
    assert pages.get("/", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_signed_strict_and_holds_no_token(pages: TestClient) -> None:
    response = pages.post("/test-login", json={"token": TOKEN})
    cookie = response.headers["set-cookie"]
    assert "samesite=strict" in cookie.lower()
    assert "httponly" in cookie.lower()
    value = pages.cookies["safe_eventstore_session"]
    payload = value.split(".")[0]
    decoded = base64.b64decode(payload + "=" * (-len(payload) % 4))
    assert TOKEN.encode() not in decoded
    # a forged cookie (the same data, no valid signature) opens nothing
    pages.cookies.clear()
    pages.cookies.set("safe_eventstore_session", payload + ".forged.signature")
    assert pages.get("/", follow_redirects=False).status_code == 303


def test_the_session_does_not_open_the_api(pages: TestClient) -> None:
    # a page session is no bearer token: a cross-site form cannot write through the API
    pages.post("/test-login", json={"token": TOKEN})
    problem(pages.post(f"{API}/bank/streams/A-1/events", json=APPEND), 401)


def test_read_only_refuses_every_write(store: ses.Store) -> None:
    writable = TestClient(create_app(store))
    assert writable.post(f"{API}/bank/streams/A-1/events", json=APPEND).status_code == 201
    client = TestClient(create_app(store, read_only=True))
    problem(client.post(f"{API}/bank/streams/A-1/events", json=APPEND), 403, "StoreReadOnly")
    problem(client.post(API, json={"name": "shop"}), 403, "StoreReadOnly")
    assert store.list_databases() == ["bank"]
    assert store.database("bank").last_position() == 1
    assert client.get(f"{API}/bank/events").status_code == 200
    assert client.post(f"{API}/bank/verify").json()["ok"] is True


def test_a_body_over_the_limit_is_413_before_it_is_read(store: ses.Store) -> None:
    client = TestClient(create_app(store, max_body_size=1000))
    big = {"events": [{"type": "Big", "data": "x" * 2000}]}
    problem(client.post(f"{API}/bank/streams/A-1/events", json=big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts what arrives
        yield b'{"events": [{"type": "Big", "data": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}]}'

    chunked = client.post(
        f"{API}/bank/streams/A-1/events",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    problem(chunked, 413)
    assert store.database("bank").last_position() == 0
    small = {"events": [{"type": "Small", "data": "x" * 100}]}
    assert client.post(f"{API}/bank/streams/A-1/events", json=small).status_code == 201
    problem(
        client.post(
            f"{API}/bank/streams/A-1/events", content=b"{}", headers={"content-length": "x"}
        ),
        400,
    )


def test_the_default_limits(store: ses.Store) -> None:
    client = TestClient(create_app(store))
    nine_mib = {"events": [{"type": "Big", "data": "x" * (9 * 1024 * 1024)}]}
    problem(client.post(f"{API}/bank/streams/A-1/events", json=nine_mib), 413)
    problem(client.get(f"{API}/bank/events", params={"limit": 1001}), 422)


def test_answers_carry_headers_that_stop_sniffing_and_framing(client: TestClient) -> None:
    for response in [client.get(API), client.get(f"{API}/none"), client.get("/docs")]:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_event_data_is_served_as_json_never_as_a_page(client: TestClient) -> None:
    script = "<script>alert(1)</script>"
    event = {"type": "X", "data": {"html": script}, "metadata": {"note": script}}
    client.post(f"{API}/bank/streams/A-1/events", json={"events": [event]})
    response = client.get(f"{API}/bank/streams/A-1/events/0")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"]["html"] == script
