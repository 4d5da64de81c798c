"""Event ids made with each NewEvent: unique whatever the program does with ``random``."""

from __future__ import annotations

import os
import pickle
import random
import sqlite3
import uuid
from pathlib import Path

import msgspec

import safe_eventstore as ses
from safe_eventstore._model import made_here


def test_seeding_the_random_module_does_not_repeat_event_ids() -> None:
    # Test frameworks (hypothesis) and simulations seed the shared generator; an id is a
    # retry key, so a repeated id would make a new event look like a retry of an old one.
    random.seed(0)
    first = [ses.NewEvent("Ticked") for _ in range(3)]
    random.seed(0)
    second = [ses.NewEvent("Ticked") for _ in range(3)]
    assert len({e.event_id for e in first + second}) == 6
    with ses.open("memory://") as store:
        db = store.create_database("ids")
        for events in (first, second):
            db.append("Clock-1", events)
        assert len(db.read_stream("Clock-1")) == 6


def test_a_forked_child_makes_ids_of_its_own() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids, then out without running the parent's cleanup
        os.write(write, b"".join(ses.NewEvent("Ticked").event_id.bytes for _ in range(4)))
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64)
    os.close(read)
    ours = b"".join(ses.NewEvent("Ticked").event_id.bytes for _ in range(4))
    # the 74 random bits of each id (the first 6 bytes are the time)
    assert {child[i * 16 + 6 : i * 16 + 16] for i in range(4)}.isdisjoint(
        ours[i * 16 + 6 : i * 16 + 16] for i in range(4)
    )


def test_a_made_id_is_a_uuid_like_any_other() -> None:
    # The store tells made ids apart by their class; to everyone else they are plain UUIDs.
    made = ses.NewEvent("Ticked").event_id
    assert made is not None
    plain = uuid.UUID(bytes=made.bytes)
    assert made == plain and hash(made) == hash(plain) and str(made) == str(plain)
    assert repr(made) == repr(plain) and made.version == 7
    assert {made: 1}[plain] == 1
    assert made_here(made) and not made_here(plain) and not made_here(uuid.uuid4())
    # a copy keeps its making (the same id), a decoded one counts as given
    assert made_here(pickle.loads(pickle.dumps(made)))
    decoded = msgspec.json.decode(msgspec.json.encode(ses.NewEvent("T")), type=ses.NewEvent)
    assert decoded.event_id is not None and not made_here(decoded.event_id)


def test_made_ids_with_a_version_stay_out_of_the_sqlite_id_index(tmp_path: Path) -> None:
    # A retry of such a write is found by position: the index would only cost a page.
    with ses.open(str(tmp_path / "store")) as store:
        db = store.create_database("ids")
        db.append("Clock-1", [ses.NewEvent("Ticked")], expected_version=ses.NO_STREAM)
        db.append("Clock-1", [ses.NewEvent("Ticked")], expected_version=0)
        db.append("Clock-1", [ses.NewEvent("Ticked")])  # ANY: found by id
        db.append("Clock-1", [ses.NewEvent("Ticked", event_id=uuid.uuid4())], expected_version=2)
    with sqlite3.connect(tmp_path / "store" / "ids.sqlite3") as conn:
        rows = conn.execute("SELECT version, generated FROM entries ORDER BY position")
        assert rows.fetchall() == [(0, 1), (1, 1), (2, None), (3, None)]
