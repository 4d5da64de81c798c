"""The app factory: the API, the console's pages, and the middleware around both."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.sessions import SessionMiddleware

import safe_eventstore as ses

from ._api import api_router
from ._console import install_console
from ._context import DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_PAGE_SIZE, WebContext
from ._docs import install_docs
from ._problems import install_problem_handlers
from ._security import BodyLimit, LoginRequired, SecurityHeaders, login_redirect

__all__ = ["create_app"]


def create_app(
    store: ses.Store,
    *,
    token: str | None = None,
    read_only: bool = False,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE,
    session_secret: str | None = None,
) -> FastAPI:
    """The ASGI app serving ``store``: the console at ``/``, the HTTP API at ``/api/v1``,
    its OpenAPI document at ``/openapi.json`` and interactive docs at ``/docs``.

    ``token``: every API call then needs ``Authorization: Bearer <token>`` and every page a
    logged-in session (without one, anyone who reaches the port can read and write: serve
    without a token on loopback only). ``read_only``: every write is refused (403).
    ``max_body_size`` (bytes) and ``max_page_size`` (events or names per page) bound what
    one request may send or ask for. ``session_secret`` signs the console's session cookies
    (by default a random one: sessions end when the server restarts).
    """
    if token is not None and not token:
        raise ses.InvalidInput("the token must not be empty")
    if max_body_size < 1 or max_page_size < 1:
        raise ses.InvalidInput("max_body_size and max_page_size must be at least 1")
    app = FastAPI(
        title="SAFE EventStore",
        version=ses.__version__,
        description="The HTTP API of a SAFE EventStore store. Errors are RFC 9457 problem "
        "documents (`application/problem+json`).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.web = WebContext(
        store=store,
        token=token,
        read_only=read_only,
        max_body_size=max_body_size,
        max_page_size=max_page_size,
    )
    install_problem_handlers(app)
    app.add_exception_handler(LoginRequired, login_redirect)
    app.include_router(api_router)
    install_docs(app)
    install_console(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret or secrets.token_urlsafe(32),
        session_cookie="safe_eventstore_session",
        same_site="strict",
    )
    if token is None:
        _document_without_auth(app)
    app.add_middleware(BodyLimit, max_size=max_body_size)
    app.add_middleware(SecurityHeaders)
    return app


def _document_without_auth(app: FastAPI) -> None:
    # The bearer scheme is declared on every API route; served without a token, the
    # document must not ask clients for one.
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    operation.pop("security", None)
                    operation.get("responses", {}).pop("401", None)
            document.get("components", {}).pop("securitySchemes", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
