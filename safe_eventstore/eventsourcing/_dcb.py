"""A recorder for ``eventsourcing.dcb`` on the store's own dynamic consistency boundaries:
events appended with ``Database.append_events``, selected by ``Database.read_events``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Self

from eventsourcing.dcb.api import (
    DCBAppendCondition,
    DCBEvent,
    DCBQuery,
    DCBReadResponse,
    DCBRecorder,
    DCBSequencedEvent,
    DCBSubscription,
)
from eventsourcing.persistence import ProgrammingError

from .. import AppendCondition, Database, NewEvent, Query, QueryItem, RecordedEvent
from ._mapping import escape, translate_errors, unescape

__all__ = ["SafeDCBRecorder", "SafeDCBSubscription"]


def _query(query: DCBQuery | None) -> Query:
    if query is None:
        return Query()
    return Query(
        tuple(
            QueryItem(tuple(escape(t) for t in item.types), tuple(escape(t) for t in item.tags))
            for item in query.items
        )
    )


def _sequenced(event: RecordedEvent) -> DCBSequencedEvent:
    return DCBSequencedEvent(
        event=DCBEvent(
            type=unescape(event.type),
            data=event.payload,
            tags=[unescape(t) for t in event.tags],
        ),
        position=event.position,
    )


class SafeReadResponse(DCBReadResponse):
    def __init__(self, events: Iterator[DCBSequencedEvent], head: int | None) -> None:
        self._events = events
        self._head = head

    @property
    def head(self) -> int | None:
        return self._head

    def __next__(self) -> DCBSequencedEvent:
        with translate_errors():
            return next(self._events)


class SafeDCBRecorder(DCBRecorder):
    """Reads select by type and tag; an append with a condition fails with the library's
    ``IntegrityError``, writing nothing, when a matching event is stored after ``after``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def read(
        self,
        query: DCBQuery | None = None,
        *,
        after: int | None = None,
        limit: int | None = None,
    ) -> DCBReadResponse:
        with translate_errors():
            events = self.db.read_events(_query(query), after=after, limit=limit)
            if limit is not None:
                found = [_sequenced(e) for e in events]
                return SafeReadResponse(iter(found), found[-1].position if found else None)
            # The head is taken before reading: an event stored meanwhile lies beyond it,
            # so a decision made on this read and appended "after head" still sees it.
            head = self.db.last_position()
            return SafeReadResponse(self._until(events, head), head or None)

    @staticmethod
    def _until(
        events: Iterator[RecordedEvent] | Sequence[RecordedEvent], head: int
    ) -> Iterator[DCBSequencedEvent]:
        for e in events:
            if e.position > head:
                return
            yield _sequenced(e)

    def append(
        self, events: Sequence[DCBEvent], condition: DCBAppendCondition | None = None
    ) -> int:
        if not events:
            raise ProgrammingError("an append needs at least one event")
        new = [
            NewEvent(escape(e.type), bytes(e.data), tags=tuple(escape(t) for t in e.tags))
            for e in events
        ]
        cond = None
        if condition is not None:
            cond = AppendCondition(_query(condition.fail_if_events_match), condition.after)
        with translate_errors():
            return self.db.append_events(new, condition=cond).position

    def subscribe(
        self, query: DCBQuery | None = None, *, after: int | None = None
    ) -> SafeDCBSubscription:
        return SafeDCBSubscription(self, query, after)


class SafeDCBSubscription(DCBSubscription[SafeDCBRecorder]):
    """Events after ``after`` selected by ``query``, then new ones, woken by the store."""

    def __init__(
        self, recorder: SafeDCBRecorder, query: DCBQuery | None, after: int | None
    ) -> None:
        super().__init__(recorder, query, after)
        self._wanted = _query(query)
        with translate_errors():
            self._sub = recorder.db.subscribe(from_position=(after or 0) + 1)

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    def stop(self) -> None:
        super().stop()
        self._sub.close()

    def __next__(self) -> DCBSequencedEvent:
        while not self._has_been_stopped:
            with translate_errors():
                event = self._sub.get(timeout=0.2)
            if event is None or not self._wanted.matches(event.type, event.tags):
                continue
            self._last_position = event.position
            return _sequenced(event)
        raise StopIteration
