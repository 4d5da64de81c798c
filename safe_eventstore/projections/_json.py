"""States are JSON values: copied through their JSON form, which also checks them."""

from __future__ import annotations

from typing import Any

import msgspec

from ._errors import InvalidState

__all__ = ["copy_json"]


def copy_json(value: Any) -> Any:
    """A fresh copy of a JSON value (so a handler mutating its state in place cannot change
    the copy kept in memory), or :class:`InvalidState`."""
    kind = type(value)
    # immutable values that come back from their JSON form as they are: no copy needed
    if kind is int or kind is bool or value is None or (kind is str and value.isascii()):
        return value
    try:
        return msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, ValueError, OverflowError, msgspec.MsgspecError) as exc:
        raise InvalidState(f"a projection state must be a JSON value: {exc}") from None
