"""The storage contract promise the eventsourcing recorders count on: the entries of one
append take consecutive positions, in the order of its writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses


@pytest.fixture(params=["memory", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ses.Database]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/store"
    with ses.open(url) as store:
        yield store.create_database("d")


def test_a_batch_takes_consecutive_positions_in_write_order(db: ses.Database) -> None:
    db.append("A-1", [ses.NewEvent("E")])
    results = db.append_batch(
        [
            ses.StreamAppend("B-1", [ses.NewEvent("E"), ses.NewEvent("E")]),
            ses.StreamAppend("A-1", [ses.NewEvent("E")]),
            ses.StreamAppend("C-1", [ses.NewEvent("E") for _ in range(3)]),
        ]
    )
    assert [r.position for r in results] == [3, 4, 7]
    assert [(e.stream, e.position) for e in db.read_all()] == [
        ("A-1", 1),
        ("B-1", 2),
        ("B-1", 3),
        ("A-1", 4),
        ("C-1", 5),
        ("C-1", 6),
        ("C-1", 7),
    ]
