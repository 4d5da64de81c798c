"""Batch signatures: what a backend stores beside an append whose writer signs.

A signing writer hands :meth:`Storage.append_signed` a ``signer`` (a function from bytes to
an Ed25519 signature; the backend never sees the key). Inside the append's atomic step, once
the entries have their positions, :func:`~safe_eventstore.storage.base.run_append` builds
the batch's :class:`Statement`: the database, the new head of each stream it wrote (seq,
hash, position, and the head it was sealed on) and the digest of the statement signed
before it in the database (so the signatures form one chain: one removed from the middle
breaks it), and the backend stores it with its signature in the same step as the entries.
``verify`` with the public key walks that chain and compares every stream's head with the
last head signed for it.
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import sha256

import msgspec

__all__ = [
    "STATEMENT_KIND",
    "BatchSignature",
    "SignedHead",
    "Signer",
    "Statement",
    "decode_statement",
    "digest",
    "encode_statement",
]

#: what a statement is, inside it: a signature over these bytes means nothing else
STATEMENT_KIND = "safe-eventstore/batch-heads/1"

Signer = Callable[[bytes], bytes]


class SignedHead(msgspec.Struct, array_like=True, frozen=True):
    """A stream's head after a batch: its last entry's seq, hash (hex) and position, and
    the head the batch was sealed on (``None`` for a new stream): a rewrite of the stream
    made before a signed append shows as a ``before`` that was never signed."""

    stream: str
    seq: int
    hash: str
    position: int
    before: tuple[int, str, int] | None = None


class Statement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a batch's signature covers (signed as its JSON encoding)."""

    kind: str
    db: str
    previous: str | None  # the hex SHA-256 of the statement signed before, None for the first
    heads: list[SignedHead]


class BatchSignature(msgspec.Struct, frozen=True):
    """A stored signature: the batch's last position, the statement and its signature."""

    position: int
    statement: bytes
    signature: bytes


def digest(statement: bytes) -> bytes:
    return sha256(statement).digest()


def encode_statement(db: str, previous: BatchSignature | None, heads: list[SignedHead]) -> bytes:
    before = None if previous is None else digest(previous.statement).hex()
    return msgspec.json.encode(Statement(STATEMENT_KIND, db, before, heads))


_decoder = msgspec.json.Decoder(Statement)


def decode_statement(data: bytes) -> Statement | None:
    """The statement, or ``None`` when the bytes are not one."""
    try:
        statement = _decoder.decode(data)
    except msgspec.DecodeError:
        return None
    return statement if statement.kind == STATEMENT_KIND else None
