"""The errors of the read side, each a leaf of the store's one exception tree::

SafeEventStoreError
├── HandlerFailed                    a projection handler (or key function) raised (chained)
└── InvalidInput
    └── InvalidProjection            a projection that cannot work as declared
        ├── DuplicateProjection      two projections with one name given to one runner
        ├── ProjectionNotFound       an import path, or a name in the store, that finds no
        │                            projection (also ``NotFound``)
        ├── UnknownEventType         a handler for a type name that is neither registered
        │                            nor declared in the projection's ``types``
        ├── InvalidState             a handler returned a state with no JSON form
        └── UnbuiltVersion           a version promoted by hand that was never built
"""

from __future__ import annotations

import safe_eventstore as ses

__all__ = [
    "DuplicateProjection",
    "HandlerFailed",
    "InvalidProjection",
    "InvalidState",
    "ProjectionNotFound",
    "UnbuiltVersion",
    "UnknownEventType",
]


class InvalidProjection(ses.InvalidInput):
    """A projection that cannot work as declared: a bad name, version, source or handler."""


class DuplicateProjection(InvalidProjection):
    """Two projections with one name given to one runner."""


class ProjectionNotFound(InvalidProjection, ses.NotFound):
    """An import path that does not import or names nothing, or a projection name the store
    knows nothing of (no checkpoint, lease or log)."""


class UnknownEventType(InvalidProjection):
    """A handler for an event type name that is not registered in ``ses.event_types`` and
    not declared in the projection's ``types``."""


class InvalidState(InvalidProjection):
    """A handler returned a state that has no JSON form; nothing of its page is written."""


class UnbuiltVersion(InvalidProjection):
    """A projection version promoted by hand that has no stored checkpoint: it was never
    built, so it cannot serve readers; nothing is written."""


class HandlerFailed(ses.SafeEventStoreError):
    """A handler or key function raised; nothing of its page is written, the checkpoint
    stays, and the error is chained as ``__cause__``."""

    def __init__(self, projection: str, event: ses.RecordedEvent, error: BaseException) -> None:
        self.projection = projection
        self.event = event
        super().__init__(
            f"projection {projection!r}: the handler of {event.type!r} failed on "
            f"{event.stream}@{event.version} (position {event.position}): {error!r}"
        )
