"""The in-memory backend: for tests and throwaway stores, gone with the process."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

from msgspec.structs import replace

from .._exceptions import DatabaseExists, DatabaseNotFound, StoreClosed
from .._model import AppendCondition, AppendResult, Query
from .._names import category_of
from .base import (
    EVENT,
    RESTRUCTURE,
    Entry,
    Head,
    Storage,
    Write,
    check_checkpoint,
    check_condition,
    matches,
    plan_append,
    result_of,
)

__all__ = ["MemoryStorage"]


@dataclass
class _Database:
    entries: list[Entry] = field(default_factory=list)  # position order
    streams: dict[str, list[Entry]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)  # sorted stream names
    blobs: dict[bytes, bytes] = field(default_factory=dict)
    checkpoints: dict[str, int] = field(default_factory=dict)
    event_ids: dict[tuple[str, bytes], Entry] = field(default_factory=dict)


class MemoryStorage(Storage):
    """Keeps everything in dictionaries behind one lock; appends wake waiters at once."""

    def __init__(self) -> None:
        self._dbs: dict[str, _Database] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closed = False

    def _db(self, name: str) -> _Database:
        if self._closed:
            raise StoreClosed("the store is closed")
        try:
            return self._dbs[name]
        except KeyError:
            raise DatabaseNotFound(f"no database {name!r}") from None

    def create_database(self, name: str) -> None:
        with self._lock:
            if self._closed:
                raise StoreClosed("the store is closed")
            if name in self._dbs:
                raise DatabaseExists(f"database {name!r} exists")
            self._dbs[name] = _Database()

    def list_databases(self) -> list[str]:
        with self._lock:
            return sorted(self._dbs)

    def has_database(self, name: str) -> bool:
        with self._lock:
            return name in self._dbs

    def append(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        checkpoint: tuple[str, int] | None = None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        with self._lock:
            d = self._db(db)
            plans = []
            for w in writes:
                existing = [
                    e
                    for x in w.drafts
                    if x.kind == EVENT
                    and (e := d.event_ids.get((w.stream, x.event_id))) is not None
                ]
                head = self._head(d.streams.get(w.stream))
                plans.append(plan_append(w.stream, head, w.expected, w.drafts, existing))
            fresh = [p for p in plans if not isinstance(p, AppendResult)]
            if plans and not fresh:
                return [p for p in plans if isinstance(p, AppendResult)]
            if condition is not None:
                found = self._query(
                    d, condition.fail_if_events_match, (condition.after or 0) + 1, 1
                )
                check_condition(condition, found[0] if found else None)
            if checkpoint is not None:
                check_checkpoint(checkpoint[0], d.checkpoints.get(checkpoint[0]), checkpoint[1])
                d.checkpoints[checkpoint[0]] = checkpoint[1]
            for address, data in blobs.items():
                d.blobs.setdefault(address, data)
            results = []
            for w, plan in zip(writes, plans, strict=True):
                if isinstance(plan, AppendResult):
                    results.append(plan)
                    continue
                for e in plan:
                    e.position = len(d.entries) + 1
                    d.entries.append(e)
                    if e.kind == EVENT and not w.new_ids:  # no retry looks up a generated id
                        d.event_ids[(w.stream, e.event_id)] = e
                entries = d.streams.get(w.stream)
                if entries is None:
                    entries = d.streams[w.stream] = []
                    bisect.insort(d.categories.setdefault(category_of(w.stream), []), w.stream)
                entries.extend(plan)
                results.append(result_of(plan))
            self._changed.notify_all()
            return results

    @staticmethod
    def _head(entries: list[Entry] | None) -> Head | None:
        if not entries:
            return None
        last = entries[-1]
        version = next(e.version for e in reversed(entries) if e.kind == EVENT)
        return Head(last.seq, version, last.hash, last.position)

    def head(self, db: str, stream: str) -> Head | None:
        with self._lock:
            return self._head(self._db(db).streams.get(stream))

    def _with_payload(self, d: _Database, e: Entry) -> Entry:
        payload = d.blobs.get(e.address) if e.address is not None else None
        return replace(e, payload=payload)

    def read_stream(
        self, db: str, stream: str, *, from_version: int, limit: int, backwards: bool
    ) -> list[Entry]:
        with self._lock:
            d = self._db(db)
            events = [e for e in d.streams.get(stream, ()) if e.kind == EVENT]
            if backwards:
                chosen = [e for e in reversed(events) if e.version <= from_version][:limit]
            else:
                chosen = events[max(from_version, 0) :][:limit]
            return [self._with_payload(d, e) for e in chosen]

    def read_entries(self, db: str, stream: str, *, from_seq: int, limit: int) -> list[Entry]:
        with self._lock:
            d = self._db(db)
            chosen = d.streams.get(stream, [])[max(from_seq, 0) :][:limit]
            return [self._with_payload(d, e) for e in chosen]

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
    ) -> list[Entry]:
        with self._lock:
            d = self._db(db)
            out: list[Entry] = []
            for e in d.entries[max(from_position - 1, 0) :]:
                if len(out) >= limit:
                    break
                if stream is not None and e.stream != stream:
                    continue
                if category is not None and category_of(e.stream) != category:
                    continue
                if e.kind == RESTRUCTURE:
                    if restructures:
                        out.append(self._with_payload(d, e))
                    continue
                if types is not None and e.type not in types:
                    continue
                out.append(self._with_payload(d, e))
            return out

    @staticmethod
    def _query(d: _Database, query: Query, from_position: int, limit: int) -> list[Entry]:
        out: list[Entry] = []
        for e in d.entries[max(from_position - 1, 0) :]:
            if len(out) >= limit:
                break
            if matches(e, query):
                out.append(e)
        return out

    def read_query(self, db: str, query: Query, *, from_position: int, limit: int) -> list[Entry]:
        with self._lock:
            d = self._db(db)
            return [self._with_payload(d, e) for e in self._query(d, query, from_position, limit)]

    def restructures(self, db: str, stream: str | None = None) -> list[Entry]:
        with self._lock:
            d = self._db(db)
            source = d.entries if stream is None else d.streams.get(stream, [])
            return [self._with_payload(d, e) for e in source if e.kind == RESTRUCTURE]

    def last_position(self, db: str) -> int:
        with self._lock:
            return len(self._db(db).entries)

    def list_categories(self, db: str) -> list[str]:
        with self._lock:
            return sorted(self._db(db).categories)

    def list_streams(
        self, db: str, *, category: str | None, after: str | None, limit: int
    ) -> list[str]:
        with self._lock:
            d = self._db(db)
            names = d.categories.get(category, []) if category is not None else sorted(d.streams)
            start = bisect.bisect_right(names, after) if after is not None else 0
            return names[start : start + limit]

    def read_blobs(self, db: str, *, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        with self._lock:
            d = self._db(db)
            keys = sorted(d.blobs)
            start = bisect.bisect_right(keys, after) if after is not None else 0
            return [(k, d.blobs[k]) for k in keys[start : start + limit]]

    def get_checkpoint(self, db: str, name: str) -> int | None:
        with self._lock:
            return self._db(db).checkpoints.get(name)

    def save_checkpoint(self, db: str, name: str, position: int) -> None:
        with self._lock:
            self._db(db).checkpoints[name] = position

    def wait(self, db: str, position: int, timeout: float) -> bool:
        with self._lock:
            return (
                self._changed.wait_for(
                    lambda: self._closed or len(self._db(db).entries) > position, timeout
                )
                and not self._closed
            )

    def stats(self, db: str) -> dict[str, int]:
        with self._lock:
            d = self._db(db)
            events = [e for e in d.entries if e.kind == EVENT]
            return {
                "events": len(events),
                "streams": len(d.streams),
                "restructures": len(d.entries) - len(events),
                "payloads": len(d.blobs),
                "logical_payload_bytes": sum(e.size for e in d.entries),
                "stored_payload_bytes": sum(len(b) for b in d.blobs.values()),
            }

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._changed.notify_all()
