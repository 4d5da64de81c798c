"""The bytes a store leaves in its files: an encrypted database's markers are in none of them
(SQLite's database file, write-ahead log and shared memory; a NATS server's whole store
directory), and after a forget no file holds a key that opens the forgotten payloads, even
for whoever has the master key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore.testing.nats_servers import NatsServer

from .bytescan import files, found, opens, recoverable_keys

ALICE = [f"MARKER-alice-{n}-street".encode() for n in range(3)]
BOB = [b"MARKER-bob-lane"]
META = b"MARKER-meta-ip"


# padded past the size up to which SQLite keeps a payload in its entry's row, so that each
# ciphertext is a payload row of its own that the test can look up by address
PAD = "." * 300


def fill(db: ses.Database) -> None:
    for n, marker in enumerate(ALICE):
        db.append(
            "Customer-alice",
            [
                ses.NewEvent(
                    "Moved",
                    {"address": marker.decode(), "pad": PAD},
                    metadata={"ip": META.decode()},
                )
            ],
            expected_version=n - 1 if n else ses.NO_STREAM,
        )
    db.append("Customer-bob", [ses.NewEvent("Moved", {"address": BOB[0].decode(), "pad": PAD})])
    # the same payload in both scopes: two ciphertexts, or forgetting one would leave it
    same = ses.NewEvent("Moved", {"address": ALICE[0].decode(), "pad": PAD})
    db.append("Customer-bob", [same])


def check_store(
    directory: Path, url: str, keyfile: Path, settle: Callable[[], None] = lambda: None
) -> None:
    provider = ses.FileKeyProvider(keyfile)
    with ses.open(url, keyfile=keyfile) as store:
        db = store.create_database("people", encrypted=True, encrypt_metadata=True)
        fill(db)
        settle()
        assert list(files(directory)), "the store wrote no files"
        assert found(directory, [*ALICE, *BOB, META]) == {}
        wrapped_alice = store.storage.read_keys("people")["Customer-alice"]
        sealed = dict(store.storage.read_blobs("people", after=None, limit=100))
        alice_blobs = {bytes.fromhex(e.address) for e in db.read_stream("Customer-alice")}
        alice_blobs.add(bytes.fromhex(db.read_stream("Customer-bob")[1].address))
        assert len(alice_blobs) == 4  # bob's copy of alice's payload is his own ciphertext
        alice_blobs.discard(bytes.fromhex(db.read_stream("Customer-bob")[1].address))
        # the scan sees what is there: the sealed payloads and the key, before the forget
        assert found(directory, [wrapped_alice]) != {}
        assert len(found(directory, [sealed[a] for a in alice_blobs])) == 3
        assert "Customer-alice" in recoverable_keys(directory, provider, ["Customer-alice"])

        db.forget("Customer-alice")
        settle()
        assert [e.forgotten for e in db.read_stream("Customer-alice")] == [True] * 3
        assert db.read_stream("Customer-bob")[1].data == {"address": ALICE[0].decode(), "pad": PAD}
        assert db.verify().ok
        assert found(directory, [wrapped_alice]) == {}
        scopes = ["Customer-alice", "Customer-bob", "$master", "$forgotten"]
        keys = recoverable_keys(directory, provider, scopes)
        assert "Customer-alice" not in keys and "Customer-bob" in keys
        for key in set().union(*keys.values()):
            assert not any(opens(key, sealed[a]) for a in alice_blobs)
    assert found(directory, [*ALICE, *BOB, META]) == {}


def test_sqlite_files_hold_no_plaintext_and_no_forgotten_key(tmp_path: Path) -> None:
    keyfile = ses.create_keyfile(tmp_path / "master.key")
    directory = tmp_path / "store"
    check_store(directory, f"sqlite://{directory}", keyfile)
    assert {p.name for p in files(directory)} >= {"people.sqlite3"}


def test_the_scan_finds_the_markers_of_a_plain_database(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    with ses.open(f"sqlite://{directory}") as store:
        fill(store.create_database("people"))
        assert set(found(directory, [*ALICE, *BOB, META])) == {
            m.decode() for m in [*ALICE, *BOB, META]
        }


def test_sqlite_wal_and_shm_are_scanned_while_open(tmp_path: Path) -> None:
    keyfile = ses.create_keyfile(tmp_path / "master.key")
    directory = tmp_path / "store"
    with ses.open(f"sqlite://{directory}", keyfile=keyfile) as store:
        fill(store.create_database("people", encrypted=True, encrypt_metadata=True))
        names = {p.name for p in files(directory)}
        assert {"people.sqlite3-wal", "people.sqlite3-shm"} <= names
        assert found(directory, [*ALICE, *BOB, META]) == {}


@pytest.mark.slow
def test_nats_server_files_hold_no_plaintext_and_no_forgotten_key(tmp_path: Path) -> None:
    keyfile = ses.create_keyfile(tmp_path / "master.key")
    with NatsServer(tmp_path / "nats") as server:
        directory = server.directory / "jetstream"
        check_store(directory, server.url, keyfile)


def check_rotation(directory: Path, url: str, tmp_path: Path) -> None:
    old = ses.FileKeyProvider(ses.create_keyfile(tmp_path / "old.key"))
    new = ses.FileKeyProvider(ses.create_keyfile(tmp_path / "new.key"))
    scopes = ["Customer-alice", "Customer-bob", "$master"]
    with ses.open(url, key_provider=old) as store:
        db = store.create_database("people", encrypted=True)
        fill(db)
        before = list(db.read_all())
        assert set(recoverable_keys(directory, old, scopes)) == set(scopes)
        store.rotate_master_key(new)
        assert recoverable_keys(directory, old, scopes) == {}
        assert set(recoverable_keys(directory, new, scopes)) == set(scopes)
    with ses.open(url, key_provider=new) as store:
        assert list(store.database("people").read_all()) == before
    with ses.open(url, key_provider=old) as store, pytest.raises(ses.WrongKey):
        store.database("people")


def test_sqlite_rotation_leaves_no_key_wrapped_by_the_old_master_key(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    check_rotation(directory, f"sqlite://{directory}", tmp_path)


@pytest.mark.slow
def test_nats_rotation_leaves_no_key_wrapped_by_the_old_master_key(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "nats") as server:
        check_rotation(server.directory / "jetstream", server.url, tmp_path)
