"""Verification: every stream's hash chain and head, and every payload's address, re-checked
from what the storage holds."""

from __future__ import annotations

from collections.abc import Callable
from hashlib import sha256
from typing import TYPE_CHECKING

from ._codec import address_of, entry_hash
from ._model import Problem, VerifyReport
from ._signing import check_signatures
from .storage.base import EVENT, Entry, Head, Storage, chained_fields

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["verify"]

PAGE = 1000


def verify(
    storage: Storage,
    db: str,
    public_key: Ed25519PublicKey | None = None,
    progress: Callable[[VerifyReport], None] | None = None,
) -> VerifyReport:
    """The findings of re-checking database ``db``: its streams, then its payloads, then
    that every stored entry belongs to a listed stream; with ``public_key``, then its
    batch signatures and every stream head against the last one signed. ``progress`` is
    called with the report so far after each stream and each page of payloads."""
    report = VerifyReport()
    heads: dict[str, Head | None] = {}
    after: str | None = None
    while True:
        names = storage.list_streams(db, category=None, after=after, limit=PAGE)
        for name in names:
            head = _verify_stream(storage, db, name, report)
            if public_key is not None:
                heads[name] = head
            if progress is not None:
                progress(report)
        if len(names) < PAGE:
            break
        after = names[-1]
    _verify_payloads(storage, db, report, progress)
    counts = storage.stats(db)
    stored = counts["events"] + counts["restructures"]
    if stored != report.entries:
        report.problems.append(
            Problem(None, None, f"{stored - report.entries} entries belong to no listed stream")
        )
    if public_key is not None:
        check_signatures(storage, db, public_key, heads, report)
    return report


def _verify_payloads(
    storage: Storage,
    db: str,
    report: VerifyReport,
    progress: Callable[[VerifyReport], None] | None,
) -> None:
    last: bytes | None = None
    while True:
        blobs = storage.read_blobs(db, after=last, limit=PAGE)
        for address, data in blobs:
            report.payloads += 1
            if address_of(data) != address:
                report.problems.append(
                    Problem(None, None, f"payload {address.hex()} does not match its address")
                )
        if progress is not None:
            progress(report)
        if len(blobs) < PAGE:
            break
        last = blobs[-1][0]


class _Walk:
    """Where a walk along one stream's entries has got to."""

    __slots__ = ("position", "prev", "seq", "version")

    def __init__(self) -> None:
        self.prev: bytes | None = None
        self.seq = 0
        self.version = -1
        self.position = 0


def _verify_stream(storage: Storage, db: str, stream: str, report: VerifyReport) -> Head | None:
    report.streams += 1
    walk = _Walk()
    while True:
        page = storage.read_entries(db, stream, from_seq=walk.seq, limit=PAGE)
        for e in page:
            report.entries += 1
            _verify_entry(stream, e, walk, report.problems)
        if len(page) < PAGE:
            break
    head = storage.head(db, stream)
    if (
        head is None
        or head.seq != walk.seq - 1
        or head.hash != walk.prev
        or head.version != walk.version
    ):
        report.problems.append(
            Problem(stream, None, "stream head does not match the last entry (entries removed?)")
        )
    return head


def _verify_entry(stream: str, e: Entry, walk: _Walk, problems: list[Problem]) -> None:
    def problem(message: str) -> None:
        problems.append(Problem(stream, e.seq, message))

    if e.seq != walk.seq:
        problems.append(
            Problem(stream, walk.seq, f"entry missing or out of order (found seq {e.seq})")
        )
        walk.seq = e.seq
    if e.prev_hash != walk.prev:
        problem("does not chain to the entry before it")
    if entry_hash(chained_fields(e.prev_hash, stream, e.seq, e.version, e)) != e.hash:
        problem("entry altered: its hash does not match")
    if e.kind == EVENT:
        if e.version != walk.version + 1:
            problem(f"version {e.version} out of order")
        walk.version = e.version
    elif not 0 <= e.version <= walk.version:
        problem("restructures a version not yet stored")
    if e.position <= walk.position:
        problem("position out of order")
    walk.position = e.position
    if e.address is not None:
        if e.payload is None:
            problem(f"payload {e.address.hex()} missing")
        elif sha256(e.payload).digest() != e.address:
            problem("payload does not match the entry's address")
    walk.prev = e.hash
    walk.seq += 1
