"""The API's live reads: server-sent events from a position on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

import safe_eventstore as ses

from ._api_common import MAX_INT, Context, DbName, errors, open_db
from ._api_models import NAME_LENGTH
from ._encoding import dump_json, event_json

__all__ = ["live"]

live = APIRouter(tags=["events"])

_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/event-stream": {
                # the schema of each message of the stream, as OpenAPI 3.2 reads it
                "schema": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "The event's position."},
                        "event": {"type": "string", "enum": ["event"]},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "The event's JSON (as a read answers it).",
                        },
                    },
                    "required": ["id", "event", "data"],
                },
                "description": "One `event` message per event: `id` is its position, "
                "`data` the event's JSON.",
            }
        }
    }
}


@live.get(
    "/databases/{db}/subscribe",
    response_class=EventSourceResponse,
    responses={**errors(404), **_SSE},
)
def subscribe(
    db: DbName,
    context: Context,
    from_position: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    stream: Annotated[str | None, Query(max_length=NAME_LENGTH)] = None,
    category: Annotated[str | None, Query(max_length=NAME_LENGTH)] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="End after this many.")
    ] = None,
    idle_timeout: Annotated[
        float | None, Query(gt=0, le=86400, description="End after this many idle seconds.")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> EventSourceResponse:
    """Server-sent events: the stored events from ``from_position`` on, then new ones as
    they are appended (of one ``stream`` or ``category``, if given). A reconnecting client's
    ``Last-Event-ID`` (the last position it saw) resumes after it."""
    start = from_position
    if last_event_id is not None and last_event_id.isdigit():
        start = max(start, int(last_event_id) + 1)
    database = open_db(context, db)
    # Opening the subscription here checks its options before the response starts.
    sub = ses.AsyncDatabase(database).subscribe(
        stream=stream or None, category=category or None, from_position=start
    )

    async def events() -> AsyncIterator[ServerSentEvent]:
        sent = 0
        try:
            while limit is None or sent < limit:
                event = await sub.get(idle_timeout)
                if event is None:
                    return
                sent += 1
                yield ServerSentEvent(
                    data=dump_json(event_json(event)).decode(),
                    event="event",
                    id=str(event.position),
                )
        finally:
            sub.close()

    return EventSourceResponse(events(), ping=15)
