"""The live tail of a stream, a category or a whole database: the page shows the latest
events, then server-sent events bring each new one as a rendered (escaped) table row.

Pausing closes the browser's event source; resuming opens a new one from the position after
the last row shown, so nothing appended meanwhile is missed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

import safe_eventstore as ses

from ._event_view import short_time
from ._page_errors import PageError
from ._pages import fragment, page_database, pages, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=pages)

RECENT = 20  # rows shown when the page opens
Name = Annotated[str, Query(max_length=255)]


def _recent(db: ses.Database, stream: str, category: str) -> list[ses.RecordedEvent]:
    if stream:
        events = db.read_stream(stream, backwards=True, limit=RECENT)
    elif category:
        events = db.read_category(category, backwards=True, limit=RECENT)
    else:
        events = db.read_all(backwards=True, limit=RECENT)
    return list(events)[::-1]


def _row(db: str, event: ses.RecordedEvent) -> str:
    return fragment("_tail_row.html", db=db, event=event, time=short_time(event))


@router.get("/db/{db}/tail")
def tail(request: Request, db: str, stream: Name = "", category: Name = "") -> Response:
    database = page_database(request, db)
    try:
        recent = _recent(database, stream, category)
    except ses.InvalidInput as exc:
        raise PageError(422, str(exc)) from exc
    return render(
        request,
        "tail.html",
        db=db,
        stream=stream,
        category=category,
        rows=[_row(db, e) for e in recent],
        start=database.last_position() + 1,
    )


@router.get("/db/{db}/tail/events")
def tail_events(
    request: Request,
    db: str,
    stream: Name = "",
    category: Name = "",
    start: Annotated[int, Query(alias="from", ge=1, le=2**63 - 1)] = 1,
) -> EventSourceResponse:
    database = page_database(request, db)
    resumed = request.headers.get("Last-Event-ID", "")
    if resumed.isdigit() and len(resumed) < 20:
        # The browser reconnecting by itself: go on after the last event it got.
        start = max(start, int(resumed) + 1)
    try:
        subscription = ses.AsyncDatabase(database).subscribe(
            stream=stream or None, category=category or None, from_position=start
        )
    except ses.InvalidInput as exc:
        raise PageError(422, str(exc)) from exc

    async def rows() -> AsyncIterator[ServerSentEvent]:
        try:
            async with subscription:
                while not await request.is_disconnected():
                    event = await subscription.get(timeout=5.0)
                    if event is None:
                        yield ServerSentEvent(comment="waiting")
                        continue
                    yield ServerSentEvent(_row(db, event), event="row", id=str(event.position))
        finally:
            subscription.close()

    # No compression on an event stream: each event must leave at once.
    return EventSourceResponse(rows(), headers={"Cache-Control": "no-store"})
