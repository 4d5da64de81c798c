"""Upcasting: stored events of an older schema version read in the current shape, through
every read of the store, while the stored bytes stay as they were written."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import safe_eventstore as ses

from .backends import BACKENDS, backend_url


# the three shapes of one event type: amount (1), + currency (2), amount renamed cents (3)
@dataclasses.dataclass(frozen=True)
class DepositedV3:
    cents: int
    currency: str


class Sent(msgspec.Struct, frozen=True):
    to: str


def _registry() -> ses.EventTypes:
    """The registry of the current code: Deposited at version 3, with its two upcasters."""
    types = ses.EventTypes()
    types.register(DepositedV3, "Deposited", version=3)

    @types.upcaster("Deposited", 1)
    def add_currency(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "currency": "EUR"}

    @types.upcaster("Deposited", 2)
    def to_cents(data: dict[str, Any]) -> dict[str, Any]:
        return {"cents": data["amount"] * 100, "currency": data["currency"]}

    return types


def _old(version: int, amount: int, **extra: Any) -> ses.NewEvent:
    """A Deposited event as a writer at ``version`` stored it."""
    data: dict[str, Any] = {"amount": amount}
    if version == 2:
        data["currency"] = "USD"
    return ses.NewEvent("Deposited", data, metadata={"$schema": version}, **extra)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[ses.Store]:
    with ses.open(store_url, event_types=_registry()) as store:
        yield store


@pytest.fixture
def db(store: ses.Store) -> ses.Database:
    return store.create_database("upcasting")


EXPECTED = [DepositedV3(500, "EUR"), DepositedV3(700, "USD"), DepositedV3(9, "GBP")]


def _fill(db: ses.Database) -> None:
    db.append("Account-1", [_old(1, 5), _old(2, 7)])
    db.append("Account-1", [DepositedV3(9, "GBP")])


def test_every_read_sees_the_current_shape(db: ses.Database) -> None:
    _fill(db)
    assert [e.data for e in db.read_stream("Account-1")] == EXPECTED
    assert [e.data for e in db.read_all()] == EXPECTED
    assert [e.data for e in db.read_category("Account")] == EXPECTED
    assert [e.data for e in db.read_stream("Account-1", backwards=True)] == EXPECTED[::-1]
    # the metadata's schema version is that of the data as read
    assert {e.metadata["$schema"] for e in db.read_all()} == {3}
    with db.subscribe(category="Account", idle_timeout=0.5) as sub:
        assert [e.data for e in sub] == EXPECTED


def test_events_without_a_stream_are_upcast_too(db: ses.Database) -> None:
    db.append_events([_old(1, 5, tags=("acct-1",))])
    query = ses.Query([ses.QueryItem(tags=("acct-1",))])
    assert [e.data for e in db.read_events(query)] == [DepositedV3(500, "EUR")]


def _reader(store: ses.Store, types: ses.EventTypes) -> ses.Database:
    """The test database read through another registry (another process's code)."""
    return ses.Database(
        store.storage, "upcasting", event_types=types, max_event_size=store.max_event_size
    )


def test_the_stored_bytes_never_change(db: ses.Database, store: ses.Store) -> None:
    _fill(db)
    read = db.read_stream("Account-1")
    assert [e.payload for e in read] == [
        b'{"amount":5}',
        b'{"amount":7,"currency":"USD"}',
        b'{"cents":9,"currency":"GBP"}',
    ]
    assert db.verify().ok
    # a reader without the upcasters (as the command line reads) sees what is stored
    stored = _reader(store, ses.EventTypes()).read_stream("Account-1")
    assert [e.data for e in stored] == [
        {"amount": 5},
        {"amount": 7, "currency": "USD"},
        {"cents": 9, "currency": "GBP"},
    ]
    # version 1 costs nothing: no schema key is stored for it
    assert [e.metadata for e in stored] == [{}, {"$schema": 2}, {"$schema": 3}]


def test_the_async_reads_upcast(store_url: str) -> None:
    async def main() -> list[Any]:
        async with ses.open_async(store_url, event_types=_registry()) as store:
            db = await store.create_database("upcasting")
            await db.append("Account-1", [_old(1, 5)])
            async with db.subscribe(idle_timeout=0.5) as sub:
                live = [e.data async for e in sub]
            return [*(await db.read_stream("Account-1")), *live]

    first, live = asyncio.run(main())
    assert first.data == live == DepositedV3(500, "EUR")


def test_new_events_are_recorded_at_the_current_version(db: ses.Database) -> None:
    db.append(
        "Account-2",
        [DepositedV3(1, "EUR"), ses.NewEvent("Deposited", {"cents": 2, "currency": "EUR"})],
    )
    db.append("Account-2", [ses.NewEvent("Deposited", b"raw")])  # bytes are not versioned
    events = db.read_stream("Account-2")
    assert [e.metadata for e in events] == [{"$schema": 3}, {"$schema": 3}, {}]
    assert [e.data for e in events[:2]] == [DepositedV3(1, "EUR"), DepositedV3(2, "EUR")]


def test_a_schema_version_may_be_given_and_one_is_left_out(db: ses.Database) -> None:
    given = {"$schema": 1, "user": "ann"}
    db.append("Account-3", [ses.NewEvent("Deposited", {"amount": 1}, metadata=given)])
    assert db.read_stream("Account-3")[0].metadata == {"user": "ann", "$schema": 3}
    for bad in (0, -1, True, "2", 1.5):
        with pytest.raises(ses.InvalidEvent, match=r"\$schema"):
            db.append(
                "Account-3", [ses.NewEvent("Deposited", {"amount": 1}, metadata={"$schema": bad})]
            )
    with pytest.raises(ses.InvalidEvent, match=r"\$version"):
        db.append("Account-3", [ses.NewEvent("X", {}, metadata={"$version": 2})])
    assert db.stream_version("Account-3") == 0


def test_a_restructure_replacement_reads_at_its_own_version(db: ses.Database) -> None:
    db.append("Account-4", [_old(1, 5)])
    db.restructure("Account-4", 0, _old(2, 6), reason="wrong amount")
    (event,) = db.read_stream("Account-4")
    assert event.data == DepositedV3(600, "USD")
    assert event.restructured


def _failing_read(store: ses.Store, types: ses.EventTypes) -> ses.UpcastError:
    db = store.database("upcasting")
    reader = _reader(store, types)
    position = db.last_position()
    with pytest.raises(ses.UpcastError) as info:
        list(reader.read_stream("Account-5"))
    error = info.value
    assert (error.type, error.stored_version, error.stream) == ("Deposited", 1, "Account-5")
    assert (error.version, error.position) == (0, position)
    assert f"position {position}" in str(error) and "'Deposited'" in str(error)
    return error


def test_an_upcaster_missing_from_the_chain_is_a_typed_error(
    db: ses.Database, store: ses.Store
) -> None:
    db.append("Account-5", [_old(1, 5)])
    gap = ses.EventTypes()
    gap.register(DepositedV3, "Deposited", version=3)
    gap.upcaster("Deposited", 2)(lambda data: data)
    assert "no upcaster from version 1" in str(_failing_read(store, gap))


def test_an_upcaster_that_raises_is_a_typed_error(db: ses.Database, store: ses.Store) -> None:
    db.append("Account-5", [_old(1, 5)])
    broken = ses.EventTypes()
    broken.register(DepositedV3, "Deposited", version=2)
    broken.upcaster("Deposited", 1)(lambda data: data["missing"])
    error = _failing_read(store, broken)
    assert isinstance(error.__cause__, KeyError)
    assert "raised KeyError('missing')" in str(error)


def test_an_upcast_result_that_does_not_fit_is_a_typed_error(
    db: ses.Database, store: ses.Store
) -> None:
    db.append("Account-5", [_old(1, 5)])
    unfit = ses.EventTypes()
    unfit.register(DepositedV3, "Deposited", version=2)
    unfit.upcaster("Deposited", 1)(lambda data: {"cents": "five", "currency": "EUR"})
    assert "does not fit DepositedV3" in str(_failing_read(store, unfit))


# -- the registry (no store needed) ----------------------------------------------------------


def test_registering_twice_is_refused() -> None:
    types = _registry()
    with pytest.raises(ses.InvalidEvent, match="already has an upcaster from version 1"):
        types.upcaster("Deposited", 1)(lambda data: data)
    with pytest.raises(ses.InvalidName, match="already registered at version 3"):
        types.register(DepositedV3, "Deposited", version=4)
    assert types.register(DepositedV3, "Deposited", version=3) is DepositedV3
    for bad in (0, -2, True, "2", None):
        with pytest.raises(ses.InvalidEvent):
            types.upcaster("Deposited", bad)  # type: ignore[arg-type]
        with pytest.raises(ses.InvalidEvent):
            types.register(Sent, version=bad)  # type: ignore[arg-type]
    with pytest.raises(ses.InvalidName):
        types.upcaster("bad name", 1)


def test_versions_and_upcast_without_a_store() -> None:
    types = _registry()
    assert types.version_of("Deposited") == 3
    assert types.version_of("Unknown") == 1
    assert types.upcast("Deposited", {"amount": 1}, 1) == DepositedV3(100, "EUR")
    assert types.upcast("Deposited", {"cents": 1, "currency": "X"}, 3) == DepositedV3(1, "X")
    with pytest.raises(ses.UpcastError, match="stored at schema version 2") as info:
        types.upcast("Deposited", {"amount": 1}, 2)
    assert info.value.position is None


def test_a_type_without_a_class_is_upcast_as_plain_data() -> None:
    types = ses.EventTypes()
    types.upcaster("Renamed", 1)(lambda data: {"name": data.pop("title")})
    assert types.version_of("Renamed") == 2
    with ses.open("memory://", event_types=types) as store:
        db = store.create_database("plain")
        db.append("Doc-1", [ses.NewEvent("Renamed", {"title": "a"}, metadata={"$schema": 1})])
        db.append("Doc-1", [ses.NewEvent("Renamed", {"name": "b"})])
        assert [e.data for e in db.read_stream("Doc-1")] == [{"name": "a"}, {"name": "b"}]


def test_the_default_registry_has_module_level_decorators() -> None:
    @ses.event_type("UpcastingDefault", version=2)
    class Current(msgspec.Struct):
        value: int

    @ses.upcaster("UpcastingDefault", 1)
    def double(data: dict[str, Any]) -> dict[str, Any]:
        return {"value": data["v"] * 2}

    assert ses.event_types.upcast("UpcastingDefault", {"v": 2}, 1) == Current(4)


def test_a_newer_stored_version_reads_as_it_is() -> None:
    """An event written by newer code than the reader's is decoded as it is (an older
    process cannot downcast)."""
    with ses.open("memory://", event_types=_registry()) as store:
        db = store.create_database("newer")
        db.append(
            "A-1",
            [ses.NewEvent("Deposited", {"cents": 1, "currency": "X"}, metadata={"$schema": 4})],
        )
        event = db.read_stream("A-1")[0]
        assert event.data == DepositedV3(1, "X")
        assert event.metadata == {"$schema": 4}


@settings(max_examples=60, deadline=None)
@given(
    steps=st.integers(min_value=1, max_value=6),
    stored=st.data(),
    values=st.lists(st.integers(), min_size=1, max_size=5),
)
def test_a_chain_applies_each_step_once_in_order(
    steps: int, stored: st.DataObject, values: list[int]
) -> None:
    """For a chain of ``steps`` upcasters, each appending its version to a trail, an event
    stored at version k reads with the trail k+1 ... steps+1 appended, and its bytes as
    written."""
    types = ses.EventTypes()
    for version in range(1, steps + 1):
        types.upcaster("Trail", version)(
            lambda data, v=version: {**data, "trail": [*data["trail"], v + 1]}
        )
    versions = stored.draw(
        st.lists(st.integers(1, steps + 1), min_size=len(values), max_size=len(values))
    )
    with ses.open("memory://", event_types=types) as store:
        db = store.create_database("trail")
        events = [
            ses.NewEvent("Trail", {"value": x, "trail": []}, metadata={"$schema": v})
            for x, v in zip(values, versions, strict=True)
        ]
        db.append("T-1", events)
        read = list(db.read_stream("T-1"))
    assert [e.data for e in read] == [
        {"value": x, "trail": list(range(v + 1, steps + 2))}
        for x, v in zip(values, versions, strict=True)
    ]
    assert [e.payload for e in read] == [
        msgspec.json.encode({"value": x, "trail": []}) for x in values
    ]


def test_export_and_import_keep_the_schema_versions(tmp_path: Path) -> None:
    from .cli.support import ok

    url = f"sqlite://{tmp_path / 'store'}"
    with ses.open(url, event_types=_registry()) as store:
        _fill(store.create_database("source"))
    backup = tmp_path / "backup.jsonl"
    ok("export", str(backup), "--db", "source", "--store", url)
    ok("import", str(backup), "--create", "--db", "copy", "--store", url)
    with ses.open(url, event_types=_registry()) as store:
        assert [e.data for e in store.database("copy").read_stream("Account-1")] == EXPECTED

        def stored(name: str) -> list[tuple[bytes, dict[str, Any]]]:
            plain = ses.Database(
                store.storage, name, event_types=ses.EventTypes(), max_event_size=1 << 20
            )
            return [(e.payload, e.metadata) for e in plain.read_stream("Account-1")]

        assert stored("copy") == stored("source")
