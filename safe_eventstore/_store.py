"""Opening a store, and the store itself: a set of databases."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

from ._codec import EventTypes, event_types
from ._database import Database
from ._exceptions import DatabaseNotFound, InvalidURL, StoreClosed
from ._names import check_database_name
from .storage.base import Storage

__all__ = ["DEFAULT_DIRECTORY", "DEFAULT_MAX_EVENT_SIZE", "Store", "open", "open_storage"]

DEFAULT_DIRECTORY = "safe-eventstore-data"
DEFAULT_MAX_EVENT_SIZE = 64 * 1024 * 1024
URL_VARIABLE = "SAFE_EVENTSTORE_URL"


class Store:
    """One installation of SAFE EventStore: holds databases. Use :func:`open` to get one."""

    def __init__(
        self,
        storage: Storage,
        *,
        url: str,
        event_types: EventTypes = event_types,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        self.storage = storage
        self.url = url
        self.event_types = event_types
        self.max_event_size = max_event_size
        self._closed = False

    def __repr__(self) -> str:
        return f"<Store {self.url}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")

    def create_database(self, name: str) -> Database:
        """Create a database; :class:`DatabaseExists` if it exists already."""
        self._check_open()
        self.storage.create_database(check_database_name(name))
        return self.database(name)

    def list_databases(self) -> list[str]:
        self._check_open()
        return self.storage.list_databases()

    def database(self, name: str) -> Database:
        """A handle on an existing database; :class:`DatabaseNotFound` if there is none."""
        self._check_open()
        if not self.storage.has_database(check_database_name(name)):
            raise DatabaseNotFound(f"no database {name!r} in {self.url}")
        return Database(
            self.storage, name, event_types=self.event_types, max_event_size=self.max_event_size
        )

    def register(self, cls: type, name: str | None = None) -> type:
        """Register a typed event class with this store's registry."""
        return self.event_types.register(cls, name)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.storage.close()


def _options(query: str, options: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    merged.update(options)
    return merged


def _int_option(options: dict[str, Any], key: str, default: int) -> int:
    value = options.pop(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidURL(f"option {key} must be a whole number, not {value!r}") from None
    if number <= 0:
        raise InvalidURL(f"option {key} must be positive, not {value!r}")
    return number


def _refuse_unknown(options: dict[str, Any]) -> None:
    if options:
        raise InvalidURL(f"unknown store option(s): {', '.join(sorted(options))}")


def open_storage(url: str, options: dict[str, Any]) -> Storage:
    """Make the storage a URL names, taking the options it understands out of ``options``."""
    scheme, _, rest = url.partition("://")
    if not _:
        scheme, rest = "sqlite", url  # a plain path
    scheme = scheme.lower()
    if scheme == "memory":
        from .storage.memory import MemoryStorage

        _refuse_unknown(options)
        return MemoryStorage()
    if scheme == "sqlite":
        from .storage.sqlite import SqliteStorage

        path = unquote(rest.split("?", 1)[0])
        if not path:
            raise InvalidURL(f"{url!r} names no directory")
        durability = str(options.pop("durability", "full"))
        lock_timeout = options.pop("lock_timeout", 60.0)
        _refuse_unknown(options)  # before the directory is made: bad input creates nothing
        return SqliteStorage(
            os.path.expanduser(path), durability=durability, lock_timeout=lock_timeout
        )
    if scheme == "nats":
        try:
            from .storage.nats import NatsStorage  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise InvalidURL(
                f"nats:// needs the NATS extra: pip install 'safe-eventstore[nats]' ({exc})"
            ) from None
        return NatsStorage(url, options)  # type: ignore[no-any-return,unused-ignore]
    raise InvalidURL(
        f"unknown store URL scheme {scheme!r} in {url!r}: use sqlite://, memory:// or nats://"
    )


def open(url: str | None = None, **options: Any) -> Store:
    """Open a store.

    With no URL: the one in ``$SAFE_EVENTSTORE_URL``, else an embedded SQLite store in
    ``./safe-eventstore-data``. URLs: ``sqlite:///abs/dir`` (or a plain path),
    ``memory://``, ``nats://host:port``. Options (keywords or URL query): ``durability``
    (``"full"``, the default, or ``"relaxed"``), ``lock_timeout`` (SQLite: seconds a write
    waits for another process's lock, default 60), ``max_event_size`` in bytes.

    ::

        with ses.open("memory://") as store:
            db = store.create_database("bank")
    """
    if url is None:
        url = os.environ.get(URL_VARIABLE) or f"sqlite://{DEFAULT_DIRECTORY}"
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL(f"a store URL must be a non-empty string, not {url!r}")
    query = url.split("?", 1)[1] if "?" in url else ""
    merged = _options(query, options)
    registry = merged.pop("event_types", event_types)
    max_size = _int_option(merged, "max_event_size", DEFAULT_MAX_EVENT_SIZE)
    storage = open_storage(url, merged)
    if merged:
        storage.close()
        _refuse_unknown(merged)
    return Store(storage, url=url.split("?", 1)[0], event_types=registry, max_event_size=max_size)
