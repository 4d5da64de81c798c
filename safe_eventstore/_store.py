"""Opening a store, and the store itself: a set of databases."""

from __future__ import annotations

import functools
import os
from importlib.metadata import EntryPoint, entry_points
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ._codec import EventTypes, event_types
from ._database import Database
from ._exceptions import (
    DatabaseNotFound,
    InvalidInput,
    InvalidSigningKey,
    InvalidURL,
    KeyRequired,
    NotSupported,
    StorageError,
    StoreClosed,
)
from ._keyring import KeyHolder, Keyring
from ._names import check_database_name
from ._signing import signing_key_of
from .crypto import (
    CHECK_SCOPE,
    EncryptionSettings,
    FileKeyProvider,
    KeyProvider,
    key_context,
    new_data_key,
)
from .storage.base import Storage

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "BACKENDS_GROUP",
    "DEFAULT_DIRECTORY",
    "DEFAULT_MAX_EVENT_SIZE",
    "KEYFILE_VARIABLE",
    "Store",
    "backend_schemes",
    "open",
    "open_storage",
]

DEFAULT_DIRECTORY = "safe-eventstore-data"
DEFAULT_MAX_EVENT_SIZE = 64 * 1024 * 1024
URL_VARIABLE = "SAFE_EVENTSTORE_URL"
KEYFILE_VARIABLE = "SAFE_EVENTSTORE_KEYFILE"
BACKENDS_GROUP = "safe_eventstore.backends"


class Store:
    """One installation of SAFE EventStore: holds databases. Use :func:`open` to get one."""

    def __init__(
        self,
        storage: Storage,
        *,
        url: str,
        event_types: EventTypes = event_types,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        signing_key: Ed25519PrivateKey | None = None,
        key_provider: KeyProvider | None = None,
    ) -> None:
        self.storage = storage
        self.url = url
        self.event_types = event_types
        self.max_event_size = max_event_size
        self._signer = None if signing_key is None else signing_key.sign
        if signing_key is not None and not storage.signs_batches:
            raise InvalidSigningKey(f"the backend of {url} does not store batch signatures")
        self.key_provider = key_provider
        self._settings: dict[str, EncryptionSettings | None] = {}
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

    def create_database(
        self,
        name: str,
        *,
        encrypted: bool = False,
        key_scope: str = "stream",
        encrypt_metadata: bool = False,
    ) -> Database:
        """Create a database; :class:`DatabaseExists` if it exists already.

        ``encrypted=True`` seals every payload on the client before it is hashed and
        stored, under data keys wrapped by the store's master key (``keyfile=`` of
        :func:`open`); :class:`KeyRequired` without one. ``key_scope`` gives events their
        key scope, the unit :meth:`Database.forget` forgets: ``"stream"`` (a key per
        stream) or a regular expression whose group picks the scope out of stream names
        (``r"^[^-]+-(?P<scope>c\\d+)"`` gives ``Order-c42-7`` the scope ``c42``).
        ``encrypt_metadata`` seals metadata too. See docs/encryption.md.
        """
        self._check_open()
        check_database_name(name)
        if not isinstance(encrypted, bool):
            raise InvalidInput(f"encrypted must be True or False, not {encrypted!r}")
        if not encrypted:
            if key_scope != "stream" or encrypt_metadata:
                raise InvalidInput("key_scope and encrypt_metadata need encrypted=True")
            self.storage.create_database(name)
            return self.database(name)
        settings = EncryptionSettings(key_scope, encrypt_metadata)
        provider = self.key_provider
        if provider is None:
            raise KeyRequired(
                "an encrypted database needs a master key: open the store with keyfile= "
                "(or $SAFE_EVENTSTORE_KEYFILE); safe-eventstore keys init makes one"
            )
        check = provider.wrap(new_data_key(), key_context(CHECK_SCOPE))
        self.storage.create_database_with(name, settings.to_dict())
        self.storage.add_key(name, CHECK_SCOPE, check)
        return self.database(name)

    def encryption(self, name: str) -> EncryptionSettings | None:
        """How database ``name`` is encrypted; ``None`` when it is not."""
        self._check_open()
        if name not in self._settings:
            if not self.storage.has_database(check_database_name(name)):
                raise DatabaseNotFound(f"no database {name!r} in {self.url}")
            stored = self.storage.database_settings(name)
            self._settings[name] = EncryptionSettings.from_dict(stored)
        return self._settings[name]

    def rotate_master_key(self, provider: KeyProvider) -> dict[str, int]:
        """Re-wrap the data keys of every encrypted database under a new master key (see
        :meth:`Database.rotate_master_key`); the store uses it from then on. Returns the
        number of keys re-wrapped in each encrypted database."""
        if not isinstance(provider, KeyProvider):
            raise InvalidInput(f"provider must be a KeyProvider, not {provider!r}")
        done: dict[str, int] = {}
        for name in self.list_databases():
            if self.encryption(name) is not None:
                db = self.database(name, without_key=True)  # the old key: KeyRequired at use
                done[name] = db.rotate_master_key(provider)
        self.key_provider = provider
        return done

    def list_databases(self) -> list[str]:
        """The names of the store's databases, sorted."""
        self._check_open()
        return self.storage.list_databases()

    def database(self, name: str, *, without_key: bool = False) -> Database:
        """A handle on an existing database; :class:`DatabaseNotFound` if there is none.

        An encrypted database needs the store's master key (``keyfile=`` of :func:`open`):
        without one this is :class:`KeyRequired`. ``without_key=True`` hands out the
        database anyway, for what needs no key (``verify``, ``stats``, listings, ``forget``);
        its reads and writes then raise :class:`KeyRequired`."""
        self._check_open()
        if not self.storage.has_database(check_database_name(name)):
            raise DatabaseNotFound(f"no database {name!r} in {self.url}")
        if not isinstance(without_key, bool):
            raise InvalidInput(f"without_key must be True or False, not {without_key!r}")
        provider = self.key_provider

        def load() -> Keyring | None:
            settings = self.encryption(name)
            return None if settings is None else Keyring(self.storage, name, settings, provider)

        try:
            keys = KeyHolder(load())
        except StorageError as exc:
            if isinstance(exc, NotSupported):
                raise
            keys = KeyHolder(None, load)  # a damaged file, a server away: at the first use
        else:
            if provider is None and not without_key and self._settings.get(name) is not None:
                raise KeyRequired(
                    f"database {name!r} is encrypted: open the store with its master key "
                    "(keyfile=, --keyfile or $SAFE_EVENTSTORE_KEYFILE), or pass "
                    "without_key=True for verify, stats and listings"
                )
        return Database(
            self.storage,
            name,
            event_types=self.event_types,
            max_event_size=self.max_event_size,
            signer=self._signer,
            keys=keys,
        )

    def register(self, cls: type, name: str | None = None) -> type:
        """Register a typed event class with this store's registry."""
        return self.event_types.register(cls, name)

    def close(self) -> None:
        """Close the store and its connections; a closed store raises ``StoreClosed``."""
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
    # the same check as the built-in factories' (the store never imports a backend's module)
    if options:
        raise InvalidURL(f"unknown store option(s): {', '.join(sorted(options))}")


