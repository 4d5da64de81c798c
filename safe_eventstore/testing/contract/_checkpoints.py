"""Listing and deleting checkpoints: the storage primitives, and the database API over them."""

from __future__ import annotations

import asyncio

import pytest

import safe_eventstore as ses

from ._fixtures import DATABASE, _fill

# -- the storage primitives ------------------------------------------------------------------


def test_list_and_delete_checkpoints(store: ses.Store, db: ses.Database) -> None:
    _fill(db)
    s = store.storage
    assert s.list_checkpoints(DATABASE) == {}
    s.save_checkpoint(DATABASE, "projector", 3)
    s.save_checkpoint(DATABASE, "émail sender", 5)  # a name a backend may have to escape
    long = "Long" + "é" * 200  # a name a backend may have to shorten
    s.save_checkpoint(DATABASE, long, 2)
    db.append_batch([], checkpoint=("tracker", 4))  # saved with an append
    assert s.list_checkpoints(DATABASE) == {
        "Long" + "é" * 200: 2,
        "projector": 3,
        "tracker": 4,
        "émail sender": 5,
    }
    assert list(s.list_checkpoints(DATABASE)) == sorted(s.list_checkpoints(DATABASE))
    assert s.delete_checkpoint(DATABASE, "projector") is True
    assert s.delete_checkpoint(DATABASE, "projector") is False
    assert s.delete_checkpoint(DATABASE, "never") is False
    assert s.get_checkpoint(DATABASE, "projector") is None
    assert "projector" not in s.list_checkpoints(DATABASE)
    assert s.delete_checkpoint(DATABASE, long) is True
    assert s.list_checkpoints(DATABASE) == {"tracker": 4, "émail sender": 5}


def test_a_deleted_checkpoint_starts_afresh(store: ses.Store, db: ses.Database) -> None:
    _fill(db)
    s = store.storage
    db.append_batch([], checkpoint=("tracker", 5))
    with pytest.raises(ses.CheckpointConflict):
        db.append_batch([], checkpoint=("tracker", 2))
    assert s.delete_checkpoint(DATABASE, "tracker")
    db.append_batch([], checkpoint=("tracker", 2))  # no longer behind the deleted one
    assert s.get_checkpoint(DATABASE, "tracker") == 2
    s.save_checkpoint(DATABASE, "tracker", 3)
    assert s.list_checkpoints(DATABASE) == {"tracker": 3}


def test_checkpoint_listing_needs_the_database(store: ses.Store) -> None:
    with pytest.raises(ses.DatabaseNotFound):
        store.storage.list_checkpoints("nothere")
    with pytest.raises(ses.DatabaseNotFound):
        store.storage.delete_checkpoint("nothere", "cp")


# -- the database API ------------------------------------------------------------------------


def test_checkpoints_are_listed_and_reset(db: ses.Database) -> None:
    db.append("Account-1", [ses.NewEvent("Opened"), ses.NewEvent("Deposited")])
    assert db.list_checkpoints() == {}
    db.save_checkpoint("printer", 2)
    db.save_checkpoint("mailer", 1)
    assert db.list_checkpoints() == {"mailer": 1, "printer": 2}
    assert db.delete_checkpoint("printer") is True
    assert db.delete_checkpoint("printer") is False
    assert db.list_checkpoints() == {"mailer": 1}
    assert db.get_checkpoint("printer") is None
    with db.subscribe(checkpoint="printer", idle_timeout=0) as sub:  # starts over
        assert [e.version for e in sub] == [0, 1]
    with pytest.raises(ses.InvalidName):
        db.delete_checkpoint("$bad")


def test_checkpoints_through_the_async_api(db: ses.Database) -> None:
    db.append("Account-1", [ses.NewEvent("Opened")])

    async def main() -> None:
        adb = ses.AsyncDatabase(db)
        await adb.save_checkpoint("printer", 1)
        assert await adb.list_checkpoints() == {"printer": 1}
        assert await adb.delete_checkpoint("printer") is True
        assert await adb.list_checkpoints() == {}

    asyncio.run(main())
