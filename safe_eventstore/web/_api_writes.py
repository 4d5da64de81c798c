"""The API's writes: appending to a stream."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, status
from starlette.responses import Response

import safe_eventstore as ses

from ._api_common import Context, DbName, errors, open_db
from ._api_models import AppendBody, AppendOut, NewEventBody
from ._api_reads import StreamName
from ._problems import ApiProblem
from ._security import require_writable

__all__ = ["writes"]

writes = APIRouter(tags=["events"])

_WORDS = {"any": ses.ANY, "no_stream": ses.NO_STREAM, "stream_exists": ses.STREAM_EXISTS}
EXPECTED_VERSION_HEADER = "ES-Expected-Version"


def _expected(value: int | str | None, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    word = value.strip().lower().replace("-", "_")
    if word in _WORDS:
        return _WORDS[word]
    if word.isdigit() and int(word) < 2**63:
        return int(word)
    raise ApiProblem(
        422,
        f"{where} {value!r} is not a version >= 0, 'any', 'no_stream' or 'stream_exists'",
        error="InvalidInput",
    )


def _new_event(body: NewEventBody, index: int) -> ses.NewEvent:
    data: Any = body.data
    if body.data_base64 is not None:
        if body.data is not None:
            raise ApiProblem(
                422, f"events[{index}]: give data or data_base64, not both", error="InvalidEvent"
            )
        try:
            data = base64.b64decode(body.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ApiProblem(
                422, f"events[{index}].data_base64 is not valid base64", error="InvalidEvent"
            ) from None
    return ses.NewEvent(
        body.type,
        data,
        metadata=body.metadata,
        event_id=body.event_id,
        correlation_id=body.correlation_id,
        causation_id=body.causation_id,
        tags=tuple(body.tags),
    )


@writes.post(
    "/databases/{db}/streams/{stream}/events",
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 404, 409, 413),
    dependencies=[Depends(require_writable)],
)
def append(
    db: DbName,
    stream: StreamName,
    body: AppendBody,
    context: Context,
    response: Response,
    es_expected_version: Annotated[
        str | None,
        Header(
            alias=EXPECTED_VERSION_HEADER,
            max_length=32,
            description="The stream's last version, `no_stream`, `stream_exists` or `any`.",
        ),
    ] = None,
) -> AppendOut:
    """Append events to a stream as one atomic batch.

    A wrong expected version is refused with 409 (``WrongExpectedVersion``), writing
    nothing. Appending again a batch whose event ids are all stored already returns the
    first append's result: give ids to make retries safe."""
    from_header = _expected(es_expected_version, EXPECTED_VERSION_HEADER)
    from_body = _expected(body.expected_version, "expected_version")
    if from_header is not None and from_body is not None and from_header != from_body:
        raise ApiProblem(
            422,
            f"the {EXPECTED_VERSION_HEADER} header and expected_version disagree",
            error="InvalidInput",
        )
    expected = from_header if from_header is not None else from_body
    events = [_new_event(e, i) for i, e in enumerate(body.events)]
    database = open_db(context, db)
    result = database.append(
        stream, events, expected_version=ses.ANY if expected is None else expected
    )
    response.headers["Location"] = (
        f"/api/v1/databases/{db}/streams/{stream}/events/{result.first_version}"
    )
    return AppendOut(
        first_version=result.first_version,
        last_version=result.last_version,
        position=result.position,
    )
