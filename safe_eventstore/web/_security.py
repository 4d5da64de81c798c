"""Who may do what: the bearer token of the API, the session of the console's pages,
read-only serving, and the limit on request bodies.

With no token (loopback use), everything is open. With a token, every API call needs
``Authorization: Bearer <token>`` and every page a session, which the console's login form
opens with :func:`log_in` (the session is a signed cookie, Starlette's ``SessionMiddleware``).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._context import WebContext, web_context
from ._problems import ApiProblem, problem_response

__all__ = [
    "BodyLimit",
    "LoginRequired",
    "SecurityHeaders",
    "has_session",
    "log_in",
    "log_out",
    "login_redirect",
    "require_bearer",
    "require_session",
    "require_writable",
]

_SESSION_KEY = "safe_eventstore_auth"
_bearer = HTTPBearer(auto_error=False, description="The token given to `safe-eventstore serve`.")


def _same(candidate: str, token: str) -> bool:
    return hmac.compare_digest(candidate.encode(), token.encode())


def require_bearer(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    context: WebContext = Depends(web_context),  # noqa: B008
) -> None:
    """API dependency: with a token, the request must carry it as a bearer token."""
    if context.token is None:
        return
    if credentials is None or not _same(credentials.credentials, context.token):
        raise HTTPException(
            401,
            "this server needs 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_writable(context: WebContext = Depends(web_context)) -> None:  # noqa: B008
    """Dependency of every write: refused when the app serves read-only."""
    if context.read_only:
        raise ApiProblem(403, "this server is read-only", error="StoreReadOnly")


def _fingerprint(token: str) -> str:
    # The session holds a digest, never the token: a leaked cookie does not give the token.
    return hashlib.sha256(b"safe-eventstore-session:" + token.encode()).hexdigest()


def has_session(conn: HTTPConnection) -> bool:
    """Whether the request may see pages: no token is set, or its session is logged in."""
    token = web_context(conn).token
    if token is None:
        return True
    value = conn.session.get(_SESSION_KEY)
    return isinstance(value, str) and _same(value, _fingerprint(token))


def log_in(request: Request, candidate: str) -> bool:
    """Open a session if ``candidate`` is the server's token; whether it was."""
    token = web_context(request).token
    if token is not None and not _same(candidate, token):
        return False
    request.session.clear()
    if token is not None:
        request.session[_SESSION_KEY] = _fingerprint(token)
    return True


def log_out(request: Request) -> None:
    """End the request's session."""
    request.session.clear()


class LoginRequired(Exception):
    """A page was asked for without a session: the app redirects to the login form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def require_session(request: Request) -> None:
    """Page dependency: without a session, redirect to ``/login?next=<this page>``."""
    if not has_session(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)


async def login_redirect(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


class BodyLimit:
    """Refuses a request body over ``max_size`` bytes with 413, whether announced by
    ``Content-Length`` or streamed in chunks, before a route reads it all."""

    def __init__(self, app: ASGIApp, max_size: int) -> None:
        self.app = app
        self.max_size = max_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    response = problem_response(400, "the Content-Length header is not a number")
                elif int(value) > self.max_size:
                    response = problem_response(413, self._detail())
                else:
                    break
                await response(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_size:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"the request body is larger than this server's limit of {self.max_size} bytes"


_HEADERS = [
    # a browser never guesses a script or a page out of a JSON or text answer
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds headers that stop browsers sniffing content types or framing the console."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
