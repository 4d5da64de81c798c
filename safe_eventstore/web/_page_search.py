"""Search a database by event id, correlation id or stream name.

A stream name is looked up directly (and as a prefix). The store has no lookup by event id
or correlation id, so an id is looked for by reading the database newest first, at most
:data:`SCAN_LIMIT` entries; the page says how far it looked.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

import safe_eventstore as ses

from ._event_view import short_time
from ._pages import PAGE_SIZE, page_database, pages, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=pages)

SCAN_LIMIT = 100_000
MAX_MATCHES = 500


def _scan(db: ses.Database, wanted: uuid.UUID) -> tuple[list[ses.RecordedEvent], int, int | None]:
    """Events whose id or correlation id is ``wanted``, oldest first; how many entries were
    read, and the lowest position read."""
    matches: list[ses.RecordedEvent] = []
    scanned, lowest = 0, None
    for event in db.read_all(backwards=True, limit=SCAN_LIMIT):
        scanned += 1
        lowest = event.position
        if event.event_id == wanted or event.correlation_id == wanted:
            matches.append(event)
            if len(matches) >= MAX_MATCHES:
                break
    matches.reverse()
    return matches, scanned, lowest


@router.get("/db/{db}/search")
def search(request: Request, db: str, q: Annotated[str, Query(max_length=255)] = "") -> Response:
    database = page_database(request, db)
    q = q.strip()
    matches: list[ses.RecordedEvent] = []
    streams: list[str] = []
    scanned, lowest, error = 0, None, None
    exact = False
    if q:
        try:
            wanted = uuid.UUID(q)
        except ValueError:
            wanted = None
        if wanted is not None:
            matches, scanned, lowest = _scan(database, wanted)
        try:
            exact = database.stream_version(q) is not None
            page = database.list_streams(after=q, limit=PAGE_SIZE)
            streams = [name for name in page if name.startswith(q)]
        except ses.InvalidInput as exc:
            if wanted is None:
                error = str(exc)
    return render(
        request,
        "search.html",
        db=db,
        q=q,
        matches=[{"event": e, "time": short_time(e)} for e in matches],
        scanned=scanned,
        lowest=lowest,
        scan_limit=SCAN_LIMIT,
        max_matches=MAX_MATCHES,
        exact=exact,
        streams=streams,
        error=error,
        last_position=database.last_position(),
    )
