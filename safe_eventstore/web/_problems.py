"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every document has ``type``, ``title``, ``status`` and ``detail``; errors of the store also
carry ``error``, the name of their class (``WrongExpectedVersion``, ``StreamNotFound``, ...),
so a client in any language can tell them apart.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import safe_eventstore as ses

__all__ = ["PROBLEM", "ApiProblem", "install_problem_handlers", "problem_response", "status_of"]

PROBLEM = "application/problem+json"

# Most specific first: the first class an error is an instance of gives the status.
_STATUSES: tuple[tuple[type[ses.SafeEventStoreError], int], ...] = (
    (ses.EventTooLarge, 413),
    (ses.InvalidInput, 422),
    (ses.NotFound, 404),
    (ses.Conflict, 409),
    (ses.StoreReadOnly, 403),
    (ses.StoreUnavailable, 503),
    (ses.StoreClosed, 503),
    (ses.StoreLocked, 503),
)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """Raised by a route to answer with a problem document of ``status``."""

    def __init__(self, status: int, detail: str, *, error: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error = error
        self.extra = extra


def status_of(exc: ses.SafeEventStoreError) -> int:
    """The HTTP status of an error of the store."""
    for cls, status in _STATUSES:
        if isinstance(exc, cls):
            return status
    return 500


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem_response(
    status: int,
    detail: str,
    *,
    error: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem document of ``status``; ``error`` names the store's error class, if any."""
    body: dict[str, Any] = {
        "type": f"urn:safe-eventstore:problem:{_slug(error)}" if error else "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if error:
        body["error"] = error
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ses.SafeEventStoreError)
    return problem_response(
        status_of(exc), str(exc) or type(exc).__name__, error=type(exc).__name__
    )


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.detail, error=exc.error, **exc.extra)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = None if exc.headers is None else dict(exc.headers)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


def _allowed(request: Request) -> list[str]:
    # Starlette names only the methods of the first route on the path; a path served by a
    # GET route and a POST route allows both.
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


def _jsonable(errors: Any) -> list[dict[str, Any]]:
    # Validation errors can quote the offending input, which may not be JSON (bytes, ...).
    out = []
    for error in errors:
        out.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _jsonable(exc.errors())
    where = ".".join(errors[0]["loc"]) if errors else ""
    message = str(errors[0]["msg"]) if errors else "invalid request"
    detail = f"{where}: {message}" if where else message
    return problem_response(422, detail, error="InvalidInput", errors=errors)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every expected failure of ``app`` with a problem document."""
    app.add_exception_handler(ses.SafeEventStoreError, _store_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
