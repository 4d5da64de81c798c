"""The aggregate base class: command methods decide and record events; only ``__init__``
and the ``@when`` handlers change state, which ``__setattr__`` enforces."""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

import msgspec

import safe_eventstore as ses

from ._errors import IllegalStateChange, InvalidAggregate, UnhandledEvent
from ._names import check_stream_name, snapshot_stream

__all__ = ["Aggregate", "when"]

A = TypeVar("A", bound="Aggregate")
F = TypeVar("F", bound=Callable[..., Any])
Handler = Callable[[Any, Any], None]

_WHEN = "__cqrs_when__"
_RESERVED = frozenset({"id", "stream", "version", "pending"})

initial_types: dict[type, dict[str, type]] = {}
"""Per aggregate class, the attributes its ``__init__`` sets and the types of their first
values: part of the class's shape, which a snapshot must match."""


def _is_typed(cls: type) -> bool:
    return (
        dataclasses.is_dataclass(cls)
        or issubclass(cls, msgspec.Struct)
        or callable(getattr(cls, "model_validate_json", None))
    )


def _ensure_registered(cls: type) -> None:
    """Register an event class in the default registry unless it is there (under any name):
    replay needs the store to decode it into the class, even before it is first written."""
    types = ses.event_types
    if types.get(cls.__name__) is cls or any(types.get(n) is cls for n in list(types.decoders)):
        return
    types.register(cls)


def when(*event_classes: type) -> Callable[[F], F]:
    """Declare the method that applies events of ``event_classes`` to the state::

        @cqrs.when(Deposited)
        def _deposited(self, event: Deposited) -> None:
            self.balance += event.amount

    Each event class has one handler per aggregate class (a subclass may override it). The
    classes must be typed events (dataclasses, msgspec Structs, pydantic models); they are
    registered in ``ses.event_types`` unless they already are."""
    if not event_classes:
        raise InvalidAggregate("@when needs at least one event class")
    for cls in event_classes:
        if not isinstance(cls, type) or not _is_typed(cls):
            raise InvalidAggregate(
                f"@when({cls!r}): an event class is a dataclass, msgspec Struct or pydantic model"
            )
        _ensure_registered(cls)

    def mark(fn: F) -> F:
        setattr(fn, _WHEN, event_classes)
        return fn

    return mark


def _guarded_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: Aggregate, *args: Any, **kwargs: Any) -> None:
        outer = not self._cqrs_open
        object.__setattr__(self, "_cqrs_open", True)
        try:
            init(self, *args, **kwargs)
        finally:
            if outer:
                object.__setattr__(self, "_cqrs_open", False)
        if outer and type(self) not in initial_types:
            initial_types[type(self)] = {k: type(v) for k, v in vars(self).items()}

    return __init__


