"""Cross-site request forgery: every form the console serves carries a per-session token,
and every POST of the console must send it back (a form field, or a header for htmx).

A page from another site can make a browser send a form to the console with its cookies, but
it cannot read the console's pages, so it cannot know the token. The session cookie is also
``SameSite=Strict``; the token does not depend on that.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

from ._page_errors import PageError

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "csrf_form", "csrf_token"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SESSION_KEY = "safe_eventstore_csrf"


def csrf_token(request: Request) -> str:
    """The session's form token, made on first use."""
    token = request.session.get(_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_SESSION_KEY] = token
    return token


async def csrf_form(request: Request) -> FormData:
    """The posted form, once its token matches the session's; 403 otherwise (nothing done).

    A FastAPI dependency of every POST route of the console."""
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    expected = request.session.get(_SESSION_KEY)
    if (
        not isinstance(sent, str)
        or not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise PageError(403, "the form's token is missing or stale: reload the page")
    return form
