"""The console's pages: server-rendered HTML (Jinja2 templates in ``templates/``, htmx for
partial updates, server-sent events for live tails), one module per group of pages.

``router`` is mounted at ``/`` by :func:`safe_eventstore.web.create_app`, after the API, so
its paths must not start with ``/api``, ``/docs`` or ``/openapi.json``. Every page depends
on :func:`require_session` (a redirect to ``/login`` when the server has a token and the
browser no session); every POST on :func:`csrf_form`. :func:`install_console` also answers
the pages' errors with HTML instead of problem documents.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from . import (
    _page_databases,
    _page_event,
    _page_login,
    _page_projections,
    _page_search,
    _page_streams,
    _page_tail,
    _page_verify,
)
from ._page_errors import PageError
from ._pages import render, static_router

__all__ = ["install_console", "router"]

router = APIRouter(include_in_schema=False)
for _module in (
    _page_login,
    _page_databases,
    _page_streams,
    _page_event,
    _page_search,
    _page_tail,
    _page_verify,
    _page_projections,
):
    router.include_router(_module.router)
router.include_router(static_router)


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        status=exc.status_code,
        detail=str(exc.detail),
    )


def install_console(app: FastAPI) -> None:
    """Mount the console's pages on ``app``, with their HTML error pages."""
    app.include_router(router)
    app.add_exception_handler(PageError, _page_error)
