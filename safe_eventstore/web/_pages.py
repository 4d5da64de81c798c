"""What the console's pages share: the Jinja2 environment (autoescaping every value), the
page response with its security headers, the database a path names, and the static files.

Every value from the store reaches a page through a template, and the environment escapes
everything it prints; the pages send a Content-Security-Policy that allows scripts from the
console's own ``/static/`` only, so even a value that slipped through could not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

import safe_eventstore as ses

from ._context import web_context
from ._csrf import csrf_token
from ._page_errors import PageError
from ._security import require_session

__all__ = [
    "HTMX_VERSION",
    "PAGE_SIZE",
    "event_url",
    "fragment",
    "page_database",
    "pages",
    "render",
    "static_router",
    "stream_url",
]

HTMX_VERSION = "2.0.11"
PAGE_SIZE = 50  # events or streams on one page of the console

_HERE = Path(__file__).parent
_STATIC = {
    "console.css": "text/css",
    "console.js": "text/javascript",
    f"htmx-{HTMX_VERSION}.min.js": "text/javascript",
    "htmx-LICENSE.txt": "text/plain",
}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def stream_url(db: str, stream: str, **query: object) -> str:
    """The console's address of a stream's page (stream names may hold ``?``, ``#``, ``%``)."""
    url = f"/db/{quote(db, safe='')}/streams/{quote(stream, safe='')}"
    given = [f"{key}={quote(str(value), safe='')}" for key, value in query.items() if value]
    return url + ("?" + "&".join(given) if given else "")


def event_url(db: str, event: ses.RecordedEvent) -> str:
    """The console's address of an event's page."""
    return f"/db/{quote(db, safe='')}/events/{quote(event.stream, safe='')}/{event.version}"


def _quote(value: object) -> str:
    return quote(str(value), safe="")


_environment.filters["q"] = _quote
_environment.globals["stream_url"] = stream_url
_environment.globals["event_url"] = event_url
_environment.globals["htmx_version"] = HTMX_VERSION

# Every page needs a session when the server has a token.
pages = [Depends(require_session)]


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """``template`` rendered with ``values`` and what every page shows (read-only mode, the
    form token, whether a login is in use)."""
    context = web_context(request)
    html = _environment.get_template(template).render(
        request=request,
        read_only=context.read_only,
        logged_in=context.token is not None,
        csrf_token=csrf_token(request),
        **values,
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": _CSP,
            "Cache-Control": "no-store",
        },
    )


def fragment(template: str, **values: Any) -> str:
    """A template rendered alone (a row sent over server-sent events)."""
    return _environment.get_template(template).render(**values)


def page_database(request: Request, name: str) -> ses.Database:
    """The database ``name`` of the served store; a 404 page when there is none."""
    try:
        return web_context(request).store.database(name, without_key=True)
    except ses.NotFound as exc:
        raise PageError(404, str(exc)) from exc
    except ses.InvalidInput as exc:
        raise PageError(404, f"no database {name!r}: {exc}") from exc


static_router = APIRouter(include_in_schema=False)


@static_router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The console's own scripts and styles (a fixed list: no path from the request reaches
    the file system)."""
    media_type = _STATIC.get(name)
    if media_type is None:
        raise PageError(404, "no such file")
    return FileResponse(
        _HERE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600"},
    )
