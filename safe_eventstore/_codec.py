"""Payload codecs, the registry of typed events, and the hashes of the IData protocol."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgspec

from ._exceptions import InvalidEvent, InvalidName, UpcastError
from ._names import check_name

__all__ = [
    "SCHEMA_KEY",
    "EventTypes",
    "Upcaster",
    "address_of",
    "entry_hash",
    "event_type",
    "event_types",
    "upcaster",
]

T = TypeVar("T")

Upcaster = Callable[[Any], Any]
"""Turns an event's data of one schema version into the data of the next version."""

SCHEMA_KEY = "$schema"
"""The reserved metadata key holding an event's schema version; absent means version 1."""

JSON = "json"
BYTES = "bytes"
CODECS = (JSON, BYTES)

_json_encoder = msgspec.json.Encoder(enc_hook=lambda obj: _to_builtins(obj))
_json_decoder = msgspec.json.Decoder()
_hash_encoder = msgspec.msgpack.Encoder()

MAX_DEPTH = 64
"""How deeply plain JSON data may nest (containers within containers): the default limit of
the strictest common JSON readers, so a payload stays readable in any language."""

# the types plain JSON data reads back as, exactly: a subclass (an IntEnum, an OrderedDict)
# would read back as its base
_SCALARS = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
_INF = float("inf")
_ENCODE_ERRORS = (TypeError, NotImplementedError, OverflowError, ValueError, RecursionError)


