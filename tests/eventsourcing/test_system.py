"""A system of applications (a leader and a process application following it), run by
the library's runners with every application persisted through our module."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.system import (
    NewMultiThreadedRunner,
    ProcessApplication,
    Runner,
    SingleThreadedRunner,
    System,
)

import safe_eventstore as ses


class Source(Application[UUID]):
    def create(self) -> UUID:
        aggregate = Aggregate()
        self.save(aggregate)
        return aggregate.id


class Tally(ProcessApplication[UUID]):
    """Records one aggregate of its own for each aggregate created upstream."""

    def policy(self, domain_event: Any, processing_event: Any) -> None:
        if isinstance(domain_event, Aggregate.Created):
            processing_event.collect_events(Aggregate())


@pytest.mark.parametrize("runner_class", [SingleThreadedRunner, NewMultiThreadedRunner])
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_process_application_follows_its_leader(
    runner_class: type[Runner[UUID]], backend: str, tmp_path: Any
) -> None:
    url = "memory://" if backend == "memory" else f"sqlite://{tmp_path}/store"
    env = {"PERSISTENCE_MODULE": "safe_eventstore.eventsourcing", "SAFE_EVENTSTORE_URL": url}
    runner = runner_class(System(pipes=[[Source, Tally]]), env=env)
    runner.start()
    try:
        source, tally = runner.get(Source), runner.get(Tally)
        for _ in range(5):
            source.create()
        last = source.recorder.max_notification_id()
        tally.recorder.wait("Source", last, timeout=10)
        assert tally.recorder.max_tracking_id("Source") == last
        assert len(tally.notification_log.select(start=1, limit=10)) == 5
    finally:
        runner.stop()
    if backend == "sqlite":
        with ses.open(url) as store:
            assert store.list_databases() == ["source", "tally"]
            assert store.database("tally").get_checkpoint("tracking:Source") == 5
