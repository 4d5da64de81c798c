"""Signing what the writer commits, and checking it: Ed25519 keys from the caller.

A store opened with a signing key (``ses.open(..., signing_key=PATH or key)``, or a path in
``$SAFE_EVENTSTORE_SIGNING_KEY``) signs each append's new stream heads inside the backend's
atomic step (``storage/_signatures.py``). ``verify(public_key=...)`` then walks the chain of
signatures and compares every stream's head with the last head signed for it
(:func:`check_signatures`); docs/tamper-evidence.md says what that covers and what not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._exceptions import InvalidSigningKey
from ._model import Problem, VerifyReport
from .storage._signatures import SignedHead, decode_statement, digest
from .storage.base import BatchSignature, Head, Storage

__all__ = [
    "SIGNING_KEY_VARIABLE",
    "check_signatures",
    "create_signing_key",
    "public_key_of",
    "signing_key_of",
]

SIGNING_KEY_VARIABLE = "SAFE_EVENTSTORE_SIGNING_KEY"
PAGE = 1000


def _read(path: object, what: str) -> bytes:
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise InvalidSigningKey(f"{what} must be a file path or a key object, not {path!r}")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidSigningKey(f"cannot read {what} {path}: {exc.strerror}") from None


def signing_key_of(value: Any) -> Ed25519PrivateKey | None:
    """The private key a store signs with: ``value`` (a key, or the path of a PEM file),
    else the file named by ``$SAFE_EVENTSTORE_SIGNING_KEY``, else ``None`` (no signing)."""
    if value is None:
        value = os.environ.get(SIGNING_KEY_VARIABLE) or None
        if value is None:
            return None
    if isinstance(value, Ed25519PrivateKey):
        return value
    data = _read(value, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidSigningKey(f"{value} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidSigningKey(f"{value} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def public_key_of(value: Any) -> Ed25519PublicKey:
    """The public key ``verify`` checks with: a key, raw 32 bytes, or a PEM file's path."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, Ed25519PrivateKey):
        return value.public_key()
    if isinstance(value, bytes) and len(value) == 32:
        return Ed25519PublicKey.from_public_bytes(value)
    data = _read(value, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidSigningKey(f"{value} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidSigningKey(f"{value} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def create_signing_key(path: str | os.PathLike[str]) -> bytes:
    """Make a new Ed25519 signing key: the private key in ``path`` (PEM, readable by its
    owner only; an existing file is never overwritten) and the public key beside it in
    ``path + ".pub"``. Returns the public key (PEM). Keep the private key away from the
    store's files: whoever holds both could sign a rewritten history.

    ::

        public_pem = ses.create_signing_key("/etc/bank/signing.pem")
        store = ses.open("/var/lib/bank", signing_key="/etc/bank/signing.pem")
    """
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidSigningKey(f"{target} exists: a signing key is never overwritten") from None
    except OSError as exc:
        raise InvalidSigningKey(f"cannot write {target}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(private)
        out.flush()
        os.fsync(out.fileno())
    Path(f"{target}.pub").write_bytes(public)
    return public


class _Chain:
    """Where the walk along a database's signatures has got to."""

    def __init__(self) -> None:
        self.previous: BatchSignature | None = None
        self.first_position: int | None = None
        self.heads: dict[str, SignedHead] = {}


def check_signatures(
    storage: Storage,
    db: str,
    key: Ed25519PublicKey,
    heads: dict[str, Head | None],
    report: VerifyReport,
) -> None:
    """Check every batch signature of ``db`` and each stream head (``heads``, as stored)
    against the last head signed for its stream; findings go to ``report``."""
    chain = _Chain()
    after = 0
    while True:
        page = storage.read_signatures(db, after=after, limit=PAGE)
        for signature in page:
            _check_one(signature, db, key, chain, report)
        if len(page) < PAGE:
            break
        after = page[-1].position
    problems = report.problems
    if chain.previous is None:
        problems.append(
            Problem(None, None, "no signed batches: written without the signing key, or the "
                    "signatures were removed")
        )  # fmt: skip
        return
    for stream, head in heads.items():
        signed = chain.heads.get(stream)
        if head is None:
            continue  # reported by the walk of the chain already
        if signed is None:
            if chain.first_position is not None and head.position < chain.first_position:
                report.unsigned_streams += 1  # last written before signing began
            else:
                problems.append(Problem(stream, head.seq, "stream head is not signed"))
        elif (head.seq, head.hash.hex(), head.position) != (
            signed.seq,
            signed.hash,
            signed.position,
        ):
            problems.append(
                Problem(
                    stream,
                    head.seq,
                    f"stream head is not the one last signed (seq {signed.seq} at position "
                    f"{signed.position}): rewritten, rolled back or appended without the key",
                )
            )
    for stream in sorted(chain.heads.keys() - heads.keys()):
        problems.append(Problem(stream, None, "a signed stream is missing"))


def _check_before(head: SignedHead, chain: _Chain, report: VerifyReport) -> None:
    """A signed append must have been sealed on the head signed last for its stream: else
    the stream was rewritten, or appended to without the key, between the two."""
    last = chain.heads.get(head.stream)
    if last is not None:
        if head.before != (last.seq, last.hash, last.position):
            report.problems.append(
                Problem(
                    head.stream,
                    head.seq,
                    f"signed on a head that is not the one signed before it (seq {last.seq} at "
                    f"position {last.position}): rewritten or appended without the key between",
                )
            )
    elif head.before is not None and chain.first_position is not None:
        if head.before[2] > chain.first_position:
            report.problems.append(
                Problem(
                    head.stream,
                    head.seq,
                    "signed on an unsigned head written after signing began",
                )
            )


def _check_one(
    signature: BatchSignature,
    db: str,
    key: Ed25519PublicKey,
    chain: _Chain,
    report: VerifyReport,
) -> None:
    def problem(message: str) -> None:
        report.problems.append(Problem(None, None, f"signature at position {at}: {message}"))

    at = signature.position
    previous, chain.previous = chain.previous, signature
    if chain.first_position is None:
        chain.first_position = at
    try:
        key.verify(signature.signature, signature.statement)
    except InvalidSignature:
        problem("does not verify (forged, altered, or made with another key)")
        return
    statement = decode_statement(signature.statement)
    if statement is None:
        problem("signs something that is not a batch statement")
        return
    report.signatures += 1
    expected = None if previous is None else digest(previous.statement).hex()
    if statement.previous != expected:
        problem("does not follow the signature before it (signed batches removed?)")
    if statement.db != db:
        problem(f"was made for database {statement.db!r}")
    if not statement.heads or max(h.position for h in statement.heads) != at:
        problem("is stored at a position its batch does not end at")
    for head in statement.heads:
        _check_before(head, chain, report)
        chain.heads[head.stream] = head
    report.signed_position = max(report.signed_position, at)
