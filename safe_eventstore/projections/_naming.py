"""Names of a projection's own streams and checkpoint.

A projection ``balances`` at version 1 keeps its checkpoint under ``projection.balances.v1``
and the states of key ``k`` in stream ``projection.balances.v1-<k>``: a category of its own
per projection version, so a new version is built beside the old one. A key made only of
letters, digits and ``_ . : @ + = -`` (at most 128 characters, not starting with ``~``) is
used as it is; any other key becomes ``~`` and the first 40 hex digits of its SHA-256. The
key itself is stored in every state entry, so nothing is lost by hashing."""

from __future__ import annotations

import hashlib
import re

__all__ = ["PREFIX", "checkpoint_name", "key_stream", "state_category"]

PREFIX = "projection."
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.:@+=-]{1,128}")
NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def state_category(name: str, version: int) -> str:
    return f"{PREFIX}{name}.v{version}"


def checkpoint_name(name: str, version: int) -> str:
    return state_category(name, version)


def key_stream(name: str, version: int, key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and not key.startswith("~"):
        part = key
    else:
        part = "~" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{state_category(name, version)}-{part}"
