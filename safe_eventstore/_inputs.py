"""The checks of a database call's arguments, shared by writing and reading: each refuses bad
input with a typed error before the storage is touched."""

from __future__ import annotations

from collections.abc import Iterable

from ._exceptions import InvalidInput
from ._model import Query, QueryItem
from ._names import check_name

__all__ = [
    "EVENTS_STREAM",
    "FORGOTTEN_STREAM",
    "MAX_NUMBER",
    "check_count",
    "check_query",
    "check_types",
    "readable",
]

MAX_NUMBER = 2**63 - 1
"""The largest version, position or count: what every backend stores in a signed 64-bit
integer. A larger one could not match anything, and drivers refuse it with their own errors."""

EVENTS_STREAM = "$events"
"""The reserved stream holding the events appended with ``append_events`` (no stream of
their own). Public names may not start with ``$``, so no user stream can collide with it."""


def check_count(
    value: int | None, what: str, error: type[InvalidInput] = InvalidInput
) -> int | None:
    """A version, position, limit or count: ``None`` or a whole number from 0 to
    :data:`MAX_NUMBER`."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER
    ):
        raise error(f"{what} must be a whole number from 0 to 2**63-1, not {value!r}")
    return value


FORGOTTEN_STREAM = "$forgotten"
"""The reserved stream of an encrypted database's ``ScopeForgotten`` events."""


def readable(stream: str) -> str:
    """A stream name that may be read: a public name, or the reserved ``$events`` and
    ``$forgotten``."""
    return stream if stream in (EVENTS_STREAM, FORGOTTEN_STREAM) else check_name(stream)


def check_types(types: Iterable[str] | None) -> tuple[str, ...] | None:
    """A type filter: ``None`` (every type) or names of event types (one string would be
    taken letter by letter, so it is refused)."""
    if types is None:
        return None
    if isinstance(types, str | bytes) or not isinstance(types, Iterable):
        raise InvalidInput(f"types must be a list of event type names, not {types!r}")
    return tuple(check_name(t, "event type") for t in types)


def check_query(query: object) -> Query:
    if query is None:
        return Query()
    if not isinstance(query, Query):
        raise InvalidInput(f"query must be a Query, not {query!r}")
    items = []
    for item in query.items:
        if not isinstance(item, QueryItem):
            raise InvalidInput(f"query items must be QueryItem, not {item!r}")
        if isinstance(item.types, str) or isinstance(item.tags, str):
            raise InvalidInput("a query item's types and tags are lists of names")
        items.append(
            QueryItem(
                tuple(check_name(t, "event type") for t in item.types),
                tuple(check_name(t, "tag") for t in item.tags),
            )
        )
    return Query(tuple(items))
