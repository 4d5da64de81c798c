"""The ``eventsourcing`` library's projection test cases: projections follow an
application (and a DCB application) through our subscriptions, into a materialised view
kept in SAFE EventStore that records its tracking in the same atomic append."""

from __future__ import annotations

from eventsourcing.persistence import Tracking
from eventsourcing.tests import projection as lib

import safe_eventstore as ses
from safe_eventstore.eventsourcing import SafeTrackingRecorder, tracking_checkpoint
from safe_eventstore.eventsourcing._mapping import translate_errors

from .stores import WithStore


class SafeEventCountersView(SafeTrackingRecorder, lib.EventCountersView):
    """Each counter is a stream of increments; its count is the stream's length."""

    def _count(self, stream: str) -> int:
        version = self.db.stream_version(stream)
        return 0 if version is None else version + 1

    def _increment(self, stream: str, tracking: Tracking) -> None:
        with translate_errors():
            self.db.append_batch(
                [ses.StreamAppend(stream, [ses.NewEvent("Incremented")])],
                checkpoint=tracking_checkpoint(tracking),
            )

    def get_created_event_counter(self) -> int:
        return self._count("Counter-created")

    def get_subsequent_event_counter(self) -> int:
        return self._count("Counter-subsequent")

    def incr_created_event_counter(self, tracking: Tracking) -> None:
        self._increment("Counter-created", tracking)

    def incr_subsequent_event_counter(self, tracking: Tracking) -> None:
        self._increment("Counter-subsequent", tracking)


class WithEnv(WithStore):
    def setUp(self) -> None:
        super().setUp()
        self.env = {
            "PERSISTENCE_MODULE": "safe_eventstore.eventsourcing",
            "SAFE_EVENTSTORE_URL": self.store_url(),
        }


class EventCountersViewMemory(WithStore, lib.EventCountersViewTestCase):
    def construct_event_counters_view(self) -> lib.EventCountersView:
        return SafeEventCountersView(self.new_database())


class EventCountersViewSqlite(EventCountersViewMemory):
    backend = "sqlite"


class AggregateProjectionMemory(WithEnv, lib.AggregateEventCountersProjectionTestCase):
    view_class = SafeEventCountersView


class AggregateProjectionSqlite(AggregateProjectionMemory):
    backend = "sqlite"


class TaggedDecisionProjectionMemory(WithEnv, lib.TaggedDecisionCountersProjectionTestCase):
    view_class = SafeEventCountersView

    def setUp(self) -> None:
        super().setUp()
        # A DCB application builds its event store only when given a mapper, as the
        # library's own POPO variant of this test does.
        self.env["MAPPER_TOPIC"] = "eventsourcing.dcb.msgpack:MessagePackMapper"


class TaggedDecisionProjectionSqlite(TaggedDecisionProjectionMemory):
    backend = "sqlite"


class EventSourcedProjectionMemory(WithEnv, lib.EventSourcedProjectionTestCase):
    pass


class EventSourcedProjectionSqlite(EventSourcedProjectionMemory):
    backend = "sqlite"
