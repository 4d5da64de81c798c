"""The console's pages: server-rendered HTML (Jinja2 templates in ``templates/``, htmx for
partial updates, server-sent events for live tails).

``router`` is mounted at ``/`` by :func:`safe_eventstore.web.create_app`, after the API, so
its paths must not start with ``/api``, ``/docs`` or ``/openapi.json``. Pages depend on
:func:`require_session` (a redirect to ``/login`` when the server has a token and the
browser no session); the login form calls :func:`log_in`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import RedirectResponse

from ._security import require_session

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/", dependencies=[Depends(require_session)])
def home() -> RedirectResponse:
    # Until the pages exist, the home page is the API's interactive documentation.
    return RedirectResponse("/docs", status_code=307)
