"""The API's reads: categories, streams, and pages of events (JSON, or NDJSON streamed)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

import safe_eventstore as ses

from ._api_common import MAX_INT, Context, DbName, errors, open_db
from ._api_models import NAME_LENGTH, CategoriesOut, EventOut, EventsPageOut, StreamOut, StreamsOut
from ._context import WebContext
from ._encoding import dump_json, event_json
from ._problems import ApiProblem

__all__ = ["NDJSON", "reads"]

NDJSON = "application/x-ndjson"
DEFAULT_PAGE = 100
NDJSON_CHUNK = 500  # events per write of a streamed read: one worker-thread hop each
EVENT_ID_SCAN = 100_000

reads = APIRouter(tags=["events"])

StreamName = Annotated[str, Path(max_length=NAME_LENGTH, description="The stream's name.")]
Limit = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_INT,
        description=f"Events in the page (default {DEFAULT_PAGE}; a JSON page holds at most "
        "the server's page size, 1,000 by default; NDJSON: any number, default all).",
    ),
]
Position = Annotated[int | None, Query(ge=0, le=MAX_INT, description="Where the page starts.")]
Backwards = Annotated[bool, Query(description="Newest first.")]
Types = Annotated[list[str] | None, Query(description="Only events of these types.")]

_EVENT_PAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            NDJSON: {
                "schema": {"type": "string"},
                "description": "With `Accept: application/x-ndjson`: one event per line.",
            }
        }
    }
}


def _wants_ndjson(request: Request) -> bool:
    return NDJSON in request.headers.get("accept", "")


def _ndjson(events: Iterable[ses.RecordedEvent]) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        it = iter(events)
        while batch := list(itertools.islice(it, NDJSON_CHUNK)):
            yield b"".join(dump_json(event_json(e)) + b"\n" for e in batch)

    return StreamingResponse(chunks(), media_type=NDJSON)


def _page(
    request: Request,
    context: WebContext,
    read: Callable[[int | None], ses.RecordedEvents],
    limit: int | None,
    next_of: Callable[[ses.RecordedEvent], int],
) -> Response:
    """A page of ``read(limit)`` as JSON (with where the next one starts), or all of it as
    NDJSON."""
    if _wants_ndjson(request):
        return _ndjson(read(limit))
    size = DEFAULT_PAGE if limit is None else limit
    if size > context.max_page_size:
        raise ApiProblem(
            422,
            f"limit {size} is above this server's page size of {context.max_page_size} "
            "(read more with Accept: application/x-ndjson)",
            error="InvalidInput",
        )
    events = list(read(size + 1))
    following = next_of(events[size]) if len(events) > size else None
    body = {"events": [event_json(e) for e in events[:size]], "next": following}
    return Response(dump_json(body), media_type="application/json")


@reads.get("/databases/{db}/categories", responses=errors(404))
def list_categories(
    db: DbName,
    context: Context,
    after: Annotated[str | None, Query(max_length=NAME_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_INT)] = DEFAULT_PAGE,
) -> CategoriesOut:
    """Categories with at least one stream, sorted, ``limit`` at a time after ``after``."""
    limit = _bounded(limit, context)
    names = [c for c in open_db(context, db).list_categories() if after is None or c > after]
    more = len(names) > limit
    return CategoriesOut(categories=names[:limit], next_after=names[limit - 1] if more else None)


def _bounded(limit: int, context: WebContext) -> int:
    if limit > context.max_page_size:
        raise ApiProblem(
            422,
            f"limit {limit} is above this server's page size of {context.max_page_size}",
            error="InvalidInput",
        )
    return limit


def _before(prefix: str) -> str | None:
    # The greatest name sorting before every name that starts with ``prefix``: a stream name
    # is at most NAME_LENGTH characters, none above U+10FFFF.
    if not prefix:
        return None
    last = ord(prefix[-1])
    if last == 0:
        return prefix[:-1] or None
    return prefix[:-1] + chr(last - 1) + "\U0010ffff" * NAME_LENGTH


@reads.get("/databases/{db}/streams", responses=errors(404))
def list_streams(
    db: DbName,
    context: Context,
    category: Annotated[str | None, Query(max_length=NAME_LENGTH)] = None,
    prefix: Annotated[str | None, Query(max_length=NAME_LENGTH)] = None,
    after: Annotated[str | None, Query(max_length=NAME_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_INT)] = DEFAULT_PAGE,
) -> StreamsOut:
    """Stream names, sorted, ``limit`` at a time after ``after`` (of one ``category``, and
    starting with ``prefix``, if given)."""
    limit = _bounded(limit, context)
    database = open_db(context, db)
    if prefix and (after is None or after < prefix):
        after = _before(prefix)
    page = database.list_streams(category or None, after=after, limit=limit)
    names = list(page)
    if prefix:
        kept = [n for n in names if n.startswith(prefix)]
        ended = len(kept) < len(names)
        return StreamsOut(
            streams=kept, next_after=None if ended or page.next_after is None else kept[-1]
        )
    return StreamsOut(streams=names, next_after=page.next_after)


@reads.get("/databases/{db}/streams/{stream}", responses=errors(404))
def get_stream(db: DbName, stream: StreamName, context: Context) -> StreamOut:
    """A stream's last version (``null`` when it has no events: every name reads as empty)."""
    version = open_db(context, db).stream_version(stream)
    return StreamOut(name=stream, category=ses.category_of(stream), version=version)


