"""Time travel through the stored states, and restructured source events applied as
corrections that show in the history."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import safe_eventstore as ses
from safe_eventstore import projections

from .bank import Deposited, balances, expected_balances


def _run(db: ses.Database, *ps: projections.Projection) -> None:
    with projections.Runner(db, list(ps), page_size=10) as runner:
        runner.run_once()


def test_states_at_a_position_and_at_a_time(db: ses.Database) -> None:
    p = balances()
    model = projections.ReadModel(db, p)
    first = db.append("Account-1", [Deposited(1), Deposited(2)])
    _run(db, p)
    time.sleep(0.01)  # the next events are stored at a later time than ``between``
    between = datetime.now(UTC)
    time.sleep(0.01)
    second = db.append("Account-1", [Deposited(10)])
    _run(db, p)
    assert model.state("Account-1") == 13
    assert model.state("Account-1", at_position=first.position) == 3
    assert model.state("Account-1", at_position=second.position) == 13
    assert model.state("Account-1", at_position=first.position - 1) == 0  # before: initial
    assert model.state("Account-1", at=between) == 3
    assert model.state("Account-1", at=between - timedelta(days=1)) == 0
    assert model.state("Account-1", at=datetime.now(UTC)) == 13
    history = model.history("Account-1")
    assert [(h.key, h.state, h.position, h.correction) for h in history] == [
        ("Account-1", 3, first.position, False),
        ("Account-1", 13, second.position, False),
    ]
    assert history[0].at <= between < history[1].at


def test_a_replaced_event_is_corrected_and_the_correction_is_in_the_history(
    db: ses.Database,
) -> None:
    p = balances()
    model = projections.ReadModel(db, p)
    db.append("Account-1", [Deposited(5), Deposited(7)])
    db.append("Account-2", [Deposited(1)])
    _run(db, p)
    assert model.state("Account-1") == 12
    fixed = db.restructure("Account-1", 0, Deposited(50), reason="typo")
    _run(db, p)
    assert model.state("Account-1") == 57
    history = model.history("Account-1")
    assert [(h.state, h.correction) for h in history] == [(12, False), (57, True)]
    assert history[-1].position == fixed.position
    assert model.state("Account-1", at_position=fixed.position - 1) == 12  # as it was
    assert model.state("Account-2") == 1 and len(model.history("Account-2")) == 1
    db.restructure("Account-1", 1, reason="entered twice")  # hidden
    db.append("Account-1", [Deposited(100)])
    _run(db, p)
    assert model.state("Account-1") == 150 == expected_balances(db)["Account-1"]
    assert [h.state for h in model.history("Account-1")] == [12, 57, 150]


def test_a_correction_moves_an_event_between_keys(db: ses.Database) -> None:
    days = projections.Projection(
        "days", source=projections.category("Account"), key=lambda e: e.data.day, initial=0
    )
    days.on(Deposited)(lambda state, event: state + event.data.amount)
    model = projections.ReadModel(db, days)
    db.append("Account-1", [Deposited(5, day="2026-01-01"), Deposited(7, day="2026-01-01")])
    _run(db, days)
    db.restructure("Account-1", 1, Deposited(7, day="2026-01-02"), reason="wrong day")
    _run(db, days)
    assert (model.state("2026-01-01"), model.state("2026-01-02")) == (5, 7)
    assert [h.correction for h in model.history("2026-01-01")] == [False, True]
    assert [h.correction for h in model.history("2026-01-02")] == [True]


def test_a_catch_up_after_the_restructure_matches_a_live_one(db: ses.Database) -> None:
    db.append("Account-1", [Deposited(5), Deposited(7)])
    db.restructure("Account-1", 0, Deposited(50), reason="typo")
    p = balances()
    _run(db, p)  # the subscription already applies the restructure; the entry recomputes
    assert projections.ReadModel(db, p).state("Account-1") == 57


def test_a_history_of_every_event_is_exact_at_every_position(db: ses.Database) -> None:
    p = projections.Projection(
        "exact", source=projections.category("Account"), initial=0, history="event"
    )
    p.on(Deposited)(lambda state, event: state + event.data.amount)
    model = projections.ReadModel(db, p)
    results = [db.append("Account-1", [Deposited(n)]) for n in (1, 2, 3)]
    db.append("Account-2", [Deposited(100)])
    _run(db, p)  # one page, one batch: three entries for Account-1
    assert [model.state("Account-1", at_position=r.position) for r in results] == [1, 3, 6]
    assert [h.position for h in model.history("Account-1")] == [r.position for r in results]
    db.restructure("Account-1", 1, reason="not made")
    db.append("Account-1", [Deposited(10)])
    _run(db, p)
    assert [(h.state, h.correction) for h in model.history("Account-1")][3:] == [
        (4, True),
        (14, False),
    ]
    with projections.Runner(db, [p]) as runner:  # a new runner: the cache is rebuilt
        db.append("Account-1", [Deposited(1)])
        runner.run_once()
    assert model.state("Account-1") == 15
