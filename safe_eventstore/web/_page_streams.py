"""The streams of a database or a category (filtered by name prefix, paged), and one
stream's events, paged forwards and backwards with the store's paged reads: a page costs
the same on a stream of ten events and on one of a million."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

import safe_eventstore as ses

from ._event_view import pretty, pretty_data, short_time
from ._page_errors import PageError
from ._pages import PAGE_SIZE, page_database, pages, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=pages)

Version = Annotated[int | None, Query(ge=0, le=2**63 - 1)]
Name = Annotated[str, Query(max_length=255)]


def _names_from(
    db: ses.Database, category: str | None, prefix: str, after: str | None
) -> tuple[list[str], str | None]:
    """A page of stream names starting with ``prefix``, after ``after``; and the ``after``
    of the next page. Names are sorted, so the ones with a prefix are consecutive: the
    first page starts just after the prefix (which is itself checked as a name)."""
    names: list[str] = []
    if after is None and prefix:
        if db.stream_version(prefix) is not None and (
            category is None or ses.category_of(prefix) == category
        ):
            names.append(prefix)
        after = prefix
    page = db.list_streams(category, after=after, limit=PAGE_SIZE + 1 - len(names))
    for name in page:
        if not name.startswith(prefix):
            return names, None
        names.append(name)
    if len(names) > PAGE_SIZE:
        return names[:PAGE_SIZE], names[PAGE_SIZE - 1]
    return names, page.next_after


def _stream_row(db: ses.Database, name: str) -> dict[str, Any]:
    last = list(db.read_stream(name, backwards=True, limit=1))
    return {
        "name": name,
        "version": last[0].version if last else None,
        "time": short_time(last[0]) if last else "",
    }


@router.get("/db/{db}/streams")
def streams(
    request: Request,
    db: str,
    category: Name = "",
    prefix: Name = "",
    after: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    database = page_database(request, db)
    try:
        names, next_after = _names_from(database, category or None, prefix, after or None)
    except ses.InvalidInput as exc:
        names, next_after = [], None
        error: str | None = str(exc)
    else:
        error = None
    return render(
        request,
        "streams.html",
        db=db,
        category=category,
        prefix=prefix,
        after=after,
        rows=[_stream_row(database, name) for name in names],
        next_after=next_after,
        error=error,
    )


def _event_row(event: ses.RecordedEvent) -> dict[str, Any]:
    return {
        "event": event,
        "time": short_time(event),
        "data": pretty_data(event),
        "metadata": pretty(event.metadata),
    }


@router.get("/db/{db}/streams/{stream}")
def stream(
    request: Request,
    db: str,
    stream: str,
    from_version: Annotated[int | None, Query(alias="from", ge=0, le=2**63 - 1)] = None,
    backwards: bool = False,
    raw: bool = False,
) -> Response:
    database = page_database(request, db)
    if raw:
        backwards = False  # the raw history reads forwards only
    try:
        last = database.stream_version(stream)
        if from_version is None and backwards:
            from_version = last
        events = list(
            database.read_stream(
                stream, from_version=from_version, limit=PAGE_SIZE, backwards=backwards, raw=raw
            )
        )
    except ses.InvalidInput as exc:
        raise PageError(422, str(exc)) from exc
    versions = [e.version for e in events if e.kind == "event"] or [e.version for e in events]
    low, high = (min(versions), max(versions)) if versions else (None, None)
    return render(
        request,
        "stream.html",
        db=db,
        stream=stream,
        category=ses.category_of(stream),
        last=last,
        raw=raw,
        backwards=backwards,
        rows=[_event_row(e) for e in events],
        links=_page_links(low, high, last, raw),
    )


def _page_links(
    low: int | None, high: int | None, last: int | None, raw: bool
) -> dict[str, dict[str, Any] | None]:
    """The query of each paging link (``None``: the link is off)."""
    mode: dict[str, Any] = {"raw": 1} if raw else {}
    older: dict[str, Any] | None = None
    if low is not None and low > 0:
        older = (
            {"from": max(0, low - PAGE_SIZE), **mode} if raw else {"from": low - 1, "backwards": 1}
        )
    newer = None
    if high is not None and last is not None and high < last:
        newer = {"from": high + 1, **mode}
    return {
        "first": mode,
        "older": older,
        "newer": newer,
        "last": {"from": max(0, (last or 0) - PAGE_SIZE + 1), **mode} if raw else {"backwards": 1},
    }
