"""The infrastructure factory the ``eventsourcing`` library finds through
``PERSISTENCE_MODULE=safe_eventstore.eventsourcing``."""

from __future__ import annotations

import re

from eventsourcing.dcb.persistence import DCBInfrastructureFactory
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from .. import Database, DatabaseExists
from .. import open as open_store
from ._dcb import SafeDCBRecorder
from ._mapping import translate_errors
from ._recorders import (
    SafeAggregateRecorder,
    SafeApplicationRecorder,
    SafeProcessRecorder,
    SafeTrackingRecorder,
)

__all__ = ["SafeFactory", "database_name"]

_INVALID = re.compile(r"[^a-z0-9_-]+")


def database_name(application_name: str) -> str:
    """The default database of an application: its name in lowercase, with characters a
    database name may not hold replaced by ``-``; ``eventsourcing`` when it has none."""
    name = _INVALID.sub("-", application_name.lower()).strip("-_")[:64].rstrip("-_")
    return name or "eventsourcing"


class SafeFactory(
    InfrastructureFactory[SafeTrackingRecorder], DCBInfrastructureFactory[SafeTrackingRecorder]
):
    """Opens the store named by ``SAFE_EVENTSTORE_URL`` (the store's own default when
    unset) and keeps each application in its own database: ``SAFE_EVENTSTORE_DATABASE``,
    else the application's name in lowercase. Snapshots (and any other purpose of an
    aggregate recorder) go to the database ``<database>-<purpose>``. ``CREATE_TABLE``
    (default yes) creates missing databases. Like every library setting, each may be
    given per application with the application's name as a prefix
    (``BANKACCOUNTS_SAFE_EVENTSTORE_DATABASE``).
    """

    SAFE_EVENTSTORE_URL = "SAFE_EVENTSTORE_URL"
    SAFE_EVENTSTORE_DATABASE = "SAFE_EVENTSTORE_DATABASE"
    CREATE_TABLE = "CREATE_TABLE"

    aggregate_recorder_class = SafeAggregateRecorder
    application_recorder_class = SafeApplicationRecorder
    tracking_recorder_class = SafeTrackingRecorder
    process_recorder_class = SafeProcessRecorder
    dcb_recorder_class = SafeDCBRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        url = self.env.get(self.SAFE_EVENTSTORE_URL) or None
        with translate_errors():
            self.store = open_store(url)
        self.database_name = self.env.get(self.SAFE_EVENTSTORE_DATABASE) or database_name(
            self.env.name
        )

    def database(self, purpose: str = "events") -> Database:
        """The database holding this application's records of ``purpose``."""
        name = self.database_name
        if purpose != "events":
            name = database_name(f"{name}-{purpose}")
        with translate_errors():
            if self._create() and name not in self.store.list_databases():
                try:
                    return self.store.create_database(name)
                except DatabaseExists:
                    pass  # created meanwhile by another process
            return self.store.database(name)

    def _create(self) -> bool:
        return bool(strtobool(self.env.get(self.CREATE_TABLE) or "yes"))

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return self.aggregate_recorder_class(self.database(purpose))

    def application_recorder(self) -> ApplicationRecorder:
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        cls = resolve_topic(topic) if topic else self.application_recorder_class
        assert issubclass(cls, SafeApplicationRecorder), cls
        return cls(self.database())

    def tracking_recorder(
        self, tracking_recorder_class: type[SafeTrackingRecorder] | None = None
    ) -> SafeTrackingRecorder:
        cls = tracking_recorder_class
        if cls is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            cls = resolve_topic(topic) if topic else self.tracking_recorder_class
        assert cls is not None and issubclass(cls, SafeTrackingRecorder), cls
        return cls(self.database())

    def process_recorder(self) -> ProcessRecorder:
        topic = self.env.get(self.PROCESS_RECORDER_TOPIC)
        cls = resolve_topic(topic) if topic else self.process_recorder_class
        assert issubclass(cls, SafeProcessRecorder), cls
        return cls(self.database())

    def dcb_recorder(self) -> SafeDCBRecorder:
        return self.dcb_recorder_class(self.database())

    def close(self) -> None:
        self.store.close()


Factory = SafeFactory