# The entry points pyproject.toml declares, for a source tree run without installing it (or
# installed before they were declared); installed metadata always takes precedence.
_BUILT_IN = {
    "memory": "safe_eventstore.storage._factories:open_memory",
    "sqlite": "safe_eventstore.storage._factories:open_sqlite",
    "nats": "safe_eventstore.storage.nats:NatsStorage",
}


@functools.cache
def _installed_backends() -> dict[str, list[EntryPoint]]:
    found: dict[str, list[EntryPoint]] = {}
    for entry in entry_points(group=BACKENDS_GROUP):
        same = found.setdefault(entry.name.lower(), [])
        if all(e.value != entry.value for e in same):
            same.append(entry)
    for name, value in _BUILT_IN.items():
        found.setdefault(name, [EntryPoint(name, value, BACKENDS_GROUP)])
    return found


def backend_schemes() -> list[str]:
    """The URL schemes of the installed backends (entry points ``safe_eventstore.backends``)."""
    return sorted(_installed_backends())


def _backend(scheme: str, url: str) -> EntryPoint:
    entries = _installed_backends().get(scheme)
    if entries is None:  # installed since the last look?
        _installed_backends.cache_clear()
        entries = _installed_backends().get(scheme)
    if entries is None:
        known = ", ".join(f"{s}://" for s in backend_schemes()) or "none"
        raise InvalidURL(
            f"unknown store URL scheme {scheme!r} in {url!r}: the installed backends are {known}"
        )
    if len(entries) > 1:
        claims = "; ".join(f"{e.value} ({e.dist.name if e.dist else '?'})" for e in entries)
        raise InvalidURL(f"several installed backends claim {scheme}://: {claims}")
    return entries[0]