@reads.get(
    "/databases/{db}/streams/{stream}/events",
    response_model=EventsPageOut,
    responses={**errors(404), **_EVENT_PAGE},
)
def read_stream(
    request: Request,
    db: DbName,
    stream: StreamName,
    context: Context,
    from_version: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    limit: Limit = None,
    backwards: Backwards = False,
) -> Response:
    """A page of a stream's events in version order (newest first with ``backwards``), from
    ``from_version`` (default: the first, or the last going backwards). ``next`` is the
    ``from_version`` of the next page."""
    database = open_db(context, db)

    def read(n: int | None) -> ses.RecordedEvents:
        return database.read_stream(stream, from_version=from_version, limit=n, backwards=backwards)

    return _page(request, context, read, limit, lambda e: e.version)


@reads.get(
    "/databases/{db}/categories/{category}/events",
    response_model=EventsPageOut,
    responses={**errors(404), **_EVENT_PAGE},
)
def read_category(
    request: Request,
    db: DbName,
    category: Annotated[str, Path(max_length=NAME_LENGTH)],
    context: Context,
    from_position: Position = None,
    limit: Limit = None,
    backwards: Backwards = False,
    types: Types = None,
) -> Response:
    """A page of a category's events in position order; ``next`` is the ``from_position``
    of the next page."""
    database = open_db(context, db)

    def read(n: int | None) -> ses.RecordedEvents:
        return database.read_category(
            category, from_position=from_position, limit=n, types=types, backwards=backwards
        )

    return _page(request, context, read, limit, lambda e: e.position)


@reads.get(
    "/databases/{db}/events",
    response_model=EventsPageOut,
    responses={**errors(404), **_EVENT_PAGE},
)
def read_all(
    request: Request,
    db: DbName,
    context: Context,
    from_position: Position = None,
    limit: Limit = None,
    backwards: Backwards = False,
    types: Types = None,
) -> Response:
    """A page of the database's events in position order; ``next`` is the
    ``from_position`` of the next page. With ``Accept: application/x-ndjson``, every event
    from ``from_position`` on (``limit`` of them, if given), streamed one per line."""
    database = open_db(context, db)

    def read(n: int | None) -> ses.RecordedEvents:
        return database.read_all(
            from_position=from_position, limit=n, types=types, backwards=backwards
        )

    return _page(request, context, read, limit, lambda e: e.position)


@reads.get(
    "/databases/{db}/streams/{stream}/events/{version}",
    response_model=EventOut,
    responses=errors(404),
)
def get_event(
    db: DbName,
    stream: StreamName,
    version: Annotated[int, Path(ge=0, le=MAX_INT)],
    context: Context,
) -> Response:
    """One event of a stream, by version."""
    found = open_db(context, db).read_stream(stream, from_version=version, limit=1)
    for event in found:
        if event.version == version:
            return Response(dump_json(event_json(event)), media_type="application/json")
    raise ApiProblem(
        404, f"no event {version} in stream {stream!r}", error=ses.EventNotFound.__name__
    )


@reads.get("/databases/{db}/events/{event_id}", response_model=EventOut, responses=errors(404))
def find_event(
    db: DbName,
    event_id: uuid.UUID,
    context: Context,
    scan: Annotated[
        int,
        Query(ge=1, le=10 * EVENT_ID_SCAN, description="How many of the newest events to search."),
    ] = EVENT_ID_SCAN,
) -> Response:
    """One event, by id. The store keeps no index of event ids, so this searches the
    database's newest ``scan`` events, newest first (404 when it is not among them)."""
    for event in open_db(context, db).read_all(backwards=True, limit=scan):
        if event.event_id == event_id:
            return Response(dump_json(event_json(event)), media_type="application/json")
    raise ApiProblem(
        404,
        f"no event with id {event_id} among the newest {scan} events",
        error=ses.EventNotFound.__name__,
    )
