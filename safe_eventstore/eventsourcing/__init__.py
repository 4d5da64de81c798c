"""A persistence module for the ``eventsourcing`` library: its applications keep their
code and store their events in SAFE EventStore.

::

    PERSISTENCE_MODULE=safe_eventstore.eventsourcing
    SAFE_EVENTSTORE_URL=sqlite:///var/lib/myapp/store
    SAFE_EVENTSTORE_DATABASE=bank          # default: the application's name, lowercased

The same module serves ``eventsourcing.dcb`` applications (dynamic consistency boundaries).
See docs/eventsourcing.md for how records map onto streams, positions and checkpoints.
"""

from __future__ import annotations

try:
    import eventsourcing.persistence  # noqa: F401
except ImportError as exc:  # pragma: no cover
    raise ImportError(
        "safe_eventstore.eventsourcing needs the eventsourcing library: "
        "pip install 'safe-eventstore[eventsourcing]'"
    ) from exc

from ._dcb import SafeDCBRecorder, SafeDCBSubscription
from ._factory import Factory, SafeFactory, database_name
from ._recorders import (
    SafeAggregateRecorder,
    SafeApplicationRecorder,
    SafeProcessRecorder,
    SafeSubscription,
    SafeTrackingRecorder,
    tracking_checkpoint,
)

__all__ = [
    "Factory",
    "SafeAggregateRecorder",
    "SafeApplicationRecorder",
    "SafeDCBRecorder",
    "SafeDCBSubscription",
    "SafeFactory",
    "SafeProcessRecorder",
    "SafeSubscription",
    "SafeTrackingRecorder",
    "database_name",
    "tracking_checkpoint",
]
