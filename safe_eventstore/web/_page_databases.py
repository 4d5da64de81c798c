"""The console's databases page (list, create) and a database's page (categories, the
event-rate chart, statistics)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import safe_eventstore as ses

from ._chart import rate_chart
from ._context import web_context
from ._csrf import csrf_form
from ._page_errors import PageError
from ._pages import page_database, pages, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=pages)

STREAM_COUNT_CAP = 10_000  # counting streams page by page stops here ("10000+")


@router.get("/")
def databases(request: Request) -> Response:
    return _databases_page(request)


def _databases_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    store = web_context(request).store
    rows = []
    for name in store.list_databases():
        stats = store.database(name, without_key=True).stats()
        rows.append(
            {"name": name, "events": int(stats["events"]), "streams": int(stats["streams"])}
        )
    return render(request, "databases.html", status_code=status, databases=rows, error=error)


@router.post("/databases")
def create_database(request: Request, form: Annotated[FormData, Depends(csrf_form)]) -> Response:
    if web_context(request).read_only:
        raise PageError(403, "this server is read-only")
    name = str(form.get("name", "")).strip()
    try:
        web_context(request).store.create_database(name)
    except (ses.InvalidInput, ses.DatabaseExists) as exc:
        return _databases_page(request, error=str(exc), status=422)
    return RedirectResponse(f"/db/{name}", status_code=303)


def _count_streams(db: ses.Database, category: str) -> tuple[int, bool]:
    count, after = 0, None
    while count < STREAM_COUNT_CAP:
        page = db.list_streams(category, after=after, limit=1000)
        count += len(page)
        if page.next_after is None:
            return count, False
        after = page.next_after
    return count, True


@router.get("/db/{db}")
def database(request: Request, db: str) -> Response:
    database = page_database(request, db)
    categories = []
    for category in database.list_categories():
        count, more = _count_streams(database, category)
        categories.append({"name": category, "streams": count, "more": more})
    return render(
        request,
        "database.html",
        db=db,
        categories=categories,
        stats=database.stats(),
        last_position=database.last_position(),
        chart=rate_chart(database),
    )
