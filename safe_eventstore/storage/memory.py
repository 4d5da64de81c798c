"""The in-memory backend: for tests and throwaway stores, gone with the process."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

import msgspec
from msgspec.structs import replace

from .._documents import DocumentQuery
from .._exceptions import DatabaseExists, DatabaseNotFound, StoreClosed
from .._model import AppendCondition, AppendResult, Query
from .._names import category_of
from ._leases import decide_release, decide_take
from .base import (
    EVENT,
    RESTRUCTURE,
    BatchSignature,
    Entry,
    Head,
    LeaseRecord,
    Signer,
    Storage,
    Transaction,
    Write,
    indexed,
    matches,
    page_after,
    placed,
    read_all_filter,
    run_append,
    statistics,
    take,
)
from .documents import DocumentRow, DocumentStorage

__all__ = ["MemoryStorage"]


@dataclass
class _Database:
    entries: list[Entry] = field(default_factory=list)  # position order
    streams: dict[str, list[Entry]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)  # sorted stream names
    blobs: dict[bytes, bytes] = field(default_factory=dict)
    checkpoints: dict[str, int] = field(default_factory=dict)
    signatures: list[BatchSignature] = field(default_factory=list)  # position order
    event_ids: dict[tuple[str, bytes], Entry] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)  # wrapped data keys by scope
    leases: dict[str, LeaseRecord] = field(default_factory=dict)
    documents: dict[str, dict[str, bytes]] = field(default_factory=dict)  # by collection, key
    document_fields: dict[str, set[str]] = field(default_factory=dict)


class _Transaction(Transaction):
    """An append's primitives on one database, under the storage's lock."""

    def __init__(self, d: _Database) -> None:
        self.d = d

    def head(self, stream: str) -> Head | None:
        return _head(self.d.streams.get(stream))

    def existing(self, stream: str, event_ids: list[bytes]) -> list[Entry]:
        index = self.d.event_ids
        return [e for i in event_ids if (e := index.get((stream, i))) is not None]

    def at_versions(self, stream: str, first: int, event_ids: list[bytes]) -> list[Entry]:
        entries = self.d.streams.get(stream, [])
        # an event's seq is its version plus the restructures before it: it is no earlier
        return placed(event_ids, first, (e for e in entries[first:] if e.kind == EVENT))

    def first_match(self, query: Query, from_position: int) -> Entry | None:
        found = _query(self.d, query, from_position, 1)
        return found[0] if found else None

    def checkpoint(self, name: str) -> int | None:
        return self.d.checkpoints.get(name)

    def store(self, write: Write, entries: list[Entry], head: Head | None) -> None:
        d = self.d
        keyed = indexed(write)
        for e in entries:
            e.position = len(d.entries) + 1
            d.entries.append(e)
            if e.kind == EVENT and keyed:
                d.event_ids[(write.stream, e.event_id)] = e
        stream = d.streams.get(write.stream)
        if stream is None:
            stream = d.streams[write.stream] = []
            bisect.insort(d.categories.setdefault(category_of(write.stream), []), write.stream)
        stream.extend(entries)

    def last_signature(self) -> BatchSignature | None:
        return self.d.signatures[-1] if self.d.signatures else None

    def store_signature(self, signature: BatchSignature) -> None:
        self.d.signatures.append(signature)

    def store_documents(self, documents: list[DocumentRow]) -> None:
        for collection, key, body in documents:
            stored = self.d.documents.setdefault(collection, {})
            if body is None:
                stored.pop(key, None)
            else:
                stored[key] = body

    def finish(self, blobs: dict[bytes, bytes], checkpoint: tuple[str, int] | None) -> None:
        for address, data in blobs.items():
            self.d.blobs.setdefault(address, data)
        if checkpoint is not None:
            self.d.checkpoints[checkpoint[0]] = checkpoint[1]


def _head(entries: list[Entry] | None) -> Head | None:
    if not entries:
        return None
    last = entries[-1]
    version = next(e.version for e in reversed(entries) if e.kind == EVENT)
    return Head(last.seq, version, last.hash, last.position)


def _query(d: _Database, query: Query, from_position: int, limit: int) -> list[Entry]:
    return take(
        islice(d.entries, max(from_position - 1, 0), None), lambda e: matches(e, query), limit
    )


class MemoryStorage(Storage, DocumentStorage):
    """Keeps everything in dictionaries behind one lock; appends wake waiters at once.
    Document queries scan the collection (:meth:`DocumentQuery.select`)."""

    signs_batches = True
    large_batches = True

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

    def create_database_with(self, name: str, settings: dict[str, str]) -> None:
        with self._lock:
            if self._closed:
                raise StoreClosed("the store is closed")
            if name in self._dbs:
                raise DatabaseExists(f"database {name!r} exists")
            self._dbs[name] = _Database(settings=dict(settings))

    def database_settings(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._db(name).settings)

    def add_key(self, db: str, scope: str, wrapped: bytes) -> bytes:
        with self._lock:
            return self._db(db).keys.setdefault(scope, wrapped)

    def read_keys(self, db: str, scopes: Iterable[str] | None = None) -> dict[str, bytes]:
        with self._lock:
            keys = self._db(db).keys
            if scopes is None:
                return dict(keys)
            return {s: keys[s] for s in scopes if s in keys}

    def replace_keys(self, db: str, wrapped: dict[str, bytes]) -> None:
        with self._lock:
            keys = self._db(db).keys
            keys.update((s, w) for s, w in wrapped.items() if keys.get(s))

    def destroy_key(self, db: str, scope: str) -> bool:
        with self._lock:
            keys = self._db(db).keys
            if not keys.get(scope):
                return False
            keys[scope] = b""
            return True

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
            results = run_append(_Transaction(self._db(db)), writes, blobs, checkpoint, condition)
            self._changed.notify_all()
            return results

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
        with self._lock:
            tx = _Transaction(self._db(db))
            results = run_append(tx, writes, blobs, checkpoint, condition, signer=signer, db=db)
            self._changed.notify_all()
            return results

    def append_documents(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        documents: list[DocumentRow],
        checkpoint: tuple[str, int] | None = None,
        signer: Signer | None = None,
    ) -> list[AppendResult]:
        with self._lock:
            tx = _Transaction(self._db(db))
            results = run_append(
                tx, writes, blobs, checkpoint, None, signer=signer, db=db, documents=documents
            )
            self._changed.notify_all()
            return results

    def declare_document_index(self, db: str, collection: str, fields: tuple[str, ...]) -> None:
        with self._lock:
            self._db(db).document_fields.setdefault(collection, set()).update(fields)

    def document_fields(self, db: str, collection: str) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._db(db).document_fields.get(collection, ())))

    def get_document(self, db: str, collection: str, key: str) -> bytes | None:
        with self._lock:
            return self._db(db).documents.get(collection, {}).get(key)

    def _decoded(self, db: str, collection: str) -> dict[str, tuple[bytes, object]]:
        with self._lock:
            stored = dict(self._db(db).documents.get(collection, {}))
        return {k: (b, msgspec.json.decode(b)) for k, b in stored.items()}

    def query_documents(
        self, db: str, collection: str, query: DocumentQuery
    ) -> list[tuple[str, bytes]]:
        found = self._decoded(db, collection)
        rows = query.ordered((k, v) for k, (_, v) in found.items())
        return [(k, found[k][0]) for k, _ in rows]

    def count_documents(self, db: str, collection: str, query: DocumentQuery) -> int:
        return query.count((k, v) for k, (_, v) in self._decoded(db, collection).items())

    def read_signatures(self, db: str, *, after: int, limit: int) -> list[BatchSignature]:
        with self._lock:
            signatures = self._db(db).signatures
            start = bisect.bisect_right(signatures, after, key=lambda s: s.position)
            return signatures[start : start + max(limit, 0)]

    def head(self, db: str, stream: str) -> Head | None:
        with self._lock:
            return _head(self._db(db).streams.get(stream))

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
        backwards: bool = False,
    ) -> list[Entry]:
        keep = read_all_filter(
            stream=stream, category=category, types=types, restructures=restructures
        )
        with self._lock:
            d = self._db(db)
            if backwards:
                chosen: Iterable[Entry] = reversed(d.entries[: max(from_position, 0)])
            else:
                chosen = islice(d.entries, max(from_position - 1, 0), None)
            return [self._with_payload(d, e) for e in take(chosen, keep, limit)]

    def read_query(self, db: str, query: Query, *, from_position: int, limit: int) -> list[Entry]:
        with self._lock:
            d = self._db(db)
            return [self._with_payload(d, e) for e in _query(d, query, from_position, limit)]

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
            return page_after(names, after, limit)

    def read_blobs(self, db: str, *, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        with self._lock:
            d = self._db(db)
            return [(k, d.blobs[k]) for k in page_after(sorted(d.blobs), after, limit)]

    def get_checkpoint(self, db: str, name: str) -> int | None:
        with self._lock:
            return self._db(db).checkpoints.get(name)

    def save_checkpoint(self, db: str, name: str, position: int) -> None:
        with self._lock:
            self._db(db).checkpoints[name] = position

    def list_checkpoints(self, db: str) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._db(db).checkpoints.items()))

    def delete_checkpoint(self, db: str, name: str) -> bool:
        with self._lock:
            return self._db(db).checkpoints.pop(name, None) is not None

    def take_lease(
        self, db: str, name: str, owner: str, ttl: float, info: bytes, now: int
    ) -> LeaseRecord | None:
        with self._lock:
            leases = self._db(db).leases
            taken = decide_take(leases.get(name), name, owner, ttl, info, now)
            if taken is not None:
                leases[name] = taken
            return taken

    def release_lease(self, db: str, name: str, owner: str) -> bool:
        with self._lock:
            leases = self._db(db).leases
            freed = decide_release(leases.get(name), owner)
            if freed is None:
                return False
            leases[name] = freed
            return True

    def read_leases(self, db: str, name: str | None = None) -> list[LeaseRecord]:
        with self._lock:
            leases = self._db(db).leases
            if name is not None:
                return [leases[name]] if name in leases else []
            return [leases[n] for n in sorted(leases)]

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
            return statistics(
                events=len(events),
                streams=len(d.streams),
                restructures=len(d.entries) - len(events),
                payloads=len(d.blobs),
                logical_payload_bytes=sum(e.size for e in d.entries),
                stored_payload_bytes=sum(len(b) for b in d.blobs.values()),
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._changed.notify_all()
