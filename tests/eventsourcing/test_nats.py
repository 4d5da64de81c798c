"""The ``eventsourcing`` library's recorder test cases against the NATS backend (one server).

Four of them expect notification ids or DCB positions 1, 2, 3 with no gaps: the application
recorder's ``test_insert_select`` and ``test_insert_subscribe``, and the DCB recorder's
``test_append_read`` and ``test_append_subscribe``. On NATS positions only increase (markers,
payloads and checkpoints take sequence numbers too), so those four are skipped here;
tests/eventsourcing/test_nats_positions.py runs the same scenarios on NATS, checking ids and
positions against the ones the recorders returned.
"""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.dcb import tests as dcb_lib
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests import persistence as lib

from safe_eventstore.eventsourcing import (
    SafeAggregateRecorder,
    SafeApplicationRecorder,
    SafeDCBRecorder,
    SafeProcessRecorder,
    SafeTrackingRecorder,
)
from safe_eventstore.testing.nats_servers import NatsServer

from ..conftest import drop
from .stores import WithStore


class WithNats(WithStore):
    """Gives each test fresh databases under a fresh prefix on the session's NATS server."""

    server_url = ""

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _server(cls, nats_server: NatsServer) -> None:
        cls.server_url = nats_server.url

    def store_url(self) -> str:
        prefix = f"es{uuid.uuid4().hex[:10]}"
        self.addCleanup(drop, self.server_url, prefix)
        return f"{self.server_url}?prefix={prefix}"


class AggregateRecorderNats(WithNats, lib.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return SafeAggregateRecorder(self.new_database())


class ApplicationRecorderNats(WithNats, lib.ApplicationRecorderTestCase):
    def create_recorder(self) -> ApplicationRecorder:
        return SafeApplicationRecorder(self.new_database())

    @pytest.mark.skip(
        reason="expects notification ids without gaps (NATS positions skip); covered by "
        "tests/eventsourcing/test_nats_positions.py::NotificationIdsNats "
        "(test_insert_*, test_select_*)"
    )
    def test_insert_select(self) -> None: ...

    @pytest.mark.skip(
        reason="expects notification ids without gaps (NATS positions skip); covered by "
        "tests/eventsourcing/test_nats_positions.py::NotificationIdsNats "
        "(test_subscribe_*, test_stopped_*)"
    )
    def test_insert_subscribe(self) -> None: ...


class TrackingRecorderNats(WithNats, lib.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return SafeTrackingRecorder(self.new_database())


class ProcessRecorderNats(WithNats, lib.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return SafeProcessRecorder(self.new_database())


class DCBRecorderNats(WithNats, dcb_lib.DCBRecorderTestCase):
    # Run, these fail only on the position arithmetic ("3 != 7": the case expects the third
    # event at position 3); the contract suite's DCB tests (tests/storage/test_nats.py)
    # check DCB semantics on NATS.
    @pytest.mark.skip(
        reason="expects positions without gaps (NATS positions skip); covered by "
        "tests/eventsourcing/test_nats_positions.py::DCBPositionsNats (test_append_*, test_read_*, "
        "test_consistency_boundaries)"
    )
    def test_append_read(self) -> None:
        self._test_append_read(SafeDCBRecorder(self.new_database()))

    @pytest.mark.skip(
        reason="expects positions without gaps (NATS positions skip); covered by "
        "tests/eventsourcing/test_nats_positions.py::DCBPositionsNats (test_subscribe_*)"
    )
    def test_append_subscribe(self) -> None:
        self._test_append_subscribe(SafeDCBRecorder(self.new_database()))
