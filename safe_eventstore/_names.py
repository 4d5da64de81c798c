"""The naming rules, shared by every backend.

Database names: 1 to 64 characters of lowercase ASCII letters, digits, ``_`` and ``-``,
starting with a letter or digit (``^[a-z0-9][a-z0-9_-]{0,63}$``). They become file names
and NATS stream names, so nothing else is allowed.

Stream names, event types and checkpoint names: 1 to 255 characters; no whitespace, no
control or other non-printable characters, no ``/``; they may not start with ``$`` (kept
for the store's own use) or ``-``. A stream's category is the part before its first ``-``,
or the whole name when it has none.
"""

from __future__ import annotations

import re

from ._exceptions import InvalidName

__all__ = ["category_of", "check_database_name", "check_name"]

_DATABASE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_NAME = 255


def check_database_name(name: object) -> str:
    if not isinstance(name, str) or not _DATABASE.fullmatch(name):
        raise InvalidName(
            f"invalid database name {name!r}: use 1-64 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def check_name(name: object, what: str = "stream") -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName(f"invalid {what} name {name!r}: it must be a non-empty string")
    if len(name) > MAX_NAME:
        raise InvalidName(f"invalid {what} name: {len(name)} characters, at most {MAX_NAME}")
    if name[0] in "$-":
        raise InvalidName(f"invalid {what} name {name!r}: it may not start with {name[0]!r}")
    # Of the whitespace characters only " " is printable, so these two tests cover them all.
    if "/" in name or " " in name or not name.isprintable():
        raise InvalidName(
            f"invalid {what} name {name!r}: no whitespace, control characters or '/' allowed"
        )
    return name


def category_of(stream: str) -> str:
    return stream.split("-", 1)[0]
