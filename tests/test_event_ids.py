"""Event ids made with each NewEvent: unique whatever the program does with ``random``."""

from __future__ import annotations

import os
import random

import safe_eventstore as ses


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
