"""The OpenAPI document fuzzed with schemathesis: whatever a client sends, the API answers
with a documented status and a body matching the document, never a server error."""

from __future__ import annotations

import uuid

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

import safe_eventstore as ses
from safe_eventstore.web import create_app

_store = ses.open("memory://", max_event_size=4096)
_db = _store.create_database("bank")
_db.append(
    "Account-1",
    [
        ses.NewEvent("Opened", {"owner": "ann"}, event_id=uuid.UUID(int=1)),
        ses.NewEvent("Blob", b"\x00\x01"),
    ],
)
TOKEN = "fuzz-token"
app = create_app(_store, token=TOKEN, max_body_size=64 * 1024, max_page_size=50)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: schemathesis.Case) -> None:
    if case.operation.path.endswith("/subscribe"):
        # a live stream runs until closed: end it after what is stored
        case.query = {**(case.query or {}), "idle_timeout": 0.05}
    # Every check but one: the store's naming rules (printable, no whitespace, no '/', no
    # leading '$' or '-') are not all expressible in JSON Schema, so a string the document
    # allows can still be refused with 422, as documented.
    # The token is added unless the headers are the case's invalid part: a request made to
    # lack its Authorization header must go without it (and be refused with 401).
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    negative = header is not None and header.mode == GenerationMode.NEGATIVE
    case.call_and_validate(
        headers=None if negative else {"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )


def test_without_a_token_the_document_asks_for_none() -> None:
    from fastapi.testclient import TestClient

    with ses.open("memory://") as store:
        document = TestClient(create_app(store)).get("/openapi.json").json()
    assert "securitySchemes" not in document.get("components", {})
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "security" not in operation
            assert "401" not in operation["responses"]
    protected = TestClient(app).get("/openapi.json").json()
    assert "HTTPBearer" in protected["components"]["securitySchemes"]
