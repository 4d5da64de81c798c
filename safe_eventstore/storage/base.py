"""The storage contract every backend implements.

Backends store entries and payload blobs and keep order; they know nothing of event
classes, codecs or restructure semantics. The few rules that must run inside a backend's
atomic step (the expected-version check, idempotent retries, sealing the hash chain) live
here once, as :func:`plan_append`.

The whole append sequence is part of the contract too, as :func:`run_append` (written in
:mod:`._sequence`, re-exported here): it drives a backend's :class:`Transaction` (the
primitives of one atomic step: a stream's head, the stored entries of some event ids (or,
for a write retried by position, :func:`by_position`, at some versions), the first event a
query selects, a stored checkpoint, storing entries) through the heads,
:func:`plan_append`, the idempotent-retry short cut, the append condition, the checkpoint
and the results. A backend supplies only its atomic step (a lock, a write transaction) and
those primitives. So do the helpers that backends filtering in Python share:
:func:`page_after` (listing pages), :func:`read_all_filter` and :func:`take` (the selection
of ``read_all``) and :func:`statistics` (the mapping ``stats`` returns).
"""

from __future__ import annotations

import bisect
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

import msgspec

from .._codec import entry_hash
from .._exceptions import (
    AppendConditionFailed,
    CheckpointConflict,
    IdempotencyConflict,
    NotSupported,
    WrongExpectedVersion,
)
from .._model import ANY, NO_STREAM, STREAM_EXISTS, AppendCondition, AppendResult, Query
from .._names import category_of
from ._leases import LeaseRecord, LeaseStorage

__all__ = [
    "EVENT",
    "RESTRUCTURE",
    "BatchSignature",
    "Draft",
    "Entry",
    "Head",
    "LeaseRecord",
    "LeaseStorage",
    "Signer",
    "Storage",
    "Transaction",
    "Write",
    "by_position",
    "check_checkpoint",
    "check_condition",
    "check_version",
    "earlier",
    "event_ids",
    "indexed",
    "matches",
    "page_after",
    "placed",
    "plan_append",
    "read_all_filter",
    "result_of",
    "retried",
    "run_append",
    "statistics",
    "take",
]

T = TypeVar("T")

EVENT = 0
RESTRUCTURE = 1


class Draft(msgspec.Struct, gc=False):
    """An entry to store, before the backend gives it a place (a Struct, as ``Entry``)."""

    kind: int
    event_id: bytes
    type: str | None
    correlation_id: bytes | None
    causation_id: bytes | None
    timestamp: int  # microseconds since the Unix epoch, UTC
    metadata: bytes
    tags: tuple[str, ...]
    address: bytes | None
    codec: str | None
    size: int
    target: int | None = None  # the version a restructure entry restructures


class Write(msgspec.Struct):
    """One stream's part of an append: its drafts and the version it expects."""

    stream: str
    drafts: list[Draft]
    expected: int
    #: every event id was generated for this append (none came from the caller), so
    #: none can be stored yet and a backend may skip looking for an idempotent retry
    new_ids: bool = False
    #: every event id was made with its NewEvent (none came from the caller): with a
    #: concrete expected version, a retry of the same call is found by position
    #: (:func:`by_position`), and the ids need not be indexed (:func:`indexed`)
    made_ids: bool = False
    #: the drafts, not made yet (``drafts`` is empty): only a backend that says it takes
    #: such writes (:attr:`Storage.drafts_later`) is given one, and calls it (once it
    #: succeeds, setting ``drafts`` and clearing this) before it reads the drafts. It
    #: raises what checking an event raises (``InvalidEvent``, ``EventTooLarge``), and
    #: stores nothing; the append fails with that error, alone
    later: Callable[[], list[Draft]] | None = None


class Entry(msgspec.Struct, gc=False, array_like=True):
    """A stored entry: one line of a stream's hash-chained raw history.

    A msgspec Struct (built in C; reads make one per entry) outside the cyclic garbage
    collector: it holds only strings, numbers, bytes and a tuple of strings, so it can never
    be part of a reference cycle. Encoded as an array of its fields in order, it is the
    record an SQLite entry row keeps (schema 8): a new field goes last, with a default, so
    that records written before still decode.
    """

    stream: str
    seq: int
    version: int
    position: int
    kind: int
    event_id: bytes
    type: str | None
    correlation_id: bytes | None
    causation_id: bytes | None
    timestamp: int
    metadata: bytes
    tags: tuple[str, ...]
    address: bytes | None
    codec: str | None
    payload: bytes | None = None
    # Last, with defaults: what only verification reads (a read that decodes events leaves
    # them out of its rows, which makes each row three columns shorter).
    size: int = 0
    prev_hash: bytes | None = None
    hash: bytes = b""

    def chained_fields(self) -> tuple[Any, ...]:
        return chained_fields(self.prev_hash, self.stream, self.seq, self.version, self)


