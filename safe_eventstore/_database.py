"""A database: the public API over one storage namespace. The protocol logic lives here once;
the async API runs these same methods in worker threads."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from random import getrandbits
from typing import Any

import msgspec
from msgspec.structs import replace

from ._codec import (
    BYTES,
    JSON,
    EventTypes,
    address_of,
    decode_json,
    encode_json,
    entry_hash,
)
from ._exceptions import (
    EventNotFound,
    EventTooLarge,
    IntegrityError,
    InvalidEvent,
    InvalidInput,
    StreamNotFound,
)
from ._model import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendCondition,
    AppendResult,
    NewEvent,
    Problem,
    Query,
    QueryItem,
    RecordedEvent,
    RecordedEvents,
    StreamAppend,
    VerifyReport,
)
from ._names import check_name
from .storage.base import EVENT, RESTRUCTURE, Draft, Entry, Storage, Write, chained_fields

__all__ = ["Database", "Subscription"]

PAGE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A timestamp read back: datetime.fromtimestamp of the seconds as a float takes 0.24 us,
# the exact sum _EPOCH + timedelta 0.59 us. Below 2**32 s (the year 2106) a double holds
# the seconds to within half a microsecond, and fromtimestamp rounds to the nearest one,
# so both give the same datetime there (checked on four million values); outside, the sum.
_EXACT_US = (1 << 32) * 1_000_000
_from_seconds = datetime.fromtimestamp
_HIDDEN = "$hidden"
EVENTS_STREAM = "$events"
"""The reserved stream holding the events appended with ``append_events`` (no stream of
their own). Public names may not start with ``$``, so no user stream can collide with it."""
Overrides = dict[tuple[str, int], Entry]


def _now_us() -> int:
    return time.time_ns() // 1000


_ID_RANDOM = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)  # 74 random bits
_ID_MARKS = 0x7 << 76 | 0x2 << 62  # version 7, variant RFC 9562


def _new_event_id() -> bytes:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids land at the end of the event id index, so an append touches a few of
    its pages instead of one random page per event. The random bits come from the
    ``random`` module (reseeded in a forked child), not ``os.urandom``: an id must be
    unique, not secret, and a system call per event cost about 2 us of a batch append's
    20 (docs/performance.md).
    """
    ms = time.time_ns() // 1_000_000
    return (ms << 80 | getrandbits(80) & _ID_RANDOM | _ID_MARKS).to_bytes(16, "big")


_uuid_decoder = msgspec.msgpack.Decoder(uuid.UUID)


def _uuid_of(raw: bytes) -> uuid.UUID:
    # A stored id is 16 bytes; msgspec builds a UUID from a MessagePack bin of 16 bytes in
    # C, about three times faster than uuid.UUID(bytes=...) with its argument checks.
    try:
        return _uuid_decoder.decode(b"\xc4\x10" + raw)
    except msgspec.MsgspecError:
        raise IntegrityError(f"a stored event id is not 16 bytes: {raw!r}") from None


def _uuid(value: object, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, str):
        try:
            return uuid.UUID(value).bytes
        except ValueError:
            pass
    raise InvalidEvent(f"{what} must be a UUID, not {value!r}")


def _check_expected(expected: object) -> int:
    if (
        isinstance(expected, bool)
        or not isinstance(expected, int)
        or (expected < 0 and expected not in (NO_STREAM, ANY, STREAM_EXISTS))
    ):
        raise InvalidEvent(
            f"expected_version must be a version >= 0, NO_STREAM, ANY or STREAM_EXISTS, "
            f"not {expected!r}"
        )
    return expected


def _readable(stream: str) -> str:
    """A stream name that may be read: a public name, or the reserved ``$events``."""
    return stream if stream == EVENTS_STREAM else check_name(stream)


def _check_query(query: object) -> Query:
    if query is None:
        return Query()
    if not isinstance(query, Query):
        raise InvalidInput(f"query must be a Query, not {query!r}")
    items = []
    for item in query.items:
        if not isinstance(item, QueryItem):
            raise InvalidInput(f"query items must be QueryItem, not {item!r}")
        if isinstance(item.types, str) or isinstance(item.tags, str):
            raise InvalidInput("a query item's types and tags are lists of names")
        items.append(
            QueryItem(
                tuple(check_name(t, "event type") for t in item.types),
                tuple(check_name(t, "tag") for t in item.tags),
            )
        )
    return Query(tuple(items))


