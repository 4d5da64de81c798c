"""Payloads: typed events, plain data and bytes, content addressing, deduplication and the
size limit."""

from __future__ import annotations

import dataclasses
import os

import pytest

import safe_eventstore as ses

from ._fixtures import MiB, _new, _snapshot, _take, _unique

# -- typed events, plain data and bytes -------------------------------------------------------


def test_registered_dataclass_round_trips_as_an_instance(db: ses.Database) -> None:
    name = _unique("Deposited")

    @ses.event_type(name)
    @dataclasses.dataclass
    class Deposited:
        account: str
        amount: int
        note: str | None = None

    db.append("Account-1", [Deposited("Account-1", 100), Deposited("Account-1", 5, "tip")])
    db.append("Account-1", [ses.NewEvent(name, {"account": "Account-1", "amount": 7})])
    events = db.read_stream("Account-1")
    assert [e.type for e in events] == [name] * 3
    assert [e.data for e in events] == [
        Deposited("Account-1", 100),
        Deposited("Account-1", 5, "tip"),
        Deposited("Account-1", 7),
    ]
    assert all(isinstance(e.data, Deposited) for e in db.read_all())
    with db.subscribe() as sub:
        assert isinstance(_take(sub, 1)[0].data, Deposited)
    # stored data that no longer fits the class reads as plain data instead of failing
    db.append("Account-1", [ses.NewEvent(name, {"unexpected": 1})])
    assert db.read_stream("Account-1")[3].data == {"unexpected": 1}


def test_unregistered_type_reads_as_plain_data(db: ses.Database) -> None:
    name = _unique("Withdrawn")
    db.append("Account-1", [ses.NewEvent(name, {"amount": 5, "why": ["rent"]})])
    (event,) = db.read_stream("Account-1")
    assert event.type == name
    assert event.data == {"amount": 5, "why": ["rent"]}
    assert type(event.data) is dict


def test_bytes_pass_through(db: ses.Database) -> None:
    blob = bytes(range(256)) * 4
    db.append(
        "File-1",
        [
            ses.NewEvent("Uploaded", blob),
            ses.NewEvent("Emptied", b""),
            ses.NewEvent("Copied", bytearray(b"\x00\x01")),
            ses.NewEvent("Viewed", memoryview(b"\xff")),
        ],
    )
    events = db.read_stream("File-1")
    assert [e.data for e in events] == [blob, b"", b"\x00\x01", b"\xff"]
    assert [e.payload for e in events] == [blob, b"", b"\x00\x01", b"\xff"]
    assert {e.codec for e in events} == {"bytes"}


@pytest.mark.parametrize(
    "event",
    [
        ses.NewEvent("Broken", object()),
        ses.NewEvent("Broken", {"nested": {"deep": object()}}),
        ses.NewEvent("Broken", 1j),
        ses.NewEvent("Broken", len),
        ses.NewEvent("Broken", {}, metadata={"when": object()}),
    ],
    ids=["object", "nested", "complex", "function", "metadata"],
)
def test_unserialisable_data_is_refused_before_writing(
    db: ses.Database, event: ses.NewEvent
) -> None:
    db.append("Order-1", [_new("Placed")])
    before = _snapshot(db)
    with pytest.raises(ses.InvalidEvent):
        db.append("Order-1", [_new("Paid"), event])
    with pytest.raises(ses.InvalidEvent):
        db.append("Order-2", [event])
    assert _snapshot(db) == before


# -- payloads: content addressing, deduplication, size limit ---------------------------------


def test_identical_payloads_are_stored_once(db: ses.Database) -> None:
    # Large enough to be deduplicated by every backend: one may keep small payloads
    # (SQLite: under 256 bytes) beside their entries, where a row of their own costs more.
    note = "n" * 4096
    for n in range(10):
        db.append(f"Account-{n % 2}", [_new(amount=100, note=note)])
    json_payload = db.read_all()[0].payload
    db.append("Raw-1", [ses.NewEvent("Raw", json_payload)])  # the same bytes, another codec
    stats = db.stats()
    assert stats["events"] == 11
    assert stats["payloads"] == 1
    assert stats["stored_payload_bytes"] == len(json_payload)
    assert stats["logical_payload_bytes"] == 11 * len(json_payload)
    assert stats["stored_payload_bytes"] < stats["logical_payload_bytes"]
    assert stats["dedup_ratio"] > 1
    events = db.read_all()
    assert len({e.address for e in events}) == 1
    assert events[0].data == {"amount": 100, "note": note}
    assert events[-1].data == json_payload  # each entry keeps its own codec
    assert db.verify().ok


def test_a_16_mib_event_is_stored_and_read_back(db: ses.Database) -> None:
    payload = os.urandom(16 * MiB)
    result = db.append("Upload-1", [ses.NewEvent("Uploaded", payload)])
    (event,) = db.read_stream("Upload-1")
    assert event.data == payload
    assert event.position == result.position
    assert db.stats()["stored_payload_bytes"] == len(payload)


def test_an_event_over_the_limit_is_refused(store_url: str) -> None:
    with ses.open(store_url, max_event_size=1024) as small:
        db = small.create_database("limits")
        db.append("Upload-1", [ses.NewEvent("Fits", b"x" * 512)])
        before = _snapshot(db)
        with pytest.raises(ses.EventTooLarge) as info:
            db.append("Upload-1", [ses.NewEvent("Small", b"x"), ses.NewEvent("Big", b"x" * 1025)])
        assert info.value.limit == 1024
        assert info.value.size > 1024
        with pytest.raises(ses.EventTooLarge):  # metadata counts too
            db.append("Upload-2", [ses.NewEvent("Noted", b"", metadata={"note": "n" * 1100})])
        with pytest.raises(ses.EventTooLarge):  # and so do replacements
            db.restructure("Upload-1", 0, ses.NewEvent("Big", b"x" * 2000), reason="too big")
        assert _snapshot(db) == before


def test_the_default_limit_is_64_mib(db: ses.Database) -> None:
    with pytest.raises(ses.EventTooLarge) as info:
        db.append("Upload-1", [ses.NewEvent("Huge", bytes(64 * MiB + 1))])
    assert info.value.limit == 64 * MiB
    assert db.stream_version("Upload-1") is None
    assert db.stats()["payloads"] == 0