class Head(msgspec.Struct, frozen=True, gc=False):
    """The tail of a stream: its last entry's seq and hash, and its last event version."""

    seq: int
    version: int
    hash: bytes
    position: int


def chained_fields(
    prev_hash: bytes | None, stream: str, seq: int, version: int, d: Draft | Entry
) -> tuple[Any, ...]:
    return (
        prev_hash,
        stream,
        seq,
        version,
        d.kind,
        d.event_id,
        d.type,
        d.correlation_id,
        d.causation_id,
        d.timestamp,
        d.metadata,
        d.tags,  # a tuple and a list encode as the same MessagePack array
        d.address,
        d.codec,
        d.size,
    )


def plan_append(
    stream: str,
    head: Head | None,
    expected: int,
    drafts: list[Draft],
    existing: list[Entry],
) -> AppendResult | list[Entry]:
    """Decide an append inside the backend's atomic step.

    ``existing`` are the stream's entries whose event ids occur in ``drafts``. Returns the
    original result of an idempotent retry, or the sealed entries to write (their
    positions still 0, for the backend to assign in order). Raises the typed error of a
    conflicting retry or a wrong expected version.
    """
    if existing:
        events = [d for d in drafts if d.kind == EVENT]
        if len(existing) != len(events):
            raise IdempotencyConflict(
                f"stream {stream!r}: {len(existing)} of the batch's {len(events)} event ids "
                "are already stored; retry the whole batch or none of it"
            )
        return AppendResult(
            min(e.version for e in existing),
            max(e.version for e in existing),
            max(e.position for e in existing),
        )
    check_version(stream, head, expected)
    seq = head.seq if head is not None else -1
    version = head.version if head is not None else -1
    prev = head.hash if head is not None else None
    sealed: list[Entry] = []
    for d in drafts:
        seq += 1
        if d.kind == EVENT:
            version += 1
            v = version
        else:
            assert d.target is not None
            v = d.target
        h = entry_hash(chained_fields(prev, stream, seq, v, d))
        sealed.append(
            Entry(
                stream, seq, v, 0, d.kind, d.event_id, d.type, d.correlation_id,
                d.causation_id, d.timestamp, d.metadata, d.tags, d.address, d.codec, None,
                d.size, prev, h,
            )
        )  # fmt: skip
        prev = h
    return sealed


def check_version(stream: str, head: Head | None, expected: int) -> None:
    """Raise :class:`WrongExpectedVersion` unless the stream (``head``) is at ``expected``."""
    actual = head.version if head is not None and head.version >= 0 else None
    if expected == NO_STREAM:
        ok = actual is None
    elif expected == STREAM_EXISTS:
        ok = actual is not None
    elif expected == ANY:
        ok = True
    else:
        ok = actual == expected
    if not ok:
        raise WrongExpectedVersion(stream, expected, actual)


def by_position(write: Write) -> bool:
    """Whether a retry of ``write`` is recognised by the place its events would take.

    A write whose event ids were all made with their events (``made_ids``) and whose
    expected version ``E`` is concrete (a version, or ``NO_STREAM``) can be stored only
    where the stream is at ``E``: its events then take versions ``E+1`` to ``E+n``. A retry
    of the same call carries the same events and the same ``E``, so its earlier attempt, if
    it was stored, is there and nowhere else (:meth:`Transaction.at_versions`), and no
    index of event ids is needed to find it. Every other write is looked up by event id.
    """
    return write.made_ids and write.expected >= NO_STREAM


def indexed(write: Write) -> bool:
    """Whether a backend keeps ``write``'s event ids where :meth:`Transaction.existing` (or
    a backend's own lookup by id) finds them: ids that came from the caller, and made ids
    that :func:`by_position` does not cover. Generated ids (``new_ids``) never are."""
    return not write.new_ids and not by_position(write)


