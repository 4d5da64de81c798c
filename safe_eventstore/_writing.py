"""Writing to a database: events checked and encoded into drafts (payload, metadata, ids,
timestamp), the expected versions checked, and the batch handed to the storage."""

from __future__ import annotations

import base64
import hashlib
import operator
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._codec import BYTES, JSON, SCHEMA_KEY, EventTypes, decode_json, encode_json
from ._decoding import SEALED
from ._exceptions import (
    EventNotFound,
    EventTooLarge,
    InvalidEvent,
    InvalidInput,
    NotSupported,
    StreamNotFound,
)
from ._inputs import EVENTS_STREAM, FORGOTTEN_STREAM, MAX_NUMBER, check_count, check_query
from ._model import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendCondition,
    AppendResult,
    MadeId,
    NewEvent,
    StreamAppend,
    new_event_id,
)
from ._names import check_name
from .crypto import FORGOTTEN_TYPE
from .storage.base import EVENT, RESTRUCTURE, Draft, Signer, Storage, Write
from .storage.documents import DocumentStorage

if TYPE_CHECKING:
    from ._keyring import KeyHolder

__all__ = ["Writer", "check_expected", "new_event_id"]


_NAMES_KEPT = 1000
_sha256 = hashlib.sha256


def _now_us() -> int:
    return time.time_ns() // 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _timestamp_us(value: object) -> int:
    """Microseconds since the Unix epoch: of a given timestamp, else of now."""
    if value is None:
        return _now_us()
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidEvent(f"timestamp must be a timezone-aware datetime, not {value!r}")
    return (value - _EPOCH) // _MICROSECOND


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


def check_expected(expected: object) -> int:
    if (
        isinstance(expected, bool)
        or not isinstance(expected, int)
        or (expected < 0 and expected not in (NO_STREAM, ANY, STREAM_EXISTS))
        or expected > MAX_NUMBER
    ):
        raise InvalidEvent(
            f"expected_version must be a version from 0 to 2**63-1, NO_STREAM, ANY or "
            f"STREAM_EXISTS, not {expected!r}"
        )
    return expected


def _check_metadata(metadata: object) -> None:
    if not isinstance(metadata, dict):
        raise InvalidEvent(f"metadata must be a dict, not {type(metadata).__name__}")
    for key in metadata:
        if key == SCHEMA_KEY:
            version = metadata[key]
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise InvalidEvent(
                    f"metadata {SCHEMA_KEY!r} is the event's schema version, a whole number "
                    f"from 1, not {version!r}"
                )
        elif isinstance(key, str) and key.startswith("$"):
            raise InvalidEvent(
                f"metadata key {key!r}: keys starting with '$' are kept for the store's own use "
                f"(of them, only {SCHEMA_KEY!r} may be given)"
            )


def _check_tags(tags: object) -> tuple[str, ...]:
    if not tags:
        return ()
    # NewEvent refuses one string already; this catches what bypassed its check.
    if isinstance(tags, str | bytes | bytearray) or not isinstance(tags, Iterable):
        raise InvalidEvent(f"tags must be a list of tag names, not {tags!r}")
    return tuple(check_name(t, "tag") for t in tags)


_event_id = operator.attrgetter("event_id")


def _check_ids(writes: list[Write]) -> None:
    ids: set[bytes] = set()
    for w in writes:
        ids.update(map(_event_id, w.drafts))
    if len(ids) != sum(len(w.drafts) for w in writes):
        raise InvalidEvent(
            "a batch may not repeat an event id (a NewEvent is one event, with its id: "
            "make a NewEvent for each event)"
        )


