"""The HTTP API through the test client: every route, and every error status."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

import safe_eventstore as ses
from safe_eventstore.web import create_app

from .. import sqlite_rows
from .support import problem

API = "/api/v1/databases"


def append(client: TestClient, stream: str, *types: str, **body: object) -> dict[str, object]:
    events = [{"type": t, "data": {"n": i}} for i, t in enumerate(types)]
    response = client.post(f"{API}/bank/streams/{stream}/events", json={"events": events, **body})
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_databases_are_listed_and_created(client: TestClient) -> None:
    assert client.get(API).json() == {"databases": [{"name": "bank", "last_position": 0}]}
    created = client.post(API, json={"name": "shop"})
    assert created.status_code == 201
    assert created.headers["location"] == f"{API}/shop"
    assert client.get(f"{API}/shop").json() == {"name": "shop", "last_position": 0}
    assert [d["name"] for d in client.get(API).json()["databases"]] == ["bank", "shop"]


def test_database_errors(client: TestClient) -> None:
    problem(client.post(API, json={"name": "bank"}), 409, "DatabaseExists")
    problem(client.post(API, json={"name": "Not Valid"}), 422, "InvalidName")
    problem(client.post(API, json={"nom": "x"}), 422, "InvalidInput")
    problem(client.get(f"{API}/nothing"), 404, "DatabaseNotFound")
    problem(client.get(f"{API}/nothing/streams"), 404, "DatabaseNotFound")
    problem(client.delete(API), 405)
    problem(client.get("/api/v1/nowhere"), 404)


def test_append_with_an_expected_version_in_the_header_or_the_body(client: TestClient) -> None:
    url = f"{API}/bank/streams/Account-1/events"
    first = client.post(
        url, json={"events": [{"type": "Opened"}]}, headers={"ES-Expected-Version": "no_stream"}
    )
    assert first.status_code == 201
    assert first.json() == {"first_version": 0, "last_version": 0, "position": 1}
    assert first.headers["location"] == f"{url}/0"
    second = client.post(url, json={"events": [{"type": "Deposited"}], "expected_version": 0})
    assert second.json()["last_version"] == 1
    third = client.post(
        url, json={"events": [{"type": "Deposited"}]}, headers={"ES-Expected-Version": "1"}
    )
    assert third.json()["last_version"] == 2


def test_a_wrong_expected_version_is_409_and_writes_nothing(
    client: TestClient, store: ses.Store
) -> None:
    append(client, "Account-1", "Opened")
    url = f"{API}/bank/streams/Account-1/events"
    body = problem(
        client.post(url, json={"events": [{"type": "X"}], "expected_version": "no_stream"}),
        409,
        "WrongExpectedVersion",
    )
    assert body["type"] == "urn:safe-eventstore:problem:wrong-expected-version"
    problem(
        client.post(url, json={"events": [{"type": "X"}]}, headers={"ES-Expected-Version": "7"}),
        409,
        "WrongExpectedVersion",
    )
    assert store.database("bank").stream_version("Account-1") == 0


def test_expected_version_errors(client: TestClient) -> None:
    url = f"{API}/bank/streams/Account-1/events"
    events = {"events": [{"type": "X"}]}
    problem(client.post(url, json=events, headers={"ES-Expected-Version": "soon"}), 422)
    problem(
        client.post(
            url, json={**events, "expected_version": 0}, headers={"ES-Expected-Version": "any"}
        ),
        422,
    )
    problem(client.post(url, json={**events, "expected_version": "later"}), 422)
    problem(client.post(url, json={**events, "expected_version": -3}), 422, "InvalidEvent")


def test_a_retry_with_the_same_event_ids_is_idempotent(client: TestClient) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    body = {"events": [{"type": "A", "event_id": ids[0]}, {"type": "B", "event_id": ids[1]}]}
    url = f"{API}/bank/streams/Order-1/events"
    first = client.post(url, json={**body, "expected_version": "no_stream"})
    again = client.post(url, json={**body, "expected_version": "no_stream"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert client.get(f"{API}/bank/streams/Order-1").json()["version"] == 1
    partly = {"events": [{"type": "A", "event_id": ids[0]}, {"type": "C"}]}
    problem(client.post(url, json=partly), 409, "IdempotencyConflict")


def test_event_input_errors(client: TestClient) -> None:
    url = f"{API}/bank/streams/Account-1/events"
    problem(client.post(url, json={"events": []}), 422)
    problem(client.post(url, json={"events": [{"data": 1}]}), 422)
    problem(client.post(url, json={"events": [{"type": "$Bad"}]}), 422, "InvalidName")
    problem(client.post(url, json={"events": [{"type": "X", "data_base64": "%%"}]}), 422)
    both = {"type": "X", "data": 1, "data_base64": "AA=="}
    problem(client.post(url, json={"events": [both]}), 422, "InvalidEvent")
    problem(client.post(f"{API}/bank/streams/$all/events", json={"events": [{"type": "X"}]}), 422)
    problem(
        client.post(url, content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    problem(client.post(url, content=b"[1, 2]", headers={"content-type": "application/json"}), 422)
    problem(client.post(url, content=b"events", headers={"content-type": "text/plain"}), 422)


def test_an_event_too_large_for_the_store_is_413() -> None:
    with ses.open("memory://", max_event_size=1000) as store:
        store.create_database("bank")
        client = TestClient(create_app(store))
        url = f"{API}/bank/streams/Doc-1/events"
        body = problem(
            client.post(url, json={"events": [{"type": "Big", "data": "x" * 2000}]}),
            413,
            "EventTooLarge",
        )
        assert "1000" in body["detail"]
        assert store.database("bank").stream_version("Doc-1") is None


def test_json_and_bytes_data(client: TestClient) -> None:
    url = f"{API}/bank/streams/Blob-1/events"
    raw = bytes(range(256))
    events = [
        {"type": "Json", "data": {"a": [1, "two", None]}, "metadata": {"user": "ann"}},
        {"type": "Bytes", "data_base64": base64.b64encode(raw).decode()},
    ]
    assert client.post(url, json={"events": events}).status_code == 201
    page = client.get(url).json()["events"]
    assert page[0]["codec"] == "json"
    assert page[0]["data"] == {"a": [1, "two", None]}
    assert page[0]["metadata"] == {"user": "ann"}
    assert "data_base64" not in page[0]
    assert page[1]["codec"] == "bytes"
    assert base64.b64decode(page[1]["data_base64"]) == raw
    assert "data" not in page[1]


def test_a_stream_is_paged_forwards_and_backwards(client: TestClient) -> None:
    append(client, "Account-1", *["E"] * 7)
    url = f"{API}/bank/streams/Account-1/events"
    page = client.get(url, params={"limit": 3}).json()
    assert [e["version"] for e in page["events"]] == [0, 1, 2]
    assert page["next"] == 3
    page = client.get(url, params={"limit": 3, "from_version": page["next"]}).json()
    assert [e["version"] for e in page["events"]] == [3, 4, 5]
    last = client.get(url, params={"limit": 3, "from_version": page["next"]}).json()
    assert [e["version"] for e in last["events"]] == [6]
    assert last["next"] is None
    back = client.get(url, params={"limit": 4, "backwards": True}).json()
    assert [e["version"] for e in back["events"]] == [6, 5, 4, 3]
    assert back["next"] == 2
    assert client.get(f"{API}/bank/streams/Nothing-1/events").json() == {
        "events": [],
        "next": None,
    }


def test_one_event_by_version_and_by_id(client: TestClient) -> None:
    append(client, "Account-1", "Opened", "Deposited")
    event = client.get(f"{API}/bank/streams/Account-1/events/1").json()
    assert (event["type"], event["version"], event["stream"]) == ("Deposited", 1, "Account-1")
    by_id = client.get(f"{API}/bank/events/{event['event_id']}").json()
    assert by_id == event
    problem(client.get(f"{API}/bank/streams/Account-1/events/2"), 404, "EventNotFound")
    problem(client.get(f"{API}/bank/events/{uuid.uuid4()}"), 404, "EventNotFound")
    problem(client.get(f"{API}/bank/events/not-a-uuid"), 422)
    problem(client.get(f"{API}/bank/streams/Account-1/events/-1"), 422)


def test_categories_and_streams(client: TestClient) -> None:
    for stream in ["Account-1", "Account-2", "Account-3", "Order-1", "Other-1"]:
        append(client, stream, "E")
    cats = client.get(f"{API}/bank/categories", params={"limit": 2}).json()
    assert cats == {"categories": ["Account", "Order"], "next_after": "Order"}
    rest = client.get(f"{API}/bank/categories", params={"after": "Order"}).json()
    assert rest == {"categories": ["Other"], "next_after": None}
    page = client.get(f"{API}/bank/streams", params={"limit": 2}).json()
    assert page == {"streams": ["Account-1", "Account-2"], "next_after": "Account-2"}
    of_cat = client.get(f"{API}/bank/streams", params={"category": "Order"}).json()
    assert of_cat == {"streams": ["Order-1"], "next_after": None}
    prefixed = client.get(f"{API}/bank/streams", params={"prefix": "O"}).json()
    assert prefixed == {"streams": ["Order-1", "Other-1"], "next_after": None}
    paged = client.get(f"{API}/bank/streams", params={"prefix": "Account-", "limit": 2}).json()
    assert paged == {"streams": ["Account-1", "Account-2"], "next_after": "Account-2"}
    assert client.get(f"{API}/bank/streams/Account-2").json() == {
        "name": "Account-2",
        "category": "Account",
        "version": 0,
    }
    assert client.get(f"{API}/bank/streams/None-1").json()["version"] is None


def test_a_category_and_the_database_are_paged_by_position(client: TestClient) -> None:
    append(client, "Account-1", "Opened", "Deposited")
    append(client, "Order-1", "Placed")
    append(client, "Account-2", "Opened")
    cat = client.get(f"{API}/bank/categories/Account/events", params={"limit": 2}).json()
    assert [(e["stream"], e["position"]) for e in cat["events"]] == [
        ("Account-1", 1),
        ("Account-1", 2),
    ]
    assert cat["next"] == 4
    rest = client.get(
        f"{API}/bank/categories/Account/events", params={"from_position": cat["next"]}
    ).json()
    assert [e["position"] for e in rest["events"]] == [4]
    everything = client.get(f"{API}/bank/events", params={"backwards": True}).json()
    assert [e["position"] for e in everything["events"]] == [4, 3, 2, 1]
    opened = client.get(f"{API}/bank/events", params={"types": ["Opened", "Placed"]}).json()
    assert [e["type"] for e in opened["events"]] == ["Opened", "Placed", "Opened"]


def test_large_reads_stream_as_ndjson(client: TestClient) -> None:
    append(client, "Account-1", *["E"] * 1200)
    ndjson = {"accept": "application/x-ndjson"}
    response = client.get(f"{API}/bank/events", headers=ndjson)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.text.splitlines()
    assert [json.loads(line)["position"] for line in lines] == list(range(1, 1201))
    tail = client.get(
        f"{API}/bank/events", params={"from_position": 1150, "limit": 10}, headers=ndjson
    )
    assert [json.loads(line)["position"] for line in tail.text.splitlines()] == list(
        range(1150, 1160)
    )
    stream = client.get(f"{API}/bank/streams/Account-1/events", headers=ndjson)
    assert len(stream.text.splitlines()) == 1200


def test_page_sizes_are_bounded(store: ses.Store) -> None:
    client = TestClient(create_app(store, max_page_size=5))
    for path in ["events", "streams/A-1/events", "categories/A/events", "streams", "categories"]:
        problem(client.get(f"{API}/bank/{path}", params={"limit": 6}), 422, "InvalidInput")
        assert client.get(f"{API}/bank/{path}", params={"limit": 5}).status_code == 200
        problem(client.get(f"{API}/bank/{path}", params={"limit": 0}), 422)
    ndjson = client.get(
        f"{API}/bank/events", params={"limit": 6}, headers={"accept": "application/x-ndjson"}
    )
    assert ndjson.status_code == 200


def test_read_errors(client: TestClient) -> None:
    problem(client.get(f"{API}/bank/streams/$bad/events"), 422, "InvalidName")
    problem(client.get(f"{API}/bank/events", params={"from_position": -1}), 422)
    problem(client.get(f"{API}/bank/events", params={"from_position": 2**63}), 422)
    problem(client.get(f"{API}/bank/events", params={"backwards": "sideways"}), 422)
    problem(client.get(f"{API}/nothing/events"), 404, "DatabaseNotFound")


def test_verify_and_stats(client: TestClient, store: ses.Store) -> None:
    append(client, "Account-1", "Opened", "Deposited")
    report = client.post(f"{API}/bank/verify").json()
    # payload rows checked: SQLite keeps small payloads in their entries instead
    rows = store.database("bank").verify().payloads
    assert report == {"ok": True, "streams": 1, "entries": 2, "payloads": rows, "problems": []}
    stats = client.get(f"{API}/bank/stats").json()
    assert stats["events"] == 2
    assert stats["streams"] == 1
    problem(client.post(f"{API}/nothing/verify"), 404, "DatabaseNotFound")


def test_subscribe_with_server_sent_events(client: TestClient) -> None:
    append(client, "Account-1", "Opened", "Deposited")
    append(client, "Order-1", "Placed")
    url = f"{API}/bank/subscribe"
    with client.stream("GET", url, params={"limit": 2, "from_position": 2}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    ids = [line[4:] for line in text.splitlines() if line.startswith("id: ")]
    assert ids == ["2", "3"]
    data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in data] == ["Deposited", "Placed"]
    resumed = client.get(url, params={"limit": 1}, headers={"Last-Event-ID": "2"}).text
    assert "id: 3" in resumed
    only = client.get(url, params={"category": "Order", "limit": 1}).text
    assert '"stream":"Order-1"' in only
    problem(client.get(url, params={"stream": "$bad"}), 422, "InvalidName")
    problem(client.get(f"{API}/nothing/subscribe"), 404, "DatabaseNotFound")


def test_a_subscription_delivers_an_event_appended_while_it_waits(
    client: TestClient, store: ses.Store
) -> None:
    url = f"{API}/bank/subscribe"
    with client.stream("GET", url, params={"limit": 1, "idle_timeout": 30}) as response:
        store.database("bank").append("Account-9", [ses.NewEvent("Live")])
        text = response.read().decode()
    assert '"type":"Live"' in text


def test_an_idle_subscription_ends_after_its_timeout(client: TestClient) -> None:
    response = client.get(f"{API}/bank/subscribe", params={"idle_timeout": 0.2})
    assert response.status_code == 200
    assert "data:" not in response.text


def test_typed_events_of_the_served_store_read_as_their_json() -> None:
    import dataclasses

    import pydantic

    @dataclasses.dataclass
    class Opened:
        owner: str

    class Deposited(pydantic.BaseModel):
        amount: int

    types = ses.EventTypes()
    types.register(Opened)
    types.register(Deposited)
    with ses.open("memory://", event_types=types) as store:
        db = store.create_database("bank")
        db.append("Account-1", [Opened("ann"), Deposited(amount=5)])
        client = TestClient(create_app(store))
        page = client.get(f"{API}/bank/streams/Account-1/events").json()["events"]
    assert [(e["type"], e["data"]) for e in page] == [
        ("Opened", {"owner": "ann"}),
        ("Deposited", {"amount": 5}),
    ]


def test_verify_reports_altered_history(client: TestClient, tmp_path: Path) -> None:
    append(client, "Account-1", "Opened", "Deposited")
    database = tmp_path / "store" / "bank.sqlite3"
    with sqlite3.connect(database) as conn:
        sqlite_rows.rewrite(conn, "position = 1", metadata=b'{"x":1}')
    conn.close()
    report = client.post(f"{API}/bank/verify").json()
    assert report["ok"] is False
    assert [(p["stream"], p["seq"]) for p in report["problems"]] == [("Account-1", 0)]
    assert report["problems"][0]["message"].startswith("entry altered")


def test_an_unknown_query_parameter_is_refused_not_ignored(client: TestClient) -> None:
    client.post("/api/v1/databases/bank/streams/Account-1/events", json={"events": [{"type": "A"}]})
    misspelt = client.get("/api/v1/databases/bank/streams/Account-1/events?limt=5")
    assert misspelt.status_code == 422
    assert "limt" in misspelt.json()["detail"] and "limit" in misspelt.json()["detail"]
    empty = client.get("/api/v1/databases/bank/streams?=null")
    assert empty.status_code == 422
    assert client.get("/api/v1/databases/bank/streams/Account-1/events?limit=5").status_code == 200
    live = client.get("/api/v1/databases/bank/subscribe?idle_timeout=0.05&limit=1")
    assert live.status_code == 200