class Aggregate:
    """The base of an aggregate: a consistency boundary whose state is the sum of its events.

    ::

        class Account(cqrs.Aggregate):
            def __init__(self, id: str) -> None:
                super().__init__(id)
                self.balance = 0

            def deposit(self, amount: int) -> None:
                if amount <= 0:
                    raise cqrs.DomainError("a deposit must be positive")
                self.record(Deposited(amount))

            @cqrs.when(Deposited)
            def _deposited(self, event: Deposited) -> None:
                self.balance += event.amount

    ``__init__(id)`` sets the initial state and records nothing. Command methods check
    invariants and :meth:`record` events; only ``__init__`` and ``@when`` handlers may
    assign attributes (elsewhere :class:`IllegalStateChange`). Class options:
    ``category`` (the stream name's prefix, by default the class name) and
    ``snapshot_every`` (a snapshot every N events, ``None``: off), ``snapshot_version``
    (raise it when a handler's meaning changes, so older snapshots are ignored).
    """

    __slots__ = ("_cqrs_id", "_cqrs_open", "_cqrs_pending", "_cqrs_version")

    category: ClassVar[str] = "Aggregate"
    snapshot_every: ClassVar[int | None] = None
    snapshot_version: ClassVar[int] = 0
    _cqrs_handlers: ClassVar[dict[type, Handler]] = {}

    _cqrs_id: str
    _cqrs_open: bool
    _cqrs_pending: list[Any]
    _cqrs_version: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "category" not in cls.__dict__:
            cls.category = cls.__name__
        category = cls.category
        if not isinstance(category, str) or not category or "-" in category:
            raise InvalidAggregate(
                f"{cls.__name__}.category must be a non-empty name without '-', not {category!r}"
            )
        check_stream_name(category, "category")
        every = cls.snapshot_every
        if every is not None and (
            isinstance(every, bool) or not isinstance(every, int) or every < 1
        ):
            raise InvalidAggregate(
                f"{cls.__name__}.snapshot_every must be None or a positive int, not {every!r}"
            )
        handlers: dict[type, Handler] = {}
        for base in reversed(cls.__mro__[1:]):
            handlers.update(base.__dict__.get("_cqrs_handlers", {}))
        own: dict[type, str] = {}
        for name, member in cls.__dict__.items():
            for event_class in getattr(member, _WHEN, ()):
                if event_class in own:
                    raise InvalidAggregate(
                        f"{cls.__name__}: {event_class.__name__} has two handlers, "
                        f"{own[event_class]} and {name}"
                    )
                own[event_class] = name
                handlers[event_class] = member
        cls._cqrs_handlers = handlers
        if "__init__" in cls.__dict__:
            type.__setattr__(cls, "__init__", _guarded_init(cls.__dict__["__init__"]))

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        self = object.__new__(cls)
        object.__setattr__(self, "_cqrs_open", False)
        object.__setattr__(self, "_cqrs_pending", [])
        object.__setattr__(self, "_cqrs_version", ses.NO_STREAM)
        return self

    def __init__(self, id: str) -> None:
        if not isinstance(id, str) or not id:
            raise ses.InvalidName(f"invalid aggregate id {id!r}: it must be a non-empty string")
        check_stream_name(f"{self.category}-{id}")
        if self.snapshot_every is not None:
            check_stream_name(snapshot_stream(self.category, id), "snapshot stream")
        object.__setattr__(self, "_cqrs_id", id)

    def __setattr__(self, name: str, value: Any) -> None:
        if not self._cqrs_open or name in _RESERVED:
            raise IllegalStateChange(
                f"{type(self).__name__}.{name}: state changes only in __init__ and in @when "
                "handlers; record an event instead"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if not self._cqrs_open or name in _RESERVED:
            raise IllegalStateChange(
                f"{type(self).__name__}.{name}: state changes only in __init__ and in @when "
                "handlers; record an event instead"
            )
        object.__delattr__(self, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._cqrs_id!r} version {self._cqrs_version}>"

    @property
    def id(self) -> str:
        """The aggregate's id: its stream name is ``<category>-<id>``."""
        return self._cqrs_id

    @property
    def stream(self) -> str:
        """The name of the aggregate's stream, ``<category>-<id>``."""
        return f"{self.category}-{self._cqrs_id}"

    @property
    def version(self) -> int:
        """The version of the last stored event applied (``ses.NO_STREAM``, -1, when new)."""
        return self._cqrs_version

    @property
    def pending(self) -> tuple[Any, ...]:
        """The events recorded since the aggregate was loaded or saved, not stored yet."""
        return tuple(self._cqrs_pending)

    def record(self, event: Any) -> None:
        """Apply ``event`` through its ``@when`` handler and add it to :attr:`pending`.

        An event class without a handler is refused (:class:`UnhandledEvent`), and so is a
        call from ``__init__`` or a handler (:class:`IllegalStateChange`)."""
        handler = self._cqrs_handlers.get(type(event))
        if handler is None:
            raise UnhandledEvent(
                f"{type(self).__name__} has no @when handler for {type(event).__name__}"
            )
        if self._cqrs_open:
            raise IllegalStateChange(
                f"{type(self).__name__}.record: events are recorded by command methods, "
                "not in __init__ or a @when handler"
            )
        object.__setattr__(self, "_cqrs_open", True)
        try:
            handler(self, event)
        finally:
            object.__setattr__(self, "_cqrs_open", False)
        self._cqrs_pending.append(event)

    def __deepcopy__(self: A, memo: dict[int, Any]) -> A:
        return copy_of(self, memo)

    # -- used by the repository ----------------------------------------------------------

    def _cqrs_replay(self, events: Iterable[ses.RecordedEvent]) -> None:
        """Apply stored events in order, moving the version to each one's."""
        handlers = self._cqrs_handlers
        object.__setattr__(self, "_cqrs_open", True)
        try:
            for event in events:
                handler = handlers.get(type(event.data))
                if handler is None:
                    raise _unhandled(self, event)
                handler(self, event.data)
                object.__setattr__(self, "_cqrs_version", event.version)
        finally:
            object.__setattr__(self, "_cqrs_open", False)


Aggregate.__init__ = _guarded_init(Aggregate.__init__)  # type: ignore[method-assign]


def _unhandled(aggregate: Aggregate, event: ses.RecordedEvent) -> UnhandledEvent:
    if isinstance(event.data, dict | list | bytes) or event.data is None:
        reason = "it reads back as plain data: is its class registered in ses.event_types?"
    else:
        reason = f"{type(aggregate).__name__} has no @when handler for it"
    return UnhandledEvent(
        f"stream {event.stream!r} version {event.version}: event type {event.type!r}: {reason}"
    )


def copy_of(aggregate: A, memo: dict[int, Any] | None = None) -> A:
    """A deep copy that shares no mutable state with ``aggregate`` (pending events too)."""
    new = object.__new__(type(aggregate))
    object.__setattr__(new, "_cqrs_open", False)
    object.__setattr__(new, "_cqrs_id", aggregate._cqrs_id)
    object.__setattr__(new, "_cqrs_version", aggregate._cqrs_version)
    object.__setattr__(new, "_cqrs_pending", copy.deepcopy(aggregate._cqrs_pending, memo))
    new.__dict__.update(copy.deepcopy(aggregate.__dict__, memo))
    return new


def set_version(aggregate: Aggregate, version: int) -> None:
    object.__setattr__(aggregate, "_cqrs_version", version)


def take_pending(aggregate: Aggregate) -> list[Any]:
    pending = aggregate._cqrs_pending
    object.__setattr__(aggregate, "_cqrs_pending", [])
    return pending


def set_state(aggregate: Aggregate, state: dict[str, Any], version: int) -> None:
    aggregate.__dict__.clear()
    aggregate.__dict__.update(state)
    object.__setattr__(aggregate, "_cqrs_version", version)