def _to_builtins(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # pydantic v2 models
    if callable(dump):
        # a field of the wrong type is reported by the validation that follows the encoding
        return dump(mode="json", warnings=False)
    raise NotImplementedError(f"cannot serialise {type(obj).__name__} as JSON")


def address_of(payload: bytes) -> bytes:
    """The content address of a payload: its SHA-256 digest."""
    return hashlib.sha256(payload).digest()


_sha256 = hashlib.sha256
_encode_fields = _hash_encoder.encode


def entry_hash(fields: tuple[Any, ...]) -> bytes:
    """The chain hash of an entry: SHA-256 over a canonical MessagePack encoding of its fields."""
    return _sha256(_encode_fields(fields)).digest()


def encode_json(value: Any, what: str = "data") -> bytes:
    """Encode plain data or a typed event instance as JSON, refusing with :class:`InvalidEvent`
    anything that would not read back equal: plain data must be made of ``dict`` (``str``
    keys), ``list``, ``str``, ``int``, finite ``float``, ``bool`` and ``None``; a typed event
    must read back through its class as the instance given."""
    kind = type(value)
    if kind is dict:
        # the usual payload, a flat object of str keys and scalars, checked by two passes
        # in C; anything else (floats, containers, other keys) is walked
        if not (
            _STR.issuperset(map(type, value)) and _SCALARS.issuperset(map(type, value.values()))
        ):
            _check_plain(value, what)
    elif kind is list:
        _check_plain(value, what)
    elif kind is float:
        if not -_INF < value < _INF:
            raise _refused(what, "$", value)
    elif kind not in _SCALARS:
        if _is_typed(kind):
            return _encode_typed(value, what)
        raise _refused(what, "$", value)
    return _encode(value, what)


def _encode(value: Any, what: str) -> bytes:
    try:
        return _json_encoder.encode(value)
    except _ENCODE_ERRORS as exc:
        raise InvalidEvent(f"event {what} is not JSON-serialisable: {exc}") from None


def _check_plain(value: dict[Any, Any] | list[Any], what: str) -> None:
    # iterative, and bounded by MAX_DEPTH: a deep value is refused, never a RecursionError.
    # The root is walked without a stack, so a flat payload (the usual event) allocates
    # nothing here; a path is a linked (parent, key) pair, spelt out only in an error.
    todo: list[tuple[Any, int, Any]] = []
    node: Any = value
    depth = 1
    path: Any = None
    while True:
        is_dict = type(node) is dict
        for key, item in node.items() if is_dict else enumerate(node):
            if is_dict and type(key) is not str:
                raise InvalidEvent(
                    f"event {what} at {_spell(path)} has the key {key!r}, a "
                    f"{type(key).__name__}: JSON object keys are strings, so it would read "
                    "back as a str; convert the keys to str, or append a typed event whose "
                    "field declares the key type"
                )
            kind = type(item)
            if kind in _SCALARS:
                continue
            if kind is float:
                if -_INF < item < _INF:
                    continue
            elif kind is dict or kind is list:
                if depth < MAX_DEPTH:
                    todo.append((item, depth + 1, (path, key)))
                    continue
                raise InvalidEvent(
                    f"event {what} at {_spell((path, key))} nests deeper than {MAX_DEPTH} "
                    "levels, more than JSON readers accept"
                )
            raise _refused(what, _spell((path, key)), item)
        if not todo:
            return
        node, depth, path = todo.pop()


def _spell(path: Any) -> str:
    keys: list[Any] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return "$" + "".join(f"[{k}]" if type(k) is int else f".{k}" for k in reversed(keys))


def _refused(what: str, where: str, value: Any) -> InvalidEvent:
    kind = type(value).__name__
    if type(value) is float:
        problem = f"{value!r} is not a JSON number (it would read back as null)"
    else:
        try:
            back = type(decode_json(_json_encoder.encode(value))).__name__
        except _ENCODE_ERRORS:
            problem = f"a {kind} has no JSON form"
        else:
            problem = f"a {kind} would read back as {'null' if back == 'NoneType' else back}"
    return InvalidEvent(
        f"event {what} at {where}: {problem}; plain data is dict (str keys), list, str, int, "
        "float, bool and None: convert the value, or append a typed event whose class "
        "declares the field's type (datetime, Decimal, UUID, bytes, set, ...)"
    )


def _encode_typed(obj: Any, what: str) -> bytes:
    """Encode a typed event instance, and check that its class reads it back as given: a field
    of the wrong type is refused, fields msgspec encodes exactly (datetime, Decimal, UUID,
    bytes, sets, enums, nested classes) round-trip through the class."""
    cls = type(obj)
    payload = _encode(obj, what)
    try:
        back = _checker_for(cls)(payload)
    except (msgspec.ValidationError, ValueError, TypeError, RecursionError) as exc:
        raise InvalidEvent(f"event {what} does not fit its class {cls.__name__}: {exc}") from None
    given, read = _fields_of(obj), _fields_of(back)
    if given != read:
        name = next(name for name in given if given[name] != read.get(name))
        raise InvalidEvent(
            f"event {what}: field {name!r} of {cls.__name__} would read back as "
            f"{read.get(name)!r}, not {given[name]!r}; give the field the type its class declares"
        )
    return payload


def _fields_of(obj: Any) -> dict[str, Any]:
    cls = type(obj)
    if issubclass(cls, msgspec.Struct):
        names: Iterable[str] = cls.__struct_fields__
    elif dataclasses.is_dataclass(cls):
        names = (f.name for f in dataclasses.fields(cls))
    else:
        names = cls.model_fields
    return {name: getattr(obj, name) for name in names}


_checkers: dict[type, Callable[[bytes], Any]] = {}


def _checker_for(cls: type) -> Callable[[bytes], Any]:
    checker = _checkers.get(cls)
    if checker is None:
        if len(_checkers) >= 1024:  # bounded: a decoder keeps its class alive
            _checkers.clear()
        checker = _checkers[cls] = _decoder_for(cls)
    return checker


def decode_json(payload: bytes) -> Any:
    """Decode JSON as plain data; JSON nested too deeply for the decoder is refused with
    :class:`InvalidEvent` (the decoder itself would raise ``RecursionError``)."""
    try:
        return _decode(payload)
    except RecursionError:
        raise InvalidEvent(
            f"JSON nested too deeply to decode (writing refuses more than {MAX_DEPTH} levels)"
        ) from None


_decode = _json_decoder.decode


class EventTypes:
    """A registry mapping event type names to classes (dataclasses, msgspec Structs or
    pydantic models). Reads decode registered types into instances, others into plain data.

    ::

        @ses.event_type("Deposited")
        @dataclass
        class Deposited:
            amount: int

    A type's shape may change: register the new class with ``version=2`` and an upcaster
    turning version-1 data into version-2 data; reads then upgrade stored events of the old
    shape, and the stored bytes stay as they are (docs/upcasting.md)::

        @ses.event_type("Deposited", version=2)
        @dataclass
        class Deposited:
            amount: int
            currency: str

        @ses.upcaster("Deposited", 1)
        def add_currency(data: dict) -> dict:
            return {**data, "currency": "EUR"}
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type] = {}
        self._by_class: dict[type, str] = {}
        self._decoders: dict[str, Callable[[bytes], Any]] = {}
        self._versions: dict[str, int] = {}  # of the registered classes
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._current: dict[str, int] = {}  # only the types whose current version is above 1
        self._lock = threading.Lock()

    def register(self, cls: type[T], name: str | None = None, *, version: int = 1) -> type[T]:
        """Register ``cls`` under ``name`` (default: the class name) as schema ``version`` of
        the type; returns ``cls``, so it works as a decorator. A name already registered to
        another class, or to this class at another version, is refused (``InvalidName``), and
        so is a class whose fields have no JSON form (``InvalidEvent``)."""
        name = check_name(name or cls.__name__, "event type")
        _check_version(version, "version")
        if not _is_typed(cls):
            raise InvalidEvent(
                f"{cls.__name__} is not a dataclass, msgspec Struct or pydantic model"
            )
        try:
            decoder = _checker_for(cls)
        except TypeError as exc:  # a field whose type has no JSON form
            raise InvalidEvent(f"{cls.__name__} cannot be read from JSON: {exc}") from None
        with self._lock:
            known = self._by_name.get(name)
            if known is not None and known is not cls:
                raise InvalidName(f"event type {name!r} is already registered to {known!r}")
            if known is not None and self._versions[name] != version:
                raise InvalidName(
                    f"event type {name!r} is already registered at version "
                    f"{self._versions[name]}, not {version}"
                )
            self._by_name[name] = cls
            self._by_class[cls] = name
            self._decoders[name] = decoder
            self._versions[name] = version
            self._settle(name)
        return cls

    def upcaster(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator registering ``fn(data) -> data``, which turns the data of ``type_name``
        at schema version ``from_version`` into the data of version ``from_version + 1``.
        Reads chain upcasters (1 -> 2 -> 3 ...) up to the version the type's class is
        registered at (without a class: as far as the upcasters go). A second upcaster for
        the same type and version is refused (``InvalidEvent``)."""
        name = check_name(type_name, "event type")
        _check_version(from_version, "from_version")

        def register(fn: Upcaster) -> Upcaster:
            if not callable(fn):
                raise InvalidEvent(f"an upcaster must be callable, not {fn!r}")
            with self._lock:
                if (name, from_version) in self._upcasters:
                    raise InvalidEvent(
                        f"event type {name!r} already has an upcaster from version {from_version}"
                    )
                self._upcasters[(name, from_version)] = fn
                self._settle(name)
            return fn

        return register

    def _settle(self, name: str) -> None:
        version = self._versions.get(name)
        if version is None:
            version = 1 + max(v for n, v in self._upcasters if n == name)
        if version > 1:
            self._current[name] = version
        else:
            self._current.pop(name, None)

    def version_of(self, type_name: str) -> int:
        """The current schema version of ``type_name``: the one new events are recorded at
        (1 for a type that never changed shape)."""
        return self._current.get(type_name, 1)

    @property
    def current_versions(self) -> dict[str, int]:
        """The current schema version of each type above version 1 (live)."""
        return self._current

    def upcast(self, type_name: str, data: Any, version: int) -> Any:
        """``data`` of ``type_name`` stored at schema ``version``, brought to the current
        version: an instance of the registered class, else plain data. Raises
        :class:`UpcastError` when an upcaster is missing or fails, or the result does not fit
        the class."""
        target = self._current.get(type_name, 1)
        stored = step = version
        while step < target:
            upcaster = self._upcasters.get((type_name, step))
            if upcaster is None:
                raise UpcastError(type_name, stored, f"no upcaster from version {step}")
            try:
                data = upcaster(data)
            except Exception as exc:
                raise UpcastError(
                    type_name, stored, f"the upcaster from version {step} raised {exc!r}"
                ) from exc
            step += 1
        decoder = self._decoders.get(type_name)
        if decoder is None:
            return data
        try:
            return decoder(_json_encoder.encode(data))
        except (*_ENCODE_ERRORS, msgspec.ValidationError) as exc:
            cls = self._by_name[type_name].__name__
            raise UpcastError(
                type_name, stored, f"the data upcast to version {target} does not fit {cls}: {exc}"
            ) from None

    def name_of(self, obj: object) -> str | None:
        """The type name of a typed event instance, registering its class if it is new."""
        cls = type(obj)
        name = self._by_class.get(cls)
        if name is None and _is_typed(cls):
            self.register(cls)
            name = self._by_class[cls]
        return name

    def get(self, name: str) -> type | None:
        """The class registered under ``name``, or ``None``."""
        return self._by_name.get(name)

    @property
    def decoders(self) -> dict[str, Callable[[bytes], Any]]:
        """The decoder of each registered type name (live: registering adds to it)."""
        return self._decoders

    def decode(self, type_name: str, codec: str, payload: bytes) -> Any:
        """A stored payload as its event's data: an instance of the registered class, else
        plain data (or ``bytes`` for the bytes codec). No upcasting: see :meth:`upcast`."""
        if codec == BYTES:
            return payload
        decoder = self._decoders.get(type_name)
        if decoder is not None:
            try:
                return decoder(payload)
            except (msgspec.ValidationError, ValueError, TypeError, RecursionError):
                pass  # stored data no longer fits the class: fall back to plain data
        return decode_json(payload)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def _check_version(version: object, what: str) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        raise InvalidEvent(f"{what} must be a whole number from 1, not {version!r}")


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


def event_type(name: str | None = None, *, version: int = 1) -> Callable[[type[T]], type[T]]:
    """Class decorator registering a typed event in the default registry, as schema
    ``version`` of its type (see :meth:`EventTypes.register`)."""

    def register(cls: type[T]) -> type[T]:
        return event_types.register(cls, name, version=version)

    return register


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator registering an upcaster in the default registry (see
    :meth:`EventTypes.upcaster`)."""
    return event_types.upcaster(type_name, from_version)
