"""The ``eventsourcing`` library's recorders, on the public store API.

An aggregate (``originator_id``) is a stream ``<category>-<id>``; its events keep their
``originator_version`` in the metadata, while the stream's own versions count 0, 1, 2, ...
Versions must increase along a stream (gaps are allowed: snapshots have them), so the
library's unique (originator_id, originator_version) rule becomes "each insert continues
the stream", checked by the store's expected-version check in the same atomic step.
Notification ids are store positions.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    IntegrityError,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)

from .. import NO_STREAM, Database, NewEvent, RecordedEvent, StreamAppend, WrongExpectedVersion
from ._mapping import escape, id_of, stream_suffix, translate_errors, unescape

__all__ = [
    "SafeAggregateRecorder",
    "SafeApplicationRecorder",
    "SafeProcessRecorder",
    "SafeTrackingRecorder",
    "tracking_checkpoint",
]

VERSION_KEY = "originator_version"
CATEGORY = "Aggregate"
TRACKING_PREFIX = "tracking:"
_CACHE_SIZE = 10_000
_RETRIES = 10


def tracking_checkpoint(tracking: Tracking) -> tuple[str, int]:
    """The checkpoint that records ``tracking``: pass it to ``Database.append_batch`` to
    update a view stored in SAFE EventStore and record what it processed in one step::

        db.append_batch([ses.StreamAppend("Totals-eur", [ses.NewEvent("Added", {...})])],
                        checkpoint=tracking_checkpoint(tracking))
    """
    return TRACKING_PREFIX + escape(tracking.application_name), tracking.notification_id


def _ov(event: RecordedEvent) -> int:
    try:
        version = event.metadata[VERSION_KEY]
    except (KeyError, TypeError):
        raise DataError(
            f"{event.stream}@{event.version} was not written by this recorder "
            f"(no {VERSION_KEY!r} in its metadata)"
        ) from None
    return int(version)


class _Heads:
    """What this process last saw at each stream's end: (stream version, originator
    version). An entry may be stale; an append that expects it proves it current."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._first: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stream: str) -> tuple[int, int] | None:
        with self._lock:
            return self._items.get(stream)

    def put(self, stream: str, head: tuple[int, int]) -> None:
        with self._lock:
            self._items[stream] = head
            self._items.move_to_end(stream)
            if len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)

    def forget(self, stream: str) -> None:
        with self._lock:
            self._items.pop(stream, None)

    def first(self, stream: str) -> int | None:
        with self._lock:
            return self._first.get(stream)

    def put_first(self, stream: str, version: int) -> None:
        # The first event of a stream never changes, so this entry is never stale.
        with self._lock:
            self._first[stream] = version
            if len(self._first) > _CACHE_SIZE:
                self._first.popitem(last=False)


