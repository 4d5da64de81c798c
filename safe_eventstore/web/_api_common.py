"""What the API's route modules share: the database a path names, the error answers every
route documents, and the bounds of numbers in paths and queries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request

import safe_eventstore as ses

from ._api_models import ProblemOut
from ._context import WebContext, web_context
from ._problems import PROBLEM, ApiProblem

__all__ = [
    "DATABASE_NAME",
    "MAX_INT",
    "Context",
    "DbName",
    "errors",
    "known_query",
    "open_db",
]

MAX_INT = 2**63 - 1  # the stores keep 64-bit integers

Context = Annotated[WebContext, Depends(web_context)]
DATABASE_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DbName = Annotated[str, Path(pattern=DATABASE_NAME, description="The database's name.")]

_MEANINGS = {
    400: "The request cannot be read (a body that is not UTF-8 JSON, ...).",
    401: "A bearer token is needed (the server has a token).",
    403: "The server is read-only.",
    404: "No such database, stream or event.",
    409: "The request contradicts what is stored (a wrong expected version, ...).",
    413: "An event or the request body is too large.",
    422: "The request is not valid.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may answer with these problem statuses."""
    return {
        status: {
            "model": ProblemOut,
            "description": _MEANINGS[status],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}},
        }
        for status in (400, 401, 422, *statuses)
    }


def open_db(context: WebContext, name: str) -> ses.Database:
    """The database ``name`` of the served store (``DatabaseNotFound``: 404)."""
    return context.store.database(name, without_key=True)


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take (422): a misspelt ``limt=5`` would
    otherwise be ignored without a word, and the read would not be the one asked for."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    taken = _query_names(route.dependant)
    unknown = sorted(k for k in request.query_params if k not in taken)
    if unknown:
        takes = ", ".join(sorted(taken)) or "none"
        raise ApiProblem(
            422,
            f"unknown query parameter {unknown[0]!r} (this route takes: {takes})",
            error="InvalidInput",
        )