def _load(entry: EntryPoint, scheme: str) -> Any:
    try:
        return entry.load()
    except ImportError as exc:
        raise InvalidURL(f"{_missing(entry, scheme)} ({exc})") from None
    except Exception as exc:  # a broken backend: say which one
        raise StorageError(f"the {scheme}:// backend ({entry.value}) fails to load: {exc}") from exc


def _missing(entry: EntryPoint, scheme: str) -> str:
    """What to install for a backend whose import failed: its distribution's extra named
    after the scheme, when it declares one."""
    if entry.dist is None:  # a built-in backend from a source tree
        name, extras = "safe-eventstore", ["nats"]
    else:
        name, extras = entry.dist.name, entry.dist.metadata.get_all("Provides-Extra") or []
    if scheme in extras:
        return f"{scheme}:// needs the {scheme} extra: pip install '{name}[{scheme}]'"
    return f"{scheme}:// needs a module that is not installed"


def open_storage(url: str, options: dict[str, Any]) -> Storage:
    """Make the storage a URL names, taking the options it understands out of ``options``.

    The backend is the entry point of group ``safe_eventstore.backends`` named after the
    URL's scheme (a plain path is ``sqlite://``). It names a factory called with the URL and
    the options, or a :class:`Storage` class with a ``from_url(url, options)`` classmethod.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        scheme, url = "sqlite", f"sqlite://{url}"  # a plain path
    scheme = scheme.lower()
    factory = _load(_backend(scheme, url), scheme)
    if isinstance(factory, type) and hasattr(factory, "from_url"):
        factory = factory.from_url
    storage = factory(url, options)
    if not isinstance(storage, Storage):
        raise StorageError(f"the {scheme}:// backend made {storage!r}, not a Storage")
    return storage


def open(url: str | None = None, **options: Any) -> Store:
    """Open a store.

    With no URL: the one in ``$SAFE_EVENTSTORE_URL``, else an embedded SQLite store in
    ``./safe-eventstore-data``. URLs: ``sqlite:///abs/dir`` (or a plain path),
    ``memory://``, ``nats://host:port``. Options (keywords or URL query): ``durability``
    (``"full"``, the default, or ``"relaxed"``), ``lock_timeout`` (SQLite: seconds a write
    waits for another process's lock, default 60), ``max_event_size`` in bytes,
    ``signing_key`` (the path of an Ed25519 private key in PEM, or the key: every append is
    then signed, see :func:`create_signing_key`; default: the file named by
    ``$SAFE_EVENTSTORE_SIGNING_KEY``, else no signing; memory and SQLite stores only).

    Encrypted databases need the master key: ``keyfile=`` (a file made by
    ``safe-eventstore keys init``; by default the one ``$SAFE_EVENTSTORE_KEYFILE`` names) or
    ``key_provider=`` (a :class:`KeyProvider`, for a KMS). A key file that is missing or
    malformed is refused with :class:`InvalidKeyFile`.

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
    key = signing_key_of(merged.pop("signing_key", None))
    provider = _key_provider(merged.pop("keyfile", None), merged.pop("key_provider", None))
    storage = open_storage(url, merged)
    if merged:
        storage.close()
        _refuse_unknown(merged)
    try:
        return Store(
            storage,
            url=url.split("?", 1)[0],
            event_types=registry,
            max_event_size=max_size,
            signing_key=key,
            key_provider=provider,
        )
    except InvalidSigningKey:
        storage.close()
        raise


def _key_provider(keyfile: object, provider: object) -> KeyProvider | None:
    """The master key: a provider given, else the key file given, else the one
    ``$SAFE_EVENTSTORE_KEYFILE`` names, else none (plain databases need none)."""
    if provider is not None:
        if keyfile is not None:
            raise InvalidInput("give keyfile= or key_provider=, not both")
        if not isinstance(provider, KeyProvider):
            raise InvalidInput(f"key_provider must be a KeyProvider, not {provider!r}")
        return provider
    if keyfile is None:
        keyfile = os.environ.get(KEYFILE_VARIABLE) or None
    if keyfile is None:
        return None
    if not isinstance(keyfile, str | os.PathLike):
        raise InvalidInput(f"keyfile must be a path, not {keyfile!r}")
    return FileKeyProvider(keyfile)
