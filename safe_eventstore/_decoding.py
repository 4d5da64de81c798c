"""From stored entries to :class:`RecordedEvent`: checking each payload against its address,
decoding it, and laying a restructure over the event it replaces or hides."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import TYPE_CHECKING, Any

import msgspec

from ._codec import JSON, SCHEMA_KEY, EventTypes, decode_json
from ._exceptions import IntegrityError, KeyRequired, UpcastError
from ._model import RecordedEvent
from .storage.base import RESTRUCTURE, Entry

if TYPE_CHECKING:
    from ._keyring import KeyHolder, Keyring

__all__ = ["HIDDEN", "SEALED", "Decoder", "Overrides"]

HIDDEN = "$hidden"
"""The type a restructure entry that hides an event reads with."""

SEALED = "$sealed"
"""The metadata key holding an encrypted database's sealed metadata (base64)."""

Overrides = dict[tuple[str, int], Entry]
"""The restructure in force for each ``(stream, version)``: the latest one stored."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A timestamp read back: datetime.fromtimestamp of the seconds as a float is the faster way,
# the exact sum _EPOCH + timedelta the slower (docs/performance.md). Below 2**32 s (the year
# 2106) a double holds the seconds to within half a microsecond, and fromtimestamp rounds to
# the nearest one, so both give the same datetime there; outside, the sum.
_EXACT_US = (1 << 32) * 1_000_000
_from_seconds = datetime.fromtimestamp

_uuid_decoder = msgspec.msgpack.Decoder(uuid.UUID)


def uuid_of(raw: bytes) -> uuid.UUID:
    # A stored id is 16 bytes; msgspec builds a UUID from a MessagePack bin of 16 bytes in
    # C, faster than uuid.UUID(bytes=...) with its argument checks (docs/performance.md).
    try:
        return _uuid_decoder.decode(b"\xc4\x10" + raw)
    except msgspec.MsgspecError:
        raise IntegrityError(f"a stored event id is not 16 bytes: {raw!r}") from None


class Decoder:
    """Turns entries into events with a database's registry of event types (and, for an
    encrypted database, its ``keyring``: payloads and sealed metadata are opened here)."""

    def __init__(self, event_types: EventTypes, keys: KeyHolder | None = None) -> None:
        self._types = event_types
        self._decoders = event_types.decoders
        self._current = event_types.current_versions
        self._holder = keys
        self._keys: Keyring | None = None if keys is None else keys.ring

    def refresh(self) -> None:
        """Before a read: take note of scopes forgotten meanwhile."""
        if self._holder is not None:
            self._keys = keys = self._holder.get()
            if keys is not None:
                keys.refresh()

    def record(
        self, e: Entry, override: Entry | None = None, opened: bytes | None = None
    ) -> RecordedEvent:
        """The event ``e`` reads as, with the content of ``override`` if given. Raises
        :class:`IntegrityError` when a payload is missing or does not match its address.
        ``opened`` is the plaintext of its sealed payload when it was opened already."""
        src = override if override is not None else e
        payload = src.payload
        address = src.address
        meta = src.metadata
        keys = self._keys
        if meta == b"{}":
            metadata = {}
        else:
            metadata = decode_json(meta)
            if keys is not None and SEALED in metadata:
                metadata = self._open_metadata(e, src, metadata)
        forgotten = False
        if address is None:
            payload = b""
            data = None
        else:
            if payload is None or sha256(payload).digest() != address:
                what = "missing" if payload is None else "does not match its address"
                raise IntegrityError(f"{e.stream}@{e.version}: payload {what}")
            assert src.type is not None and src.codec is not None
            if opened is not None:
                payload = opened
            elif keys is not None:
                # opened here, not in a method of its own: reads open every payload
                opener = keys.openers.get(e.stream) or keys.opener(e.stream, src.tags)
                if opener is None:
                    forgotten = True  # its scope's key is destroyed
                    payload = b""
                else:
                    try:
                        payload = opener(payload)
                    except IntegrityError:
                        raise IntegrityError(
                            f"{e.stream}@{e.version}: the payload fails its authentication"
                        ) from None
            if forgotten:
                data = None  # what stays is what was in the clear
            elif src.codec != JSON:
                data = self._types.decode(src.type, src.codec, payload)
            elif src.type in self._current:
                data, metadata = self._upcast(e, src.type, payload, metadata)
            elif src.type not in self._decoders:
                data = decode_json(payload)  # untyped: no registry call in between
            else:
                data = self._types.decode(src.type, JSON, payload)
        corr = e.correlation_id
        cause = e.causation_id
        # positional: a Struct built from positions skips matching keywords (see the field
        # order of RecordedEvent)
        return RecordedEvent(
            e.stream,
            src.type if src.type is not None else HIDDEN,
            data,
            metadata,
            uuid_of(e.event_id),
            None if corr is None else uuid_of(corr),
            None if cause is None else uuid_of(cause),
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
            forgotten,
        )

    def _upcast(
        self, e: Entry, name: str, payload: bytes, metadata: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        """The data of an event whose type has changed shape, at the current version, and
        its metadata, whose schema version then says that version."""
        stored = metadata.get(SCHEMA_KEY, 1)
        current = self._current.get(name, 1)
        if type(stored) is not int or stored >= current:
            # current, or written by a newer schema than this process knows: as it is
            return self._types.decode(name, JSON, payload), metadata
        try:
            data = self._types.upcast(name, decode_json(payload), stored)
        except UpcastError as exc:
            raise UpcastError(
                name,
                stored,
                exc.problem,
                stream=e.stream,
                version=e.version,
                position=e.position,
            ) from exc.__cause__
        return data, {**metadata, SCHEMA_KEY: current}

    def _open_metadata(self, e: Entry, src: Entry, metadata: dict[str, Any]) -> dict[str, Any]:
        keys = self._keys
        assert keys is not None
        sealed = metadata.pop(SEALED)
        cipher = keys.reading(keys.scope_of(e.stream, src.tags))
        if cipher is None:
            return metadata  # forgotten: what was sealed is gone
        try:
            opened = cipher.open_metadata(base64.b64decode(sealed))
        except (IntegrityError, ValueError, TypeError):
            raise IntegrityError(
                f"{e.stream}@{e.version}: the metadata fails its authentication"
            ) from None
        return {**decode_json(opened), **metadata}

    def apply(self, e: Entry, overrides: Overrides) -> RecordedEvent | None:
        """The event ``e`` reads as under ``overrides``; ``None`` when it is hidden."""
        override = overrides.get((e.stream, e.version))
        if override is not None and override.address is None:
            return None  # hidden
        return self.record(e, override)

    def applying(self, overrides: Overrides) -> Callable[[Entry], RecordedEvent | None]:
        """How an entry reads: with no restructures stored, as itself (the fast path)."""
        if not overrides:
            return self.record
        return lambda e: self.apply(e, overrides)

    @property
    def encrypted(self) -> bool:
        """Whether the payloads are sealed (as of the last :meth:`refresh`)."""
        return self._keys is not None

    def open_page(self, page: list[Entry]) -> list[bytes]:
        """The plaintexts of the sealed payloads of a page of one stream's entries, in
        order, up to the first that does not open (empty when the stream's events are
        not all of one key scope, or its scope is forgotten): the entries then recorded
        with them skip a key look-up and a call of their own each."""
        keys = self._keys
        if keys is None or not page or page[0].address is None:
            return []
        try:
            cipher = keys.stream_cipher(page[0].stream)
        except KeyRequired:
            return []  # recorded one by one, each raises the error it would alone
        if cipher is None:
            return []
        return cipher.open_many([e.payload for e in page])
