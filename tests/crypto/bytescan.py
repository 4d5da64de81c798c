"""Looking at the bytes a store leaves in its files: markers in the clear, wrapped keys, and
what every key still found there can decrypt."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import safe_eventstore as ses
from safe_eventstore.crypto import DATA_KEY_SIZE, key_context

WRAPPED_SIZE = 1 + 12 + DATA_KEY_SIZE + 16  # a file provider's wrapped data key


def files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            yield path


def found(directory: Path, needles: Iterable[bytes]) -> dict[str, list[str]]:
    """Which of ``needles`` occur in which file under ``directory``."""
    hits: dict[str, list[str]] = {}
    wanted = list(needles)
    for path in files(directory):
        data = path.read_bytes()
        for needle in wanted:
            if needle in data:
                hits.setdefault(needle.decode(errors="replace"), []).append(str(path))
    return hits


def recoverable_keys(
    directory: Path, provider: ses.FileKeyProvider, scopes: Iterable[str]
) -> dict[str, set[bytes]]:
    """Every data key that ``provider`` unwraps from any window of any file, by scope."""
    contexts = {scope: key_context(scope) for scope in scopes}
    keys: dict[str, set[bytes]] = {}
    for path in files(directory):
        data = path.read_bytes()
        start = data.find(b"\x01")
        while 0 <= start <= len(data) - WRAPPED_SIZE:
            window = data[start : start + WRAPPED_SIZE]
            for scope, context in contexts.items():
                try:
                    key = provider.unwrap(window, context)
                except ses.WrongKey:
                    continue
                keys.setdefault(scope, set()).add(key)
            start = data.find(b"\x01", start + 1)
    return keys


def opens(key: bytes, sealed: bytes) -> bool:
    """Whether a data key decrypts a sealed payload."""
    try:
        AESGCM(key[32:]).decrypt(sealed[:12], sealed[12:], None)
    except (InvalidTag, ValueError):
        return False
    return True
