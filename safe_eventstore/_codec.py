"""Payload codecs, the registry of typed events, and the hashes of the IData protocol."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from ._exceptions import InvalidEvent, InvalidName
from ._names import check_name

__all__ = ["EventTypes", "address_of", "entry_hash", "event_type", "event_types"]

T = TypeVar("T")

JSON = "json"
BYTES = "bytes"
CODECS = (JSON, BYTES)

_json_encoder = msgspec.json.Encoder(
    enc_hook=lambda obj: _to_builtins(obj),
    decimal_format="number",
)
_json_decoder = msgspec.json.Decoder()
_hash_encoder = msgspec.msgpack.Encoder()


def _to_builtins(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # pydantic v2 models
    if callable(dump):
        return dump(mode="json")
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise NotImplementedError(f"cannot serialise {type(obj).__name__} as JSON")


def address_of(payload: bytes) -> bytes:
    """The content address of a payload: its SHA-256 digest."""
    return hashlib.sha256(payload).digest()


def entry_hash(fields: tuple[Any, ...]) -> bytes:
    """The chain hash of an entry: SHA-256 over a canonical MessagePack encoding of its fields."""
    return hashlib.sha256(_hash_encoder.encode(fields)).digest()


def encode_json(value: Any, what: str = "data") -> bytes:
    try:
        return _json_encoder.encode(value)
    except (TypeError, NotImplementedError, OverflowError, ValueError) as exc:
        raise InvalidEvent(f"event {what} is not JSON-serialisable: {exc}") from None


# the decoder's own method, not a function around it: reads call it once per event
decode_json: Callable[[bytes], Any] = _json_decoder.decode


class EventTypes:
    """A registry mapping event type names to classes (dataclasses, msgspec Structs or
    pydantic models). Reads decode registered types into instances, others into plain data.

    ::

        @ses.event_type("Deposited")
        @dataclass
        class Deposited:
            amount: int
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type] = {}
        self._by_class: dict[type, str] = {}
        self._decoders: dict[str, Callable[[bytes], Any]] = {}
        self._lock = threading.Lock()

    def register(self, cls: type[T], name: str | None = None) -> type[T]:
        name = check_name(name or cls.__name__, "event type")
        if not _is_typed(cls):
            raise InvalidEvent(
                f"{cls.__name__} is not a dataclass, msgspec Struct or pydantic model"
            )
        with self._lock:
            known = self._by_name.get(name)
            if known is not None and known is not cls:
                raise InvalidName(f"event type {name!r} is already registered to {known!r}")
            self._by_name[name] = cls
            self._by_class[cls] = name
            self._decoders[name] = _decoder_for(cls)
        return cls

    def name_of(self, obj: object) -> str | None:
        """The type name of a typed event instance, registering its class if it is new."""
        cls = type(obj)
        name = self._by_class.get(cls)
        if name is None and _is_typed(cls):
            self.register(cls)
            name = self._by_class[cls]
        return name

    def get(self, name: str) -> type | None:
        return self._by_name.get(name)

    @property
    def decoders(self) -> dict[str, Callable[[bytes], Any]]:
        """The decoder of each registered type name (live: registering adds to it)."""
        return self._decoders

    def decode(self, type_name: str, codec: str, payload: bytes) -> Any:
        if codec == BYTES:
            return payload
        decoder = self._decoders.get(type_name)
        if decoder is not None:
            try:
                return decoder(payload)
            except (msgspec.ValidationError, ValueError, TypeError):
                pass  # stored data no longer fits the class: fall back to plain data
        return _json_decoder.decode(payload)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def _is_typed(cls: type) -> bool:
    return (
        dataclasses.is_dataclass(cls)
        or issubclass(cls, msgspec.Struct)
        or callable(getattr(cls, "model_validate_json", None))
    )


def _decoder_for(cls: type) -> Callable[[bytes], Any]:
    validate_json = getattr(cls, "model_validate_json", None)
    if callable(validate_json):
        return validate_json  # type: ignore[no-any-return]
    return msgspec.json.Decoder(type=cls).decode


event_types = EventTypes()
"""The default registry, used by stores that are not given one."""


def event_type(name: str | None = None) -> Callable[[type[T]], type[T]]:
    """Class decorator registering a typed event in the default registry."""

    def register(cls: type[T]) -> type[T]:
        return event_types.register(cls, name)

    return register
