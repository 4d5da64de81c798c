"""Queries of read models by declared indexes, on every backend: equality, ranges, order,
keyset paging while keys change, counts, and typed errors for what cannot be answered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore import projections


@ses.event_type("q.Opened")
@dataclass(frozen=True)
class Opened:
    owner: str
    city: str | None = None


@ses.event_type("q.Paid")
@dataclass(frozen=True)
class Paid:
    amount: int


def accounts(version: int = 1, indexes: tuple[str, ...] = ("balance", "owner", "address.city")):
    p = projections.Projection(
        "accounts",
        source=projections.category("Acct"),
        version=version,
        initial={"balance": 0},
        indexes=indexes,
    )

    @p.on(Opened)
    def _opened(state: dict[str, Any], event: ses.RecordedEvent) -> dict[str, Any]:
        address = {} if event.data.city is None else {"address": {"city": event.data.city}}
        return {**state, "owner": event.data.owner, **address}

    @p.on(Paid)
    def _paid(state: dict[str, Any], event: ses.RecordedEvent) -> dict[str, Any]:
        return {**state, "balance": state["balance"] + event.data.amount}

    return p


OWNERS = ["ann", "bob", "cy"]


def _fill(db: ses.Database, n: int) -> None:
    appends = []
    for i in range(n):
        events: list[object] = [Opened(OWNERS[i % 3], city="Oslo" if i % 4 == 0 else None)]
        events += [Paid(i * 10)] if i % 5 else []
        appends.append(ses.StreamAppend(f"Acct-{i:03d}", events))
    for at in range(0, n, 50):
        db.append_batch(appends[at : at + 50])


def _built(db: ses.Database, n: int = 40) -> projections.ReadModel:
    p = accounts()
    _fill(db, n)
    with projections.Runner(db, [p]) as runner:
        runner.run_once()
    return projections.ReadModel(db, p)


def _states(model: projections.ReadModel, n: int = 40) -> dict[str, Any]:
    return {f"Acct-{i:03d}": model.state(f"Acct-{i:03d}") for i in range(n)}


def test_equality_ranges_and_order_match_a_plain_filter(db: ses.Database) -> None:
    model = _built(db)
    states = _states(model)
    page = model.query({"owner": "ann", "balance": [(">=", 100), ("<", 300)]}, order_by="balance")
    wanted = sorted(
        (s["balance"], k)
        for k, s in states.items()
        if s["owner"] == "ann" and 100 <= s["balance"] < 300
    )
    assert [(s["balance"], k) for k, s in page.items] == wanted
    assert page.next is None
    down = model.query({"balance": (">", 0)}, order_by="balance", descending=True, limit=5)
    top = sorted(((s["balance"], k) for k, s in states.items()), reverse=True)[:5]
    assert [(s["balance"], k) for k, s in down.items] == top
    assert model.query({"owner": ("!=", "ann")}, limit=100).items == [
        (k, s) for k, s in sorted(states.items()) if s["owner"] != "ann"
    ]
    # a nested field, and a missing one: == None finds the keys without it
    oslo = model.query({"address.city": "Oslo"}, limit=100)
    assert [k for k, _ in oslo.items] == [f"Acct-{i:03d}" for i in range(0, 40, 4)]
    assert model.count({"address.city": None}) == 30
    assert model.count({"key": ("<", "Acct-010")}) == 10
    assert model.count() == 40
    assert model.count({"owner": "bob", "balance": 0}) == len(
        [s for s in states.values() if s["owner"] == "bob" and s["balance"] == 0]
    )
    # a range matches values of its own kind only: no string is >= 0
    assert model.count({"owner": (">=", 0)}) == 0


def test_paging_with_after_sees_every_key_once_while_keys_change(db: ses.Database) -> None:
    p = accounts()
    _fill(db, 40)
    model = projections.ReadModel(db, p)
    with projections.Runner(db, [p]) as runner:
        runner.run_once()
        seen: list[str] = []
        page = model.query({"balance": (">=", 0)}, order_by="balance", limit=7)
        while True:
            seen += [k for k, _ in page.items]
            if page.next is None:
                break
            # between pages: keys seen and not seen yet change (not in the order field), and
            # new keys appear before the mark and after it
            n = len(seen)
            db.append(seen[0], [Opened("zed")])
            db.append(f"Acct-{39 - n // 7:03d}", [Opened("zed")])
            db.append(f"Acct-low{n}", [Opened("dan")])
            db.append(f"Acct-high{n}", [Opened("dan"), Paid(20_000 + n)])
            runner.run_once()
            page = model.query({"balance": (">=", 0)}, order_by="balance", limit=7, after=page.next)
    assert len(seen) == len(set(seen))  # nothing repeated
    assert {f"Acct-{i:03d}" for i in range(40)} <= set(seen)  # nothing missed
    assert {k for k in seen if k.startswith("Acct-high")} == {
        k for k, _ in model.query({"owner": "dan", "balance": (">", 0)}, limit=100).items
    }


def test_a_read_model_without_indexes_or_with_an_unknown_field_refuses_queries(
    db: ses.Database,
) -> None:
    model = _built(db, 5)
    with pytest.raises(projections.UnknownIndex):
        model.query({"city": "Oslo"})
    with pytest.raises(projections.UnknownIndex):
        model.query(order_by="address")
    plain = projections.Projection("plain", source=projections.category("Acct"), initial=0)
    with pytest.raises(projections.UnknownIndex):
        projections.ReadModel(db, plain).query()
    with pytest.raises(projections.UnknownIndex):
        projections.ReadModel(db, plain).count()
    # both trees: the read side's and the store's
    with pytest.raises(ses.UnknownDocumentIndex):
        model.count({"nope": 1})


@pytest.mark.parametrize(
    "options",
    [
        {"where": {"balance": ("~=", 1)}},
        {"where": {"balance": (">", None)}},
        {"where": {"balance": (">", True)}},
        {"where": {"balance": (">", [1])}},
        {"where": {"balance": ("<", 1, 2)}},
        {"where": {"key": 5}},
        {"where": {"balance": []}},
        {"where": "balance > 5"},
        {"limit": 0},
        {"limit": 10_000},
        {"descending": "yes"},
        {"after": "not a token!"},
        {"order_by": "owner", "after": "WyJiYWxhbmNlIixmYWxzZSwxMjAsIkEiXQ"},
    ],
)
def test_bad_queries_are_typed_errors(db: ses.Database, options: dict[str, Any]) -> None:
    model = _built(db, 3)
    last = db.last_position()
    with pytest.raises(projections.InvalidQuery):
        model.query(**options)
    assert db.last_position() == last


def test_bad_index_declarations_are_refused() -> None:
    source = projections.category("Acct")
    for indexes in (["key"], ["a b"], ["1st"], "balance", ["x", "x"], [3], 5):
        with pytest.raises(projections.InvalidProjection):
            projections.Projection("p", source=source, indexes=indexes)  # type: ignore[arg-type]


def test_a_state_that_is_not_an_object_stores_nothing(db: ses.Database) -> None:
    p = projections.Projection(
        "totals", source=projections.category("Acct"), initial=0, indexes=["n"]
    )

    @p.on(Paid)
    def _paid(state: int, event: ses.RecordedEvent) -> int:
        return state + event.data.amount

    db.append("Acct-1", [Paid(5)])
    with projections.Runner(db, [p]) as runner, pytest.raises(projections.InvalidState):
        runner.run_once()
    assert db.get_checkpoint("projection.totals.v1") is None
    assert db.list_streams("projection.totals.v1") == []


def test_a_version_built_without_indexes_refuses_to_add_them(db: ses.Database) -> None:
    _fill(db, 3)
    with projections.Runner(db, [accounts(indexes=())]) as runner:
        runner.run_once()
    if db.supports_documents:  # no documents there: a scan would answer from the streams
        with pytest.raises(projections.UnknownIndex):
            projections.ReadModel(db, accounts()).count()
    db.append("Acct-new", [Opened("dan")])
    with projections.Runner(db, [accounts()]) as runner:
        if db.supports_documents:
            with pytest.raises(projections.InvalidProjection, match="new version"):
                runner.run_once()
    # the new version builds its own documents, queryable at once
    with projections.Runner(db, [accounts(version=2)]) as runner:
        runner.run_once()
    assert projections.ReadModel(db, accounts(version=2)).count() == 4


def test_the_async_read_model_answers_the_same(store_url: str) -> None:
    async def main() -> None:
        async with ses.open_async(store_url) as store:
            adb = await store.create_database("bank")
            _fill(adb.sync, 12)
            p = accounts()
            async with projections.AsyncRunner(adb, [p]) as runner:
                await runner.run_once()
            amodel = projections.AsyncReadModel(adb, p)
            model = projections.ReadModel(adb.sync, p)
            where = {"balance": (">", 20)}
            assert await amodel.query(where, order_by="balance") == model.query(
                where, order_by="balance"
            )
            assert await amodel.count(where) == model.count(where) > 0
            with pytest.raises(projections.UnknownIndex):
                await amodel.count({"x": 1})

    asyncio.run(main())


def test_without_documents_a_query_scans_up_to_its_limit(db: ses.Database) -> None:
    model = _built(db, 12)
    model.scan_limit = 10
    if db.supports_documents:
        assert model.count() == 12  # documents: no scan, no limit
        return
    with pytest.raises(projections.QueryTooLarge):
        model.query({"balance": (">", 0)})
    with pytest.raises(projections.QueryTooLarge):
        model.count()
    model.scan_limit = 12
    assert model.count() == 12


def test_during_a_rebuild_queries_read_the_serving_version(db: ses.Database) -> None:
    old = _built(db)  # version 1, promoted when it caught up
    assert projections.active_version(db, "accounts") == 1
    everyone = old.count()
    new = accounts(version=2)
    # version 2 stores one small page, far from caught up: it is not promoted
    with projections.Runner(db, [new], page_size=3) as runner:
        runner._step(runner.folders[0])
    assert projections.active_version(db, "accounts") == 1
    reader = projections.ReadModel(db, new, cache=0)
    assert reader.count() == everyone  # version 1's documents, not the three of version 2
    assert (
        reader.query({"owner": "ann"}, limit=1000).items
        == old.query({"owner": "ann"}, limit=1000).items
    )
    assert projections.ReadModel(db, new, version=2).count() < everyone


def test_a_query_of_a_projection_that_never_ran_is_a_typed_error(db: ses.Database) -> None:
    _fill(db, 5)
    ghost = projections.ReadModel(db, accounts(version=7))
    with pytest.raises(projections.ProjectionNotFound, match="never run"):
        ghost.query({"owner": "ann"})
    with pytest.raises(projections.ProjectionNotFound):
        ghost.count()
    assert not any(s.startswith("projection.") for s in db.list_categories())
