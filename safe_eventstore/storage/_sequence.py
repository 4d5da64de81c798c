"""The append sequence every backend with an atomic step shares: :func:`run_append` drives a
backend's :class:`Transaction` (re-exported by :mod:`.base`, where the storage contract is)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from .._model import AppendCondition, AppendResult, Query
from ._signatures import BatchSignature, SignedHead, Signer, encode_statement
from .base import (
    Entry,
    Head,
    Write,
    by_position,
    check_checkpoint,
    check_condition,
    event_ids,
    placed,
    plan_append,
    result_of,
    retried,
)

__all__ = ["Transaction", "earlier", "run_append"]


class Transaction(ABC):
    """The primitives of one backend's atomic append step, driven by :func:`run_append`.

    Every method runs inside the step (under the backend's lock or write transaction), so
    what the reads return cannot change before the stores are done.
    """

    @abstractmethod
    def head(self, stream: str) -> Head | None:
        """The stream's head, or ``None`` when it has no entries."""

    @abstractmethod
    def existing(self, stream: str, event_ids: list[bytes]) -> list[Entry]:
        """The stream's stored event entries whose event ids are among ``event_ids``."""

    def at_versions(self, stream: str, first: int, event_ids: list[bytes]) -> list[Entry]:
        """The stream's stored event entries at versions ``first`` to
        ``first + len(event_ids) - 1`` that carry the id at the same place of ``event_ids``
        (:func:`placed`): where a retry of a :func:`by_position` write finds its earlier
        attempt. Called only when the stream's version is not the one the write expects.

        A backend that reads a stream by version overrides this, and then leaves the ids of
        such writes out of its index (:func:`indexed`). This default looks the ids up with
        :meth:`existing`, so it serves a backend that indexes every id that is not
        generated (``Write.new_ids``), as the contract asked before this method.
        """
        return placed(event_ids, first, self.existing(stream, event_ids))

    @abstractmethod
    def first_match(self, query: Query, from_position: int) -> Entry | None:
        """The first event entry at ``from_position`` or later that ``query`` selects."""

    @abstractmethod
    def checkpoint(self, name: str) -> int | None:
        """The stored checkpoint's position, ``None`` when there is none."""

    @abstractmethod
    def store(self, write: Write, entries: list[Entry], head: Head | None) -> None:
        """Give ``entries`` (sealed on ``head``) the next positions, in order, and store them."""

    @abstractmethod
    def finish(self, blobs: dict[bytes, bytes], checkpoint: tuple[str, int] | None) -> None:
        """Store the append's payloads (those not stored yet) and its checkpoint; called
        once per append that stores anything, after every :meth:`store`."""

    # A backend that stores batch signatures (``Storage.signs_batches``) implements these
    # two; the others are never asked to.
    def last_signature(self) -> BatchSignature | None:
        """The signature stored last in the database (this step's own included)."""
        raise NotImplementedError

    def store_signature(self, signature: BatchSignature) -> None:
        """Store the append's signature with its entries (called before :meth:`finish`)."""
        raise NotImplementedError

    # A backend that keeps documents (storage/documents.py) implements this one.
    def store_documents(self, documents: list[tuple[str, str, bytes | None]]) -> None:
        """Store the append's documents with its entries (called before :meth:`finish`)."""
        raise NotImplementedError


def run_append(
    tx: Transaction,
    writes: list[Write],
    blobs: dict[bytes, bytes],
    checkpoint: tuple[str, int] | None,
    condition: AppendCondition | None,
    *,
    signer: Signer | None = None,
    db: str = "",
    documents: list[tuple[str, str, bytes | None]] | None = None,
) -> list[AppendResult]:
    """The append sequence of :meth:`Storage.append`, run inside a backend's atomic step:
    each write's head and what an earlier attempt of it stored (by place for a
    :func:`by_position` write, else by event id), :func:`plan_append`, the idempotent-retry
    short cut, the condition, the checkpoint, then the stores (``documents`` too, if given)
    and the results. Raises
    (having stored nothing) when a check fails. With a ``signer``, the new heads of the
    streams written are signed and stored with them (database ``db``: see
    :mod:`._signatures`)."""
    if len(writes) == 1 and condition is None and checkpoint is None and signer is None:
        if not documents:
            return [_run_one(tx, writes[0], blobs)]
    heads: list[Head | None] = []
    plans: list[AppendResult | list[Entry]] = []
    for w in writes:
        head = tx.head(w.stream)
        heads.append(head)
        plans.append(plan_append(w.stream, head, w.expected, w.drafts, earlier(tx, w, head)))
    done = retried(plans)
    if done is not None:
        return done
    if condition is not None:
        match = tx.first_match(condition.fail_if_events_match, (condition.after or 0) + 1)
        check_condition(condition, match)
    if checkpoint is not None:
        check_checkpoint(checkpoint[0], tx.checkpoint(checkpoint[0]), checkpoint[1])
    results: list[AppendResult] = []
    signed: list[SignedHead] = []
    for w, head, plan in zip(writes, heads, plans, strict=True):
        if isinstance(plan, AppendResult):
            results.append(plan)
        else:
            tx.store(w, plan, head)
            results.append(result_of(plan))
            if signer is None:
                continue
            last = plan[-1]
            before = None if head is None else (head.seq, head.hash.hex(), head.position)
            signed.append(SignedHead(w.stream, last.seq, last.hash.hex(), last.position, before))
    if signed:
        assert signer is not None
        statement = encode_statement(db, tx.last_signature(), signed)
        position = max(h.position for h in signed)
        tx.store_signature(BatchSignature(position, statement, signer(statement)))
    if documents:
        tx.store_documents(documents)
    tx.finish(blobs, checkpoint)
    return results


def _run_one(tx: Transaction, w: Write, blobs: dict[bytes, bytes]) -> AppendResult:
    """:func:`run_append` for the usual append: one stream's write, nothing else with it."""
    head = tx.head(w.stream)
    plan = plan_append(w.stream, head, w.expected, w.drafts, earlier(tx, w, head))
    if isinstance(plan, AppendResult):
        return plan  # an idempotent retry
    tx.store(w, plan, head)
    tx.finish(blobs, None)
    return result_of(plan)


def earlier(tx: Transaction, w: Write, head: Head | None) -> list[Entry]:
    """What an earlier attempt of ``w`` stored: found by place for a :func:`by_position`
    write, else by event id; nothing when no retry can find anything."""
    if head is None or w.new_ids:  # no retry looks up a generated id
        return []
    if by_position(w):
        # at the expected version nothing of this write can be stored yet: the usual case
        # costs no read; past it, an earlier attempt sits right after that version
        if head.version > w.expected:
            return tx.at_versions(w.stream, w.expected + 1, event_ids(w))
        return []
    ids = event_ids(w)
    return tx.existing(w.stream, ids) if ids else []
