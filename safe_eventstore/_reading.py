"""Reading a database: pages of entries from the storage, the restructure overlay laid over
them, and the events they read as."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import zip_longest

from msgspec.structs import replace

from ._decoding import Decoder, Overrides
from ._exceptions import IntegrityError
from ._inputs import MAX_NUMBER
from ._model import Query, RecordedEvent
from .storage.base import EVENT, Entry, Storage

__all__ = ["PAGE", "Reader", "paged"]

PAGE = 1000

Fetch = Callable[[int, int], list[Entry]]


def paged(
    fetch: Fetch,
    start: int,
    advance: Callable[[Entry], int],
    convert: Callable[[Entry], RecordedEvent | None],
    limit: int | None,
    *,
    full_pages: bool,
    sealed: Decoder | None = None,
) -> Iterator[RecordedEvent]:
    """Events read page by page: ``fetch(at, size)`` gives a page of entries from ``at`` on,
    ``advance(last)`` the ``at`` after a page, ``convert`` an entry's event (``None`` to skip
    it). Pages are cut to ``limit`` unless ``full_pages`` (when entries may be skipped, a
    short page would end the read too early). With ``sealed`` (a stream of an encrypted
    database, no restructures in force), that decoder opens each page's payloads together
    and records the entries with their plaintexts, in place of ``convert``.

    Damaged data never hides the intact events before it: a page is delivered event by
    event up to a payload that fails its check, and a page the storage cannot read at all is
    read again one entry at a time, so the :class:`IntegrityError` comes after them."""
    left = limit if limit is not None else -1
    at = start
    one_by_one = False
    while left != 0:
        size = 1 if one_by_one else PAGE if left < 0 or full_pages else min(PAGE, left)
        try:
            page = fetch(at, size)
        except IntegrityError:
            if one_by_one:
                raise
            one_by_one = True
            continue
        if sealed is None:
            for e in page:
                event = convert(e)
                if event is None:
                    continue
                yield event
                left -= 1
                if left == 0:
                    return
        else:
            record = sealed.record
            # None for the entries after one that does not open: recorded alone, the first
            # of them raises the error it deserves
            for e, opened in zip_longest(page, sealed.open_page(page)):
                yield record(e, None, opened)
                left -= 1
                if left == 0:
                    return
        if len(page) < size:
            return
        at = advance(page[-1])


class Reader:
    """The reads of one database (``db``) of a ``storage``, decoded by ``decoder``."""

    def __init__(self, storage: Storage, db: str, decoder: Decoder) -> None:
        self.storage = storage
        self.db = db
        self.decoder = decoder

    def overrides(self, stream: str | None = None) -> Overrides:
        """The restructures in force, of one stream or of the whole database."""
        return {(r.stream, r.version): r for r in self.storage.restructures(self.db, stream)}

    def stream(
        self, stream: str, version: int, limit: int | None, backwards: bool
    ) -> Iterator[RecordedEvent]:
        self.decoder.refresh()
        overrides = self.overrides(stream)
        step = -1 if backwards else 1
        return paged(
            lambda at, size: self.storage.read_stream(
                self.db, stream, from_version=at, limit=size, backwards=backwards
            ),
            version,
            lambda last: last.version + step,
            self.decoder.applying(overrides),
            limit,
            full_pages=bool(overrides),
            sealed=None if overrides or not self.decoder.encrypted else self.decoder,
        )

    def raw(self, stream: str, version: int, limit: int | None) -> Iterator[RecordedEvent]:
        """The stream's entries of every kind in seq order, from the entry of event
        ``version`` on; originals that a restructure replaced are flagged."""
        self.decoder.refresh()
        seq = 0
        if version > 0:  # start at the entry holding that event version
            first = self.storage.read_stream(
                self.db, stream, from_version=version, limit=1, backwards=False
            )
            if not first:
                return
            seq = first[0].seq
        overrides = self.overrides(stream)
        record = self.decoder.record

        def convert(e: Entry) -> RecordedEvent:
            event = record(e)
            if e.kind == EVENT and (e.stream, e.version) in overrides:
                return replace(event, restructured=True)
            return event

        yield from paged(
            lambda at, size: self.storage.read_entries(self.db, stream, from_seq=at, limit=size),
            seq,
            lambda last: last.seq + 1,
            convert,
            limit,
            full_pages=True,
        )

    def scan(
        self,
        from_position: int | None,
        limit: int | None,
        *,
        backwards: bool = False,
        category: str | None = None,
        types: tuple[str, ...] | None = None,
    ) -> Iterator[RecordedEvent]:
        """The events of the database (or of one category) in position order, newest first
        with ``backwards`` (from ``from_position`` down, by default from the end)."""
        self.decoder.refresh()
        overrides = self.overrides()
        # A restructure may change an event's type, so filter by type after applying them.
        pushed = types if not overrides else None
        convert = self.decoder.applying(overrides)
        if types is not None and overrides:
            applied = convert

            def convert(e: Entry) -> RecordedEvent | None:
                event = applied(e)
                return event if event is not None and event.type in types else None

        if backwards:
            start = MAX_NUMBER if from_position is None else from_position
            fetch = self._fetch_backwards(category, pushed)
        else:
            start = from_position or 0
            fetch = self._fetch_forwards(category, pushed)
        step = -1 if backwards else 1
        return paged(
            fetch,
            start,
            lambda last: last.position + step,
            convert,
            limit,
            full_pages=bool(overrides),
        )

    def _fetch_forwards(self, category: str | None, types: tuple[str, ...] | None) -> Fetch:
        storage, db = self.storage, self.db
        return lambda at, size: storage.read_all(
            db, from_position=at, limit=size, category=category, types=types
        )

    def _fetch_backwards(self, category: str | None, types: tuple[str, ...] | None) -> Fetch:
        storage, db = self.storage, self.db
        return lambda at, size: storage.read_all(
            db, from_position=at, limit=size, category=category, types=types, backwards=True
        )

    def query(self, query: Query, after: int, limit: int | None) -> Iterator[RecordedEvent]:
        """The events after position ``after`` that ``query`` selects, restructures applied."""
        if after >= MAX_NUMBER:
            return iter(())
        self.decoder.refresh()
        overrides = self.overrides()
        # A restructure may change an event's type or tags: with any in the database, read
        # every event and match after applying them.
        convert = self.decoder.applying(overrides)
        if overrides:
            applied = convert

            def convert(e: Entry) -> RecordedEvent | None:
                event = applied(e)
                return (
                    event if event is not None and query.matches(event.type, event.tags) else None
                )

        return paged(
            lambda at, size: self.storage.read_query(
                self.db, Query() if overrides else query, from_position=at, limit=size
            ),
            after + 1,
            lambda last: last.position + 1,
            convert,
            limit,
            full_pages=bool(overrides),
        )
