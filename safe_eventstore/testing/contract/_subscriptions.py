"""Subscriptions and checkpoints, in this process and across processes."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

import safe_eventstore as ses

from ._fixtures import (
    DATABASE,
    PATIENCE,
    _Background,
    _finish,
    _in_new_subscription,
    _new,
    _python,
    _shared,
    _take,
)

_SCOPES: dict[str, dict[str, Any]] = {
    "stream": {"stream": "Cart-1"},
    "category": {"category": "Cart"},
    "all": {},
}
_STREAMS = ("Cart-1", "Cart-2", "Cartage-1", "Cart", "Other-1")


def _in_scope(event: ses.RecordedEvent, scope: str) -> bool:
    if scope == "stream":
        return event.stream == "Cart-1"
    if scope == "category":
        return event.category == "Cart"
    return True


@pytest.mark.parametrize("scope", sorted(_SCOPES))
def test_subscription_catches_up_then_goes_live(db: ses.Database, scope: str) -> None:
    for n in range(10):
        db.append(_STREAMS[n % 5], [_new("Added", n=n)])
    stored = [e for e in db.read_all() if _in_scope(e, scope)]
    plan = [(_STREAMS[n % 5], n) for n in range(10, 60)]

    def write() -> None:
        for stream, n in plan:
            events = [_new("Added", n=n, k=k) for k in range(1 + n % 3)]
            db.append(stream, events)

    live_total = sum(1 + n % 3 for stream, n in plan if _in_scope_name(stream, scope))
    with db.subscribe(**_SCOPES[scope]) as sub:
        caught_up = _take(sub, len(stored))
        writer = _Background(write)
        live = _take(sub, live_total)
        writer.join()
        assert sub.get(timeout=0) is None
    assert caught_up == stored
    delivered = caught_up + live
    assert [e.event_id for e in delivered] == [
        e.event_id for e in db.read_all() if _in_scope(e, scope)
    ]
    positions = [e.position for e in delivered]
    assert positions == sorted(set(positions))


def _in_scope_name(stream: str, scope: str) -> bool:
    if scope == "stream":
        return stream == "Cart-1"
    if scope == "category":
        return ses.category_of(stream) == "Cart"
    return True


def test_category_subscription_keeps_to_its_category(db: ses.Database) -> None:
    db.append("Cart-1", [_new("Added")])
    db.append("Cartage-1", [_new("Shipped")])
    db.append("Cart", [_new("Created")])
    db.append("Other-1", [_new("Noise")])
    db.append("Cart-2-gift", [_new("Wrapped")])
    events = _in_new_subscription(db, 3, category="Cart")
    assert [e.stream for e in events] == ["Cart-1", "Cart", "Cart-2-gift"]


def test_a_live_event_arrives_before_the_idle_timeout(db: ses.Database) -> None:
    db.append("Bell-1", [_new("Rung", n=0)])
    idle = PATIENCE
    with db.subscribe(stream="Bell-1", idle_timeout=idle) as sub:
        assert [e.data for e in itertools.islice(sub, 1)] == [{"n": 0}]
        ringer = _Background(lambda: db.append("Bell-1", [_new("Rung", n=1)]), delay=0.2)
        started = time.monotonic()
        live = next(sub, None)  # None: the idle timeout passed without the event
        waited = time.monotonic() - started
        ringer.join()
    assert live is not None and live.data == {"n": 1}
    assert waited < idle


def test_the_backend_wakes_a_waiting_reader(store: ses.Store, db: ses.Database) -> None:
    head = db.append("Bell-1", [_new("Rung")]).position
    assert store.storage.wait(db.name, head - 1, PATIENCE) is True  # already there
    outcome: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        outcome["woken"] = store.storage.wait(db.name, head, PATIENCE)
        outcome["waited"] = time.monotonic() - started

    waiter = _Background(wait)
    time.sleep(0.2)
    db.append("Bell-1", [_new("Rung")])
    waiter.join()
    assert outcome["woken"] is True
    assert outcome["waited"] < PATIENCE / 2  # woken by the append, not by the timeout


def test_an_idle_subscriber_does_not_spin(db: ses.Database) -> None:
    db.append("Quiet-1", [_new("Said")])
    with db.subscribe() as sub:
        assert sub.get(timeout=PATIENCE) is not None
        wall, cpu = time.monotonic(), time.process_time()
        assert sub.get(timeout=1.5) is None
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert cpu < wall / 2, f"waiting {wall:.2f} s for nothing used {cpu:.2f} s of CPU"


def test_the_idle_timeout_ends_iteration(db: ses.Database) -> None:
    db.append("Quiet-1", [_new("Said")])
    with db.subscribe(idle_timeout=0.2) as sub:
        assert [e.type for e in sub] == ["Said"]
    assert sub.closed


def test_closing_a_subscription_ends_a_blocked_iteration(db: ses.Database) -> None:
    sub = db.subscribe()
    closer = _Background(sub.close, delay=0.2)
    assert list(sub) == []
    closer.join()
    assert sub.closed
    assert sub.get(timeout=0) is None


def test_checkpoint_resume_after_reopening_the_store(store_url: str, store: ses.Store) -> None:
    db = store.create_database(DATABASE)
    for n in range(5):
        db.append(f"Order-{n % 2}", [_new("Placed", n=n)])
    with db.subscribe(checkpoint="mailer") as sub:
        for event in _take(sub, 3):
            sub.save_checkpoint(event.position)
    assert db.get_checkpoint("mailer") == db.read_all()[2].position
    reopened = None
    if store.storage.shared_across_processes:  # a store that outlives its handle
        store.close()
        reopened = ses.open(store_url)
        db = reopened.database(DATABASE)
    try:
        for n in range(5, 7):
            db.append(f"Order-{n % 2}", [_new("Placed", n=n)])
        with db.subscribe(checkpoint="mailer", from_position=1) as sub:
            resumed = _take(sub, 4)
            assert sub.get(timeout=0) is None
            sub.save_checkpoint()  # the last delivered position
        assert [e.data["n"] for e in resumed] == [3, 4, 5, 6]
        assert db.get_checkpoint("mailer") == resumed[-1].position
    finally:
        if reopened is not None:
            reopened.close()


def test_a_checkpoint_takes_precedence_over_from_position(db: ses.Database) -> None:
    for n in range(6):
        db.append("Order-1", [_new("Placed", n=n)])
    everything = db.read_all()[:]
    with db.subscribe(checkpoint="reader", from_position=everything[4].position) as sub:
        assert _take(sub, 2) == everything[4:]  # no checkpoint stored yet: from_position
    db.save_checkpoint("reader", everything[1].position)
    assert db.get_checkpoint("reader") == everything[1].position
    with db.subscribe(checkpoint="reader", from_position=everything[4].position) as sub:
        assert _take(sub, 4) == everything[2:]
        assert sub.get(timeout=0) is None
    with db.subscribe(from_position=everything[4].position) as sub:  # no name: no checkpoint
        assert _take(sub, 2) == everything[4:]
        with pytest.raises(ses.InvalidInput):
            sub.save_checkpoint(1)


_SUBSCRIBER = """
import json, os, sys
import safe_eventstore as ses

