"""Stream names of aggregates and their snapshots, checked when an aggregate is made.

The store checks names when it writes; an aggregate checks its own at construction, so an
id that would make an invalid stream name fails before any command runs. The rule is the
store's (docs/data-model.md); a test holds the two to the same answers."""

from __future__ import annotations

import safe_eventstore as ses

__all__ = ["check_stream_name", "snapshot_stream"]

MAX_NAME = 255


def check_stream_name(name: str, what: str = "stream") -> str:
    if len(name) > MAX_NAME:
        raise ses.InvalidName(f"invalid {what} name: {len(name)} characters, at most {MAX_NAME}")
    if name[0] in "$-":
        raise ses.InvalidName(f"invalid {what} name {name!r}: it may not start with {name[0]!r}")
    if "/" in name or " " in name or not name.isprintable():
        raise ses.InvalidName(
            f"invalid {what} name {name!r}: no whitespace, control characters or '/' allowed"
        )
    return name


def snapshot_stream(category: str, id: str) -> str:
    """The companion stream holding the snapshots of aggregate ``<category>-<id>``: a
    category of its own (``<category>.snapshot``), so reads and subscriptions of the
    aggregate's category never see it. (``$`` names are kept for the store itself.)"""
    return f"{category}.snapshot-{id}"
