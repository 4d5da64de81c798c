"""Subscriptions: a database's events in position order, first those stored, then live ones
as the storage wakes the reader."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from ._checkpoints import Checkpoints
from ._decoding import Overrides
from ._exceptions import IntegrityError, InvalidInput
from ._model import RecordedEvent
from ._reading import PAGE, Reader
from .storage.base import RESTRUCTURE, Entry

__all__ = ["Subscription"]


class Subscription:
    """Delivers a database's events in position order: first those stored, then live ones.

    Iterate it (blocking), or call :meth:`get` with a timeout. Close it (or leave its
    ``with`` block) to stop; closing from another thread ends a blocked iteration. Damaged
    data is reported in order: every intact event before it is delivered, then
    :class:`IntegrityError` is raised (again on each later call, as delivery cannot pass it).
    """

    def __init__(
        self,
        reader: Reader,
        checkpoints: Checkpoints,
        stream: str | None,
        category: str | None,
        start: int,
        checkpoint: str | None,
        idle_timeout: float | None,
        restructures: bool = False,
    ) -> None:
        self._reader = reader
        self._checkpoints = checkpoints
        self._restructures = restructures
        self._stream = stream
        self._category = category
        self._next = max(start, 1)
        self.checkpoint = checkpoint
        self._idle = idle_timeout
        # The page read last, decoded one entry at a time as events are taken: a page of
        # decoded events held at once would make the cyclic garbage collector walk them
        # (docs/performance.md); entries are outside it.
        self._entries: list[Entry] = []
        self._at = 0  # the next entry of the page to decode
        self._overrides: Overrides | None = None  # loaded by the first read
        self._one_by_one = False  # after a page the storage could not read
        self._behind = False  # the last page read was full: more are likely stored
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

    def _page(self) -> list[Entry]:
        reader = self._reader
        size = 1 if self._one_by_one else PAGE
        try:
            return reader.storage.read_all(
                reader.db, from_position=self._next, limit=size, stream=self._stream,
                category=self._category, restructures=True,
            )  # fmt: skip
        except IntegrityError:
            if self._one_by_one:
                raise
            self._one_by_one = True  # to reach the intact entries before the damaged one
            return self._page()

    def _fill(self) -> None:
        if self._overrides is None:
            self._overrides = self._reader.overrides()
        # Read the horizon first: no entry at or below it can appear later (positions never
        # arrive late), so a filtered subscription may skip past it when nothing matched.
        # Not while catching up (the page before was full): a full page has no use for it,
        # and a short one leaves the skip to the next read, which takes the horizon first.
        # (On a server the horizon is a request of its own.)
        horizon = None if self._behind else self._reader.storage.last_position(self._reader.db)
        self._reader.decoder.refresh()
        page = self._page()
        self._entries, self._at = page, 0
        size = 1 if self._one_by_one else PAGE
        if page:
            self._next = page[-1].position + 1
        self._behind = len(page) == size
        if not self._behind and horizon is not None:
            self._next = max(self._next, horizon + 1)

    def _take(self) -> RecordedEvent | None:
        """The next event of the page read last, ``None`` when the page is used up."""
        entries, overrides = self._entries, self._overrides
        decoder = self._reader.decoder
        event: RecordedEvent | None
        while self._at < len(entries):
            assert overrides is not None  # loaded with the page
            e = entries[self._at]
            self._at += 1
            try:
                if e.kind == RESTRUCTURE:
                    overrides[(e.stream, e.version)] = e
                    if not self._restructures:
                        continue
                    event = decoder.record(e)
                else:
                    event = decoder.apply(e, overrides) if overrides else decoder.record(e)
            except IntegrityError:
                # read it again next time: delivery cannot pass it
                self._entries, self._at, self._next = [], 0, e.position
                raise
            if event is not None:
                self.position = event.position
                return event
        return None

    def get(self, timeout: float | None = None) -> RecordedEvent | None:
        """The next event, waiting up to ``timeout`` seconds (forever when ``None``);
        ``None`` when the time passes or the subscription is closed."""
        event = self._take()
        if event is not None:
            return event
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed.is_set():
                return None
            self._fill()
            event = self._take()
            if event is not None:
                return event
            if self._entries:
                continue  # a page of entries that read as no events: read on
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._reader.storage.wait(self._reader.db, self._next - 1, min(remaining, 1.0))

    def save_checkpoint(self, position: int | None = None) -> None:
        """Store ``position`` (by default the last delivered one) under the checkpoint name."""
        if self.checkpoint is None:
            raise InvalidInput("this subscription was opened without a checkpoint name")
        position = self.position if position is None else position
        if position is None:
            return
        self._checkpoints.save(self.checkpoint, position)

    def close(self) -> None:
        """Stop the subscription; iteration ends."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        """Whether the subscription is closed."""
        return self._closed.is_set()