def _check_count(value: int | None, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(f"{what} must be a whole number >= 0, not {value!r}")
    return value


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
        self, storage: Storage, name: str, *, event_types: EventTypes, max_event_size: int
    ) -> None:
        self._storage = storage
        self.name = name
        self._types = event_types
        self._decoders = event_types.decoders
        self._max_event_size = max_event_size

    def __repr__(self) -> str:
        return f"<Database {self.name!r}>"

    # -- writing ---------------------------------------------------------------------------

    def _encode(self, event: object) -> tuple[NewEvent, bytes, str]:
        if not isinstance(event, NewEvent):
            name = self._types.name_of(event)
            if name is None:
                raise InvalidEvent(
                    f"cannot append {type(event).__name__}: give a NewEvent, a dataclass, "
                    "a msgspec Struct or a pydantic model"
                )
            event = NewEvent(name, event)
        check_name(event.type, "event type")
        data = event.data
        if isinstance(data, bytes | bytearray | memoryview):
            return event, bytes(data), BYTES
        return event, encode_json(data), JSON

    def _draft(self, event: object, blobs: dict[bytes, bytes], kind: int = EVENT) -> Draft:
        event, payload, codec = self._encode(event)
        if event.metadata is not None and not isinstance(event.metadata, dict):
            raise InvalidEvent(f"metadata must be a dict, not {type(event.metadata).__name__}")
        metadata = encode_json(event.metadata, "metadata") if event.metadata else b"{}"
        size = len(payload) + len(metadata)
        if size > self._max_event_size:
            raise EventTooLarge(size, self._max_event_size)
        tags = tuple(check_name(t, "tag") for t in event.tags) if event.tags else ()
        event_id = _uuid(event.event_id, "event_id") or _new_event_id()
        address = address_of(payload)
        blobs[address] = payload
        return Draft(
            kind,
            event_id,
            event.type,
            _uuid(event.correlation_id, "correlation_id"),
            _uuid(event.causation_id, "causation_id"),
            _now_us(),
            metadata,
            tags,
            address,
            codec,
            len(payload),
        )

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
        writes nothing. Re-appending a batch with the event ids you gave it, all stored
        already, returns the original result: give events ids to make a retry safe (ids
        the store generated are not looked up).
        """
        return self.append_batch([StreamAppend(stream, events, expected_version)])[0]  # type: ignore[arg-type]

    def append_batch(
        self,
        appends: Iterable[StreamAppend],
        *,
        checkpoint: tuple[str, int] | None = None,
    ) -> list[AppendResult]:
        """Append to several streams in one atomic batch: all or nothing.

        Each :class:`StreamAppend` keeps its own expected version. ``checkpoint=(name,
        position)`` stores a checkpoint in the same step; it must move forward, else
        :class:`CheckpointConflict` (so a process that records how far it got can never
        apply the same input twice).
        """
        blobs: dict[bytes, bytes] = {}
        writes: list[Write] = []
        for a in appends:
            if not isinstance(a, StreamAppend):
                raise InvalidEvent(f"append_batch takes StreamAppend items, not {a!r}")
            check_name(a.stream)
            expected = _check_expected(a.expected_version)
            writes.append(self._write(a.stream, a.events, blobs, expected))
        if not writes and checkpoint is None:
            raise InvalidEvent("a batch needs at least one event")
        if len({w.stream for w in writes}) != len(writes):
            raise InvalidEvent("a batch may name each stream once")
        self._check_ids(writes)
        if checkpoint is not None:
            name, position = checkpoint
            check_name(name, "checkpoint")
            _check_count(position, "checkpoint position")
        return self._storage.append(self.name, writes, blobs, checkpoint=checkpoint)

    def _write(
        self, stream: str, events: object, blobs: dict[bytes, bytes], expected: int
    ) -> Write:
        if type(events) is not list and (  # a list passes without the ABC check
            isinstance(events, NewEvent | str | bytes) or not isinstance(events, Iterable)
        ):
            raise InvalidEvent("events must be a list of events")
        drafts = []
        new_ids = True  # no event id came from the caller
        for e in events:
            drafts.append(self._draft(e, blobs))
            if isinstance(e, NewEvent) and e.event_id is not None:
                new_ids = False
        if not drafts:
            raise InvalidEvent(f"stream {stream!r}: a batch needs at least one event")
        return Write(stream, drafts, expected, new_ids)

    @staticmethod
    def _check_ids(writes: list[Write]) -> None:
        ids = [d.event_id for w in writes for d in w.drafts]
        if len(set(ids)) != len(ids):
            raise InvalidEvent("a batch may not repeat an event id")

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
        Re-appending a batch with the event ids you gave it, all stored already, returns
        the original result (the condition is not checked again). ``result.position`` is
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
        if condition is not None:
            if not isinstance(condition, AppendCondition):
                raise InvalidInput(f"condition must be an AppendCondition, not {condition!r}")
            _check_count(condition.after, "condition.after")
            condition = AppendCondition(
                _check_query(condition.fail_if_events_match), condition.after
            )
        blobs: dict[bytes, bytes] = {}
        write = self._write(EVENTS_STREAM, events, blobs, ANY)
        self._check_ids([write])
        return self._storage.append(self.name, [write], blobs, condition=condition)[0]

    def restructure(
        self,
        stream: str,
        version: int,
        replacement: NewEvent | Any | None = None,
        *,
        reason: str,
    ) -> AppendResult:
        """Replace (or, with no replacement, hide) an event in all reads from now on.

        The original stays in the stream's raw history (``read_stream(..., raw=True)``); a
        later restructure of the same version wins.
        """
        check_name(stream)
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidEvent(f"version must be an int, not {version!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidEvent("a restructure needs a reason")
        head = self._storage.head(self.name, stream)
        if head is None:
            raise StreamNotFound(f"no stream {stream!r} in database {self.name!r}")
        if not 0 <= version <= head.version:
            raise EventNotFound(f"stream {stream!r} has no version {version}")
        blobs: dict[bytes, bytes] = {}
        if replacement is None:
            draft = Draft(
                RESTRUCTURE, _new_event_id(), None, None, None, _now_us(),
                encode_json({"$restructure": {"reason": reason}}), (), None, None, 0,
            )  # fmt: skip
        else:
            draft = self._draft(replacement, blobs, RESTRUCTURE)
            meta = decode_json(draft.metadata)
            meta["$restructure"] = {"reason": reason}
            draft.metadata = encode_json(meta)
        draft.target = version
        write = Write(stream, [draft], STREAM_EXISTS)
        return self._storage.append(self.name, [write], blobs)[0]

    # -- reading ---------------------------------------------------------------------------

    def _record(self, e: Entry, override: Entry | None = None) -> RecordedEvent:
        src = override if override is not None else e
        payload = src.payload
        address = src.address
        if address is None:
            payload = b""
            data = None
        else:
            if payload is None or sha256(payload).digest() != address:
                what = "missing" if payload is None else "does not match its address"
                raise IntegrityError(f"{e.stream}@{e.version}: payload {what}")
            assert src.type is not None and src.codec is not None
            if src.codec == JSON and src.type not in self._decoders:
                data = decode_json(payload)  # untyped: no registry call in between
            else:
                data = self._types.decode(src.type, src.codec, payload)
        meta = src.metadata
        corr = e.correlation_id
        cause = e.causation_id
        # positional: a Struct built from positions skips matching keywords (see the field
        # order of RecordedEvent)
        return RecordedEvent(
            e.stream,
            src.type if src.type is not None else _HIDDEN,
            data,
            {} if meta == b"{}" else decode_json(meta),
            _uuid_of(e.event_id),
            None if corr is None else _uuid_of(corr),
            None if cause is None else _uuid_of(cause),
            e.version,
            e.position,
            _from_seconds(ts / 1e6, UTC)
            if 0 <= (ts := e.timestamp) < _EXACT_US
            else _EPOCH + timedelta(0, 0, ts),  # (days, seconds, microseconds)
            payload,
            src.codec or "",
            address.hex() if address else "",
            "restructure" if e.kind == RESTRUCTURE else "event",
            override is not None,
            src.tags,
        )

    def _apply(self, e: Entry, overrides: Overrides) -> RecordedEvent | None:
        override = overrides.get((e.stream, e.version))
        if override is not None and override.address is None:
            return None  # hidden
        return self._record(e, override)

    def _overrides(self, stream: str | None = None) -> Overrides:
        return {(r.stream, r.version): r for r in self._storage.restructures(self.name, stream)}

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
        _readable(stream)
        _check_count(from_version, "from_version")
        _check_count(limit, "limit")
        if raw:
            if backwards:
                raise InvalidInput("raw reads run forwards only")
            return RecordedEvents(lambda: self._raw(stream, from_version or 0, limit))
        start = from_version if from_version is not None else (2**62 if backwards else 0)
        return RecordedEvents(lambda: self._stream(stream, start, limit, backwards))

    @staticmethod
    def _paged(
        fetch: Callable[[int, int], list[Entry]],
        start: int,
        advance: Callable[[Entry], int],
        convert: Callable[[Entry], RecordedEvent | None],
        limit: int | None,
        *,
        full_pages: bool,
    ) -> Iterator[RecordedEvent]:
        """Events read page by page: ``fetch(at, size)`` gives a page of entries from
        ``at`` on, ``advance(last)`` the ``at`` after a page, ``convert`` an entry's event
        (``None`` to skip it). Pages are cut to ``limit`` unless ``full_pages`` (when
        entries may be skipped, a short page would end the read too early)."""
        left = limit if limit is not None else -1
        at = start
        while left != 0:
            size = PAGE if left < 0 or full_pages else min(PAGE, left)
            page = fetch(at, size)
            for e in page:
                event = convert(e)
                if event is None:
                    continue
                yield event
                left -= 1
                if left == 0:
                    return
            if len(page) < size:
                return
            at = advance(page[-1])

    def _applying(self, overrides: Overrides) -> Callable[[Entry], RecordedEvent | None]:
        """How an entry reads: with no restructures stored, as itself (the fast path)."""
        if not overrides:
            return self._record
        return lambda e: self._apply(e, overrides)

    def _stream(
        self, stream: str, version: int, limit: int | None, backwards: bool
    ) -> Iterator[RecordedEvent]:
        overrides = self._overrides(stream)
        step = -1 if backwards else 1
        return self._paged(
            lambda at, size: self._storage.read_stream(
                self.name, stream, from_version=at, limit=size, backwards=backwards
            ),
            version,
            lambda last: last.version + step,
            self._applying(overrides),
            limit,
            full_pages=bool(overrides),
        )

    def _raw(self, stream: str, version: int, limit: int | None) -> Iterator[RecordedEvent]:
        seq = 0
        if version > 0:  # start at the entry holding that event version
            first = self._storage.read_stream(
                self.name, stream, from_version=version, limit=1, backwards=False
            )
            if not first:
                return
            seq = first[0].seq
        overrides = self._overrides(stream)

        def convert(e: Entry) -> RecordedEvent:
            event = self._record(e)
            if e.kind == EVENT and (e.stream, e.version) in overrides:
                return replace(event, restructured=True)
            return event

        yield from self._paged(
            lambda at, size: self._storage.read_entries(self.name, stream, from_seq=at, limit=size),
            seq,
            lambda last: last.seq + 1,
            convert,
            limit,
            full_pages=True,
        )

    def _scan(
        self,
        from_position: int,
        limit: int | None,
        *,
        stream: str | None = None,
        category: str | None = None,
        types: tuple[str, ...] | None = None,
    ) -> Iterator[RecordedEvent]:
        overrides = self._overrides()
        # A restructure may change an event's type, so filter by type after applying them.
        pushed = types if not overrides else None
        convert = self._applying(overrides)
        if types is not None and overrides:
            applied = convert

            def convert(e: Entry) -> RecordedEvent | None:
                event = applied(e)
                return event if event is not None and event.type in types else None

        return self._paged(
            lambda at, size: self._storage.read_all(
                self.name, from_position=at, limit=size, stream=stream, category=category,
                types=pushed,
            ),
            from_position,
            lambda last: last.position + 1,
            convert,
            limit,
            full_pages=bool(overrides),
        )  # fmt: skip

    def read_all(
        self,
        *,
        from_position: int = 0,
        limit: int | None = None,
        types: Iterable[str] | None = None,
    ) -> RecordedEvents:
        """Every event of the database in position order, from ``from_position`` (inclusive)."""
        _check_count(from_position, "from_position")
        _check_count(limit, "limit")
        wanted = None if types is None else tuple(check_name(t, "event type") for t in types)
        return RecordedEvents(lambda: self._scan(from_position, limit, types=wanted))

    def read_category(
        self,
        category: str,
        *,
        from_position: int = 0,
        limit: int | None = None,
        types: Iterable[str] | None = None,
    ) -> RecordedEvents:
        """The events of every stream of one category, in position order (only those of the
        given ``types``, if any)."""
        check_name(category, "category")
        _check_count(from_position, "from_position")
        _check_count(limit, "limit")
        wanted = None if types is None else tuple(check_name(t, "event type") for t in types)
        return RecordedEvents(
            lambda: self._scan(from_position, limit, category=category, types=wanted)
        )

    def read_events(
        self, query: Query | None = None, *, after: int | None = None, limit: int | None = None
    ) -> RecordedEvents:
        """The events selected by ``query`` (every event without one), after position
        ``after``, in position order: events appended with :meth:`append_events` and the
        events of streams alike, since they share one global order. Restructures apply."""
        wanted = _check_query(query)
        _check_count(after, "after")
        _check_count(limit, "limit")
        return RecordedEvents(lambda: self._query(wanted, (after or 0) + 1, limit))

    def _query(self, query: Query, position: int, limit: int | None) -> Iterator[RecordedEvent]:
        overrides = self._overrides()
        # A restructure may change an event's type or tags: with any in the database, read
        # every event and match after applying them.
        convert = self._applying(overrides)
        if overrides:
            applied = convert

            def convert(e: Entry) -> RecordedEvent | None:
                event = applied(e)
                return (
                    event if event is not None and query.matches(event.type, event.tags) else None
                )

        return self._paged(
            lambda at, size: self._storage.read_query(
                self.name, Query() if overrides else query, from_position=at, limit=size
            ),
            position,
            lambda last: last.position + 1,
            convert,
            limit,
            full_pages=bool(overrides),
        )

    def last_position(self) -> int:
        """The highest position in the database (of any entry), 0 when it is empty."""
        return self._storage.last_position(self.name)

    def stream_version(self, stream: str) -> int | None:
        """The stream's last version, or ``None`` when it has no events."""
        head = self._storage.head(self.name, _readable(stream))
        return None if head is None else head.version

    def list_categories(self) -> list[str]:
        return self._storage.list_categories(self.name)

    def list_streams(
        self, category: str | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[str]:
        """Stream names in sorted order, ``limit`` at a time; page on with ``after=``."""
        if category is not None:
            check_name(category, "category")
        _check_count(limit, "limit")
        return self._storage.list_streams(self.name, category=category, after=after, limit=limit)

    # -- checkpoints and subscriptions -----------------------------------------------------

    def get_checkpoint(self, name: str) -> int | None:
        return self._storage.get_checkpoint(self.name, check_name(name, "checkpoint"))

    def save_checkpoint(self, name: str, position: int) -> None:
        _check_count(position, "position")
        self._storage.save_checkpoint(self.name, check_name(name, "checkpoint"), position)

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
            _readable(stream)
        if category is not None:
            check_name(category, "category")
        if checkpoint is not None:
            check_name(checkpoint, "checkpoint")
        _check_count(from_position, "from_position")
        start = from_position
        if checkpoint is not None:
            saved = self._storage.get_checkpoint(self.name, checkpoint)
            if saved is not None:
                start = saved + 1
        return Subscription(self, stream, category, start, checkpoint, idle_timeout, restructures)

    # -- integrity and statistics ----------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Re-check every stream's hash chain, its head, and every payload's address."""
        report = VerifyReport()
        after: str | None = None
        while True:
            names = self._storage.list_streams(self.name, category=None, after=after, limit=PAGE)
            for name in names:
                self._verify_stream(name, report)
            if len(names) < PAGE:
                break
            after = names[-1]
        last: bytes | None = None
        while True:
            blobs = self._storage.read_blobs(self.name, after=last, limit=PAGE)
            for address, data in blobs:
                report.payloads += 1
                if address_of(data) != address:
                    report.problems.append(
                        Problem(None, None, f"payload {address.hex()} does not match its address")
                    )
            if len(blobs) < PAGE:
                break
            last = blobs[-1][0]
        counts = self._storage.stats(self.name)
        stored = counts["events"] + counts["restructures"]
        if stored != report.entries:
            report.problems.append(
                Problem(None, None, f"{stored - report.entries} entries belong to no listed stream")
            )
        return report

    def _verify_stream(self, stream: str, report: VerifyReport) -> None:
        report.streams += 1
        problems = report.problems
        prev: bytes | None = None
        seq, version, position = 0, -1, 0
        while True:
            page = self._storage.read_entries(self.name, stream, from_seq=seq, limit=PAGE)
            for e in page:
                report.entries += 1
                if e.seq != seq:
                    problems.append(
                        Problem(stream, seq, f"entry missing or out of order (found seq {e.seq})")
                    )
                    seq = e.seq
                if e.prev_hash != prev:
                    problems.append(Problem(stream, e.seq, "does not chain to the entry before it"))
                if entry_hash(chained_fields(e.prev_hash, stream, e.seq, e.version, e)) != e.hash:
                    problems.append(
                        Problem(stream, e.seq, "entry altered: its hash does not match")
                    )
                if e.kind == EVENT:
                    if e.version != version + 1:
                        problems.append(Problem(stream, e.seq, f"version {e.version} out of order"))
                    version = e.version
                elif not 0 <= e.version <= version:
                    problems.append(Problem(stream, e.seq, "restructures a version not yet stored"))
                if e.position <= position:
                    problems.append(Problem(stream, e.seq, "position out of order"))
                position = e.position
                if e.address is not None:
                    if e.payload is None:
                        problems.append(
                            Problem(stream, e.seq, f"payload {e.address.hex()} missing")
                        )
                    elif sha256(e.payload).digest() != e.address:
                        problems.append(
                            Problem(stream, e.seq, "payload does not match the entry's address")
                        )
                prev = e.hash
                seq += 1
            if len(page) < PAGE:
                break
        head = self._storage.head(self.name, stream)
        if head is None or head.seq != seq - 1 or head.hash != prev or head.version != version:
            problems.append(
                Problem(
                    stream, None, "stream head does not match the last entry (entries removed?)"
                )
            )

    def stats(self) -> dict[str, float]:
        """Counts and sizes: ``events``, ``streams``, ``restructures``, ``payloads``,
        ``logical_payload_bytes``, ``stored_payload_bytes`` and their ``dedup_ratio``."""
        stats: dict[str, float] = dict(self._storage.stats(self.name))
        stored = stats["stored_payload_bytes"]
        stats["dedup_ratio"] = stats["logical_payload_bytes"] / stored if stored else 1.0
        return stats


class Subscription:
    """Delivers a database's events in position order: first those stored, then live ones.

    Iterate it (blocking), or call :meth:`get` with a timeout. Close it (or leave its
    ``with`` block) to stop; closing from another thread ends a blocked iteration.
    """

    def __init__(
        self,
        db: Database,
        stream: str | None,
        category: str | None,
        start: int,
        checkpoint: str | None,
        idle_timeout: float | None,
        restructures: bool = False,
    ) -> None:
        self._db = db
        self._restructures = restructures
        self._stream = stream
        self._category = category
        self._next = max(start, 1)
        self.checkpoint = checkpoint
        self._idle = idle_timeout
        self._buffer: deque[RecordedEvent] = deque()
        self._overrides: Overrides | None = None
        self._closed = threading.Event()
        self.position: int | None = None  # the last delivered event's position

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[RecordedEvent]:
        return self

    def __next__(self) -> RecordedEvent:
        event = self.get(self._idle)
        if event is None:
            raise StopIteration
        return event

    def _fill(self) -> None:
        if self._overrides is None:
            self._overrides = self._db._overrides()
        storage, name = self._db._storage, self._db.name
        # Read the horizon first: no entry at or below it can appear later (positions never
        # arrive late), so a filtered subscription may skip past it when nothing matched.
        horizon = storage.last_position(name)
        page = storage.read_all(
            name, from_position=self._next, limit=PAGE, stream=self._stream,
            category=self._category, restructures=True,
        )  # fmt: skip
        overrides, record, apply = self._overrides, self._db._record, self._db._apply
        buffer = self._buffer
        for e in page:
            if e.kind == RESTRUCTURE:
                overrides[(e.stream, e.version)] = e
                if self._restructures:
                    buffer.append(record(e))
                continue
            event = apply(e, overrides) if overrides else record(e)
            if event is not None:
                buffer.append(event)
        if page:
            self._next = page[-1].position + 1
        if len(page) < PAGE:
            self._next = max(self._next, horizon + 1)

    def get(self, timeout: float | None = None) -> RecordedEvent | None:
        """The next event, waiting up to ``timeout`` seconds (forever when ``None``);
        ``None`` when the time passes or the subscription is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._buffer:
            if self._closed.is_set():
                return None
            self._fill()
            if self._buffer:
                break
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._db._storage.wait(self._db.name, self._next - 1, min(remaining, 1.0))
        event = self._buffer.popleft()
        self.position = event.position
        return event

    def save_checkpoint(self, position: int | None = None) -> None:
        """Store ``position`` (by default the last delivered one) under the checkpoint name."""
        if self.checkpoint is None:
            raise InvalidInput("this subscription was opened without a checkpoint name")
        position = self.position if position is None else position
        if position is None:
            return
        self._db.save_checkpoint(self.checkpoint, position)

    def close(self) -> None:
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()
