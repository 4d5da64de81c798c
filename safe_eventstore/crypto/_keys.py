"""Master keys: the key file, and the provider interface that wraps and unwraps data keys
(the file provider here; a KMS implements the same two methods)."""

from __future__ import annotations

import base64
import binascii
import os
from abc import ABC, abstractmethod
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._exceptions import InvalidKeyFile, WrongKey

__all__ = ["FileKeyProvider", "KeyProvider", "create_keyfile", "key_context"]

_HEADER = "safe-eventstore-master-key:1:"
_WRAPPED = b"\x01"  # the format of a data key wrapped by a file provider


def key_context(scope: str) -> bytes:
    """What a wrapped data key is bound to: its scope (a wrapped key moved to another scope
    does not unwrap)."""
    return b"safe-eventstore data key\0" + scope.encode()


class KeyProvider(ABC):
    """Holds a master key and wraps data keys with it; the store never sees the master key.

    A KMS provider implements these two methods with the KMS's encrypt and decrypt calls
    (``context`` is what AWS KMS calls an encryption context)::

        class KmsProvider(ses.KeyProvider):
            def wrap(self, key, context):
                return kms.encrypt(KeyId=ARN, Plaintext=key,
                                   EncryptionContext={"ses": context.hex()})["CiphertextBlob"]
            def unwrap(self, wrapped, context):
                ...
    """

    @abstractmethod
    def wrap(self, key: bytes, context: bytes) -> bytes:
        """``key`` encrypted under the master key, bound to ``context``."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """The key that :meth:`wrap` wrapped with this ``context``; :class:`WrongKey` when
        this master key did not wrap it (or the bytes were altered)."""


class FileKeyProvider(KeyProvider):
    """A master key read from a key file (made by ``safe-eventstore keys init``): 32 random
    bytes; data keys are wrapped with AES-256-GCM under it.

    A missing or malformed file is refused with :class:`InvalidKeyFile`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise InvalidKeyFile(f"no key file at {self.path}") from None
        except (OSError, UnicodeError) as exc:
            raise InvalidKeyFile(f"cannot read key file {self.path}: {exc}") from None
        if not text.startswith(_HEADER):
            raise InvalidKeyFile(f"{self.path} is not a SAFE EventStore key file")
        try:
            key = base64.urlsafe_b64decode(text[len(_HEADER) :])
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise InvalidKeyFile(f"{self.path}: the key is not 32 bytes of base64")
        self._gcm = AESGCM(key)

    def __repr__(self) -> str:
        return f"<FileKeyProvider {self.path}>"

    def wrap(self, key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return _WRAPPED + nonce + self._gcm.encrypt(nonce, key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        if wrapped[:1] != _WRAPPED:
            raise WrongKey("a wrapped key of an unknown format")
        try:
            return self._gcm.decrypt(wrapped[1:13], wrapped[13:], context)
        except (InvalidTag, ValueError):
            raise WrongKey(
                f"the master key in {self.path} does not open this database's keys"
            ) from None


def create_keyfile(path: str | os.PathLike[str]) -> Path:
    """Write a new random master key to ``path``, readable by its owner only (0600);
    :class:`InvalidKeyFile` if a file is there already (a key is never overwritten)."""
    target = Path(path)
    text = _HEADER + base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidKeyFile(f"{target} exists: a key file is never overwritten") from None
    except OSError as exc:
        raise InvalidKeyFile(f"cannot create key file {target}: {exc}") from None
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return target
