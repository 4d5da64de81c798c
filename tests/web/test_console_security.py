"""The console's protections, each with a test that fails without it: values from the store
escaped on every page, the login form, form tokens against cross-site request forgery, and
read-only serving."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

import safe_eventstore as ses
from safe_eventstore.web import create_app

from .console import form_token

TOKEN = "s3cret-token"
EVIL_STREAM = "<script>window.pwned=1<-1"  # its category is evil too
EVIL_TYPE = "<img>Pwned"
EVIL = "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"


@pytest.fixture
def evil(store: ses.Store) -> ses.Database:
    db = store.database("bank")
    db.append(
        EVIL_STREAM,
        [ses.NewEvent(EVIL_TYPE, {"html": EVIL, EVIL: [EVIL]}, metadata={"note": EVIL})],
    )
    return db


@pytest.mark.parametrize(
    "path",
    [
        "/db/bank",
        "/db/bank/streams",
        "/db/bank/streams?prefix={prefix}",
        "/db/bank/streams?category={category}",
        "/db/bank/streams/{stream}",
        "/db/bank/streams/{stream}?raw=1",
        "/db/bank/events/{stream}/0",
        "/db/bank/search?q={prefix}",
        "/db/bank/tail",
        "/db/bank/tail?stream={stream}",
    ],
)
def test_every_value_from_the_store_is_escaped(
    client: TestClient, evil: ses.Database, path: str
) -> None:
    path = path.format(
        stream=quote(EVIL_STREAM, safe=""),
        category=quote(ses.category_of(EVIL_STREAM), safe=""),
        prefix=quote("<script>", safe=""),
    )
    page = client.get(path)
    assert page.status_code == 200, page.text
    for raw in ("<script>window.pwned", "<img src=x", "<img>Pwned"):
        assert raw not in page.text, f"{raw!r} unescaped on {path}"
    assert "&lt;script&gt;window.pwned" in page.text


def test_a_page_without_a_session_redirects_to_the_login_form(store: ses.Store) -> None:
    with TestClient(create_app(store, token=TOKEN)) as client:
        for path in ("/", "/db/bank", "/db/bank/streams", "/db/bank/tail", "/db/bank/verify"):
            page = client.get(path, follow_redirects=False)
            assert page.status_code == 303, path
            assert page.headers["location"].startswith("/login?next=")
        assert client.get("/db/bank/tail/events", follow_redirects=False).status_code == 303


def test_the_login_form_opens_a_session_with_the_right_token_only(store: ses.Store) -> None:
    with TestClient(create_app(store, token=TOKEN)) as client:
        token = form_token(client, "/login?next=/db/bank")
        wrong = client.post("/login", data={"token": "nope", "csrf_token": token, "next": "/"})
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        assert client.get("/", follow_redirects=False).status_code == 303
        right = client.post(
            "/login",
            data={"token": TOKEN, "csrf_token": token, "next": "/db/bank"},
            follow_redirects=False,
        )
        assert right.status_code == 303 and right.headers["location"] == "/db/bank"
        assert client.get("/db/bank").status_code == 200
        out = client.post("/logout", data={"csrf_token": form_token(client)})
        assert out.status_code == 200 and "Log in" in out.text
        assert client.get("/", follow_redirects=False).status_code == 303


def test_the_login_form_sends_nobody_to_another_site(store: ses.Store) -> None:
    with TestClient(create_app(store, token=TOKEN)) as client:
        token = form_token(client, "/login")
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            done = client.post(
                "/login",
                data={"token": TOKEN, "csrf_token": token, "next": target},
                follow_redirects=False,
            )
            assert done.headers["location"] == "/", target
            token = form_token(client, "/")


def test_a_form_without_its_token_is_refused_and_does_nothing(
    client: TestClient, store: ses.Store
) -> None:
    form_token(client)  # the session exists, and has a token
    for data in ({"name": "forged"}, {"name": "forged", "csrf_token": "guessed"}):
        refused = client.post("/databases", data=data)
        assert refused.status_code == 403 and "token" in refused.text
    assert "forged" not in store.list_databases()
    assert client.post("/db/bank/verify", data={}).status_code == 403
    assert client.post("/login", data={"token": "x"}).status_code == 403


def test_a_form_token_of_another_session_is_refused(client: TestClient, store: ses.Store) -> None:
    other = TestClient(client.app)
    stolen = form_token(other)
    form_token(client)
    refused = client.post("/databases", data={"name": "forged", "csrf_token": stolen})
    assert refused.status_code == 403
    assert "forged" not in store.list_databases()


def test_the_token_may_come_as_a_header(client: TestClient, store: ses.Store) -> None:
    token = form_token(client)
    done = client.post(
        "/databases", data={"name": "shop"}, headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and "shop" in store.list_databases()


def test_read_only_hides_and_refuses_every_write_action(store: ses.Store) -> None:
    with TestClient(create_app(store, read_only=True)) as client:
        page = client.get("/")
        assert 'id="create-database"' not in page.text and "read-only" in page.text
        token = form_token(client, "/db/bank/verify")
        refused = client.post("/databases", data={"name": "shop", "csrf_token": token})
        assert refused.status_code == 403
        assert "shop" not in store.list_databases()
        # verifying writes nothing: it stays
        assert client.post("/db/bank/verify", data={"csrf_token": token}).status_code == 200
