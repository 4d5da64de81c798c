"""Encrypted databases: the optional key storage of a backend (kept settings, wrapped keys of
which the first writer's wins, a destroy that leaves a tombstone, a re-wrap), and the round
trip through the public API. A backend without key storage must refuse an encrypted database
with ``NotSupported``, creating nothing: then these tests check only that."""

from __future__ import annotations

from pathlib import Path

import safe_eventstore as ses

SETTINGS = ses.EncryptionSettings().to_dict()


def _encrypted(store: ses.Store, name: str) -> bool:
    """Create ``name`` with settings; whether the backend keeps encrypted databases."""
    try:
        store.storage.create_database_with(name, SETTINGS)
    except ses.NotSupported:
        assert name not in store.list_databases()
        return False
    return True


def test_a_backend_keeps_settings_and_wrapped_keys(store: ses.Store) -> None:
    if not _encrypted(store, "keys"):
        return
    s = store.storage
    assert s.database_settings("keys") == SETTINGS
    store.create_database("plain")
    assert s.database_settings("plain") == {}
    assert s.add_key("keys", "Account-1", b"first") == b"first"
    assert s.add_key("keys", "Account-1", b"second") == b"first"  # the first writer's wins
    assert s.add_key("keys", "Café-2.x", b"other") == b"other"
    assert s.read_keys("keys") == {"Account-1": b"first", "Café-2.x": b"other"}
    assert s.read_keys("keys", ["Account-1", "Account-9"]) == {"Account-1": b"first"}
    s.replace_keys("keys", {"Account-1": b"rewrapped"})
    assert s.read_keys("keys", ["Account-1"]) == {"Account-1": b"rewrapped"}
    assert s.destroy_key("keys", "Account-1") is True
    assert s.destroy_key("keys", "Account-1") is False
    assert s.destroy_key("keys", "Account-9") is False
    assert s.read_keys("keys") == {"Account-1": b"", "Café-2.x": b"other"}
    assert s.add_key("keys", "Account-1", b"again") == b""  # a tombstone is never replaced
    s.replace_keys("keys", {"Account-1": b"again"})
    assert s.read_keys("keys", ["Account-1"]) == {"Account-1": b""}
    assert s.list_databases() == ["keys", "plain"]


def test_an_encrypted_database_round_trip(store_url: str, tmp_path: Path) -> None:
    keyfile = ses.create_keyfile(tmp_path / "contract.key")
    with ses.open(store_url, keyfile=keyfile) as store:
        if not _encrypted(store, "probe"):
            return
        db = store.create_database("secret", encrypted=True)
        db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"})])
        db.append("Account-2", [ses.NewEvent("Opened", {"owner": "bob"})])
        # stored payloads: payload rows, and those a backend keeps in their entries
        stored = [data for _, data in store.storage.read_blobs("secret", after=None, limit=100)]
        entries = store.storage.read_all("secret", from_position=1, limit=100)
        stored += [e.payload for e in entries if e.payload is not None]
        assert stored and all(b"ann" not in data and b"bob" not in data for data in stored)
        db.forget("Account-1")
        events = list(db.read_all())
        assert [(e.stream, e.forgotten, e.data) for e in events] == [
            ("Account-1", True, None),
            ("Account-2", False, {"owner": "bob"}),
            (ses.FORGOTTEN_STREAM, False, {"scope": "Account-1"}),
        ]
        assert db.verify().ok
