"""Client-side encryption at the encoding step: master keys and the providers that hold them,
the data keys of key scopes, and the ciphers that seal payloads and metadata.

Nothing here touches storage: the database layer hands sealed bytes to the backends, which
only ever see ciphertext, addresses and wrapped keys. See docs/encryption.md.
"""

from __future__ import annotations

from ._cipher import DATA_KEY_SIZE, ScopeCipher, new_data_key
from ._keys import FileKeyProvider, KeyProvider, create_keyfile, key_context
from ._settings import (
    CHECK_SCOPE,
    FORGOTTEN_STREAM,
    FORGOTTEN_TYPE,
    EncryptionSettings,
    check_scope,
)

__all__ = [
    "CHECK_SCOPE",
    "DATA_KEY_SIZE",
    "FORGOTTEN_STREAM",
    "FORGOTTEN_TYPE",
    "EncryptionSettings",
    "FileKeyProvider",
    "KeyProvider",
    "ScopeCipher",
    "check_scope",
    "create_keyfile",
    "key_context",
    "new_data_key",
]
