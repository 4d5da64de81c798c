"""The ``eventsourcing.dcb`` recorder test case against our memory and SQLite backends."""

from __future__ import annotations

from eventsourcing.dcb import tests as lib
from eventsourcing.dcb.api import DCBEvent
from eventsourcing.dcb.application import DCBApplication
from eventsourcing.persistence import IntegrityError

import safe_eventstore as ses
from safe_eventstore.eventsourcing import SafeDCBRecorder, SafeFactory

from .stores import WithStore


class DCBRecorderMemory(WithStore, lib.DCBRecorderTestCase):
    def test_append_read(self) -> None:
        self._test_append_read(SafeDCBRecorder(self.new_database()))

    def test_append_subscribe(self) -> None:
        self._test_append_subscribe(SafeDCBRecorder(self.new_database()))

    def test_append_read_after_a_stream_event(self) -> None:
        # Stream events share the database's global order with DCB events.
        db = self.new_database()
        db.append("Account-1", [ses.NewEvent("Opened", {})])
        self._test_append_read(SafeDCBRecorder(db), initial_position=1)

    def test_dcb_application_selects_this_module(self) -> None:
        app = DCBApplication(
            env={
                "PERSISTENCE_MODULE": "safe_eventstore.eventsourcing",
                "SAFE_EVENTSTORE_URL": self.store_url(),
            }
        )
        self.assertIsInstance(app.factory, SafeFactory)
        self.assertIsInstance(app.recorder, SafeDCBRecorder)
        event = DCBEvent("Registered", b"{}", ["student 1/a"])
        position = app.recorder.append([event])
        [read] = app.recorder.read()
        self.assertEqual((read.event, read.position), (event, position))
        with self.assertRaises(IntegrityError):
            app.recorder.append([event], lib.DCBAppendCondition(after=0))
        app.close()


class DCBRecorderSqlite(DCBRecorderMemory):
    backend = "sqlite"