url, database, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = ses.open(url)
sub = store.database(database).subscribe(category="Order", checkpoint="mailer")
for _ in range(count):
    event = sub.get(timeout=30)
    if event is None:
        break
    print(json.dumps([event.position, str(event.event_id)]), flush=True)
    sub.save_checkpoint(event.position)
os._exit(0)  # end like a crashed process: nothing closed
"""


@pytest.mark.slow
def test_a_restarted_subscriber_process_resumes_after_its_checkpoint(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    for n in range(8):
        db.append(("Order-1", "Order-2", "Other-1")[n % 3], [_new("Placed", n=n)])
    first = [json.loads(line) for line in _finish(_python(_SUBSCRIBER, store_url, DATABASE, "3"))]
    for n in range(8, 12):
        db.append(("Order-1", "Order-2", "Other-1")[n % 3], [_new("Placed", n=n)])
    orders = [[e.position, str(e.event_id)] for e in db.read_category("Order")]
    rest = len(orders) - len(first)
    second = [
        json.loads(line) for line in _finish(_python(_SUBSCRIBER, store_url, DATABASE, str(rest)))
    ]
    assert len(first) == 3
    assert first + second == orders
    assert db.get_checkpoint("mailer") == orders[-1][0]


_WAKER = """
import sys
import safe_eventstore as ses

with ses.open(sys.argv[1]) as store:
    store.database(sys.argv[2]).append("Bell-1", [ses.NewEvent("Rung", {"by": "child"})])
"""


def test_an_append_in_another_process_wakes_a_subscriber(
    store_url: str, store: ses.Store, db: ses.Database
) -> None:
    _shared(store)
    db.append("Bell-1", [_new("Rung", by="parent")])
    with db.subscribe(stream="Bell-1", idle_timeout=PATIENCE) as sub:
        assert [e.data for e in itertools.islice(sub, 1)] == [{"by": "parent"}]
        child = _python(_WAKER, store_url, DATABASE)
        live = next(sub, None)
        _finish(child)
    assert live is not None and live.data == {"by": "child"}
