"""Snapshots on every backend: bounded loads, the companion stream hidden from the
aggregate's category, shapes, time travel from a snapshot, and saves that never fail for a
snapshot's sake."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore import cqrs

from .bank import Deposit, Deposited, Ledger, new_id


@ses.event_type("t.Ticked")
@dataclass(frozen=True)
class Ticked:
    n: int


class Counter(cqrs.Aggregate):
    snapshot_every = 1000

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.total = 0
        self.ticks = 0

    def tick(self, n: int) -> None:
        self.record(Ticked(n))

    @cqrs.when(Ticked)
    def _ticked(self, event: Ticked) -> None:
        self.total += event.n
        self.ticks += 1


class Counting:
    """A database whose reads count the events they yield, per stream."""

    def __init__(self, db: ses.Database) -> None:
        self.db = db
        self.read: dict[str, int] = {}

    def read_stream(self, stream: str, **options: Any) -> Iterator[ses.RecordedEvent]:
        for event in self.db.read_stream(stream, **options):
            self.read[stream] = self.read.get(stream, 0) + 1
            yield event

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def _ticks(repo: cqrs.Repository[Counter], id: str, count: int, batch: int) -> None:
    counter = Counter(id)
    done = 0
    while done < count:
        for n in range(done, min(done + batch, count)):
            counter.tick(n)
        done += len(counter.pending)
        repo.save(counter)


def test_a_large_aggregate_loads_from_its_latest_snapshot(db: ses.Database, store_url: str) -> None:
    # 100,000 events (10,000 on NATS, whose appends are network round trips), then 999
    # more in saves that cross no multiple of 1,000: the load must read those only.
    # (A NATS server commits at most 1,000 messages in one batch: some 300 events.)
    nats = store_url.startswith("nats")
    size, batch = (10_000, 300) if nats else (100_000, 2_500)
    repo = cqrs.Repository(db, Counter)
    id = new_id()
    _ticks(repo, id, size, batch)
    counter = repo.get(id)
    for n in range(size, size + 999):
        counter.tick(n)
        if n % 333 == 0:
            repo.save(counter)
    repo.save(counter)
    counting = Counting(db)
    loaded = cqrs.Repository(counting, Counter).get(id)  # type: ignore[arg-type]
    last = size + 998
    assert (loaded.version, loaded.ticks, loaded.total) == (last, last + 1, last * (last + 1) // 2)
    # the event the snapshot was taken after (its id is checked), then the 999 after it
    assert counting.read == {f"Counter-{id}": 1000, f"Counter.snapshot-{id}": 1}


def test_snapshots_are_hidden_from_the_aggregates_category(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Ledger)
    ledger = Ledger(new_id())
    with db.subscribe(category="Ledger") as sub:
        for _ in range(25):
            ledger.deposit(1)
        repo.save(ledger)
        delivered = [sub.get(timeout=10) for _ in range(25)]
        assert sub.get(timeout=0.2) is None
    assert {type(e.data) for e in delivered if e is not None} == {Deposited}
    assert [e.type for e in db.read_category("Ledger")] == ["t.Deposited"] * 25
    assert db.list_categories() == ["Ledger", "Ledger.snapshot"]
    assert [e.type for e in db.read_stream(f"Ledger.snapshot-{ledger.id}")] == ["Snapshot"]


def test_snapshots_come_every_n_events_in_the_same_batch(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Ledger)
    ledger = Ledger(new_id())
    snapshots = f"Ledger.snapshot-{ledger.id}"
    for batch in (4, 5, 1, 9, 1, 30):
        for _ in range(batch):
            ledger.deposit(1)
        repo.save(ledger)
    # saves ended at versions 3, 8, 9, 18, 19, 49: those crossing 10, 20, 30 ... took one
    taken = [e.metadata["version"] for e in db.read_stream(snapshots)]
    assert taken == [9, 19, 49]
    positions = {e.event_id: e.position for e in db.read_stream(ledger.stream)}
    for entry in db.read_stream(snapshots):
        # right after the event it names: both in one atomic batch
        assert entry.position == positions[uuid.UUID(entry.metadata["event_id"])] + 1


def _versioned(extra: bool, snapshot_version: int = 0) -> type[Ledger]:
    class Evolving(Ledger):
        category = "Evolving"

        def __init__(self, id: str) -> None:
            super().__init__(id)
            if extra:
                self.currency = "EUR"

    Evolving.snapshot_version = snapshot_version
    return Evolving


@pytest.mark.parametrize(("extra", "snapshot_version"), [(True, 0), (False, 1)])
def test_a_snapshot_of_another_shape_is_ignored(
    db: ses.Database, extra: bool, snapshot_version: int
) -> None:
    old = _versioned(extra=False)
    id = new_id()
    ledger = old(id)
    for n in range(15):
        ledger.deposit(2)
        if n in (9, 14):
            cqrs.Repository(db, old).save(ledger)
    counting = Counting(db)
    assert cqrs.Repository(counting, old).get(id).balance == 30  # type: ignore[arg-type]
    assert counting.read[f"Evolving-{id}"] == 6  # from the snapshot's own event on
    new = _versioned(extra, snapshot_version)
    counting = Counting(db)
    loaded = cqrs.Repository(counting, new).get(id)  # type: ignore[arg-type]
    assert (loaded.balance, loaded.version) == (30, 14)
    assert counting.read[f"Evolving-{id}"] == 15  # replayed from the start


def test_a_snapshot_that_names_another_event_is_ignored(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Ledger)
    ledger = Ledger(new_id())
    for _ in range(12):
        ledger.deposit(1)
    repo.save(ledger)
    [good] = list(db.read_stream(f"Ledger.snapshot-{ledger.id}"))
    # the state after event 11, claiming to be after event 5 (whose id is another)
    forged = {**good.metadata, "version": 5}
    db.append(good.stream, [ses.NewEvent("Snapshot", good.data, metadata=forged)])
    assert repo.get(ledger.id).balance == 12


def test_time_travel_starts_from_a_snapshot_at_or_below_the_target(db: ses.Database) -> None:
    repo = cqrs.Repository(db, Ledger)
    ledger = Ledger(new_id())
    times = []
    for n in range(1, 101):
        ledger.deposit(n)
        repo.save(ledger)
        times.append(datetime.now(UTC))
    counting = Counting(db)
    past = cqrs.Repository(counting, Ledger)  # type: ignore[arg-type]
    assert past.get(ledger.id, version=54).balance == 55 * 56 // 2
    assert counting.read[ledger.stream] <= 10
    counting.read.clear()
    assert past.get(ledger.id, at=times[72]).balance == 73 * 74 // 2
    # from the snapshot at version 69 on (a read by time cannot stop at ``at`` before it
    # sees a later event: the page holds the rest of the stream here)
    assert counting.read[ledger.stream] == 100 - 69
    assert past.get(ledger.id, version=5).balance == 21  # before the first snapshot


class Tagged(cqrs.Aggregate):
    snapshot_every = 2
    seen: set[int]

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.seen = set()

    def see(self, n: int) -> None:
        self.record(Ticked(n))

    @cqrs.when(Ticked)
    def _ticked(self, event: Ticked) -> None:
        self.seen = self.seen | {event.n}


def test_state_that_does_not_round_trip_is_never_snapshotted(
    db: ses.Database, caplog: pytest.LogCaptureFixture
) -> None:
    tagged = Tagged(new_id())
    tagged.see(1)
    tagged.see(2)
    cqrs.Repository(db, Tagged).save(tagged)
    assert len(db.read_stream(f"Tagged.snapshot-{tagged.id}")) == 1
    assert cqrs.Repository(db, Tagged).get(tagged.id).seen == {1, 2}

    class Loose(Tagged):  # a class of its own in each run: the warning comes once a class
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.loose = {1}  # not annotated: it would read back as a list

        @cqrs.when(Ticked)
        def _ticked(self, event: Ticked) -> None:
            self.seen = self.seen | {event.n}
            self.loose = self.loose | {event.n}

    loose = Loose(new_id())
    loose.see(1)
    loose.see(2)
    with caplog.at_level(logging.WARNING, logger="safe_eventstore.cqrs"):
        cqrs.Repository(db, Loose).save(loose)  # the save goes on without a snapshot
    assert "snapshots of" in caplog.text
    assert len(db.read_stream(f"Loose.snapshot-{loose.id}")) == 0
    assert cqrs.Repository(db, Loose).get(loose.id).loose == {1, 2}


def test_a_snapshot_too_large_for_the_store_does_not_fail_the_save(store_url: str) -> None:
    if store_url.startswith("nats"):
        url = store_url + "&max_event_size=20000"
    else:
        url = store_url + ("?" if "?" not in store_url else "&") + "max_event_size=20000"
    with ses.open(url) as store:
        db = store.create_database("small")
        ledger = Big(new_id())
        for _ in range(3):
            ledger.note("x" * 8_000)
        [result] = cqrs.Repository(db, Big).save(ledger)
        assert result.last_version == 2
        assert len(db.read_stream(f"Big.snapshot-{ledger.id}")) == 0
        assert cqrs.Repository(db, Big).get(ledger.id).size == 24_000


@ses.event_type("t.Noted")
@dataclass(frozen=True)
class Noted:
    text: str


class Big(cqrs.Aggregate):
    snapshot_every = 3

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.notes: list[str] = []
        self.size = 0

    def note(self, text: str) -> None:
        self.record(Noted(text))

    @cqrs.when(Noted)
    def _noted(self, event: Noted) -> None:
        self.notes = [*self.notes, event.text]
        self.size += len(event.text)


def test_a_snapshot_beside_an_idempotent_retry_is_never_used(db: ses.Database) -> None:
    # A command stored at version 7; another moves the ledger to 8; the first command is
    # executed again: its re-run decides the same event on the newer state and crosses the
    # snapshot boundary. The store answers the ledger's part as a retry (nothing written)
    # but stores the snapshot of a state that never existed (the deposit applied twice).
    # The snapshot names the retried event's id, which is not at version 9: it is ignored.
    router = cqrs.CommandRouter(db)

    @router.handles(Deposit, Ledger)
    def deposit(cmd: Deposit, ledger: Ledger) -> None:
        ledger.deposit(cmd.amount)

    id = new_id()
    for _ in range(7):
        router.execute(Deposit(target_id=id, amount=1))
    twice = Deposit(target_id=id, amount=100)
    router.execute(twice)
    router.execute(Deposit(target_id=id, amount=1))
    again = router.execute(twice)
    assert again.replayed and again.versions == {f"Ledger-{id}": 7}
    [bogus] = list(db.read_stream(f"Ledger.snapshot-{id}"))
    assert bogus.metadata["version"] == 9
    assert cqrs.Repository(db, Ledger).get(id).balance == 108
