"""Concurrency and crashes: racing threads and processes, a killed writer."""

from __future__ import annotations

import functools
import itertools
import json
import sys
import threading
import uuid
from typing import Any

import pytest

import safe_eventstore as ses

from ._fixtures import DATABASE, PATIENCE, _Background, _finish, _new, _python, _shared, _take

_RACE_STREAMS = ("Race-1", "Race-2")
_RACER = """
import json, sys
import safe_eventstore as ses
from safe_eventstore.testing.contract._concurrency import _race

url, database, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with ses.open(url) as store:
    db = store.database(database)
    print("ready", flush=True)
    sys.stdin.readline()  # start together, to race for real
    for ack in _race(db, worker, count):
        print(json.dumps(ack))
"""


def _race(db: ses.Database, worker: int, count: int) -> list[list[Any]]:
    """One racing writer: read the version, append expecting it, retry when beaten."""
    acks: list[list[Any]] = []
    for n in range(count):
        stream = _RACE_STREAMS[(n + worker) % 2]
        event = ses.NewEvent("Raced", {"worker": worker, "n": n}, event_id=uuid.uuid4())
        for beaten in itertools.count():
            version = db.stream_version(stream)
            expected = ses.NO_STREAM if version is None else version
            try:
                result = db.append(stream, [event], expected_version=expected)
            except ses.WrongExpectedVersion:
                continue
            acks.append([stream, str(event.event_id), expected, result.first_version, beaten])
            break
    return acks


class _Follower:
    """A subscription drained in a background thread until it has delivered ``count``
    events: a reader that keeps up while writers race."""

    def __init__(self, db: ses.Database, count: int, **scope: Any) -> None:
        self.events: list[ses.RecordedEvent] = []
        self._sub = db.subscribe(**scope)
        self._thread = _Background(lambda: self.events.extend(_take(self._sub, count)))

    def finish(self) -> list[ses.RecordedEvent]:
        try:
            self._thread.join()
            assert self._sub.get(timeout=0) is None
        finally:
            self._sub.close()
        return self.events


def _race_followers(db: ses.Database, workers: int, count: int) -> list[_Follower]:
    first = sum((n + w) % 2 == 0 for w in range(workers) for n in range(count))
    return [_Follower(db, workers * count), _Follower(db, first, stream=_RACE_STREAMS[0])]


def _check_race(db: ses.Database, acks: list[list[Any]], followers: list[_Follower]) -> None:
    """Every acknowledged append is stored once, at the version it was acknowledged with,
    versions have no gaps, and readers that followed live saw exactly the stored order."""
    delivered, delivered_first = (f.finish() for f in followers)
    stored: dict[str, tuple[str, int]] = {}
    for stream in _RACE_STREAMS:
        events = db.read_stream(stream)
        assert [e.version for e in events] == list(range(len(events)))
        stored.update((str(e.event_id), (stream, e.version)) for e in events)
    everything = db.read_all()
    assert len(everything) == len(stored) == len(acks)
    for stream, event_id, expected, version, _ in acks:
        assert version == expected + 1  # NO_STREAM is -1: the first version is 0
        assert stored[event_id] == (stream, version)
    assert [e.event_id for e in delivered] == [e.event_id for e in everything]
    assert delivered_first == db.read_stream(_RACE_STREAMS[0])
    report = db.verify()
    assert report.ok, [str(p) for p in report.problems]


@pytest.mark.slow
def test_racing_processes_keep_versions_contiguous(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    workers, count = 4, 25
    followers = _race_followers(db, workers, count)
    racers = [_python(_RACER, store_url, DATABASE, str(w), str(count)) for w in range(workers)]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    acks = [json.loads(line) for racer in racers for line in _finish(racer)]
    _check_race(db, acks, followers)


def test_racing_threads_keep_versions_contiguous(db: ses.Database) -> None:
    workers, count = 8, 15
    acks: list[list[Any]] = []
    start = threading.Barrier(workers)

    def racer(worker: int) -> None:
        start.wait(PATIENCE)
        acks.extend(_race(db, worker, count))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that they race for real
    try:
        followers = _race_followers(db, workers, count)
        for thread in [_Background(functools.partial(racer, w)) for w in range(workers)]:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    _check_race(db, acks, followers)


_KILLED_WRITER = """
import sys, uuid
import safe_eventstore as ses

store = ses.open(sys.argv[1])
db = store.database(sys.argv[2])
n = 0
while True:
    event_id = uuid.uuid4()
    db.append("Crash-1", [ses.NewEvent("Written", {"n": n}, event_id=event_id)])
    print(event_id, flush=True)
    n += 1
"""


@pytest.mark.slow
def test_acknowledged_appends_survive_a_killed_writer(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    writer = _python(_KILLED_WRITER, store_url, DATABASE)
    assert writer.stdout is not None
    acked = [writer.stdout.readline().strip() for _ in range(50)]
    writer.kill()  # SIGKILL: no clean-up of any kind
    # Through the text stream to its end: readline may already hold lines read ahead from
    # the pipe, which communicate() (reading the pipe itself) would miss.
    out = writer.stdout.read()
    writer.communicate(timeout=PATIENCE)
    acked += [line for line in out.splitlines() if line]
    with ses.open(store_url) as reopened:
        db = reopened.database(DATABASE)
        events = db.read_stream("Crash-1")
        stored = [str(e.event_id) for e in events]
        extra = stored[len(acked) :]
        assert stored[: len(acked)] == acked, (len(acked), len(stored))
        # at most the one append it died acknowledging
        assert len(extra) <= 1, (len(acked), extra, out[-200:])
        assert [e.version for e in events] == list(range(len(events)))
        assert db.verify().ok
        db.append("Crash-1", [_new("Written")], expected_version=len(events) - 1)
