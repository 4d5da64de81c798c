"""A database: the public API over one storage namespace. Each concern lives in its own
module (writing, reading, verifying, checkpoints, subscriptions); this class checks the
arguments of the public calls and hands them on. The async API runs these same methods in
worker threads."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ._checkpoints import Checkpoints
from ._codec import EventTypes
from ._decoding import Decoder
from ._document_calls import Documents
from ._documents import DocumentPage, DocumentQuery
from ._exceptions import InvalidInput
from ._inputs import MAX_NUMBER, check_count, check_query, check_types, readable
from ._keyring import KeyHolder, Keyring
from ._leases import Lease, Leases
from ._model import (
    ANY,
    AppendCondition,
    AppendResult,
    NewEvent,
    Query,
    RecordedEvents,
    StreamAppend,
    StreamsPage,
    VerifyReport,
)
from ._names import check_name
from ._reading import Reader
from ._signing import public_key_of
from ._subscription import Subscription
from ._verifying import verify
from ._writing import Writer
from .crypto import KeyProvider
from .storage.base import Signer, Storage

__all__ = ["Database", "Subscription"]


class Database:
    """One database of a store: its streams, events, checkpoints and subscriptions.

    ::

        db = store.database("bank")
        db.append("Account-42", [ses.NewEvent("Deposited", {"amount": 100})],
                  expected_version=ses.NO_STREAM)
        for event in db.read_stream("Account-42"):
            print(event.version, event.type, event.data)
    """

    def __init__(
        self,
        storage: Storage,
        name: str,
        *,
        event_types: EventTypes,
        max_event_size: int,
        signer: Signer | None = None,
        keys: KeyHolder | None = None,
    ) -> None:
        self._storage = storage
        self.name = name
        self._keys = keys = keys or KeyHolder(None)
        self._writer = Writer(storage, name, event_types, max_event_size, signer, keys)
        self._reader = Reader(storage, name, Decoder(event_types, keys))
        self._checkpoints = Checkpoints(storage, name)
        self._leases = Leases(storage, name)

        self._documents = Documents(storage, name, keys)

    @property
    def encrypted(self) -> bool:
        """Whether the database's payloads are encrypted (chosen at its creation)."""
        return self._keys.get() is not None

    @property
    def large_batches(self) -> bool:
        """Whether one atomic batch may hold many thousands of events on this backend
        (SQLite and memory; not NATS, whose atomic batches are capped)."""
        return self._storage.large_batches

    def __repr__(self) -> str:
        return f"<Database {self.name!r}>"

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        stream: str,
        events: Iterable[NewEvent | Any],
        *,
        expected_version: int = ANY,
    ) -> AppendResult:
        """Append ``events`` to ``stream`` as one atomic batch.

        ``expected_version`` is the stream's last version (an int), ``NO_STREAM``,
        ``STREAM_EXISTS`` or ``ANY``; a mismatch raises :class:`WrongExpectedVersion` and
        writes nothing.

        Retrying is safe: a :class:`NewEvent` gets its ``event_id`` when it is made, so
        appending the same ``NewEvent`` objects again (after a timeout, say), when they are
        all stored already, returns the original result and writes nothing; some of them
        stored raises :class:`IdempotencyConflict`. Typed events and plain data given
        without a ``NewEvent`` (and a ``NewEvent`` made with ``event_id=None``) get a new
        id at each append, so a retry of those stores them again: wrap them in a
        ``NewEvent`` to retry safely. Ids taken from a read are keys only where the store
        did not make them at the append.
        """
        return self._writer.append(stream, events, expected_version)

    def append_batch(
        self,
        appends: Iterable[StreamAppend],
        *,
        checkpoint: tuple[str, int] | None = None,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> list[AppendResult]:
        """Append to several streams in one atomic batch: all or nothing.

        Each :class:`StreamAppend` keeps its own expected version. ``checkpoint=(name,
        position)`` stores a checkpoint in the same step; it must move forward, else
        :class:`CheckpointConflict` (so a process that records how far it got can never
        apply the same input twice). A retry with the same ``NewEvent`` objects is safe,
        as for :meth:`append`: it returns the original results, checkpoint untouched.

        ``documents={collection: {key: value}}`` stores (``None``: deletes) documents in
        the same step, replacing a key's earlier value: only where
        :attr:`supports_documents`, else :class:`NotSupported`.
        """
        rows = None if documents is None else self._documents.rows(documents)
        return self._writer.append_batch(appends, checkpoint, rows)

    def append_events(
        self,
        events: Iterable[NewEvent | Any],
        *,
        condition: AppendCondition | None = None,
    ) -> AppendResult:
        """Append events that belong to no stream, as one atomic batch (dynamic consistency
        boundaries: select them later by type and tag with :meth:`read_events`).

        With ``condition``, the append fails with :class:`AppendConditionFailed`, writing
        nothing, when an event selected by ``condition.fail_if_events_match`` is stored
        after position ``condition.after``. The check and the write are one atomic step.
        A retry with the same ``NewEvent`` objects (their ids made with them, all stored
        already) returns the original result, as for :meth:`append`, without checking the
        condition again. ``result.position`` is
        the position of the batch's last event.

        ::

            seen = db.read_events(ses.Query([ses.QueryItem(tags=["course-7"])]))
            db.append_events(
                [ses.NewEvent("StudentJoined", {...}, tags=("course-7", "student-3"))],
                condition=ses.AppendCondition(
                    ses.Query([ses.QueryItem(tags=["course-7"])]), after=last_seen
                ),
            )
        """
        return self._writer.append_events(events, condition)

    def restructure(
        self,
        stream: str,
        version: int,
        replacement: NewEvent | Any | None = None,
        *,
        reason: str,
        event_id: uuid.UUID | str | None = None,
        timestamp: datetime | None = None,
    ) -> AppendResult:
        """Replace (or, with no replacement, hide) an event in all reads from now on.

        The original stays in the stream's raw history (``read_stream(..., raw=True)``); a
        later restructure of the same version wins. ``event_id`` and ``timestamp`` set the
        hiding entry's own (an import restoring a backup gives them; a replacement carries
        its own in its ``NewEvent``).
        """
        return self._writer.restructure(stream, version, replacement, reason, event_id, timestamp)

    # -- reading ---------------------------------------------------------------------------

    def read_stream(
        self,
        stream: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        raw: bool = False,
    ) -> RecordedEvents:
        """Events of one stream in version order (newest first with ``backwards``).

        Restructures are applied; ``raw=True`` gives the stream's full history instead:
        originals and restructure entries, in the order they were stored, forwards only,
        from the entry of event ``from_version`` on. A stream that does not exist reads as
        empty. The reserved stream ``$events`` (events appended with :meth:`append_events`)
        can be read too.
        """
        readable(stream)
        check_count(from_version, "from_version")
        check_count(limit, "limit")
        reader = self._reader
        if raw:
            if backwards:
                raise InvalidInput("raw reads run forwards only")
            return RecordedEvents(lambda: reader.raw(stream, from_version or 0, limit))
        start = from_version if from_version is not None else (2**62 if backwards else 0)
        return RecordedEvents(lambda: reader.stream(stream, start, limit, backwards))

    def read_all(
        self,
        *,
        from_position: int | None = None,
        limit: int | None = None,
        types: Iterable[str] | None = None,
        backwards: bool = False,
    ) -> RecordedEvents:
        """Every event of the database in position order, from ``from_position`` (inclusive;
        by default the start). With ``backwards``, newest first, from ``from_position`` down
        (inclusive; by default the end). Restructures apply, and ``types`` filters by the
        type they give."""
        check_count(from_position, "from_position")
        check_count(limit, "limit")
        wanted = check_types(types)
        reader = self._reader
        return RecordedEvents(
            lambda: reader.scan(from_position, limit, backwards=backwards, types=wanted)
        )

    def read_category(
        self,
        category: str,
        *,
        from_position: int | None = None,
        limit: int | None = None,
        types: Iterable[str] | None = None,
        backwards: bool = False,
    ) -> RecordedEvents:
        """The events of every stream of one category, in position order (only those of the
        given ``types``, if any); newest first with ``backwards``, as :meth:`read_all`."""
        check_name(category, "category")
        check_count(from_position, "from_position")
        check_count(limit, "limit")
        wanted = check_types(types)
        reader = self._reader
        return RecordedEvents(
            lambda: reader.scan(
                from_position, limit, backwards=backwards, category=category, types=wanted
            )
        )

    def read_events(
        self, query: Query | None = None, *, after: int | None = None, limit: int | None = None
    ) -> RecordedEvents:
        """The events selected by ``query`` (every event without one), after position
        ``after``, in position order: events appended with :meth:`append_events` and the
        events of streams alike, since they share one global order. Restructures apply."""
        wanted = check_query(query)
        check_count(after, "after")
        check_count(limit, "limit")
        reader = self._reader
        return RecordedEvents(lambda: reader.query(wanted, after or 0, limit))

    def last_position(self) -> int:
        """The highest position in the database (of any entry), 0 when it is empty."""
        return self._storage.last_position(self.name)

    def stream_version(self, stream: str) -> int | None:
        """The stream's last version, or ``None`` when it has no events."""
        head = self._storage.head(self.name, readable(stream))
        return None if head is None else head.version

    def list_categories(self) -> list[str]:
        """Every category with at least one stream, in sorted order."""
        return self._storage.list_categories(self.name)

    def list_streams(
        self, category: str | None = None, *, after: str | None = None, limit: int = 100
    ) -> StreamsPage:
        """Stream names in sorted order, ``limit`` at a time (of one category, if given).

        The page is a list of names; its ``next_after`` is ``None`` when no stream follows
        it, else the value of ``after=`` that reads the next page::

            page = db.list_streams(limit=500)
            while page.next_after is not None:
                page = db.list_streams(after=page.next_after, limit=500)
        """
        if category is not None:
            check_name(category, "category")
        if after is not None and not isinstance(after, str):
            raise InvalidInput(f"after must be a stream name, not {after!r}")
        check_count(limit, "limit")
        # One name more than asked tells whether another page follows.
        asked = limit + 1 if limit < MAX_NUMBER else limit
        names = self._storage.list_streams(self.name, category=category, after=after, limit=asked)
        if len(names) <= limit:
            return StreamsPage(names)
        del names[limit:]
        return StreamsPage(names, next_after=names[-1] if names else after or "")

    # -- documents -------------------------------------------------------------------------

    @property
    def supports_documents(self) -> bool:
        """Whether the database keeps documents (``append_batch(documents=...)`` and the
        document queries): SQLite and memory do, NATS does not, and an encrypted database
        never does (documents are kept in plaintext)."""
        return self._documents.supported

    def declare_document_index(self, collection: str, fields: Iterable[str]) -> None:
        """Make ``collection`` queryable by ``fields`` (names, dotted for nested fields),
        adding to those declared before. On SQLite each field gets a real index. Refused on
        a database that does not :attr:`support documents <supports_documents>` with
        :class:`NotSupported`."""
        self._documents.declare(collection, fields)

    def document_indexes(self, collection: str) -> tuple[str, ...]:
        """The fields ``collection`` is queryable by, in name order (``()``: none)."""
        return self._documents.fields(collection)

    def get_document(self, collection: str, key: str) -> Any:
        """A document's value, or ``None`` when there is none."""
        return self._documents.get(collection, key)

    def query_documents(
        self,
        collection: str,
        where: dict[str, Any] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> DocumentPage:
        """A page of a collection's documents by their declared fields::

            page = db.query_documents("accounts", {"balance": (">=", 100)}, order_by="balance")
            page.items  # [(key, value), ...]
            more = db.query_documents("accounts", {"balance": (">=", 100)},
                                      order_by="balance", after=page.next)

        :class:`DocumentQuery` tells the form; a field the collection has not declared is
        :class:`UnknownDocumentIndex`."""
        query = DocumentQuery(
            where, order_by=order_by, descending=descending, limit=limit, after=after
        )
        return self._documents.query(collection, query)

    def count_documents(self, collection: str, where: dict[str, Any] | None = None) -> int:
        """How many documents of ``collection`` pass ``where`` (as in :meth:`query_documents`)."""
        return self._documents.count(collection, DocumentQuery(where))

    # -- checkpoints and subscriptions -----------------------------------------------------

    def get_checkpoint(self, name: str) -> int | None:
        """The position stored under checkpoint ``name``, or ``None``."""
        return self._checkpoints.get(name)

    def save_checkpoint(self, name: str, position: int) -> None:
        """Store ``position`` under checkpoint ``name``. A position beyond the database's
        last one is refused with :class:`InvalidInput`, storing nothing."""
        self._checkpoints.save(name, position)

    def list_checkpoints(self) -> dict[str, int]:
        """Every checkpoint of the database: ``{name: position}``."""
        return self._checkpoints.all()

    def delete_checkpoint(self, name: str) -> bool:
        """Remove checkpoint ``name`` (a subscriber resuming from it starts over); whether
        there was one."""
        return self._checkpoints.delete(name)

    def subscribe(
        self,
        *,
        stream: str | None = None,
        category: str | None = None,
        from_position: int = 0,
        checkpoint: str | None = None,
        idle_timeout: float | None = None,
        restructures: bool = False,
    ) -> Subscription:
        """Catch up from ``from_position``, then deliver new events as they are appended.

        With ``checkpoint=``, a stored checkpoint of that name takes precedence: delivery
        resumes after it. ``idle_timeout`` ends the iteration when no event arrives for that
        many seconds (by default it runs until closed). With ``restructures=True`` the
        restructure entries themselves are delivered too (``kind == "restructure"``), so a
        projection can correct what it built from an event it has already seen.

        ::

            with db.subscribe(category="Account", checkpoint="balances") as sub:
                for event in sub:
                    handle(event)
                    sub.save_checkpoint(event.position)
        """
        if stream is not None and category is not None:
            raise InvalidInput("subscribe to a stream or a category, not both")
        if stream is not None:
            readable(stream)
        if category is not None:
            check_name(category, "category")
        if checkpoint is not None:
            check_name(checkpoint, "checkpoint")
        check_count(from_position, "from_position")
        start = from_position
        if checkpoint is not None:
            saved = self._checkpoints.get(checkpoint)
            if saved is not None:
                start = saved + 1
        return Subscription(
            self._reader,
            self._checkpoints,
            stream,
            category,
            start,
            checkpoint,
            idle_timeout,
            restructures,
        )

    # -- leases ----------------------------------------------------------------------------

    def take_lease(
        self, name: str, owner: str, *, ttl: float, info: Mapping[str, Any] | None = None
    ) -> Lease | None:
        """Take lease ``name`` for ``owner`` for ``ttl`` seconds: when it is free, expired,
        or held by ``owner`` already (a renewal: the time to live starts again and ``info``
        is replaced; the epoch stays). Returns the :class:`Lease` now held, or ``None`` when
        another owner holds it unexpired. One atomic compare-and-set in the backend: of
        racing owners (threads, processes, machines) at most one gets it.

        ``name``: 1-200 characters, no whitespace or control characters
        (:class:`InvalidName`); ``owner``: 1-200 characters; ``ttl``: more than 0, at most
        3600 seconds; ``info``: a JSON object of at most 4 KiB (:class:`InvalidLease`).
        Expiry is judged on this process's clock: renew well before ``ttl`` runs out.

        ::

            lease = db.take_lease("projection-balances", "host-a:4242", ttl=10,
                                  info={"state": "running"})
            if lease is None:
                ...  # another instance runs it: stand by and try again later
        """
        return self._leases.take(name, owner, ttl, info)

    def release_lease(self, name: str, owner: str) -> bool:
        """Free lease ``name`` if ``owner`` holds it (expired or not, no other owner took it
        since); whether it did. The next taker starts a new epoch."""
        return self._leases.release(name, owner)

    def get_lease(self, name: str) -> Lease | None:
        """The stored lease ``name``, expired or not (see :meth:`Lease.expired`); ``None``
        when it was never taken or was released."""
        return self._leases.get(name)

    def list_leases(self) -> list[Lease]:
        """Every lease held or expired (not released), sorted by name."""
        return self._leases.all()

    # -- encryption: key scopes -------------------------------------------------------------

    def key_scope(self, stream: str) -> str:
        """The key scope of the events of ``stream`` (an encrypted database's setting)."""
        return self._keyring().scope_of(readable(stream), ())

    def forget(self, scope: str) -> None:
        """Forget a key scope of an encrypted database (by default a stream's name): its
        data key is destroyed where the backend keeps it, and from then on its events read
        with ``forgotten=True`` and no data. History stays as it was, and ``verify`` still
        passes. A ``ScopeForgotten`` event (data ``{"scope": scope}``) is appended to the
        reserved stream ``$forgotten`` first, so subscribers learn of it.

        :class:`ScopeNotFound` for a scope that has no key, :class:`ScopeForgotten` for one
        forgotten already: nothing changes. A forget cut short (the event stored, the key
        not yet destroyed) is finished by calling it again.
        """
        keys = self._keyring()
        keys.refresh()
        name = keys.check_forgettable(scope)
        self._writer.record_forgotten(name)
        keys.destroy(name)

    def rotate_master_key(self, provider: KeyProvider) -> int:
        """Re-wrap the database's data keys under a new master key (``provider``), leaving
        no copy wrapped by the old one in the backend; no event is rewritten. Returns how
        many keys were re-wrapped. Other processes must reopen with the new key."""
        if not isinstance(provider, KeyProvider):
            raise InvalidInput(f"provider must be a KeyProvider, not {provider!r}")
        return self._keyring().rotate(provider)

    def _keyring(self) -> Keyring:
        keys = self._keys.get()
        if keys is None:
            raise InvalidInput(f"database {self.name!r} is not encrypted")
        return keys

    # -- integrity and statistics ----------------------------------------------------------

    def verify(
        self,
        *,
        public_key: Any = None,
        progress: Callable[[VerifyReport], None] | None = None,
    ) -> VerifyReport:
        """Re-check every stream's hash chain, its head, and every payload's address.

        With ``public_key`` (the signing key's public half: a PEM file's path, an
        ``Ed25519PublicKey`` or its 32 raw bytes), also check every batch signature and
        that each stream's head is the one last signed for it, which finds even a history
        rewritten consistently by whoever holds the store's files (docs/tamper-evidence.md).
        ``progress``, if given, is called with the report so far (``entries`` and
        ``payloads`` checked) after each stream and each page of payloads.
        """
        key = None if public_key is None else public_key_of(public_key)
        return verify(self._storage, self.name, key, progress)

    def stats(self) -> dict[str, float]:
        """Counts and sizes: ``events``, ``streams``, ``restructures``, ``payloads``,
        ``logical_payload_bytes``, ``stored_payload_bytes`` and their ``dedup_ratio``."""
        stats: dict[str, float] = dict(self._storage.stats(self.name))
        stored = stats["stored_payload_bytes"]
        stats["dedup_ratio"] = stats["logical_payload_bytes"] / stored if stored else 1.0
        return stats
