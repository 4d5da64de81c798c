"""The error a page raises: the console answers it with an HTML page, not a problem
document as the API does."""

from __future__ import annotations

from starlette.exceptions import HTTPException

__all__ = ["PageError"]


class PageError(HTTPException):
    """A page's failure, with its HTTP status and a message for the person reading."""
