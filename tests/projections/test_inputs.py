"""Bad input: typed errors, raised before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore import projections

from .bank import Deposited, balances


def _nothing_written(db: ses.Database, before: int) -> None:
    assert db.last_position() == before
    assert db.list_checkpoints() == {}
    assert not [c for c in db.list_categories() if c.startswith("projection.")]


def test_a_handler_for_an_unknown_event_type_is_refused() -> None:
    p = projections.Projection("p", source=projections.category("Account"))
    with pytest.raises(projections.UnknownEventType, match="NeverRegistered"):
        p.on("NeverRegistered")
    typed = projections.Projection("q", source=projections.category("Account"), types=["A"])
    with pytest.raises(projections.UnknownEventType, match="Deposited"):
        typed.on(Deposited)  # registered, but outside the declared types
    assert p.handlers == {} and typed.handlers == {}


def test_unknown_means_not_registered_and_not_declared() -> None:
    @dataclass(frozen=True)
    class PClosed:
        reason: str

    p = projections.Projection("p", source=projections.category("Account"))
    p.on(PClosed)(lambda s, e: s)  # a typed class is registered on the spot
    assert ses.event_types.get("PClosed") is PClosed
    declared = projections.Projection("d", source=projections.whole_database(), types=["X"])
    declared.on("X")(lambda s, e: s)
    assert set(declared.handlers) == {"X"}


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "has-dash"},
        {"name": ""},
        {"name": "x" * 65},
        {"version": 0},
        {"version": True},
        {"source": "Account"},
        {"key": "stream"},
        {"types": [""]},
        {"initial": object()},
        {"history": "day"},
    ],
)
def test_a_bad_declaration_is_a_typed_error(bad: dict[str, Any]) -> None:
    options: dict[str, Any] = {
        "name": "ok",
        "source": projections.category("Account"),
        **bad,
    }
    name = options.pop("name")
    with pytest.raises(projections.InvalidProjection):
        projections.Projection(name, **options)


@pytest.mark.parametrize(
    "source", [lambda: projections.category("A-b"), lambda: projections.stream("$x")]
)
def test_a_bad_source_is_refused(source: Any) -> None:
    with pytest.raises(projections.InvalidProjection):
        source()


def test_bad_handlers_are_refused() -> None:
    p = projections.Projection("p", source=projections.category("Account"))
    with pytest.raises(projections.InvalidProjection):
        p.on()
    with pytest.raises(projections.InvalidProjection):
        p.on(dict)  # not a typed event class
    with pytest.raises(projections.InvalidProjection):
        p.on(Deposited)("not callable")  # type: ignore[arg-type]
    p.on(Deposited)(lambda s, e: s)
    with pytest.raises(projections.InvalidProjection, match="two handlers"):
        p.on(Deposited)


def test_two_projections_with_one_name_are_refused_and_nothing_is_written(
    db: ses.Database,
) -> None:
    db.append("Account-1", [Deposited(5)])
    before = db.last_position()
    with pytest.raises(projections.DuplicateProjection):
        projections.Runner(db, [balances(), balances()])
    with pytest.raises(projections.DuplicateProjection):
        projections.Runner(db, [balances(version=2), balances(), balances(version=2)])
    with pytest.raises(projections.InvalidProjection):
        projections.Runner(db, ["balances"])  # type: ignore[list-item]
    with pytest.raises(projections.InvalidProjection):
        projections.Runner(ses.AsyncDatabase(db), [balances()])  # type: ignore[arg-type]
    _nothing_written(db, before)


def test_a_failing_handler_stores_nothing_of_its_page(db: ses.Database) -> None:
    p = projections.Projection("fails", source=projections.category("Account"), initial=0)

    @p.on(Deposited)
    def _(state: int, event: ses.RecordedEvent) -> int:
        if event.data.amount == 13:
            raise ZeroDivisionError("unlucky")
        return state + event.data.amount

    db.append("Account-1", [Deposited(1), Deposited(2), Deposited(13), Deposited(4)])
    before = db.last_position()
    with projections.Runner(db, [p]) as runner, pytest.raises(projections.HandlerFailed) as info:
        runner.run_once()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert info.value.event.version == 2 and "Account-1@2" in str(info.value)
    _nothing_written(db, before)


def test_after_a_failed_page_the_same_runner_reads_it_again(db: ses.Database) -> None:
    p = projections.Projection("flaky", source=projections.category("Account"), initial=0)
    failing = [True]

    @p.on(Deposited)
    def _(state: int, event: ses.RecordedEvent) -> int:
        if event.data.amount == 13 and failing[0]:
            raise RuntimeError("not yet")
        return state + event.data.amount

    db.append("Account-1", [Deposited(1), Deposited(13), Deposited(4)])
    with projections.Runner(db, [p], page_size=2) as runner:
        with pytest.raises(projections.HandlerFailed):
            runner.run_once()
        failing[0] = False
        assert runner.run_once() == 3
    assert projections.ReadModel(db, p).state("Account-1") == 18


def test_a_state_with_no_json_form_stores_nothing(db: ses.Database) -> None:
    p = projections.Projection("sets", source=projections.category("Account"))
    p.on(Deposited)(lambda state, event: {event.stream: object()})
    db.append("Account-1", [Deposited(1)])
    before = db.last_position()
    with projections.Runner(db, [p]) as runner, pytest.raises(projections.InvalidState):
        runner.run_once()
    _nothing_written(db, before)


def test_a_key_function_must_give_strings(db: ses.Database) -> None:
    p = projections.Projection("keys", source=projections.category("Account"), key=lambda e: 7)  # type: ignore[arg-type, return-value]
    p.on(Deposited)(lambda s, e: s)
    db.append("Account-1", [Deposited(1)])
    before = db.last_position()
    with projections.Runner(db, [p]) as runner, pytest.raises(projections.HandlerFailed):
        runner.run_once()
    _nothing_written(db, before)


def test_read_model_inputs_are_checked(db: ses.Database) -> None:
    from datetime import datetime

    model = projections.ReadModel(db, balances())
    with pytest.raises(projections.InvalidProjection):
        model.state("")
    with pytest.raises(projections.InvalidProjection):
        model.state("Account-1", at=datetime(2026, 1, 1))  # naive
    with pytest.raises(projections.InvalidProjection):
        model.state("Account-1", at_position=1, at=datetime.now().astimezone())
    with pytest.raises(projections.InvalidProjection):
        model.state("Account-1", at_position="1")  # type: ignore[arg-type]
