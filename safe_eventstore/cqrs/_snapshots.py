"""Snapshots: an aggregate's state at a version, stored as an entry of a companion stream.

The state (the aggregate's attributes) is encoded with MessagePack and decoded through a
msgspec struct whose field types are the class's annotations, else the types of the values
``__init__`` set. A snapshot is written only when it reads back equal to the state, so a
state that does not round-trip is never restored wrongly: it is replayed from events.

Each snapshot carries the class's shape: a fingerprint of its qualified name, its
``snapshot_version``, and its attributes and their types. A snapshot of another shape is
ignored (the aggregate is replayed from its events instead), never an error."""

from __future__ import annotations

import hashlib
import logging
import typing
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

import safe_eventstore as ses

from ._aggregate import Aggregate, initial_types
from ._names import snapshot_stream

__all__ = ["SNAPSHOT_TYPE", "Snapshot", "encode", "restore", "snapshot_stream", "wanted"]

SNAPSHOT_TYPE = "Snapshot"
_ENCODING = "msgpack"
_PLAIN = (int, float, str, bool, bytes)
log = logging.getLogger("safe_eventstore.cqrs")


class _Codec:
    def __init__(self, cls: type[Aggregate], fields: dict[str, Any], shape: str) -> None:
        self.shape = shape
        self.fields = tuple(fields)
        state = msgspec.defstruct(f"{cls.__name__}State", list(fields.items()))
        self.decode: Callable[[bytes], Any] = msgspec.msgpack.Decoder(state).decode
        self.encode = msgspec.msgpack.Encoder().encode
        self.refused = False  # the state did not round-trip once: snapshots are off


_codecs: dict[type, _Codec] = {}


def _annotations(cls: type) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: fall back to the values' types
        return {}
    return {
        k: v
        for k, v in hints.items()
        if not k.startswith("_cqrs")
        and typing.get_origin(v) is not typing.ClassVar
        and v is not typing.ClassVar
    }


def codec_of(cls: type[Aggregate]) -> _Codec | None:
    """The state codec of an aggregate class (``None`` before its first instance exists)."""
    codec = _codecs.get(cls)
    if codec is None:
        initial = initial_types.get(cls)
        if initial is None:
            return None
        fields: dict[str, Any] = {k: t if t in _PLAIN else Any for k, t in initial.items()}
        fields.update(_annotations(cls))
        spelled = sorted((k, getattr(t, "__qualname__", repr(t))) for k, t in fields.items())
        shape = hashlib.sha256(
            repr((cls.__module__, cls.__qualname__, cls.snapshot_version, spelled)).encode()
        ).hexdigest()[:32]
        codec = _codecs[cls] = _Codec(cls, fields, shape)
    return codec


def wanted(aggregate: Aggregate, before: int, after: int) -> bool:
    """Whether a save moving the aggregate from version ``before`` to ``after`` crosses a
    multiple of ``snapshot_every`` events."""
    every = aggregate.snapshot_every
    return every is not None and (after + 1) // every > (before + 1) // every


def encode(aggregate: Aggregate, version: int, event_id: uuid.UUID) -> ses.NewEvent | None:
    """The snapshot entry of ``aggregate``'s state at ``version``, or ``None`` when its state
    does not read back equal (logged once per class; the save goes on without it)."""
    cls = type(aggregate)
    codec = codec_of(cls)
    if codec is None or codec.refused:
        return None
    state = vars(aggregate)
    try:
        payload = codec.encode(state)
        back = _fields(codec, codec.decode(payload))
        same = back == state
    except Exception as exc:  # any value msgspec cannot encode or decode
        same, why = False, f"cannot be encoded ({type(exc).__name__}: {exc})"
    else:
        why = "does not read back equal (annotate the attributes with their types)"
    if not same:
        codec.refused = True
        log.warning("snapshots of %s are off: its state %s", cls.__qualname__, why)
        return None
    return ses.NewEvent(
        SNAPSHOT_TYPE,
        payload,
        metadata={
            "version": version,
            "event_id": str(event_id),
            "shape": codec.shape,
            "encoding": _ENCODING,
        },
    )


def _fields(codec: _Codec, decoded: Any) -> dict[str, Any]:
    return {name: getattr(decoded, name) for name in codec.fields}


class Snapshot(msgspec.Struct, frozen=True):
    """A usable snapshot: the state, the aggregate version it was taken at, and the id of
    the event at that version (a load checks it, so a snapshot written beside an append that
    turned out to be an idempotent retry, of a state that never existed, is ignored)."""

    version: int
    event_id: str
    state: dict[str, Any]


def restore(cls: type[Aggregate], event: ses.RecordedEvent) -> Snapshot | None:
    """The snapshot in a stored entry, or ``None`` when it is of another shape (or cannot be
    decoded any more)."""
    codec = codec_of(cls)
    meta = event.metadata
    if (
        codec is None
        or meta.get("shape") != codec.shape
        or meta.get("encoding") != _ENCODING
        or not isinstance(event.data, bytes)
        or type(meta.get("version")) is not int
        or type(meta.get("event_id")) is not str
    ):
        return None
    try:
        state = _fields(codec, codec.decode(event.data))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return Snapshot(meta["version"], meta["event_id"], state)


def version_of(event: ses.RecordedEvent) -> int | None:
    version = event.metadata.get("version")
    return version if type(version) is int else None


def stream_of(aggregate: Aggregate) -> str:
    return snapshot_stream(aggregate.category, aggregate.id)