class Writer:
    """The writes of one database (``db``) of a ``storage``."""

    def __init__(
        self,
        storage: Storage,
        db: str,
        event_types: EventTypes,
        max_event_size: int,
        signer: Signer | None = None,
        keys: KeyHolder | None = None,
    ) -> None:
        self.storage = storage
        self.db = db
        self._types = event_types
        self._current = event_types.current_versions
        self._max_event_size = max_event_size
        self._signer = signer
        self._holder = keys
        self._keys = None if keys is None else keys.ring
        self._names: set[str] = set()  # event type names already checked
        self._streams: set[str] = set()  # stream names already checked by append()
        # an append of one NewEvent leaves its draft to the storage (Write.later), where
        # the storage takes that (docs/performance.md)
        self._later = storage.drafts_later

    def _store(
        self,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        checkpoint: tuple[str, int] | None = None,
        condition: AppendCondition | None = None,
    ) -> list[AppendResult]:
        if self._signer is None:
            return self.storage.append(
                self.db, writes, blobs, checkpoint=checkpoint, condition=condition
            )
        return self.storage.append_signed(
            self.db, writes, blobs, signer=self._signer, checkpoint=checkpoint, condition=condition
        )

    def _new_event(self, event: object) -> NewEvent:
        """``event`` as a NewEvent: a typed event (or plain data) given without one gets
        a new id at each append, since the object carries none a retry could repeat."""
        if isinstance(event, NewEvent):
            return event
        name = self._types.name_of(event)
        if name is None:
            raise InvalidEvent(
                f"cannot append {type(event).__name__}: give a NewEvent, a dataclass, "
                "a msgspec Struct or a pydantic model"
            )
        return NewEvent(name, event, event_id=None)

    def _check_type(self, name: str) -> None:
        check_name(name, "event type")
        if len(self._names) >= _NAMES_KEPT:  # bounded: names may come from anywhere
            self._names.clear()
        self._names.add(name)

    def _metadata(self, name: str, meta: dict[str, Any] | None, codec: str) -> bytes:
        if meta is not None:
            _check_metadata(meta)
        if codec == JSON and (name in self._current or (meta and SCHEMA_KEY in meta)):
            meta = self._versioned(name, meta)
        return encode_json(meta, "metadata") if meta else b"{}"

    def draft(
        self,
        event: object,
        blobs: dict[bytes, bytes],
        kind: int = EVENT,
        stream: str = "",
        now: int | None = None,
    ) -> Draft:
        """The draft of one event of ``stream``; its payload goes into ``blobs`` by address
        (sealed first, in an encrypted database: the address is the ciphertext's). Its
        timestamp, unless the event gives one, is ``now`` (the append's), else the clock's."""
        if type(event) is not NewEvent:
            event = self._new_event(event)
        name = event.type
        if name not in self._names:
            self._check_type(name)
        data = event.data
        if type(data) is not dict and isinstance(data, bytes | bytearray | memoryview):
            payload, codec = bytes(data), BYTES
        else:
            payload, codec = encode_json(data), JSON
        meta = event.metadata
        if meta is None and name not in self._current:
            metadata = b"{}"
        else:
            metadata = self._metadata(name, meta, codec)
        size = len(payload) + len(metadata)
        if size > self._max_event_size:
            raise EventTooLarge(size, self._max_event_size)
        tags = _check_tags(event.tags) if event.tags else ()
        given = event.event_id
        if type(given) is MadeId:  # the usual id: its bytes without the property's call
            event_id: bytes | None = given.int.to_bytes(16, "big")
        else:
            event_id = given.bytes if isinstance(given, uuid.UUID) else _uuid(given, "event_id")
        if self._keys is not None:
            payload, metadata = self._seal(payload, metadata, stream, tags)
        address = _sha256(payload).digest()
        blobs[address] = payload
        correlation, causation, given_time = (
            event.correlation_id,
            event.causation_id,
            event.timestamp,
        )
        if given_time is not None:
            timestamp = _timestamp_us(given_time)
        else:
            timestamp = _now_us() if now is None else now
        return Draft(
            kind,
            event_id or new_event_id(),
            name,
            None if correlation is None else _uuid(correlation, "correlation_id"),
            None if causation is None else _uuid(causation, "causation_id"),
            timestamp,
            metadata,
            tags,
            address,
            codec,
            len(payload),
        )

    def _seal(
        self, payload: bytes, metadata: bytes, stream: str, tags: tuple[str, ...]
    ) -> tuple[bytes, bytes]:
        """The payload (and metadata, if the database says so) sealed with the key of the
        scope they belong to."""
        keys = self._keys
        assert keys is not None
        payload = (keys.sealers.get(stream) or keys.sealer(stream, tags))(payload)
        if keys.encrypt_metadata and metadata != b"{}":
            cipher = keys.writing(keys.scope_of(stream, tags))
            sealed = base64.b64encode(cipher.seal_metadata(metadata)).decode()
            metadata = encode_json({SEALED: sealed})
        return payload, metadata

    def _versioned(self, type: str, meta: dict[str, Any] | None) -> dict[str, Any]:
        """The metadata recording the event's schema version: the one given, else the
        type's current one; version 1 is recorded by leaving the key out."""
        meta = dict(meta or {})
        version = meta.pop(SCHEMA_KEY, None) or self._current.get(type, 1)
        if version > 1:
            meta[SCHEMA_KEY] = version
        return meta

    def write(self, stream: str, events: object, blobs: dict[bytes, bytes], expected: int) -> Write:
        """One stream's part of a batch."""
        if type(events) is not list and (  # a list passes without the ABC check
            isinstance(events, NewEvent | str | bytes) or not isinstance(events, Iterable)
        ):
            raise InvalidEvent("events must be a list of events")
        drafts: list[Draft] = []
        draft, add, now = self.draft, drafts.append, _now_us()
        # No event id came from the caller: plain data and typed events given without a
        # NewEvent, and NewEvents made with event_id=None, get new ids at each append.
        # Ids made with their NewEvents (every one of them) let a retry be found by position.
        new_ids = made = True
        for e in events:
            add(draft(e, blobs, EVENT, stream, now))
            given = e.event_id if isinstance(e, NewEvent) else None
            if given is None:
                made = False
            else:
                new_ids = False
                if made and type(given) is not MadeId:  # (made_here, inline: every event)
                    made = False
        if not drafts:
            raise InvalidEvent(f"stream {stream!r}: a batch needs at least one event")
        return Write(stream, drafts, expected, new_ids, made)

    def refresh(self) -> None:
        """Before an append: take note of scopes forgotten meanwhile."""
        if self._holder is not None:
            self._keys = keys = self._holder.get()
            if keys is not None:
                keys.refresh()

    def append(self, stream: str, events: object, expected_version: object) -> AppendResult:
        """One stream's append: :meth:`append_batch` of one :class:`StreamAppend`, without
        the checks that only a batch of several needs."""
        self.refresh()
        if type(stream) is not str or stream not in self._streams:  # (a list is unhashable)
            check_name(stream)
            if len(self._streams) >= _NAMES_KEPT:  # bounded, as the type names
                self._streams.clear()
            self._streams.add(stream)
        expected = check_expected(expected_version)
        blobs: dict[bytes, bytes] = {}
        if self._later and self._keys is None and type(events) is list and len(events) == 1:
            event = events[0]
            if type(event) is NewEvent:  # the usual append: drafted by the storing thread
                given = event.event_id
                write = Write(stream, [], expected, given is None, type(given) is MadeId)
                write.later = lambda: [self.draft(event, blobs, EVENT, stream)]
                return self._store([write], blobs)[0]
        write = self.write(stream, events, blobs, expected)
        if len(write.drafts) > 1:
            _check_ids([write])
        return self._store([write], blobs)[0]

    def append_batch(
        self,
        appends: Iterable[StreamAppend],
        checkpoint: tuple[str, int] | None,
        documents: list[tuple[str, str, bytes | None]] | None = None,
    ) -> list[AppendResult]:
        self.refresh()
        blobs: dict[bytes, bytes] = {}
        writes: list[Write] = []
        for a in appends:
            if not isinstance(a, StreamAppend):
                raise InvalidEvent(f"append_batch takes StreamAppend items, not {a!r}")
            check_name(a.stream)
            expected = check_expected(a.expected_version)
            writes.append(self.write(a.stream, a.events, blobs, expected))
        if not writes and checkpoint is None:
            raise InvalidEvent("a batch needs at least one event")
        if len({w.stream for w in writes}) != len(writes):
            raise InvalidEvent("a batch may name each stream once")
        _check_ids(writes)
        if checkpoint is not None:
            name, position = checkpoint
            check_name(name, "checkpoint")
            check_count(position, "checkpoint position")
        if documents:
            if not writes:
                raise InvalidEvent("documents are written with at least one event")
            storage = self.storage
            if not isinstance(storage, DocumentStorage):
                raise NotSupported(f"{type(storage).__name__} does not keep documents")
            return storage.append_documents(
                self.db, writes, blobs, documents=documents, checkpoint=checkpoint,
                signer=self._signer,
            )  # fmt: skip
        return self._store(writes, blobs, checkpoint=checkpoint)

    def append_events(
        self, events: Iterable[NewEvent | Any], condition: AppendCondition | None
    ) -> AppendResult:
        if condition is not None:
            if not isinstance(condition, AppendCondition):
                raise InvalidInput(f"condition must be an AppendCondition, not {condition!r}")
            check_count(condition.after, "condition.after")
            condition = AppendCondition(
                check_query(condition.fail_if_events_match), condition.after
            )
        self.refresh()
        blobs: dict[bytes, bytes] = {}
        write = self.write(EVENTS_STREAM, events, blobs, ANY)
        _check_ids([write])
        return self._store([write], blobs, condition=condition)[0]

    def record_forgotten(self, scope: str) -> AppendResult:
        """Append the ``ScopeForgotten`` event of ``scope`` to ``$forgotten``."""
        blobs: dict[bytes, bytes] = {}
        event = NewEvent(FORGOTTEN_TYPE, {"scope": scope})
        write = self.write(FORGOTTEN_STREAM, [event], blobs, ANY)
        return self._store([write], blobs)[0]

    def restructure(
        self,
        stream: str,
        version: int,
        replacement: NewEvent | Any | None,
        reason: str,
        event_id: object = None,
        timestamp: object = None,
    ) -> AppendResult:
        check_name(stream)
        if isinstance(version, bool) or not isinstance(version, int) or version > MAX_NUMBER:
            raise InvalidEvent(f"version must be an int up to 2**63-1, not {version!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidEvent("a restructure needs a reason")
        self.refresh()
        head = self.storage.head(self.db, stream)
        if head is None:
            raise StreamNotFound(f"no stream {stream!r} in database {self.db!r}")
        if not 0 <= version <= head.version:
            raise EventNotFound(f"stream {stream!r} has no version {version}")
        if replacement is not None and (event_id is not None or timestamp is not None):
            raise InvalidEvent("a replacement carries its own event_id and timestamp")
        blobs: dict[bytes, bytes] = {}
        marker = {"$restructure": {"reason": reason}}
        if replacement is None:
            draft = Draft(
                RESTRUCTURE,
                _uuid(event_id, "event_id") or new_event_id(),
                None, None, None, _timestamp_us(timestamp),
                encode_json(marker), (), None, None, 0,
            )  # fmt: skip
        else:
            draft = self.draft(replacement, blobs, RESTRUCTURE, stream)
            draft.metadata = encode_json({**decode_json(draft.metadata), **marker})
        draft.target = version
        write = Write(stream, [draft], STREAM_EXISTS)
        return self._store([write], blobs)[0]
