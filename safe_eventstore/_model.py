"""The event model: what goes in (NewEvent), what comes out (RecordedEvent)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from random import Random
from typing import Any, overload

import msgspec

from ._exceptions import InvalidEvent

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendCondition",
    "AppendResult",
    "NewEvent",
    "Problem",
    "Query",
    "QueryItem",
    "RecordedEvent",
    "RecordedEvents",
    "StreamAppend",
    "StreamsPage",
    "VerifyReport",
    "new_event_id",
]

NO_STREAM = -1
"""Expected version: the stream must have no events yet."""
ANY = -2
"""Expected version: append whatever the stream's version."""
STREAM_EXISTS = -4
"""Expected version: the stream must have at least one event."""


_ID_RANDOM = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)  # 74 random bits
_ID_MARKS = 0x7 << 76 | 0x2 << 62  # version 7, variant RFC 9562


# The random bits of event ids come from a generator of their own, seeded from the system's
# entropy (again in a forked child), not from the ``random`` module's shared one: a program
# or test framework that seeds that (``random.seed(0)``, as hypothesis does before each
# example) would otherwise make the same ids again, and an id is a retry key.
_id_bits = Random(os.urandom(32)).getrandbits


def _reseed_ids() -> None:
    global _id_bits
    _id_bits = Random(os.urandom(32)).getrandbits


os.register_at_fork(after_in_child=_reseed_ids)


def new_event_id() -> bytes:
    """A UUIDv7 (RFC 9562) as 16 bytes: 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids land at the end of the event id index, so an append touches a few of
    its pages instead of one random page per event. The random bits come from a Mersenne
    Twister seeded from ``os.urandom`` (again in a forked child), not from ``os.urandom``
    itself: an id must be unique, not secret, and a system call per event is a noticeable
    share of a batch append (docs/performance.md).
    """
    ms = time.time_ns() // 1_000_000
    return (ms << 80 | _id_bits(80) & _ID_RANDOM | _ID_MARKS).to_bytes(16, "big")


class MadeId(uuid.UUID):
    """An event id made with its :class:`NewEvent` (not given by the caller): equal to, and
    hashing like, the plain UUID of the same value. The store tells such ids apart because
    the retry of a call with a concrete expected version finds them by their place in the
    stream, so they need not go into an index of event ids (docs/decisions.md). An id that
    lost the class (decoded, or rebuilt from its value) counts as one the caller gave."""

    __slots__ = ()
    # every made id is "unknown" as to how safely it was made (uuid.SafeUUID): a class
    # attribute, so that making one sets a single slot
    is_safe = uuid.SafeUUID.unknown  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"UUID('{self}')"

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a copy or unpickled id: is_safe is the class's, not a slot to set
        _set(self, "int", state["int"])


_make = object.__new__
_set = object.__setattr__
_set_int = uuid.UUID.__dict__["int"].__set__  # the slot's own setter
_time_ns = time.time_ns


