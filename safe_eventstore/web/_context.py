"""What every route of the app shares: the store and the settings it was created with."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

import safe_eventstore as ses

__all__ = ["DEFAULT_MAX_BODY_SIZE", "DEFAULT_MAX_PAGE_SIZE", "WebContext", "web_context"]

DEFAULT_MAX_BODY_SIZE = 8 * 1024 * 1024
DEFAULT_MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class WebContext:
    """The store an app serves and how: ``token`` (``None``: no authentication, for loopback
    use only), ``read_only`` (every write refused), and the limits on request bodies (bytes)
    and on the events or names one page holds."""

    store: ses.Store
    token: str | None = None
    read_only: bool = False
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE


def web_context(conn: HTTPConnection) -> WebContext:
    """The :class:`WebContext` of the app serving a request (a FastAPI dependency too)."""
    context: WebContext = conn.app.state.web
    return context
