"""Where a projection reads from: one stream, one category, or the whole database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._errors import InvalidProjection

__all__ = ["Source", "category", "stream", "whole_database"]


@dataclass(frozen=True)
class Source:
    """The events a projection reads: ``kind`` is ``"stream"``, ``"category"`` or
    ``"database"``; ``name`` the stream or category (``None`` for the database)."""

    kind: str
    name: str | None = None

    def subscribe_options(self) -> dict[str, Any]:
        """The ``subscribe`` options that select this source."""
        if self.kind == "stream":
            return {"stream": self.name}
        if self.kind == "category":
            return {"category": self.name}
        return {}


def _check(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or name.startswith("$"):
        raise InvalidProjection(f"invalid {what} {name!r} for a projection source")
    if what == "category" and "-" in name:
        raise InvalidProjection(f"invalid category {name!r}: a category has no '-'")
    return name


def stream(name: str) -> Source:
    """The events of one stream."""
    return Source("stream", _check(name, "stream"))


def category(name: str) -> Source:
    """The events of every stream of one category (``"Account"``: ``Account-1``, ...)."""
    return Source("category", _check(name, "category"))


def whole_database() -> Source:
    """Every event of the database (projections' own state streams excepted)."""
    return Source("database")
