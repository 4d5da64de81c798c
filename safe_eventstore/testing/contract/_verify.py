"""Verification and statistics."""

from __future__ import annotations

import dataclasses
import os

import safe_eventstore as ses

from ._fixtures import MiB, _new, _unique


def test_verify_passes_on_healthy_data(db: ses.Database) -> None:
    name = _unique("Registered")

    @ses.event_type(name)
    @dataclasses.dataclass
    class Registered:
        n: int

    for n in range(40):
        db.append(
            f"{('Account', 'Order', 'Cart', 'File')[n % 4]}-{n}",
            [_new("Opened", n=n), _new("Noted", n=n % 3), Registered(n), ses.NewEvent("Raw", b"b")],
        )
    db.append_batch(
        [ses.StreamAppend("Order-1", [_new("Paid")]), ses.StreamAppend("Cart-2", [_new()])]
    )
    db.append("File-3", [ses.NewEvent("Uploaded", os.urandom(MiB))])
    db.restructure("Account-0", 1, _new("Noted", n=99), reason="fix")
    db.restructure("Account-0", 1, None, reason="hide")
    db.restructure("Order-5", 3, ses.NewEvent("Raw", b"replacement"), reason="fix")
    report = db.verify()
    stats = db.stats()
    assert report.ok, [str(p) for p in report.problems]
    assert report.problems == []
    assert report.streams == stats["streams"] == 40
    assert report.entries == stats["events"] + stats["restructures"] == 40 * 4 + 3 + 3
    assert report.payloads == stats["payloads"]


def test_verify_passes_on_an_empty_database(db: ses.Database) -> None:
    report = db.verify()
    assert report.ok
    assert (report.streams, report.entries, report.payloads) == (0, 0, 0)


def test_stats_count_what_is_stored(db: ses.Database) -> None:
    empty = db.stats()
    assert {k: empty[k] for k in ("events", "streams", "restructures", "payloads")} == {
        "events": 0,
        "streams": 0,
        "restructures": 0,
        "payloads": 0,
    }
    # payloads large enough to be deduplicated by every backend (see the payloads' tests)
    abc, abcd = b"abc" * 200, b"abcd" * 200
    db.append("Account-1", [ses.NewEvent("Raw", abc), ses.NewEvent("Raw", abcd)])
    db.append("Account-2", [ses.NewEvent("Raw", abc)])
    db.restructure("Account-1", 0, None, reason="hide")
    stats = db.stats()
    assert (stats["events"], stats["streams"], stats["restructures"], stats["payloads"]) == (
        3,
        2,
        1,
        2,
    )
    assert stats["logical_payload_bytes"] == (3 + 4 + 3) * 200
    assert stats["stored_payload_bytes"] == (3 + 4) * 200
