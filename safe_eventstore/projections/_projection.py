"""A projection: its name, version, source, key function and handlers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import safe_eventstore as ses

from ._errors import InvalidProjection, UnknownEventType
from ._json import copy_json
from ._naming import NAME, PREFIX
from ._source import Source

__all__ = ["Handler", "KeyFunction", "Projection"]

Handler = Callable[[Any, ses.RecordedEvent], Any]
KeyFunction = Callable[[ses.RecordedEvent], "str | Iterable[str]"]
H = TypeVar("H", bound=Callable[..., Any])


def _by_stream(event: ses.RecordedEvent) -> str:
    return event.stream


def _is_typed(cls: type) -> bool:
    if dataclasses.is_dataclass(cls):
        return True
    return any(
        f"{base.__module__}.{base.__qualname__}" in ("msgspec.Struct", "pydantic.main.BaseModel")
        for base in cls.__mro__
    )


def _type_name(event_type: object, declared: frozenset[str]) -> str:
    """The stored type name a handler is for; classes are registered in ``ses.event_types``
    if they are not (so reads decode into them), names must be known."""
    types = ses.event_types
    if isinstance(event_type, str):
        if event_type in declared or types.get(event_type) is not None:
            return event_type
        raise UnknownEventType(
            f"no event type {event_type!r}: register its class (ses.event_type) or declare "
            "it in the projection's types="
        )
    if not isinstance(event_type, type) or not _is_typed(event_type):
        raise InvalidProjection(
            f"on({event_type!r}): give a type name or a typed event class (a dataclass, "
            "msgspec Struct or pydantic model)"
        )
    for name in list(types.decoders):
        if types.get(name) is event_type:
            return name
    types.register(event_type)
    return event_type.__name__


def _indexes(indexes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(indexes, str) or not isinstance(indexes, Iterable):
        raise InvalidProjection("indexes= is a list of field names, such as ['balance']")
    found = tuple(indexes)
    for field in found:
        if field == "key":
            raise InvalidProjection("'key' is always queryable: it names no field of a state")
        try:
            ses.DocumentQuery(order_by=field)
        except ses.InvalidDocumentQuery as exc:
            raise InvalidProjection(str(exc)) from None
    if len(set(found)) != len(found):
        raise InvalidProjection(f"an index is named twice in {list(found)}")
    return tuple(sorted(found))


class Projection:
    """A read model folded from a source of events, one state per key::

        balances = projections.Projection("balances", source=projections.category("Account"))

        @balances.on(Deposited)
        def _(state: int | None, event: ses.RecordedEvent) -> int:
            return (state or 0) + event.data.amount

    ``name``: 1-64 letters, digits and ``_``. ``version`` (from 1): a new version keeps its
    states and checkpoint apart from the old one's. ``types``: if given, only events of these
    type names are read (and these names may be handled though no class is registered for
    them). ``key``: the key (or keys) an event's handler folds into, by default the event's
    stream. ``initial``: the state of a key before its first event (a JSON value).
    ``history``: ``"page"`` stores a key's state once per page of source events that changed
    it; ``"event"`` stores it after every event (time travel exact at every position, one
    entry per event and key, still one batch per page). ``indexes``: fields of the states
    (then JSON objects) that :meth:`ReadModel.query` can filter and order by."""

    def __init__(
        self,
        name: str,
        *,
        source: Source,
        version: int = 1,
        types: Iterable[str] | None = None,
        key: KeyFunction = _by_stream,
        initial: Any = None,
        history: str = "page",
        indexes: Iterable[str] = (),
    ) -> None:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise InvalidProjection(
                f"invalid projection name {name!r}: use 1-64 letters, digits and '_'"
            )
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidProjection(f"invalid version {version!r}: a whole number from 1")
        if not isinstance(source, Source):
            raise InvalidProjection(
                "source= is projections.stream(), .category() or .whole_database()"
            )
        if not callable(key):
            raise InvalidProjection("key= must be a function of the event")
        self.name = name
        self.version = version
        self.source = source
        self.types = None if types is None else frozenset(types)
        if self.types is not None and not all(isinstance(t, str) and t for t in self.types):
            raise InvalidProjection("types= is a collection of event type names")
        if history not in ("page", "event"):
            raise InvalidProjection(f"history= is 'page' or 'event', not {history!r}")
        self.history = history
        self.indexes = _indexes(indexes)
        self.key = key
        self.initial = copy_json(initial)
        self.handlers: dict[str, tuple[Handler, KeyFunction]] = {}

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, version={self.version})"

    def on(self, *event_types: object, key: KeyFunction | None = None) -> Callable[[H], H]:
        """Declare the handler of events of ``event_types`` (type names or typed event
        classes): ``handler(state, event) -> new state``, a plain function, a bound method or
        a coroutine function. ``key`` overrides the projection's key function for them. One
        handler per type; everything is checked here, before any event is read."""
        if not event_types:
            raise InvalidProjection("on() needs at least one event type")
        declared = self.types or frozenset()
        names = [_type_name(t, declared) for t in event_types]
        for name in names:
            if self.types is not None and name not in self.types:
                raise UnknownEventType(
                    f"projection {self.name!r} reads only types {sorted(self.types)}, not {name!r}"
                )
            if name in self.handlers:
                raise InvalidProjection(f"projection {self.name!r}: two handlers for {name!r}")
        if key is not None and not callable(key):
            raise InvalidProjection("key= must be a function of the event")

        def register(fn: H) -> H:
            if not callable(fn):
                raise InvalidProjection(f"a handler must be callable, not {fn!r}")
            for name in names:
                if name in self.handlers:
                    raise InvalidProjection(f"projection {self.name!r}: two handlers for {name!r}")
            for name in names:
                self.handlers[name] = (fn, key or self.key)
            return fn

        return register

    def reads(self, event: ses.RecordedEvent) -> bool:
        """Whether ``event`` is one this projection handles (own streams never are)."""
        if event.stream.startswith(PREFIX):
            return False
        return event.type in self.handlers
