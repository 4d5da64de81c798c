"""The projections page: what the store says of each projection (state, position, head,
lag, events/s, the agent holding it, the failure that stopped it), refreshed in place with
htmx, and the actions an operator takes from here: retry a failed projection, rebuild one
(its agent folds the source again with the code it runs and corrects the states that differ,
in place), and switch the readers of a projection to another built version (the end of a
rebuild by a new version, or a roll-back).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import safe_eventstore as ses
from safe_eventstore import projections

from ._context import web_context
from ._csrf import csrf_form
from ._page_errors import PageError
from ._pages import page_database, pages, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=pages)

REFRESH_SECONDS = 2


def _rows(database: ses.Database) -> list[dict[str, Any]]:
    statuses = projections.status(database)
    names = {s.name for s in statuses}
    active = {name: projections.active_version(database, name) for name in names}
    versions = {name: sum(1 for s in statuses if s.name == name) for name in names}
    rows = []
    for s in statuses:
        serving = active[s.name] == s.version or (active[s.name] is None and versions[s.name] == 1)
        rows.append(
            {
                "s": s,
                "serving": serving,
                # another built version exists: switching readers to this one is a choice
                "can_switch": not serving and s.position is not None and versions[s.name] > 1,
            }
        )
    return rows


def _back(db: str, done: str) -> Response:
    return RedirectResponse(
        f"/db/{quote(db, safe='')}/projections?done={quote(done, safe='')}", status_code=303
    )


def _writable(request: Request) -> None:
    if web_context(request).read_only:
        raise PageError(403, "this server is read-only")


def _target(request: Request, db: str, form: FormData) -> tuple[ses.Database, int]:
    """The database of a writing action, and the version its form names."""
    _writable(request)
    database = page_database(request, db)
    raw = str(form.get("version", ""))
    if not raw.isdigit() or len(raw) > 9:
        raise PageError(422, f"version {raw[:20]!r} is not a version number")
    return database, int(raw)


@router.get("/db/{db}/projections")
def projections_page(request: Request, db: str) -> Response:
    database = page_database(request, db)
    message = request.query_params.get("done", "")[:200]
    return render(
        request,
        "projections.html",
        db=db,
        rows=_rows(database),
        refresh=REFRESH_SECONDS,
        message=message,
    )


@router.get("/db/{db}/projections/table")
def projections_table(request: Request, db: str) -> Response:
    return render(request, "_projections_table.html", db=db, rows=_rows(page_database(request, db)))


@router.post("/db/{db}/projections/{name}/retry")
def retry(
    request: Request, db: str, name: str, form: Annotated[FormData, Depends(csrf_form)]
) -> Response:
    _writable(request)
    database = page_database(request, db)
    try:
        retried = projections.retry(database, name)
    except projections.ProjectionNotFound as exc:
        raise PageError(404, str(exc)) from exc
    done = (
        f"retry recorded for {name} v{', v'.join(map(str, retried))}"
        if retried
        else (f"{name} has no failure to retry")
    )
    return _back(db, done)


@router.post("/db/{db}/projections/{name}/rebuild")
def rebuild(
    request: Request, db: str, name: str, form: Annotated[FormData, Depends(csrf_form)]
) -> Response:
    database, version = _target(request, db, form)
    try:
        asked = projections.request_rebuild(database, name, version=version)
    except projections.ProjectionNotFound as exc:
        raise PageError(404, str(exc)) from exc
    return _back(db, f"rebuild requested for {name} v{asked[0]}: its agent rebuilds it in place")


@router.post("/db/{db}/projections/{name}/promote")
def promote(
    request: Request, db: str, name: str, form: Annotated[FormData, Depends(csrf_form)]
) -> Response:
    database, version = _target(request, db, form)
    try:
        projections.promote(database, name, version)
    except projections.InvalidProjection as exc:
        raise PageError(422, str(exc)) from exc
    return _back(db, f"readers of {name} switched to v{version}")
