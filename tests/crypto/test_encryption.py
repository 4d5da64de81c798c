"""Encrypted databases on the embedded backends: payloads sealed at the encoding step,
deduplicated within a key scope only, forgetting, rotation, metadata, and bad input."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import safe_eventstore as ses
from safe_eventstore._reading import PAGE
from safe_eventstore.crypto import key_context

from .. import sqlite_rows
from ..conftest import fresh_store


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    return ses.create_keyfile(tmp_path / "master.key")


@pytest.fixture(params=["memory", "sqlite", "nats"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "nats":
        yield from fresh_store(request, "single")
    elif request.param == "memory":
        yield "memory://"
    else:
        yield f"sqlite://{tmp_path / 'store'}"


@pytest.fixture
def store(url: str, keyfile: Path) -> Iterator[ses.Store]:
    with ses.open(url, keyfile=keyfile) as store:
        yield store


def opened(event: str, **data: object) -> ses.NewEvent:
    return ses.NewEvent(event, data)


# SQLite keeps a payload this small in its entry's row, and larger ones as deduplicated
# payload rows: tests of deduplication use payloads past that size
PAD = "." * 300


def stored_payloads(store: ses.Store, db: str) -> dict[bytes, bytes]:
    """Every stored payload by address, wherever the backend keeps it."""
    stored = dict(store.storage.read_blobs(db, after=None, limit=1000))
    for entry in store.storage.read_all(db, from_position=1, limit=1000):
        if entry.address is not None and entry.payload is not None:
            stored[entry.address] = entry.payload
    return stored


def test_reads_give_the_plaintext_and_storage_holds_only_ciphertext(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True)
    assert db.encrypted
    db.append("Account-1", [opened("Opened", owner="ann"), ses.NewEvent("Raw", b"\x00\x01")])
    events = list(db.read_stream("Account-1"))
    assert [e.data for e in events] == [{"owner": "ann"}, b"\x00\x01"]
    assert events[0].payload == b'{"owner":"ann"}'
    stored = stored_payloads(store, "bank")
    assert all(b"ann" not in blob for blob in stored.values())
    # the address is the ciphertext's: verify needs no key
    assert {bytes.fromhex(e.address) for e in events} == set(stored)
    assert all(hashlib.sha256(blob).digest() == a for a, blob in stored.items())
    assert db.verify().ok


def test_payloads_are_deduplicated_within_a_scope_and_not_across(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True)
    same = {"kind": "same", "pad": PAD}
    db.append("Account-1", [ses.NewEvent("A", same), ses.NewEvent("A", same)])
    db.append("Account-2", [ses.NewEvent("A", same)])
    events = list(db.read_all())
    assert events[0].address == events[1].address != events[2].address
    assert db.stats()["payloads"] == 2


def test_forget_leaves_history_and_other_scopes(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True)
    db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"}, metadata={"by": "x"})])
    db.append("Account-2", [opened("Opened", owner="bob")])
    db.forget("Account-1")
    events = list(db.read_all())
    gone, kept, record = events
    assert (gone.type, gone.version, gone.position, gone.metadata) == ("Opened", 0, 1, {"by": "x"})
    assert gone.forgotten and gone.data is None and gone.payload == b""
    assert kept.data == {"owner": "bob"} and not kept.forgotten
    assert (record.stream, record.type, record.data) == (
        ses.FORGOTTEN_STREAM,
        "ScopeForgotten",
        {"scope": "Account-1"},
    )
    assert list(db.read_stream(ses.FORGOTTEN_STREAM)) == [record]
    assert db.verify().ok
    # another handle (another process, say) sees it too
    again = store.database("bank")
    assert [e.forgotten for e in again.read_stream("Account-1")] == [True]
    with pytest.raises(ses.ScopeForgotten):
        db.append("Account-1", [opened("Deposited", amount=1)])
    with pytest.raises(ses.ScopeForgotten):
        db.forget("Account-1")


def test_a_handle_holding_a_key_learns_of_a_forget_elsewhere(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True)
    other = store.database("bank")
    db.append("Account-1", [opened("Opened", owner="ann")])
    assert other.read_stream("Account-1")[0].data == {"owner": "ann"}  # its key is cached
    db.forget("Account-1")
    assert other.read_stream("Account-1")[0].forgotten
    with pytest.raises(ses.ScopeForgotten):
        other.append("Account-1", [opened("Deposited", amount=1)])


def test_subscribers_see_the_forgotten_record(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True)
    db.append("Account-1", [opened("Opened", owner="ann")])
    db.forget("Account-1")
    with db.subscribe(idle_timeout=0.2) as sub:
        seen = [(e.stream, e.forgotten, e.data) for e in sub]
    assert seen == [
        ("Account-1", True, None),
        (ses.FORGOTTEN_STREAM, False, {"scope": "Account-1"}),
    ]


def test_forgetting_an_unknown_scope_changes_nothing(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True)
    db.append("Account-1", [opened("Opened", owner="ann")])
    before = db.last_position()
    with pytest.raises(ses.ScopeNotFound):
        db.forget("Account-9")
    with pytest.raises(ses.InvalidName):
        db.forget("$master")
    assert db.last_position() == before
    assert db.read_stream("Account-1")[0].data == {"owner": "ann"}


def test_subject_scopes_from_a_pattern(store: ses.Store) -> None:
    db = store.create_database("shop", encrypted=True, key_scope=r"-(?P<scope>c\d+)")
    assert db.key_scope("Order-c42-7") == "c42" == db.key_scope("Invoice-c42-1")
    assert db.key_scope("Catalog-1") == "Catalog-1"
    db.append("Order-c42-7", [opened("Placed", item="tea")])
    db.append("Invoice-c42-1", [opened("Sent", total=3)])
    db.append("Order-c7-1", [opened("Placed", item="rice")])
    db.append_events([ses.NewEvent("Joined", {"who": "c42"}, tags=("customer-c42",))])
    db.forget("c42")
    assert {e.stream: e.forgotten for e in db.read_all() if e.stream[0] != "$"} == {
        "Order-c42-7": True,
        "Invoice-c42-1": True,
        "Order-c7-1": False,
    }
    tagged = db.read_events(ses.Query([ses.QueryItem(tags=("customer-c42",))]))
    assert [e.forgotten for e in tagged] == [True]
    assert store.encryption("shop") == ses.EncryptionSettings(r"-(?P<scope>c\d+)", False)


def test_encrypted_metadata(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True, encrypt_metadata=True)
    db.append("Account-1", [ses.NewEvent("Opened", {"a": 1}, metadata={"ip": "10.1.2.3"})])
    db.restructure("Account-1", 0, ses.NewEvent("Opened", {"a": 2}, metadata={"ip": "x"}),
                   reason="typo")  # fmt: skip
    raw = store.storage.read_entries("bank", "Account-1", from_seq=0, limit=10)
    assert all(b"10.1.2.3" not in e.metadata and b'"ip"' not in e.metadata for e in raw)
    event = db.read_stream("Account-1")[0]
    assert event.metadata["ip"] == "x" and event.metadata["$restructure"] == {"reason": "typo"}
    assert next(e.metadata for e in db.read_stream("Account-1", raw=True)) == {"ip": "10.1.2.3"}
    db.forget("Account-1")
    assert db.read_stream("Account-1")[0].metadata == {"$restructure": {"reason": "typo"}}


def test_rotation_rewraps_keys_only(store: ses.Store, tmp_path: Path, keyfile: Path) -> None:
    db = store.create_database("bank", encrypted=True)
    db.append("Account-1", [opened("Opened", owner="ann")])
    db.append("Account-2", [opened("Opened", owner="bob")])
    db.forget("Account-2")
    before = [(e.address, e.position) for e in db.read_all()]
    old = ses.FileKeyProvider(keyfile)
    new = ses.FileKeyProvider(ses.create_keyfile(tmp_path / "new.key"))
    assert store.rotate_master_key(new) == {"bank": 3}  # the check key, two scopes'
    assert [(e.address, e.position) for e in db.read_all()] == before
    assert next(e.data for e in store.database("bank").read_all()) == {"owner": "ann"}
    for scope, wrapped in store.storage.read_keys("bank").items():
        if wrapped:
            with pytest.raises(ses.WrongKey):
                old.unwrap(wrapped, key_context(scope))
    with pytest.raises(ses.WrongKey):
        store.key_provider = old
        store.database("bank")


def test_corrupted_ciphertext_is_an_integrity_error(store: ses.Store) -> None:
    db = store.create_database("bank", encrypted=True)
    db.append("Account-1", [opened("Opened", owner="ann")])
    (sealed,) = stored_payloads(store, "bank").values()
    cipher = db._keys.get().reading("Account-1")  # type: ignore[union-attr]
    assert cipher is not None and cipher.open(sealed) == b'{"owner":"ann"}'
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(ses.IntegrityError):
        cipher.open(flipped)


def test_wrong_and_missing_keys(url: str, keyfile: Path, tmp_path: Path) -> None:
    with ses.open(url, keyfile=keyfile) as store:
        store.create_database("bank", encrypted=True).append("A-1", [opened("X", v=1)])
        store.create_database("plain").append("A-1", [opened("X", v=1)])
        other = ses.create_keyfile(tmp_path / "other.key")
        store.key_provider = ses.FileKeyProvider(other)
        with pytest.raises(ses.WrongKey):
            store.database("bank")
        store.key_provider = None
        with pytest.raises(ses.KeyRequired, match="without_key=True"):
            store.database("bank")  # opening without the key is a clear error
        db = store.database("bank", without_key=True)  # verify, stats and listings work
        assert db.verify().ok and db.list_streams() == ["A-1"]
        with pytest.raises(ses.KeyRequired):
            list(db.read_all())
        with pytest.raises(ses.KeyRequired):
            db.append("A-1", [opened("X", v=2)])
        with pytest.raises(ses.KeyRequired):
            store.create_database("more", encrypted=True)
        assert store.list_databases() == ["bank", "plain"]
        assert store.database("plain").read_all()[0].data == {"v": 1}
    with pytest.raises(ses.InvalidKeyFile):
        ses.open(url, keyfile=tmp_path / "missing.key")
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(ses.InvalidKeyFile):
        ses.open(url, keyfile=tmp_path / "bad.key")
    with pytest.raises(ses.InvalidKeyFile):
        ses.create_keyfile(keyfile)  # never overwritten


def test_keyfile_from_the_environment(
    url: str, keyfile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFE_EVENTSTORE_KEYFILE", str(keyfile))
    with ses.open(url) as store:
        assert isinstance(store.key_provider, ses.FileKeyProvider)
        store.create_database("bank", encrypted=True)


def test_options_need_encryption(store: ses.Store) -> None:
    with pytest.raises(ses.InvalidInput):
        store.create_database("bank", encrypt_metadata=True)
    with pytest.raises(ses.InvalidInput):
        store.create_database("bank", encrypted=True, key_scope="(")
    assert store.list_databases() == []
    plain = store.create_database("plain")
    with pytest.raises(ses.InvalidInput):
        plain.forget("Account-1")


async def _async_twins(url: str, keyfile: Path) -> None:
    async with ses.open_async(url, keyfile=keyfile) as store:
        db = await store.create_database("bank", encrypted=True)
        await db.append("Account-1", [opened("Opened", owner="ann")])
        await db.forget("Account-1")
        assert (await db.read_all())[0].forgotten


def test_async_twins(url: str, keyfile: Path) -> None:
    import asyncio

    asyncio.run(_async_twins(url, keyfile))


def test_a_backend_without_key_storage_refuses_encrypted_databases(keyfile: Path) -> None:
    from safe_eventstore.storage.base import Storage
    from safe_eventstore.storage.memory import MemoryStorage

    class Bare(MemoryStorage):  # a third-party backend written before key storage
        create_database_with = Storage.create_database_with
        database_settings = Storage.database_settings

    store = ses.Store(Bare(), url="bare://", key_provider=ses.FileKeyProvider(keyfile))
    with store:
        with pytest.raises(ses.NotSupported):
            store.create_database("secret", encrypted=True)
        assert store.list_databases() == []
        store.create_database("plain").append("A-1", [opened("X", v=1)])
        assert not store.database("plain").encrypted


def test_a_ciphertext_altered_with_a_matching_address_fails_authentication(
    tmp_path: Path, keyfile: Path
) -> None:
    import sqlite3

    directory = tmp_path / "store"
    with ses.open(f"sqlite://{directory}", keyfile=keyfile) as store:
        db = store.create_database("bank", encrypted=True)
        db.append(
            "Account-1",
            [opened("Opened", owner="ann", pad=PAD), opened("Deposited", amount=5, pad=PAD)],
        )
    conn = sqlite3.connect(directory / "bank.sqlite3")
    with conn:  # the first payload altered, and re-addressed so the address check passes
        rowid, data = conn.execute("SELECT id, data FROM payloads LIMIT 1").fetchone()
        altered = data[:-1] + bytes([data[-1] ^ 1])
        new = hashlib.sha256(altered).digest()
        conn.execute(
            "UPDATE payloads SET data = ?, address = ? WHERE id = ?", (altered, new, rowid)
        )
        assert sqlite_rows.rewrite(conn, "payload = ?", (rowid,), address=new) == 1
    conn.close()
    with ses.open(f"sqlite://{directory}", keyfile=keyfile) as store:
        events = store.database("bank").read_stream("Account-1")
        with pytest.raises(ses.IntegrityError, match="authentication"):
            list(events)
        assert not store.database("bank").verify().ok  # the chain covers the old address


# Stream reads open a page's payloads together (up to the first that does not open); the
# tests below check that each event still reads as it would alone.


def test_a_long_stream_reads_as_a_plain_one_in_every_direction(store: ses.Store) -> None:
    size = 2 * PAGE + 150  # three pages, the last one short
    sealed = store.create_database("bank", encrypted=True)
    plain = store.create_database("plain")
    for db in (sealed, plain):
        for start in range(0, size, 400):  # a NATS batch holds 1000 messages
            db.append(
                "Account-1",
                [opened("Deposited", n=i) for i in range(start, min(size, start + 400))],
            )
            db.append("Account-2", [opened("Noise", n=start)])

    def seen(db: ses.Database, **options: object) -> list[tuple[object, ...]]:
        events = db.read_stream("Account-1", **options)  # type: ignore[arg-type]
        return [(e.version, e.type, e.data, e.payload, e.forgotten) for e in events]

    for options in (
        {},
        {"backwards": True},
        {"from_version": 999, "limit": 1002},
        {"from_version": size - 1, "backwards": True, "limit": 1001},
    ):
        assert seen(sealed, **options) == seen(plain, **options), options
    assert [e[2] for e in seen(sealed)] == [{"n": i} for i in range(size)]


def test_a_payload_that_fails_mid_page_comes_after_the_events_before_it(
    tmp_path: Path, keyfile: Path
) -> None:
    import sqlite3

    directory = tmp_path / "store"
    with ses.open(f"sqlite://{directory}", keyfile=keyfile) as store:
        store.create_database("bank", encrypted=True).append(
            "Account-1", [opened("Deposited", n=i, pad=PAD) for i in range(5)]
        )
    conn = sqlite3.connect(directory / "bank.sqlite3")
    address = sqlite_rows.entry(conn, "version = 2").address
    data = conn.execute("SELECT data FROM payloads WHERE address = ?", (address,)).fetchone()[0]
    altered = data[:-1] + bytes([data[-1] ^ 1])
    with conn:  # the third payload altered, its address left: the address check fails
        conn.execute("UPDATE payloads SET data = ? WHERE address = ?", (altered, address))
    with ses.open(f"sqlite://{directory}", keyfile=keyfile) as store:
        events = iter(store.database("bank").read_stream("Account-1"))
        assert [next(events).data["n"] for _ in range(2)] == [0, 1]
        with pytest.raises(ses.IntegrityError, match="@2: payload does not match its address"):
            next(events)
    new = hashlib.sha256(altered).digest()
    with conn:  # re-addressed: the address check passes and the authentication fails
        conn.execute("UPDATE payloads SET address = ? WHERE address = ?", (new, address))
        sqlite_rows.rewrite(conn, "version = 2", address=new)
    conn.close()
    with ses.open(f"sqlite://{directory}", keyfile=keyfile) as store:
        events = iter(store.database("bank").read_stream("Account-1"))
        assert [next(events).data["n"] for _ in range(2)] == [0, 1]
        with pytest.raises(ses.IntegrityError, match="@2: the payload fails its authentication"):
            next(events)


def test_a_page_of_two_scopes_one_forgotten(store: ses.Store) -> None:
    db = store.create_database("shop", encrypted=True, key_scope=r"-(?P<scope>c\d+)")
    for i in range(6):
        who = f"c{i % 2}"
        db.append_events([ses.NewEvent("Joined", {"i": i}, tags=(f"customer-{who}",))])
        db.append(f"Order-{who}-1", [opened("Placed", i=i)])
    db.forget("c1")
    expected = [({"i": i}, False) if i % 2 == 0 else (None, True) for i in range(6)]
    assert [(e.data, e.forgotten) for e in db.read_stream("$events")] == expected
    assert [(e.data, e.forgotten) for e in db.read_all() if e.type == "Placed"] == expected
    assert [e.forgotten for e in db.read_stream("Order-c1-1")] == [True] * 3
    assert [e.data for e in db.read_stream("Order-c0-1")] == [{"i": i} for i in (0, 2, 4)]


def test_a_stream_read_without_the_master_key(store: ses.Store) -> None:
    store.create_database("bank", encrypted=True).append("A-1", [opened("X", v=1)])
    store.key_provider = None
    db = store.database("bank", without_key=True)
    with pytest.raises(ses.KeyRequired):
        list(db.read_stream("A-1"))
    with pytest.raises(ses.KeyRequired):
        list(db.read_stream("A-1", backwards=True, limit=1))
