"""TEMPORARY: reading a database backwards through a storage whose ``read_all`` reads forwards
only. Delete this module once ``Storage.read_all`` takes ``backwards`` in every backend (the
database layer then calls it directly; see ``Reader._fetch_backwards``)."""

from __future__ import annotations

from .storage.base import Entry, Storage

__all__ = ["read_all_backwards"]


def read_all_backwards(
    storage: Storage,
    db: str,
    *,
    from_position: int,
    limit: int,
    category: str | None,
    types: tuple[str, ...] | None,
) -> list[Entry]:
    """Up to ``limit`` event entries at ``from_position`` or below, newest first: what
    ``read_all(..., backwards=True)`` returns, read as windows of ``limit`` positions, each
    forwards, then reversed. A window of ``limit`` positions holds at most ``limit`` entries,
    so one forward read from its start sees all of them."""
    found: list[Entry] = []
    at = min(from_position, storage.last_position(db))
    while at >= 1 and len(found) < limit:
        low = max(1, at - limit + 1)
        window = storage.read_all(
            db, from_position=low, limit=limit, category=category, types=types
        )
        found.extend(reversed([e for e in window if e.position <= at]))
        at = low - 1
    return found[:limit]
