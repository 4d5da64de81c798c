"""The data keys of an encrypted database: found, made, cached, forgotten and re-wrapped.

A scope's data key is made by the first write to the scope, wrapped by the master key's
provider and stored by the backend (which keeps the first of two racing writers' keys).
Reads and writes unwrap it once and keep its cipher. Forgetting a scope records a
``ScopeForgotten`` event in the reserved stream ``$forgotten``, then has the backend destroy
the key; every read and write first looks at that stream's head, and drops the ciphers it
holds when it has moved, so a forget in another process takes effect here too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from ._exceptions import KeyRequired, ScopeForgotten, ScopeNotFound, WrongKey
from .crypto import (
    CHECK_SCOPE,
    FORGOTTEN_STREAM,
    EncryptionSettings,
    KeyProvider,
    ScopeCipher,
    check_scope,
    key_context,
    new_data_key,
)
from .storage.base import Storage

__all__ = ["KeyHolder", "Keyring"]

_EVENTS = "$events"
_ROTATION_PASSES = 3


class Keyring:
    """The keys of encrypted database ``db`` of ``storage``, under ``provider``'s master key
    (``None``: every use raises :class:`KeyRequired`)."""

    def __init__(
        self,
        storage: Storage,
        db: str,
        settings: EncryptionSettings,
        provider: KeyProvider | None,
    ) -> None:
        self.storage = storage
        self.db = db
        self.settings = settings
        self.encrypt_metadata = settings.encrypt_metadata
        self._provider = provider
        self._ciphers: dict[str, ScopeCipher | None] = {}  # None: forgotten
        # the hot paths look a stream's cipher up in one step (not for $events, whose
        # scope depends on each event's tags); None where it is forgotten or unknown
        self.openers: dict[str, Callable[[bytes], bytes] | None] = {}
        self.sealers: dict[str, Callable[[bytes], bytes]] = {}
        self._scopes: dict[str, str] = {}
        self._all_read = False
        self._forgotten_at = -2  # the seq of the $forgotten stream's head when last seen
        self._lock = threading.Lock()
        if provider is not None:
            self._check_master(provider)

    def _check_master(self, provider: KeyProvider) -> None:
        """Refuse a master key that is not the database's now, not at the first read."""
        context = key_context(CHECK_SCOPE)
        wrapped = self.storage.read_keys(self.db, [CHECK_SCOPE]).get(CHECK_SCOPE)
        if wrapped is None:  # a creation cut short before its check key was stored
            wrapped = self.storage.add_key(
                self.db, CHECK_SCOPE, provider.wrap(new_data_key(), context)
            )
        provider.unwrap(wrapped, context)

    @property
    def provider(self) -> KeyProvider:
        if self._provider is None:
            raise KeyRequired(
                f"database {self.db!r} is encrypted: open the store with its master key "
                "(keyfile=, key_provider= or $SAFE_EVENTSTORE_KEYFILE)"
            )
        return self._provider

    def refresh(self) -> None:
        """Drop the ciphers held when a scope was forgotten since the last look (once per
        read or write call)."""
        head = self.storage.head(self.db, FORGOTTEN_STREAM)
        at = -1 if head is None else head.seq
        if at != self._forgotten_at:
            with self._lock:
                self._ciphers = {}
                self.openers = {}
                self.sealers = {}
                self._all_read = False
                self._forgotten_at = at

    def scope_of(self, stream: str, tags: Sequence[str]) -> str:
        if stream == _EVENTS:
            return self.settings.scope_of(stream, tags)
        scope = self._scopes.get(stream)
        if scope is None:
            scope = self._scopes[stream] = self.settings.scope_of(stream, ())
        return scope

    def _unwrap(self, scope: str, wrapped: bytes) -> ScopeCipher:
        return ScopeCipher(self.provider.unwrap(wrapped, key_context(scope)))

    def opener(self, stream: str, tags: Sequence[str]) -> Callable[[bytes], bytes] | None:
        """How a payload of ``stream`` is opened; ``None`` when its scope is forgotten."""
        cipher = self.reading(self.scope_of(stream, tags))
        opener = None if cipher is None else cipher.open
        if stream != _EVENTS:
            self.openers[stream] = opener
        return opener

    def stream_cipher(self, stream: str) -> ScopeCipher | None:
        """The cipher of every payload of ``stream``; ``None`` when its scope is forgotten,
        and for ``$events``, whose events take their scopes from their tags."""
        if stream == _EVENTS:
            return None
        return self.reading(self.scope_of(stream, ()))

    def sealer(self, stream: str, tags: Sequence[str]) -> Callable[[bytes], bytes]:
        """How a payload of ``stream`` is sealed; :class:`ScopeForgotten` when its scope was
        forgotten."""
        sealer = self.writing(self.scope_of(stream, tags)).seal
        if stream != _EVENTS:
            self.sealers[stream] = sealer
        return sealer

    def reading(self, scope: str) -> ScopeCipher | None:
        """The cipher of ``scope``; ``None`` when its key was forgotten (or is missing)."""
        try:
            return self._ciphers[scope]
        except KeyError:
            pass
        provider = self.provider  # KeyRequired before any look-up
        if not self._all_read:
            # the first miss reads every wrapped key at once (unwrapped when first used)
            found = self.storage.read_keys(self.db)
            self._all_read = True
        else:
            found = self.storage.read_keys(self.db, [scope])
        wrapped = found.get(scope)
        if wrapped is None:
            return None  # no key stored: nothing of this scope can be read (not cached)
        cipher = ScopeCipher(provider.unwrap(wrapped, key_context(scope))) if wrapped else None
        self._ciphers[scope] = cipher
        return cipher

    def writing(self, scope: str) -> ScopeCipher:
        """The cipher of ``scope``, its key made now if it has none;
        :class:`ScopeForgotten` when it was forgotten."""
        cipher = self._ciphers.get(scope)
        if cipher is not None:
            return cipher
        provider = self.provider
        context = key_context(scope)
        wrapped = self.storage.read_keys(self.db, [scope]).get(scope)
        if wrapped is None:
            wrapped = self.storage.add_key(self.db, scope, provider.wrap(new_data_key(), context))
        if not wrapped:
            raise ScopeForgotten(
                f"key scope {scope!r} was forgotten: nothing more is written to it"
            )
        cipher = self._ciphers[scope] = ScopeCipher(provider.unwrap(wrapped, context))
        return cipher

    def check_forgettable(self, scope: object) -> str:
        """``scope`` when it has a key to forget; else the typed error, nothing changed."""
        name = check_scope(scope)
        self.provider  # noqa: B018 (forgetting needs the master key: KeyRequired first)
        wrapped = self.storage.read_keys(self.db, [name]).get(name)
        if wrapped is None:
            raise ScopeNotFound(f"no key scope {name!r} in database {self.db!r}")
        if not wrapped:
            raise ScopeForgotten(f"key scope {name!r} was forgotten already")
        return name

    def destroy(self, scope: str) -> None:
        self.storage.destroy_key(self.db, scope)
        with self._lock:
            self._ciphers = {scope: None}
            self.openers = {}
            self.sealers = {}

    def rotate(self, new: KeyProvider) -> int:
        """Re-wrap every data key of the database under ``new``; how many were re-wrapped.
        No event is rewritten. A key another process adds meanwhile under the old master
        key is re-wrapped by the next pass."""
        old = self.provider
        count = 0
        for _ in range(_ROTATION_PASSES):
            stale: dict[str, bytes] = {}
            for scope, wrapped in self.storage.read_keys(self.db).items():
                if not wrapped:
                    continue  # forgotten
                context = key_context(scope)
                try:
                    new.unwrap(wrapped, context)
                    continue  # re-wrapped already
                except WrongKey:
                    pass
                stale[scope] = new.wrap(old.unwrap(wrapped, context), context)
            if not stale:
                break
            self.storage.replace_keys(self.db, stale)
            count += len(stale)
        self._provider = new
        return count


class KeyHolder:
    """The keyring of one database handle, or ``None`` for a plain database. When the
    database's settings could not be read as the handle was made (a damaged file, a server
    away), ``load`` reads them at the first read or write instead, which then raises."""

    __slots__ = ("load", "ring")

    def __init__(
        self, ring: Keyring | None, load: Callable[[], Keyring | None] | None = None
    ) -> None:
        self.ring = ring
        self.load = load

    def get(self) -> Keyring | None:
        load = self.load
        if load is not None:
            self.ring = load()
            self.load = None
        return self.ring
