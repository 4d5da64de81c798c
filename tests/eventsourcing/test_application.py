"""The ``eventsourcing`` library's application test cases, with their applications
persisted in our memory and SQLite backends through ``PERSISTENCE_MODULE``."""

from __future__ import annotations

import os
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.tests import application as lib

from safe_eventstore.eventsourcing import SafeFactory

from .stores import WithStore

VARIABLES = ("PERSISTENCE_MODULE", "SAFE_EVENTSTORE_URL")


class WithPersistenceModule(WithStore):
    expected_factory_topic = "safe_eventstore.eventsourcing._factory:SafeFactory"

    def setUp(self) -> None:
        super().setUp()
        saved = {k: os.environ.get(k) for k in VARIABLES}
        self.addCleanup(_restore, saved)
        os.environ["PERSISTENCE_MODULE"] = "safe_eventstore.eventsourcing"
        os.environ["SAFE_EVENTSTORE_URL"] = self.store_url()


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class ApplicationMemory(WithPersistenceModule, lib.ApplicationTestCase):
    # The test records the DeprecationWarning itself with catch_warnings(record=True),
    # which the suite-wide "error" filter would turn into an exception first.
    @pytest.mark.filterwarnings("always::DeprecationWarning")
    def test_application_log(self) -> None:
        super().test_application_log()

    def test_events_are_stored_in_safe_eventstore(self) -> None:
        app = Application[UUID]()
        self.assertIsInstance(app.factory, SafeFactory)
        aggregate = Aggregate()
        app.save(aggregate)
        db = app.factory.store.database("application")
        [event] = db.read_stream(f"Aggregate-{aggregate.id}")
        self.assertEqual(event.metadata, {"originator_version": 1})
        self.assertEqual(event.type, "eventsourcing.domain:Aggregate.Created")
        self.assertEqual(event.codec, "bytes")
        self.assertTrue(db.verify().ok)
        app.close()


class ApplicationSqlite(ApplicationMemory):
    backend = "sqlite"


class ExampleApplicationMemory(WithPersistenceModule, lib.ExampleApplicationTestCase):
    pass


class ExampleApplicationSqlite(ExampleApplicationMemory):
    backend = "sqlite"
