"""The errors of the write-side toolkit, each a leaf of the store's one exception tree::

SafeEventStoreError
├── DomainError                      a command method refused: an invariant would break
├── HandlerFailed                    a command handler raised something else (chained)
├── IllegalStateChange (also AttributeError)
│                                    state assigned outside __init__ and @when handlers
├── InvalidInput
│   ├── InvalidAggregate             an aggregate class that cannot work as declared
│   ├── UnknownCommand               a command type no handler was registered for
│   └── InvalidEvent
│       └── UnhandledEvent           an event class the aggregate has no handler for
└── NotFound
    └── AggregateNotFound            no events for that aggregate (at that time)
"""

from __future__ import annotations

import safe_eventstore as ses

__all__ = [
    "AggregateNotFound",
    "DomainError",
    "HandlerFailed",
    "IllegalStateChange",
    "InvalidAggregate",
    "UnhandledEvent",
    "UnknownCommand",
]


class DomainError(ses.SafeEventStoreError):
    """A command was refused by the domain (an invariant would break). Raise it in a command
    method before recording anything; the command router passes it to the caller as is."""


class HandlerFailed(ses.SafeEventStoreError):
    """A command handler raised an exception that is not a :class:`DomainError`; the
    original is chained as ``__cause__``. Nothing was written."""


class IllegalStateChange(ses.SafeEventStoreError, AttributeError):
    """An aggregate attribute was assigned outside ``__init__`` and the ``@when`` handlers:
    a command method decides and records events; only applying an event changes state."""


class InvalidAggregate(ses.InvalidInput):
    """An aggregate class that cannot work as declared: two handlers for one event class,
    an event class the store cannot register, a bad ``category`` or ``snapshot_every``."""


class UnknownCommand(ses.InvalidInput):
    """A command router was given a command type it has no handler for."""


class UnhandledEvent(ses.InvalidEvent):
    """An event class the aggregate has no ``@when`` handler for: refused by ``record``,
    and by replay when the stream holds such an event."""


class AggregateNotFound(ses.NotFound):
    """No events exist for the aggregate (or none at the version or time asked for)."""
