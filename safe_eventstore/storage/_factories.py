"""The factories of the built-in embedded backends, named by the ``safe_eventstore.backends``
entry points of ``memory://`` and ``sqlite://`` (``nats://`` names its storage class, whose
constructor takes the URL and the options).

A factory takes the store URL and the options that :func:`safe_eventstore.open` has not
used, takes out of them the ones it understands, and returns the storage; the store refuses
any option left over. Each backend is imported only when its scheme is opened.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote

from .._exceptions import InvalidURL
from .base import Storage

__all__ = ["open_memory", "open_sqlite", "refuse_unknown"]


def refuse_unknown(options: dict[str, Any]) -> None:
    """:class:`InvalidURL` naming every option left in ``options``."""
    if options:
        raise InvalidURL(f"unknown store option(s): {', '.join(sorted(options))}")


def open_memory(url: str, options: dict[str, Any]) -> Storage:
    """``memory://``: a store that lives as long as the process; it takes no options."""
    from .memory import MemoryStorage

    refuse_unknown(options)
    return MemoryStorage()


def open_sqlite(url: str, options: dict[str, Any]) -> Storage:
    """``sqlite://DIR`` (``sqlite:///abs/dir``): the embedded store in a directory; the
    ``durability`` option is ``"full"`` (the default) or ``"relaxed"``; ``lock_timeout``
    is how many seconds a write waits for another process's lock (60 by default)."""
    from .sqlite import SqliteStorage

    path = unquote(url.partition("://")[2].split("?", 1)[0])
    if not path:
        raise InvalidURL(f"{url!r} names no directory")
    durability = str(options.pop("durability", "full"))
    lock_timeout = options.pop("lock_timeout", 60.0)
    refuse_unknown(options)  # before the directory is made: bad input creates nothing
    return SqliteStorage(os.path.expanduser(path), durability=durability, lock_timeout=lock_timeout)
