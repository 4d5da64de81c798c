"""The ``eventsourcing`` library's own recorder test cases, against our memory and SQLite
backends."""

from __future__ import annotations

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests import persistence as lib
from eventsourcing.utils import Environment

from safe_eventstore.eventsourcing import (
    SafeAggregateRecorder,
    SafeApplicationRecorder,
    SafeFactory,
    SafeProcessRecorder,
    SafeTrackingRecorder,
)

from .stores import WithStore


class AggregateRecorderMemory(WithStore, lib.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return SafeAggregateRecorder(self.new_database())


class AggregateRecorderSqlite(AggregateRecorderMemory):
    backend = "sqlite"


class ApplicationRecorderMemory(WithStore, lib.ApplicationRecorderTestCase):
    def create_recorder(self) -> ApplicationRecorder:
        return SafeApplicationRecorder(self.new_database())

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class ApplicationRecorderSqlite(ApplicationRecorderMemory):
    backend = "sqlite"


class TrackingRecorderMemory(WithStore, lib.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return SafeTrackingRecorder(self.new_database())


class TrackingRecorderSqlite(TrackingRecorderMemory):
    backend = "sqlite"


class ProcessRecorderMemory(WithStore, lib.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return SafeProcessRecorder(self.new_database())


class ProcessRecorderSqlite(ProcessRecorderMemory):
    backend = "sqlite"


class NonInterleavingMemory(WithStore, lib.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        return SafeApplicationRecorder(self.new_database())


class NonInterleavingSqlite(NonInterleavingMemory):
    backend = "sqlite"


class TrackingRecorderSubclass(SafeTrackingRecorder):
    pass


class FactoryMemory(WithStore, lib.InfrastructureFactoryTestCase[SafeFactory]):
    def setUp(self) -> None:
        self.env = Environment(
            "TestCase",
            {
                "PERSISTENCE_MODULE": "safe_eventstore.eventsourcing",
                "SAFE_EVENTSTORE_URL": self.store_url(),
            },
        )
        super().setUp()

    def expected_factory_class(self) -> type[SafeFactory]:
        return SafeFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return SafeAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return SafeApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return SafeTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return TrackingRecorderSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return SafeProcessRecorder


class FactorySqlite(FactoryMemory):
    backend = "sqlite"
