"""What the API's route modules share: the database a path names, the error answers every
route documents, and the bounds of numbers in paths and queries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path

import safe_eventstore as ses

from ._api_models import ProblemOut
from ._context import WebContext, web_context
from ._problems import PROBLEM

__all__ = ["DATABASE_NAME", "MAX_INT", "Context", "DbName", "errors", "open_db"]

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
    return context.store.database(name)