def event_ids(write: Write) -> list[bytes]:
    """The event ids of ``write``'s event drafts, in order."""
    return [d.event_id for d in write.drafts if d.kind == EVENT]


def placed(ids: list[bytes], first: int, stored: Iterable[Entry]) -> list[Entry]:
    """Of ``stored`` (a stream's event entries), those at versions ``first`` on that carry
    the id at the same place of ``ids``: the entries a retry of a :func:`by_position`
    write finds. All of them make it a retry; some of them, an IdempotencyConflict in
    :func:`plan_append`; none, a wrong expected version."""
    last = first + len(ids)
    return [e for e in stored if first <= e.version < last and ids[e.version - first] == e.event_id]


def check_checkpoint(name: str, stored: int | None, position: int) -> None:
    """A checkpoint saved with an append must move forward: the rule that makes a tracked
    append (a process recording how far it got) happen at most once."""
    if stored is not None and stored >= position:
        raise CheckpointConflict(
            f"checkpoint {name!r} is at {stored}; an append may only move it forward "
            f"(to {position})"
        )


def matches(entry: Entry, query: Query) -> bool:
    """Whether a stored entry is an event selected by ``query`` (for backends that filter
    in Python; SQL backends translate the query instead)."""
    return entry.kind == EVENT and query.matches(entry.type, entry.tags)


def check_condition(condition: AppendCondition, match: Entry | None) -> None:
    """Fail an append whose condition found ``match``: the first event entry after
    ``condition.after`` selected by ``condition.fail_if_events_match``, or ``None``."""
    if match is not None:
        raise AppendConditionFailed(
            f"an event matching the append condition is stored at position {match.position} "
            f"(after {condition.after or 0})"
        )


def result_of(entries: list[Entry]) -> AppendResult:
    first, last = entries[0], entries[-1]
    if first.kind == EVENT and last.kind == EVENT:  # the usual case: events at both ends
        return AppendResult(first.version, last.version, last.position)
    events = [e for e in entries if e.kind == EVENT] or entries
    return AppendResult(events[0].version, events[-1].version, entries[-1].position)


def retried(plans: list[AppendResult | list[Entry]]) -> list[AppendResult] | None:
    """The original results when every write of an append is an idempotent retry (then
    nothing is stored, and the condition and checkpoint are left alone); else ``None``."""
    if plans and all(isinstance(p, AppendResult) for p in plans):
        return [p for p in plans if isinstance(p, AppendResult)]
    return None


def page_after(items: Sequence[T], after: T | None, limit: int) -> list[T]:
    """Up to ``limit`` of the sorted ``items`` that come after ``after`` (from the first
    when it is ``None``): one page of a listing."""
    start = bisect.bisect_right(cast("Sequence[Any]", items), after) if after is not None else 0
    return list(items[start : start + limit])


def read_all_filter(
    *,
    stream: str | None = None,
    category: str | None = None,
    types: tuple[str, ...] | None = None,
    restructures: bool = False,
) -> Callable[[Entry], bool]:
    """Whether an entry is one that :meth:`Storage.read_all` selects with these options
    (for backends that filter in Python; SQL backends translate them instead)."""
    wanted = None if types is None else frozenset(types)

    def keep(e: Entry) -> bool:
        if stream is not None and e.stream != stream:
            return False
        if category is not None and category_of(e.stream) != category:
            return False
        if e.kind != EVENT:
            return restructures
        return wanted is None or e.type in wanted

    return keep


def take(entries: Iterable[Entry], keep: Callable[[Entry], bool], limit: int) -> list[Entry]:
    """The first ``limit`` of ``entries`` that ``keep`` selects."""
    return list(itertools.islice(filter(keep, entries), max(limit, 0)))


def statistics(
    *,
    events: int,
    streams: int,
    restructures: int,
    payloads: int,
    logical_payload_bytes: int,
    stored_payload_bytes: int,
) -> dict[str, int]:
    """The mapping :meth:`Storage.stats` returns."""
    return {
        "events": int(events),
        "streams": int(streams),
        "restructures": int(restructures),
        "payloads": int(payloads),
        "logical_payload_bytes": int(logical_payload_bytes),
        "stored_payload_bytes": int(stored_payload_bytes),
    }