class _StreamRecorder:
    """What every recorder of aggregate events shares: the stream mapping, inserts and
    selects."""

    def __init__(self, db: Database, *, category: str = CATEGORY) -> None:
        self.db = db
        self.category = category
        self._heads = _Heads()

    def stream_name(self, originator_id: uuid.UUID | str) -> str:
        return f"{self.category}-{stream_suffix(originator_id)}"

    # -- inserting --------------------------------------------------------------------------

    def _head(self, stream: str) -> tuple[int, int] | None:
        head = self._heads.get(stream)
        if head is None:
            last = list(self.db.read_stream(stream, backwards=True, limit=1))
            if not last:
                return None
            head = (last[0].version, _ov(last[0]))
            self._heads.put(stream, head)
        return head

    def _insert(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(stored_events):
            groups.setdefault(self.stream_name(s.originator_id), []).append(i)
        for stream, indexes in groups.items():
            versions = [stored_events[i].originator_version for i in indexes]
            if any(b <= a for a, b in pairwise(versions)):
                raise IntegrityError(f"{stream}: versions must increase within an insert")
        checkpoint = None if tracking is None else tracking_checkpoint(tracking)
        with translate_errors():
            looked: set[str] = set()  # streams whose head must be read, not guessed
            for _ in range(_RETRIES):
                appends = []
                for stream, indexes in groups.items():
                    first = stored_events[indexes[0]].originator_version
                    if first <= 1 and stream not in looked and self._heads.get(stream) is None:
                        # Most likely a new aggregate: expect no stream rather than read
                        # first; if the guess is wrong the append fails and we look.
                        head = None
                    else:
                        head = self._head(stream)
                    if head is not None and head[1] >= first:
                        raise IntegrityError(
                            f"{stream}: version {first} is not after the stored {head[1]}"
                        )
                    events = [
                        NewEvent(
                            escape(stored_events[i].topic),
                            stored_events[i].state,
                            {VERSION_KEY: stored_events[i].originator_version},
                        )
                        for i in indexes
                    ]
                    expected = NO_STREAM if head is None else head[0]
                    appends.append(StreamAppend(stream, events, expected))
                try:
                    results = self.db.append_batch(appends, checkpoint=checkpoint)
                except WrongExpectedVersion as exc:
                    # Another writer moved the stream (or it was not new): look again,
                    # then decide again.
                    self._heads.forget(exc.stream)
                    looked.add(exc.stream)
                    continue
                break
            else:
                raise IntegrityError("the streams kept moving under this insert; gave up")
        ids = [0] * len(stored_events)
        for (stream, indexes), result in zip(groups.items(), results, strict=True):
            self._heads.put(
                stream, (result.last_version, stored_events[indexes[-1]].originator_version)
            )
            # A batch's entries take consecutive positions (the storage contract).
            first_position = result.position - len(indexes) + 1
            for n, i in enumerate(indexes):
                ids[i] = first_position + n
        return ids

    # -- selecting --------------------------------------------------------------------------

    def _stored(self, originator_id: uuid.UUID | str, event: RecordedEvent) -> StoredEvent:
        return StoredEvent(
            originator_id=originator_id,
            originator_version=_ov(event),
            topic=unescape(event.type),
            state=event.payload,
        )

    def _at(self, stream: str, version: int) -> RecordedEvent | None:
        found = list(self.db.read_stream(stream, from_version=version, limit=1))
        return found[0] if found else None

    def _first_version(self, stream: str) -> int | None:
        first = self._heads.first(stream)
        if first is None:
            event = self._at(stream, 0)
            if event is None:
                return None
            first = _ov(event)
            self._heads.put_first(stream, first)
        return first

    def _start_above(self, stream: str, gt: int, first: int) -> int:
        """The lowest stream version whose originator version exceeds ``gt``.

        Originator versions increase by at least one per event, so in a stream without
        gaps that is ``gt + 1 - first``: one probe confirms it; otherwise a binary search.
        """
        guess = gt + 1 - first
        if guess <= 0:
            return 0
        probe = self._at(stream, guess - 1)
        if probe is not None and _ov(probe) <= gt:
            return guess
        if probe is None:
            hi = (self.db.stream_version(stream) or 0) + 1
        else:
            hi = guess - 1
        lo = 0
        while lo < hi:
            mid = (lo + hi) // 2
            event = self._at(stream, mid)
            if event is not None and _ov(event) > gt:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _walk(
        self, stream: str, start: int | None, desc: bool, chunk: int
    ) -> Iterator[RecordedEvent]:
        """A stream's events from ``start``, read in growing chunks."""
        version = start
        while True:
            page = list(
                self.db.read_stream(stream, from_version=version, limit=chunk, backwards=desc)
            )
            yield from page
            if len(page) < chunk:
                return
            version = page[-1].version + (-1 if desc else 1)
            if version < 0:
                return
            chunk = min(chunk * 4, 1000)

    def _select(
        self,
        originator_id: uuid.UUID | str,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        stream = self.stream_name(originator_id)
        if limit is not None and limit <= 0:
            return []
        if gt is None and lte is None:
            events = self.db.read_stream(stream, backwards=desc, limit=limit)
            return [self._stored(originator_id, e) for e in events]
        first = self._first_version(stream)
        if first is None:
            return []
        top = None if lte is None else lte - first  # no event above this version qualifies
        if top is not None and top < 0:
            return []
        out: list[StoredEvent] = []
        chunk = min(limit or 100, 1000)
        if desc:
            for e in self._walk(stream, top, True, chunk):
                version = _ov(e)
                if lte is not None and version > lte:
                    continue
                if gt is not None and version <= gt:
                    break
                out.append(self._stored(originator_id, e))
                if limit is not None and len(out) >= limit:
                    break
        else:
            start = 0 if gt is None else self._start_above(stream, gt, first)
            for e in self._walk(stream, start, False, chunk):
                version = _ov(e)
                if lte is not None and version > lte:
                    break
                if gt is not None and version <= gt:
                    continue
                out.append(self._stored(originator_id, e))
                if limit is not None and len(out) >= limit:
                    break
        return out


class SafeAggregateRecorder(_StreamRecorder, AggregateRecorder):
    """Records an aggregate's events (or snapshots) in one stream per aggregate."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if stored_events:
            self._insert(stored_events, None)
        return None

    def select_events(
        self,
        originator_id: uuid.UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        with translate_errors():
            return self._select(originator_id, gt, lte, desc, limit)


class SafeApplicationRecorder(SafeAggregateRecorder, ApplicationRecorder):
    """Adds the application's notification log: its events in store position order."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        return self._insert(stored_events, None)

    def notification(self, event: RecordedEvent) -> Notification:
        return Notification(
            id=event.position,
            originator_id=id_of(event.stream.split("-", 1)[1]),
            originator_version=_ov(event),
            topic=unescape(event.type),
            state=event.payload,
        )

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        first = 1 if start is None else (start if inclusive_of_start else start + 1)
        with translate_errors():
            events = self.db.read_category(
                self.category,
                from_position=max(first, 0),
                limit=limit,
                types=[escape(t) for t in topics] if topics else None,
            )
            out = []
            for e in events:
                if stop is not None and e.position > stop:
                    break
                out.append(self.notification(e))
            return out

    def max_notification_id(self) -> int | None:
        # The last position of the database: positions commit in order, so no event of
        # the log can later appear at or below it.
        with translate_errors():
            return self.db.last_position() or None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return SafeSubscription(self, gt, topics)


class SafeSubscription(Subscription[ApplicationRecorder]):
    """Notifications after ``gt``, then new ones as they are stored, woken by the store."""

    def __init__(
        self, recorder: SafeApplicationRecorder, gt: int | None, topics: Sequence[str]
    ) -> None:
        super().__init__(recorder, gt, topics)
        self._app = recorder
        self._types = {escape(t) for t in topics}
        with translate_errors():
            self._sub = recorder.db.subscribe(
                category=recorder.category, from_position=(gt or 0) + 1
            )

    def stop(self) -> None:
        super().stop()
        self._sub.close()

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            with translate_errors():
                event = self._sub.get(timeout=0.2)
            if event is None or (self._types and event.type not in self._types):
                continue
            return self._app.notification(event)
        raise StopIteration


class SafeTrackingRecorder(TrackingRecorder):
    """Tracking records are the database's checkpoints ``tracking:<application>``: a
    forward-only position per upstream application."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert_tracking(self, tracking: Tracking) -> None:
        with translate_errors():
            self.db.append_batch([], checkpoint=tracking_checkpoint(tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        with translate_errors():
            return self.db.get_checkpoint(TRACKING_PREFIX + escape(application_name))


class SafeProcessRecorder(SafeTrackingRecorder, SafeApplicationRecorder, ProcessRecorder):
    """Records events and the tracking record of what they were made from in one atomic
    append: the checkpoint moves forward with the events or nothing is written."""

    def __init__(self, db: Database, *, category: str = CATEGORY) -> None:
        SafeApplicationRecorder.__init__(self, db, category=category)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if not stored_events:
            if tracking is not None:
                self.insert_tracking(tracking)
            return []
        return self._insert(stored_events, tracking)
