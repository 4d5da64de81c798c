"""The append sequence every backend with an atomic step shares: :func:`run_append` drives a
backend's :class:`Transaction` (re-exported by :mod:`.base`, where the storage contract is)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from .._model import AppendCondition, AppendResult, Query
from ._signatures import BatchSignature, SignedHead, Signer, encode_statement
from .base import (
    EVENT,
    Entry,
    Head,
    Write,
    check_checkpoint,
    check_condition,
    plan_append,
    result_of,
    retried,
)

__all__ = ["Transaction", "run_append"]


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


def run_append(
    tx: Transaction,
    writes: list[Write],
    blobs: dict[bytes, bytes],
    checkpoint: tuple[str, int] | None,
    condition: AppendCondition | None,
    *,
    signer: Signer | None = None,
    db: str = "",
) -> list[AppendResult]:
    """The append sequence of :meth:`Storage.append`, run inside a backend's atomic step:
    each write's head and repeated event ids, :func:`plan_append`, the idempotent-retry
    short cut, the condition, the checkpoint, then the stores and the results. Raises
    (having stored nothing) when a check fails. With a ``signer``, the new heads of the
    streams written are signed and stored with them (database ``db``: see
    :mod:`._signatures`)."""
    heads: list[Head | None] = []
    plans: list[AppendResult | list[Entry]] = []
    for w in writes:
        head = tx.head(w.stream)
        existing: list[Entry] = []
        if head is not None and not w.new_ids:  # no retry looks up a generated id
            ids = [d.event_id for d in w.drafts if d.kind == EVENT]
            if ids:
                existing = tx.existing(w.stream, ids)
        heads.append(head)
        plans.append(plan_append(w.stream, head, w.expected, w.drafts, existing))
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
            last = plan[-1]
            before = None if head is None else (head.seq, head.hash.hex(), head.position)
            signed.append(SignedHead(w.stream, last.seq, last.hash.hex(), last.position, before))
    if signer is not None and signed:
        statement = encode_statement(db, tx.last_signature(), signed)
        position = max(h.position for h in signed)
        tx.store_signature(BatchSignature(position, statement, signer(statement)))
    tx.finish(blobs, checkpoint)
    return results
