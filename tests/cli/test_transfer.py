"""``export`` and ``import``: a database out to JSON lines and back, exactly."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses

from .support import database, fails, ok

CORRELATION = uuid.UUID("7d1d8a6c-5b0f-4c43-9a39-0d7d3e1c2b11")


def fill(db: ses.Database) -> None:
    """A database with a bit of everything: interleaved streams, metadata, ids, tags, a
    binary payload, streamless events, and restructures that replace and hide."""
    db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"}, metadata={"user": "ann"})])
    db.append(
        "Account-2",
        [
            ses.NewEvent("Opened", {"owner": "bob"}, correlation_id=CORRELATION),
            ses.NewEvent("Deposited", {"amount": 5000}, causation_id=CORRELATION),
        ],
    )
    db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 100})])
    db.append("Blob-1", [ses.NewEvent("Scanned", b"\x00\xffbinary\n")])
    db.append_events([ses.NewEvent("Joined", {"n": 1}, tags=("course-7", "student-3"))])
    db.restructure("Account-2", 1, ses.NewEvent("Deposited", {"amount": 50}), reason="typo")
    db.append("Account-1", [ses.NewEvent("Withdrawn", {"amount": 30})])
    db.restructure("Account-1", 2, reason="never happened")
    db.append("Account-2", [ses.NewEvent("Closed", None)])


def raw_entries(db: ses.Database) -> list[ses.RecordedEvent]:
    entries = [e for name in db.list_streams() for e in db.read_stream(name, raw=True)]
    return sorted(entries, key=lambda e: e.position)


def comparable(event: ses.RecordedEvent) -> dict[str, Any]:
    """Every field, the time of storing and the id of a hiding entry included."""
    return {name: getattr(event, name) for name in event.__struct_fields__}


def test_export_then_import_restores_a_database(url: str, tmp_path: Path) -> None:
    with ses.open(url) as store:
        fill(store.create_database("source"))
    backup = tmp_path / "backup.jsonl"
    result = ok("export", str(backup), "--db", "source", "--store", url)
    assert "exported 10 entries of database source" in result.stderr
    lines = [json.loads(line) for line in backup.read_text().splitlines()]
    assert [line["position"] for line in lines] == list(range(1, 11))
    binary = next(line for line in lines if line["stream"] == "Blob-1")
    assert binary["data_encoding"] == "base64"
    assert base64.b64decode(binary["data"]) == b"\x00\xffbinary\n"

    out = ok("import", str(backup), "--create", "--db", "copy", "--store", url).stdout
    assert "imported 10 entries into database copy" in out
    with ses.open(url) as store:
        source, copy = store.database("source"), store.database("copy")
        assert [comparable(e) for e in raw_entries(copy)] == [
            comparable(e) for e in raw_entries(source)
        ]
        assert [comparable(e) for e in copy.read_all()] == [
            comparable(e) for e in source.read_all()
        ]
        assert [comparable(e) for e in copy.read_events()] == [
            comparable(e) for e in source.read_events()
        ]
        assert copy.stats() == source.stats()
        assert copy.verify().ok
    assert "ok: 4 streams" in ok("verify", "--db", "copy", "--store", url).stdout


def test_importing_the_same_file_again_stores_nothing_new(url: str, tmp_path: Path) -> None:
    with ses.open(url) as store:
        fill(store.create_database("source"))
    backup = tmp_path / "backup.jsonl"
    ok("export", str(backup), "--db", "source", "--store", url)
    ok("import", str(backup), "--create", "--db", "copy", "--store", url)
    # again, and cut in other batches: as after an interrupted run
    for size in ("100", "3", "1"):
        out = ok("import", str(backup), "--batch-size", size, "--db", "copy", "--store", url)
        assert "imported 0 entries into database copy (10 already stored)" in out.stdout
    with database(url, "copy") as db:
        assert db.last_position() == 10 and db.verify().ok


def test_an_interrupted_import_resumes(url: str, tmp_path: Path) -> None:
    with ses.open(url) as store:
        fill(store.create_database("source"))
    backup = tmp_path / "backup.jsonl"
    ok("export", str(backup), "--db", "source", "--store", url)
    lines = backup.read_text().splitlines(keepends=True)
    head = tmp_path / "head.jsonl"
    head.write_text("".join(lines[:4]))
    ok("import", str(head), "--create", "--db", "copy", "--store", url)
    out = ok("import", str(backup), "--batch-size", "3", "--db", "copy", "--store", url).stdout
    assert "imported 6 entries into database copy (4 already stored)" in out
    with ses.open(url) as store:
        copy, source = store.database("copy"), store.database("source")
        assert [comparable(e) for e in raw_entries(copy)] == [
            comparable(e) for e in raw_entries(source)
        ]


def jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_import_from_stdin_in_atomic_batches(db_url: str) -> None:
    lines = jsonl(
        {"stream": "A-1", "type": "T", "data": 1, "expected_version": "no-stream"},
        {"stream": "A-1", "type": "T", "data": 2, "expected_version": 0},
        {"stream": "B-1", "type": "T", "data": 3, "metadata": {"m": 1}, "tags": ["t"]},
        {"stream": "A-1", "type": "T", "data": 4},
        {"stream": "A-1", "type": "T", "data": 5, "expected_version": 9},
    )
    line = fails(1, "import", "--store", db_url, input=lines)
    assert "line 5: stream 'A-1': expected version 9, actual 2" in line
    assert "the lines before 5 are stored" in line
    with database(db_url) as db:
        assert [(e.stream, e.data) for e in db.read_all()] == [
            ("A-1", 1), ("A-1", 2), ("B-1", 3), ("A-1", 4),
        ]  # fmt: skip
        [b] = db.read_stream("B-1")
        assert b.metadata == {"m": 1} and b.tags == ("t",)


def test_a_failed_batch_stores_none_of_its_lines(db_url: str) -> None:
    lines = jsonl(
        {"stream": "A-1", "type": "T", "data": 1},
        {"stream": "B-1", "type": "T", "data": 2},
        {"stream": "C-1", "type": "T", "data": 3, "expected_version": 4},
    )
    assert "lines 1-3" in fails(1, "import", "--batch-size", "10", "--store", db_url,
                                input=lines)  # fmt: skip
    with database(db_url) as db:
        assert db.last_position() == 0


def test_lines_without_ids_are_stored_again_by_a_second_import(db_url: str) -> None:
    lines = jsonl({"stream": "A-1", "type": "T", "data": 1})
    ok("import", "--store", db_url, input=lines)
    ok("import", "--store", db_url, input=lines)
    with database(db_url) as db:
        assert db.stream_version("A-1") == 1


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{oops", "line 1: not valid JSON"),
        ("[1]", "line 1: not a JSON object"),
        ('{"type": "T", "data": 1}', 'line 1: needs a "stream" name'),
        ('{"stream": "A-1", "data": 1}', 'line 1: an event needs a "type"'),
        ('{"stream": "A-1", "type": "T"}', 'line 1: an event needs "data"'),
        ('{"stream": "A-1", "type": "T", "data": 1, "event_id": "x"}', "is not a UUID"),
        ('{"stream": "A-1", "type": "T", "data": 1, "metadata": 3}', "metadata must be"),
        ('{"stream": "A-1", "type": "T", "data": 1, "tags": "abc"}', "tags must be a list"),
        ('{"stream": "A-1", "type": "T", "data": "!", "data_encoding": "base64"}', "base64"),
        ('{"stream": "A-1", "type": "T", "data": 1, "expected_version": "x"}', "'x'"),
        ('{"stream": "A 1", "type": "T", "data": 1}', "line 1: invalid stream name"),
        ('{"stream": "A-1", "kind": "restructure", "hidden": true}', '"version"'),
        ('{"stream": "A-1", "kind": "other", "type": "T", "data": 1}', "kind is"),
    ],
)
def test_bad_lines_are_input_errors_naming_the_line(db_url: str, line: str, words: str) -> None:
    assert words in fails(2, "import", "--store", db_url, input=line + "\n")
    with database(db_url) as db:
        assert db.last_position() == 0


def test_import_into_a_missing_database_needs_create(url: str) -> None:
    ok("db", "create", "other", "--store", url)
    line = jsonl({"stream": "A-1", "type": "T", "data": 1})
    assert "no database 'bank'" in fails(1, "import", "--db", "bank", "--store", url, input=line)
    ok("import", "--db", "bank", "--create", "--store", url, input=line)
