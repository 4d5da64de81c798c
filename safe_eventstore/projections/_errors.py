"""The errors of the read side, each a leaf of the store's one exception tree::

SafeEventStoreError
├── HandlerFailed                    a projection handler (or key function) raised (chained)
└── InvalidInput
    └── InvalidProjection            a projection that cannot work as declared
        ├── DuplicateProjection      two projections with one name given to one runner
        ├── UnknownEventType         a handler for a type name that is neither registered
        │                            nor declared in the projection's ``types``
        ├── InvalidState             a handler returned a state with no JSON form
        └── InvalidQuery             a query of a read model that cannot be answered as given
            ├── UnknownIndex         a field the projection does not declare in ``indexes``
            └── QueryTooLarge        a scan (without documents) over more keys than its limit

InvalidQuery is also a ``ses.InvalidDocumentQuery``, and UnknownIndex a
``ses.UnknownDocumentIndex``.
"""

from __future__ import annotations

import safe_eventstore as ses

__all__ = [
    "DuplicateProjection",
    "HandlerFailed",
    "InvalidProjection",
    "InvalidQuery",
    "InvalidState",
    "QueryTooLarge",
    "UnknownEventType",
    "UnknownIndex",
]


class InvalidProjection(ses.InvalidInput):
    """A projection that cannot work as declared: a bad name, version, source or handler."""


class DuplicateProjection(InvalidProjection):
    """Two projections with one name given to one runner."""


class UnknownEventType(InvalidProjection):
    """A handler for an event type name that is not registered in ``ses.event_types`` and
    not declared in the projection's ``types``."""


class InvalidState(InvalidProjection):
    """A handler returned a state that has no JSON form; nothing of its page is written."""


class InvalidQuery(InvalidProjection, ses.InvalidDocumentQuery):
    """A read-model query that cannot be answered as given: a bad operator, value, order,
    limit or ``after`` token."""


class UnknownIndex(InvalidQuery, ses.UnknownDocumentIndex):
    """A query names a field the projection does not declare in ``indexes`` (or the
    projection declares none)."""


class QueryTooLarge(InvalidQuery):
    """Without documents (NATS, an encrypted database), a query scans every key's state;
    a projection with more keys than the scan limit refuses it."""


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