def _new_uuid() -> uuid.UUID:
    # Built from its integer without the argument checks of uuid.UUID(int=...) (uuid.UUID
    # is immutable, hence its slot's setter): this runs for every NewEvent made. The same
    # bits as new_event_id.
    made = _make(MadeId)
    _set_int(made, _time_ns() // 1_000_000 << 80 | _id_bits(80) & _ID_RANDOM | _ID_MARKS)
    return made


def made_here(event_id: object) -> bool:
    """Whether ``event_id`` was made with its :class:`NewEvent` (not given by the caller)."""
    return type(event_id) is MadeId


class NewEvent(msgspec.Struct, frozen=True):
    """An event to append.

    ``data`` may be JSON-serialisable data, a registered (or plain) dataclass instance,
    or ``bytes``, which are stored as given::

        ses.NewEvent("Deposited", {"amount": 100}, metadata={"user": "ann"})

    ``timestamp`` is left out in the usual case: the store records the time of the append.
    Give one (a timezone-aware ``datetime``, kept to the microsecond) only to carry over
    when an event happened, as an import restoring a backup does.

    ``event_id`` is made when the event is made (a fresh, time-ordered UUIDv7), so
    retrying an append with the same ``NewEvent`` objects (after a timeout, say) stores
    them once: the retry finds their ids stored and returns the first append's result.
    A retry is the same call: with a concrete expected version (a version or
    ``NO_STREAM``) it finds the events right after that version, without an index of ids;
    with ``ANY`` or ``STREAM_EXISTS`` it looks their ids up. An id given as a plain UUID
    (your own, or one read back) is always looked up by id.
    Give an id of your own to tie an event to something outside (a message id, a row of an
    import); give ``event_id=None`` to have the store make a new id at each append, which
    makes a retry store the events again.
    """

    type: str
    data: Any = None
    metadata: dict[str, Any] | None = None
    event_id: uuid.UUID | None = msgspec.field(default_factory=_new_uuid)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    tags: tuple[str, ...] = ()
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        # One string is iterable too: taken as given it would become a tag per character.
        # (A tuple, the usual case, is let through first: this runs for every event.)
        tags = self.tags
        if type(tags) is not tuple and isinstance(tags, str | bytes | bytearray):
            raise InvalidEvent(f"tags must be a list of tag names, not {tags!r}")


class StreamAppend(msgspec.Struct, frozen=True):
    """One stream's part of a multi-stream batch (see ``Database.append_batch``)."""

    stream: str
    events: Sequence[NewEvent | Any]
    expected_version: int = ANY


@dataclass(frozen=True, slots=True)
class QueryItem:
    """One alternative of a :class:`Query`: an event matches it when its type is one of
    ``types`` (or ``types`` is empty) and it carries every tag in ``tags``."""

    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def matches(self, type: str | None, tags: Iterable[str]) -> bool:
        """Whether an event of this type with these tags is selected."""
        if self.types and type not in self.types:
            return False
        return not self.tags or set(self.tags).issubset(tags)


@dataclass(frozen=True, slots=True)
class Query:
    """Selects events by type and tag (dynamic consistency boundaries).

    An event matches when it matches at least one item; a query with no items matches
    every event::

        ses.Query([ses.QueryItem(types=["CourseCreated"], tags=["course-7"]),
                   ses.QueryItem(tags=["student-3"])])
    """

    items: Sequence[QueryItem] = ()

    def matches(self, type: str | None, tags: Iterable[str]) -> bool:
        """Whether an event of this type with these tags is selected by any item."""
        if not self.items:
            return True
        tags = tuple(tags)
        return any(item.matches(type, tags) for item in self.items)


@dataclass(frozen=True, slots=True)
class AppendCondition:
    """Makes :meth:`Database.append_events` fail, writing nothing, when an event matching
    ``fail_if_events_match`` is stored after position ``after`` (anywhere, when ``None``)."""

    fail_if_events_match: Query = Query()
    after: int | None = None


class RecordedEvent(msgspec.Struct, frozen=True):
    """An event as stored. ``payload`` holds the raw bytes; ``data`` their decoded form.

    An event of an encrypted database whose key scope was forgotten reads with
    ``forgotten=True``: its type, version, position, ids, timestamp, tags and clear metadata
    stay; ``data`` is ``None`` and ``payload`` empty.

    Entries read with ``raw=True`` also show restructure entries (``kind == "restructure"``,
    ``version`` is the version they restructure) and ``restructured`` tells whether a
    restructure has replaced this event's content in ordinary reads.
    """

    stream: str
    type: str
    data: Any
    metadata: dict[str, Any]
    event_id: uuid.UUID
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    version: int
    position: int
    timestamp: datetime
    payload: bytes
    codec: str
    address: str
    kind: str = "event"
    restructured: bool = False
    tags: tuple[str, ...] = ()
    forgotten: bool = False

    # A msgspec Struct rather than a frozen dataclass: reads build one per event, and a
    # Struct is built in C, much faster (docs/performance.md). It compares, hashes
    # (when its data does), prints and pickles like the dataclass did; copy one with
    # ``msgspec.structs.replace``.

    @property
    def category(self) -> str:
        """The stream's category: its name before the first ``-``."""
        return self.stream.split("-", 1)[0]


class AppendResult(msgspec.Struct, frozen=True):
    """What an append stored: the batch's first and last versions and last position."""

    first_version: int
    last_version: int
    position: int


class RecordedEvents(Sequence[RecordedEvent]):
    """The result of a read.

    Iterating streams events from the backend page by page, so a read of millions of events
    keeps memory flat; ``len()``, indexing and comparison load the whole result once.
    """

    __slots__ = ("_items", "_source")

    def __init__(self, source: Callable[[], Iterator[RecordedEvent]]) -> None:
        self._source = source
        self._items: list[RecordedEvent] | None = None

    @classmethod
    def of(cls, items: Iterable[RecordedEvent]) -> RecordedEvents:
        """Events already in hand, as a ``RecordedEvents``."""
        events = cls(lambda: iter(()))
        events._items = list(items)
        return events

    def _load(self) -> list[RecordedEvent]:
        if self._items is None:
            self._items = list(self._source())
        return self._items

    def __iter__(self) -> Iterator[RecordedEvent]:
        if self._items is not None:
            return iter(self._items)
        return self._source()

    def __len__(self) -> int:
        return len(self._load())

    @overload
    def __getitem__(self, index: int) -> RecordedEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[RecordedEvent]: ...
    def __getitem__(self, index: int | slice) -> RecordedEvent | list[RecordedEvent]:
        return self._load()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordedEvents):
            return self._load() == other._load()
        if isinstance(other, list):
            return self._load() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RecordedEvents({self._load()!r})"


class StreamsPage(list[str]):
    """A page of stream names from ``Database.list_streams``: a list of the names, and
    ``next_after``, the ``after=`` that reads the next page, or ``None`` when no stream
    follows this page."""

    __slots__ = ("next_after",)

    def __init__(self, names: Iterable[str] = (), next_after: str | None = None) -> None:
        super().__init__(names)
        self.next_after = next_after

    def __repr__(self) -> str:
        return f"StreamsPage({list(self)!r}, next_after={self.next_after!r})"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``verify``."""

    stream: str | None
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = "" if self.stream is None else f"{self.stream}"
        if self.seq is not None:
            where += f"@{self.seq}"
        return f"{where}: {self.message}" if where else self.message


@dataclass(slots=True)
class VerifyReport:
    """The result of ``verify``: ``ok`` is true when no problem was found.

    With a public key: ``signatures`` is the number of batch signatures that verified,
    ``signed_position`` the last position one of them covers (compare it with one you
    recorded elsewhere to notice a rollback), ``unsigned_streams`` the streams last
    written before signing began (not covered by any signature).
    """

    streams: int = 0
    entries: int = 0
    payloads: int = 0
    problems: list[Problem] = field(default_factory=list)
    signatures: int = 0
    signed_position: int = 0
    unsigned_streams: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems
