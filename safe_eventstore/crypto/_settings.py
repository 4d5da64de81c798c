"""The encryption settings of a database, fixed when it is created and kept by the backend,
and the rule that gives each event its key scope."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._exceptions import InvalidInput, StorageError
from .._names import check_name

__all__ = [
    "CHECK_SCOPE",
    "EVENTS_STREAM",
    "FORGOTTEN_STREAM",
    "FORGOTTEN_TYPE",
    "EncryptionSettings",
    "check_scope",
]

SCHEME = "aes-256-gcm+blake2b-nonce/1"
CHECK_SCOPE = "$master"  # a key wrapped at creation: tells a wrong master key at once
FORGOTTEN_STREAM = "$forgotten"
FORGOTTEN_TYPE = "ScopeForgotten"
EVENTS_STREAM = "$events"


def check_scope(scope: object) -> str:
    """A scope name given by a caller: the rules of stream names (no leading ``$``)."""
    return check_name(scope, "scope")


@dataclass(frozen=True)
class EncryptionSettings:
    """How a database is encrypted.

    ``key_scope`` is ``"stream"`` (a data key per stream) or a regular expression: the key
    scope of an event is the expression's group ``scope`` (else its first group, else the
    whole match) searched in the stream's name, ``Order-c42-7`` with ``r"-(c\\d+)"`` giving
    ``c42``; a stream it does not match has a scope of its own. Events appended without a
    stream take their scope from the first tag it matches (with ``"stream"``: their first
    tag), else ``$events``. ``encrypt_metadata`` seals each event's metadata too.
    """

    key_scope: str = "stream"
    encrypt_metadata: bool = False
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key_scope, str) or not self.key_scope:
            raise InvalidInput(
                f"key_scope must be 'stream' or a regular expression, not {self.key_scope!r}"
            )
        if not isinstance(self.encrypt_metadata, bool):
            raise InvalidInput("encrypt_metadata must be True or False")
        if self.key_scope != "stream":
            try:
                pattern = re.compile(self.key_scope)
            except re.error as exc:
                raise InvalidInput(f"key_scope is not a regular expression: {exc}") from None
            object.__setattr__(self, "_pattern", pattern)

    def to_dict(self) -> dict[str, str]:
        """The settings as the backend keeps them (strings)."""
        return {
            "encryption": SCHEME,
            "key_scope": self.key_scope,
            "metadata": "encrypted" if self.encrypt_metadata else "clear",
        }

    @classmethod
    def from_dict(cls, stored: dict[str, str]) -> EncryptionSettings | None:
        """The settings a backend kept; ``None`` for a database that is not encrypted."""
        scheme = stored.get("encryption")
        if scheme is None:
            return None
        if scheme != SCHEME:
            raise StorageError(f"unknown encryption scheme {scheme!r}")
        return cls(stored.get("key_scope", "stream"), stored.get("metadata") == "encrypted")

    def scope_of(self, stream: str, tags: Sequence[str]) -> str:
        """The key scope of an event of ``stream`` carrying ``tags``."""
        if stream == EVENTS_STREAM:
            for tag in tags:
                found = self._match(tag)
                if found is not None:
                    return found
            return EVENTS_STREAM
        if stream.startswith("$"):
            return stream
        found = self._match(stream)
        return stream if found is None else found

    def _match(self, name: str) -> str | None:
        pattern = self._pattern
        if pattern is None:
            return name
        m = pattern.search(name)
        if m is None:
            return None
        if "scope" in pattern.groupindex:
            found = m.group("scope")
        else:
            found = m.group(1) if pattern.groups else m.group(0)
        return found or None
