"""The cipher of one key scope: deterministic authenticated encryption of payloads (so equal
payloads of one scope are stored once), randomised encryption of metadata."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._exceptions import IntegrityError

__all__ = ["DATA_KEY_SIZE", "ScopeCipher", "new_data_key"]

DATA_KEY_SIZE = 64  # 32 bytes for the nonce's keyed BLAKE2b, 32 for AES-256-GCM
NONCE = 12
OVERHEAD = NONCE + 16  # nonce and tag
_METADATA = b"safe-eventstore metadata"


_blake2b = hashlib.blake2b


def new_data_key() -> bytes:
    """A fresh random data key for a scope."""
    return os.urandom(DATA_KEY_SIZE)


class ScopeCipher:
    """Seals and opens the payloads and metadata of one key scope.

    A payload's nonce is keyed BLAKE2b of the plaintext under the scope's own MAC key (a
    synthetic IV; keyed BLAKE2b is a MAC, and cheaper here than HMAC-SHA256): equal
    payloads of one scope give equal ciphertexts, so they are stored once; without the
    scope key nobody can compute a nonce, so nobody can confirm a guessed payload
    (docs/encryption.md). Metadata takes a random nonce: it is never deduplicated.
    """

    __slots__ = ("_gcm", "_mac", "open")

    open: Callable[[bytes], bytes]
    """The plaintext of a sealed payload; :class:`IntegrityError` when it fails its
    authentication (altered bytes, or a key that is not the one it was sealed with)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != DATA_KEY_SIZE:
            raise IntegrityError(f"a data key has {DATA_KEY_SIZE} bytes, not {len(key)}")
        self._mac = key[:32]
        self._gcm = AESGCM(key[32:])
        self.open = _opener(self._gcm.decrypt)

    def open_many(self, sealed: list[bytes | None]) -> list[bytes]:
        """The plaintexts of sealed payloads in order, up to the first that fails its
        authentication or is ``None``; opening that one alone tells why."""
        decrypt = self._gcm.decrypt
        try:
            # a page of payloads in one comprehension: no call of ours per payload (a None
            # fails the slicing with TypeError, and the loop below stops before it)
            return [decrypt(s[:NONCE], s[NONCE:], None) for s in sealed]  # type: ignore[index]
        except (InvalidTag, ValueError, TypeError):
            pass
        opened: list[bytes] = []
        for one in sealed:
            if one is None:
                break
            try:
                opened.append(decrypt(one[:NONCE], one[NONCE:], None))
            except (InvalidTag, ValueError):
                break
        return opened

    def seal(self, plaintext: bytes) -> bytes:
        nonce = _blake2b(plaintext, key=self._mac, digest_size=NONCE).digest()
        return nonce + self._gcm.encrypt(nonce, plaintext, None)

    def seal_metadata(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._gcm.encrypt(nonce, plaintext, _METADATA)

    def open_metadata(self, sealed: bytes) -> bytes:
        try:
            return self._gcm.decrypt(sealed[:NONCE], sealed[NONCE:], _METADATA)
        except (InvalidTag, ValueError):
            raise IntegrityError("sealed metadata fails its authentication") from None


def _opener(decrypt: Callable[[bytes, bytes, bytes | None], bytes]) -> Callable[[bytes], bytes]:
    # Reads open every payload: a closure over the bound ``decrypt`` spares each call the
    # attribute look-ups a method makes (docs/performance.md).
    def open_payload(sealed: bytes) -> bytes:
        try:
            return decrypt(sealed[:NONCE], sealed[NONCE:], None)
        except (InvalidTag, ValueError):
            raise IntegrityError("a sealed payload fails its authentication") from None

    return open_payload
