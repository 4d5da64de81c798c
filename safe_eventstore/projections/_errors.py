"""The errors of the read side, each a leaf of the store's one exception tree::

SafeEventStoreError
├── HandlerFailed                    a projection handler (or key function) raised (chained)
│   └── CommandFailed                a process manager's command (sent or fired by a
│                                    timer) was refused by the router (chained)
└── InvalidInput
    └── InvalidProjection            a projection that cannot work as declared
        ├── DuplicateProjection      two projections with one name given to one runner
        ├── ProjectionNotFound       an import path, or a name in the store, that finds no
        │                            projection (also ``NotFound``)
        ├── UnknownEventType         a handler for a type name that is neither registered
        │                            nor declared in the projection's ``types``
        ├── InvalidState             a handler returned a state with no JSON form
        ├── UnbuiltVersion           a version promoted by hand that was never built
        ├── InvalidCommand           a process manager's send/schedule/cancel given bad
        │                            input (not a command, no time, a naive datetime, ...)
        └── InvalidQuery             a query of a read model that cannot be answered as given
            ├── UnknownIndex         a field the projection does not declare in ``indexes``
            └── QueryTooLarge        a scan (without documents) over more keys than its limit

InvalidQuery is also a ``ses.InvalidDocumentQuery``, and UnknownIndex a
``ses.UnknownDocumentIndex``.
"""

from __future__ import annotations

import safe_eventstore as ses

__all__ = [
    "CommandFailed",
    "DuplicateProjection",
    "HandlerFailed",
    "InvalidCommand",
    "InvalidProjection",
    "InvalidQuery",
    "InvalidState",
    "ProjectionNotFound",
    "QueryTooLarge",
    "UnbuiltVersion",
    "UnknownEventType",
    "UnknownIndex",
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
    """A handler returned a state that has no JSON form; nothing of its page is written.
    ``event`` is the event the handler was given (``None`` for a bad ``initial``)."""

    event: ses.RecordedEvent | None = None


class UnbuiltVersion(InvalidProjection):
    """A projection version promoted by hand that has no stored checkpoint: it was never
    built, so it cannot serve readers; nothing is written."""


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


class InvalidCommand(InvalidProjection):
    """A process manager's ``ctx.send``, ``ctx.schedule`` or ``ctx.cancel`` was given bad
    input: not a ``cqrs.Command``, no time or two, a naive datetime, a command that cannot be
    stored for later. Raised in the handler, it fails the page: nothing is issued or stored."""


class CommandFailed(HandlerFailed):
    """A command of a process manager was refused or failed in the command router (the
    router's error chained as ``__cause__``): a command sent by a handler (``event`` is the
    event that handler ran on; nothing of its page is stored) or one fired by a timer
    (``event`` is the timer's stored schedule entry; the timer stays due)."""

    def __init__(
        self, projection: str, event: ses.RecordedEvent, command: object, error: BaseException
    ) -> None:
        super().__init__(projection, event, error)
        self.command = command
        what = command if isinstance(command, str) else type(command).__name__
        self.args = (
            f"process manager {projection!r}: {what} issued for "
            f"{event.stream}@{event.version} (position {event.position}) failed: {error!r}",
        )