class Storage(LeaseStorage, ABC):
    """One store's storage: databases of entries, payload blobs, checkpoints and leases
    (the lease methods are :class:`LeaseStorage`'s, in :mod:`._leases`).

    Every method is thread-safe. ``append`` is one atomic step: the expected-version
    check, the idempotency check and the write happen together or not at all.
    """

    #: whether other processes may open the same store at once (a file, a server)
    shared_across_processes: bool = False
    #: whether the storage keeps batch signatures (:mod:`._signatures`): then it
    #: overrides :meth:`append_signed` and :meth:`read_signatures`
    signs_batches: bool = False
    #: whether one atomic batch may hold many thousands of entries; backends whose atomic
    #: batches are capped (NATS), and those that do not say, keep the default
    large_batches: bool = False
    #: whether :meth:`append` takes writes whose drafts are made later (:attr:`Write.later`)
    #: by the thread that stores them: a backend that commits the appends of many threads
    #: in one step makes their drafts there, one after another, instead of in each thread
    #: before it queues (docs/performance.md); the others keep the default
    drafts_later: bool = False
    #: called with a description of what is waited for (naming the file or server) when a
    #: write has waited about a second for a lock another process holds; the write goes on
    #: waiting (up to the backend's lock timeout). Set it to tell a user why nothing
    #: happens; backends without such locks never call it.
    on_lock_wait: Callable[[str], None] | None = None

    @abstractmethod
    def create_database(self, name: str) -> None: ...

    @abstractmethod
    def list_databases(self) -> list[str]: ...

    @abstractmethod
    def has_database(self, name: str) -> bool: ...

    @abstractmethod
    def append(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        checkpoint: tuple[str, int] | None = None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        """Store every write (each at the end of its stream, distinct streams) and ``blobs``
        by address, and move ``checkpoint`` forward if given: all in one atomic step.

        Each write is decided by :func:`plan_append`; a write that is an idempotent retry
        (found by event id, or by position for a :func:`by_position` write) returns its
        original result and stores nothing. When every write is a retry,
        nothing is stored and the checkpoint and condition are left alone. ``writes`` may
        be empty when a checkpoint is given: then only the checkpoint moves (forward).
        ``condition`` is checked in the same step, before anything is written: the first
        event entry after ``condition.after`` that :func:`matches` its query fails the
        append through :func:`check_condition`. The entries of one append take consecutive
        positions, in the order of ``writes``. Any error stores nothing.
        """

    @abstractmethod
    def head(self, db: str, stream: str) -> Head | None: ...

    @abstractmethod
    def read_stream(
        self, db: str, stream: str, *, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        """Up to ``limit`` event entries (not restructures) with their payloads.

        Entries read by ``read_stream``, ``read_all`` and ``read_query`` are for decoding
        events: a backend may leave out their chain fields (``prev_hash`` None, ``hash``
        empty, ``size`` 0). ``read_entries`` and ``restructures`` return complete entries.
        """

    @abstractmethod
    def read_entries(self, db: str, stream: str, *, from_seq: int, limit: int) -> list[Entry]:
        """Up to ``limit`` entries of every kind, in seq order, with their payloads."""

    @abstractmethod
    def read_all(
        self,
        db: str,
        *,
        from_position: int,
        limit: int,
        stream: str | None = None,
        category: str | None = None,
        types: tuple[str, ...] | None = None,
        restructures: bool = False,
        backwards: bool = False,
    ) -> list[Entry]:
        """Up to ``limit`` entries at ``from_position`` or later, in position order; with
        ``backwards``, at ``from_position`` or earlier, in descending position order.

        Event entries only, unless ``restructures`` asks for restructure entries too
        (``types`` then filters events only). :func:`read_all_filter` is the selection.
        """

    @abstractmethod
    def read_query(self, db: str, query: Query, *, from_position: int, limit: int) -> list[Entry]:
        """Up to ``limit`` event entries at ``from_position`` or later that :func:`matches`
        ``query`` selects, in position order, with their payloads (backends index tags)."""

    @abstractmethod
    def restructures(self, db: str, stream: str | None = None) -> list[Entry]:
        """Every restructure entry (of one stream, or of the database) in position order."""

    @abstractmethod
    def last_position(self, db: str) -> int:
        """The highest position in the database, 0 when it is empty."""

    @abstractmethod
    def list_categories(self, db: str) -> list[str]: ...

    @abstractmethod
    def list_streams(
        self, db: str, *, category: str | None, after: str | None, limit: int
    ) -> list[str]: ...

    @abstractmethod
    def read_blobs(self, db: str, *, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        """Stored payloads ``(address, bytes)`` in address order, for verification."""

    @abstractmethod
    def get_checkpoint(self, db: str, name: str) -> int | None: ...

    @abstractmethod
    def save_checkpoint(self, db: str, name: str, position: int) -> None: ...

    @abstractmethod
    def list_checkpoints(self, db: str) -> dict[str, int]:
        """Every stored checkpoint: its name and position, in name order."""

    @abstractmethod
    def delete_checkpoint(self, db: str, name: str) -> bool:
        """Forget a checkpoint (its subscriber then starts from the beginning); whether
        there was one. A checkpoint saved later with an append starts afresh."""

    @abstractmethod
    def wait(self, db: str, position: int, timeout: float) -> bool:
        """Block until the database may hold an entry after ``position`` or ``timeout``
        seconds pass; returns whether it does. Woken by the backend, never by a busy loop."""

    @abstractmethod
    def stats(self, db: str) -> dict[str, int]:
        """``events``, ``streams``, ``restructures``, ``payloads``,
        ``logical_payload_bytes`` and ``stored_payload_bytes``."""

    @abstractmethod
    def close(self) -> None: ...

    def append_signed(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        signer: Signer,
        checkpoint: tuple[str, int] | None = None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        """:meth:`append`, and sign the new heads of the streams it writes with ``signer``,
        storing the signature in the same atomic step (:func:`run_append` does both)."""
        raise NotImplementedError(f"{type(self).__name__} does not store batch signatures")

    def read_signatures(self, db: str, *, after: int, limit: int) -> list[BatchSignature]:
        """Up to ``limit`` stored batch signatures whose position is after ``after``, in
        position order (none from a backend that does not sign, or before any signer)."""
        return []

    # -- encrypted databases: settings and wrapped data keys (optional) -------------------
    #
    # A backend keeps a database's encryption settings and its scopes' wrapped data keys,
    # outside the append-only history, in a place where a delete really removes the bytes
    # (docs/encryption.md). It never sees a key it could use: only bytes wrapped by a
    # master key it does not hold. A backend without these methods refuses encrypted
    # databases with NotSupported; plain databases need none of them.

    def create_database_with(self, name: str, settings: dict[str, str]) -> None:
        """Create a database that keeps ``settings`` (strings), in one step with its
        creation: :class:`DatabaseExists` if it exists already."""
        raise NotSupported(f"{type(self).__name__} cannot keep encrypted databases")

    def database_settings(self, name: str) -> dict[str, str]:
        """The settings a database was created with (``{}`` for a plain database)."""
        return {}

    def add_key(self, db: str, scope: str, wrapped: bytes) -> bytes:
        """Store ``wrapped`` as the data key of ``scope`` unless one is stored already;
        return the one stored (the first writer's, when several race). A forgotten scope's
        is ``b""``: it is never replaced."""
        raise NotSupported(f"{type(self).__name__} cannot keep data keys")

    def read_keys(self, db: str, scopes: Iterable[str] | None = None) -> dict[str, bytes]:
        """The wrapped data keys of ``scopes`` (of every scope when ``None``); a scope with
        none is left out; a forgotten scope's key reads as ``b""``."""
        raise NotSupported(f"{type(self).__name__} cannot keep data keys")

    def replace_keys(self, db: str, wrapped: dict[str, bytes]) -> None:
        """Replace the wrapped keys of these (stored, not forgotten) scopes in one step,
        leaving no copy of the old ones in the backend's files (a master key rotation)."""
        raise NotSupported(f"{type(self).__name__} cannot keep data keys")

    def destroy_key(self, db: str, scope: str) -> bool:
        """Delete the data key of ``scope`` so that no file of the backend holds it any
        more, leaving ``b""`` in its place; whether there was one (not yet forgotten)."""
        raise NotSupported(f"{type(self).__name__} cannot keep data keys")


# the append sequence builds on the definitions above: imported last, and re-exported
from ._sequence import Transaction, earlier, run_append  # noqa: E402
from ._signatures import BatchSignature, Signer  # noqa: E402
