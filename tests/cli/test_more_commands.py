"""``read-all``, ``read --category``, filters, ``categories``, ``restructure``, ``checkpoints``."""

from __future__ import annotations

import json
import uuid

import pytest

import safe_eventstore as ses

from .support import database, fails, ok

CORRELATION = "7d1d8a6c-5b0f-4c43-9a39-0d7d3e1c2b11"


@pytest.fixture
def filled(db_url: str) -> str:
    with database(db_url) as db:
        db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"})])
        db.append("Order-1", [ses.NewEvent("Placed", {"n": 1},
                                           correlation_id=uuid.UUID(CORRELATION))])  # fmt: skip
        db.append("Account-2", [ses.NewEvent("Opened", {"owner": "bob"})])
        db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 10})])
    return db_url


def positions(*args: str) -> list[int]:
    out = ok(*args, "--json").stdout
    return [json.loads(line)["position"] for line in out.splitlines()]


def test_read_all_in_position_order(filled: str) -> None:
    assert positions("read-all", "--store", filled) == [1, 2, 3, 4]
    assert positions("read", "$all", "--store", filled) == [1, 2, 3, 4]
    assert positions("read-all", "--from-position", "2", "--limit", "2", "--store", filled) == [
        2,
        3,
    ]
    lines = ok("read-all", "--store", filled).stdout.splitlines()
    assert lines[0].split()[:3] == ["stream", "version", "position"]
    assert lines[2].split()[:4] == ["Order-1", "0", "2", "Placed"]


def test_read_a_category(filled: str) -> None:
    assert positions("read", "--category", "Account", "--store", filled) == [1, 3, 4]
    assert (
        "no events in category Nothing"
        in ok("read", "--category", "Nothing", "--store", filled).stderr
    )


def test_read_filters_by_type_and_correlation(filled: str) -> None:
    assert positions("read-all", "--type", "Opened", "--store", filled) == [1, 3]
    assert positions("read-all", "--type", "Opened", "--type", "Placed", "--store", filled) == [
        1,
        2,
        3,
    ]
    assert positions("read", "Account-1", "--type", "Deposited", "--store", filled) == [4]
    assert positions("read-all", "--correlation-id", CORRELATION, "--store", filled) == [2]
    assert positions("read-all", "--type", "Opened", "--limit", "1", "--store", filled) == [1]
    result = ok("read", "Account-1", "--type", "Closed", "--store", filled)
    assert "no events in stream Account-1 matching the filters" in result.stderr


def test_read_a_stream_backwards(filled: str) -> None:
    assert positions("read", "Account-1", "--backwards", "--store", filled) == [4, 1]


def test_read_all_and_a_category_backwards(filled: str) -> None:
    assert positions("read-all", "--backwards", "--store", filled) == [4, 3, 2, 1]
    assert positions("read", "--category", "Account", "--backwards", "--store", filled) == [
        4,
        3,
        1,
    ]


def test_categories(filled: str) -> None:
    assert ok("categories", "--store", filled).stdout.split() == ["Account", "Order"]


def test_categories_of_an_empty_database(db_url: str) -> None:
    result = ok("categories", "--store", db_url)
    assert result.stdout == "" and "no categories" in result.stderr


def test_restructure_replaces_and_hides(filled: str) -> None:
    out = ok("restructure", "Account-1", "1", "Deposited", '{"amount": 1}', "--reason", "typo",
             "--metadata", '{"by": "ops"}', "--store", filled).stdout  # fmt: skip
    assert "replaced Account-1 version 1" in out and "position 5" in out
    ok("restructure", "Account-2", "0", "--hide", "--reason", "test account", "--store", filled)
    with database(filled) as db:
        [_, deposited] = db.read_stream("Account-1")
        assert deposited.data == {"amount": 1} and deposited.restructured
        assert deposited.metadata["by"] == "ops"
        assert list(db.read_stream("Account-2")) == []
        assert len(db.read_stream("Account-2", raw=True)) == 2
    raw = ok("read", "Account-2", "--raw", "--store", filled).stdout
    assert "hides v0: test account" in raw


def test_restructure_reads_the_replacement_from_stdin(filled: str) -> None:
    ok("restructure", "Account-1", "0", "Opened", "-", "--reason", "name", "--store", filled,
       input='{"owner": "anne"}')  # fmt: skip
    with database(filled) as db:
        assert db.read_stream("Account-1")[0].data == {"owner": "anne"}


def test_checkpoints_list_and_reset(filled: str) -> None:
    with database(filled) as db:
        db.save_checkpoint("printer", 3)
        db.save_checkpoint("balances", 4)
    lines = ok("checkpoints", "list", "--store", filled).stdout.splitlines()
    assert [line.split() for line in lines] == [
        ["checkpoint", "position"],
        ["balances", "4"],
        ["printer", "3"],
    ]
    out = ok("checkpoints", "list", "--json", "--store", filled).stdout
    assert json.loads(out.splitlines()[0]) == {"checkpoint": "balances", "position": 4}
    assert "it was at position 3" in ok("checkpoints", "reset", "printer", "--store", filled).stdout
    with database(filled) as db:
        assert db.get_checkpoint("printer") is None
        assert db.get_checkpoint("balances") == 4
    assert "no checkpoint 'printer'" in fails(1, "checkpoints", "reset", "printer",
                                              "--store", filled)  # fmt: skip


def test_checkpoints_list_of_none(db_url: str) -> None:
    result = ok("checkpoints", "list", "--store", db_url)
    assert result.stdout == "" and "no checkpoints" in result.stderr


def test_checkpoints_reset_of_a_missing_one(db_url: str) -> None:
    assert "no checkpoint 'nope'" in fails(1, "checkpoints", "reset", "nope", "--store", db_url)
