"""Signed batches: a writer with a signing key signs each append's new stream heads, and
``verify(public_key=...)`` finds what plain ``verify`` cannot: a history rewritten
consistently by whoever holds the store's files, a stream rolled back to an older signed
head, signed batches removed, appends made without the key."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import safe_eventstore as ses
from safe_eventstore._codec import entry_hash
from safe_eventstore.storage.base import chained_fields

from . import sqlite_rows
from .conftest import fresh_store


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'store'}"


def _fill(db: ses.Database) -> None:
    """Every kind of write: single appends, a multi-stream batch, DCB events, a restructure."""
    db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"})])
    db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 100})])
    db.append_batch(
        [
            ses.StreamAppend("Account-1", [ses.NewEvent("Withdrawn", {"amount": 5})]),
            ses.StreamAppend("Account-2", [ses.NewEvent("Opened", {"owner": "bob"})]),
        ],
        checkpoint=("mover", 1),
    )
    db.append_events([ses.NewEvent("SeatBooked", {"seat": 2}, tags=("seat-2",))])
    db.restructure("Account-1", 1, ses.NewEvent("Deposited", {"amount": 10}), reason="typo")


def test_signed_appends_verify_with_the_public_key(url: str, key: Ed25519PrivateKey) -> None:
    with ses.open(url, signing_key=key) as store:
        db = store.create_database("bank")
        _fill(db)
        report = db.verify(public_key=key.public_key())
        assert report.ok, report.problems
        assert report.signatures == 5
        assert report.signed_position == db.last_position()
        assert report.unsigned_streams == 0
        assert db.verify().ok
        assert db.verify().signatures == 0  # not checked without a key


def test_another_key_is_not_the_signer(url: str, key: Ed25519PrivateKey) -> None:
    with ses.open(url, signing_key=key) as store:
        db = store.create_database("bank")
        _fill(db)
        report = db.verify(public_key=Ed25519PrivateKey.generate().public_key())
    assert not report.ok
    assert report.signatures == 0
    assert sum("does not verify" in p.message for p in report.problems) == 5


def test_appends_without_the_key_after_signing_began_are_reported(
    url: str, key: Ed25519PrivateKey
) -> None:
    # memory:// is one store per open, so the unsigned writer shares its storage
    with ses.open(url, signing_key=key) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened")])
        unsigned = ses.Store(store.storage, url=store.url).database("bank")
        unsigned.append("Account-1", [ses.NewEvent("Deposited")])
        unsigned.append("Account-2", [ses.NewEvent("Opened")])
        report = db.verify(public_key=key.public_key())
    assert {(p.stream, p.message.split(" (")[0]) for p in report.problems} == {
        ("Account-1", "stream head is not the one last signed"),
        ("Account-2", "stream head is not signed"),
    }


def test_streams_written_before_signing_are_counted_not_reported(
    url: str, key: Ed25519PrivateKey
) -> None:
    with ses.open(url) as store:
        db = store.create_database("bank")
        db.append("Old-1", [ses.NewEvent("Opened")])
        db.append("Old-2", [ses.NewEvent("Opened")])
        assert [p.message for p in db.verify(public_key=key).problems] == [
            "no signed batches: written without the signing key, or the signatures were removed"
        ]
        signing = ses.Store(store.storage, url=store.url, signing_key=key).database("bank")
        signing.append("Old-2", [ses.NewEvent("Renamed")])  # its head is signed from now on
        signing.append("New-1", [ses.NewEvent("Opened")])
        report = db.verify(public_key=key)
    assert report.ok, report.problems
    assert report.unsigned_streams == 1


def test_async_verify_takes_the_public_key(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    async def run() -> ses.VerifyReport:
        url = f"sqlite://{tmp_path / 'store'}"
        async with ses.open_async(url, signing_key=key) as store:
            db = await store.create_database("bank")
            await db.append("Account-1", [ses.NewEvent("Opened")])
            return await db.verify(public_key=key.public_key())

    report = asyncio.run(run())
    assert report.ok and report.signatures == 1


# -- tampering with the SQLite file ---------------------------------------------------------


@contextlib.contextmanager
def _raw(directory: Path) -> Iterator[sqlite3.Connection]:
    """The database file opened directly, as by someone who holds the files."""
    with contextlib.closing(sqlite3.connect(directory / "bank.sqlite3")) as conn:
        with conn:
            yield conn


def rewrite(conn: sqlite3.Connection, stream: str, seq: int, metadata: bytes) -> None:
    """Change one entry and re-seal the stream from there on, as an attacker with the file
    would: every hash and previous hash recomputed, the head flag left on the last entry."""
    sqlite_rows.rewrite(conn, "stream = ? AND seq = ?", (stream, seq), metadata=metadata)
    seqs = conn.execute("SELECT seq FROM entries WHERE stream = ? ORDER BY seq", (stream,))
    prev: bytes | None = None
    for (s,) in seqs.fetchall():
        where = ("stream = ? AND seq = ?", (stream, s))
        e = sqlite_rows.entry(conn, *where)
        h = entry_hash(chained_fields(prev, stream, s, e.version, e))
        sqlite_rows.rewrite(conn, *where, prev_hash=prev, hash=h)
        prev = h


def _signed_store(directory: Path, key: Ed25519PrivateKey) -> None:
    with ses.open(f"sqlite://{directory}", signing_key=key) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened", {"owner": "ann"})])
        db.append("Account-1", [ses.NewEvent("Deposited", {"amount": 100})])
        db.append("Account-2", [ses.NewEvent("Opened", {"owner": "bob"})])
        db.append("Account-1", [ses.NewEvent("Withdrawn", {"amount": 20})])
        db.append("Account-2", [ses.NewEvent("Deposited", {"amount": 1})])
        assert db.verify(public_key=key).ok


def _verify(directory: Path, public_key: object = None) -> ses.VerifyReport:
    with ses.open(f"sqlite://{directory}") as store:
        return store.database("bank").verify(public_key=public_key)


def test_a_consistent_rewrite_is_found_only_with_the_public_key(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    directory = tmp_path / "store"
    _signed_store(directory, key)
    with _raw(directory) as conn:
        rewrite(conn, "Account-1", 1, b'{"approved_by":"mallory"}')
    assert _verify(directory).ok  # the chains and heads agree: plain verify cannot tell
    report = _verify(directory, key.public_key())
    assert not report.ok
    assert [(p.stream, p.seq) for p in report.problems] == [("Account-1", 2)]
    assert "not the one last signed" in report.problems[0].message


def test_a_stream_rolled_back_to_an_older_signed_head_is_found(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """Removing a stream's last batch leaves an older head that was signed once; the
    signature of the removed batch, still there, names the newer head."""
    directory = tmp_path / "store"
    _signed_store(directory, key)
    with _raw(directory) as conn:
        conn.execute("DELETE FROM entries WHERE stream = 'Account-1' AND seq = 2")
        conn.execute("UPDATE entries SET head = 1 WHERE stream = 'Account-1' AND seq = 1")
    assert _verify(directory).ok
    problems = _verify(directory, key).problems
    assert [(p.stream, p.seq) for p in problems] == [("Account-1", 1)]


def test_a_removed_signature_breaks_the_chain(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """...and removing that signature too breaks the chain of signatures after it."""
    directory = tmp_path / "store"
    _signed_store(directory, key)
    with _raw(directory) as conn:
        (position,) = conn.execute(
            "SELECT position FROM entries WHERE stream = 'Account-1' AND seq = 2"
        ).fetchone()
        conn.execute("DELETE FROM entries WHERE stream = 'Account-1' AND seq = 2")
        conn.execute("UPDATE entries SET head = 1 WHERE stream = 'Account-1' AND seq = 1")
        conn.execute("DELETE FROM signatures WHERE position = ?", (position,))
    assert _verify(directory).ok
    problems = _verify(directory, key).problems
    assert len(problems) == 1
    assert "does not follow the signature before it" in problems[0].message


def test_an_altered_or_moved_signature_is_found(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    directory = tmp_path / "store"
    _signed_store(directory, key)
    with _raw(directory) as conn:
        conn.execute(
            "UPDATE signatures SET statement = replace(statement, 'Account-2', 'Account-3') "
            "WHERE position = (SELECT max(position) FROM signatures)"
        )
    messages = [p.message for p in _verify(directory, key).problems]
    assert any("does not verify" in m for m in messages)


def test_the_newest_batches_removed_with_their_signatures_go_unnoticed(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """The limit of signatures kept in the store: a rollback of the whole database to an
    earlier signed state verifies; ``signed_position`` falls, which only a record kept
    elsewhere can tell (docs/tamper-evidence.md)."""
    directory = tmp_path / "store"
    _signed_store(directory, key)
    before = _verify(directory, key).signed_position
    with _raw(directory) as conn:
        conn.execute("DELETE FROM entries WHERE position = ?", (before,))
        conn.execute("UPDATE entries SET head = 1 WHERE stream = 'Account-2' AND seq = 0")
        conn.execute("DELETE FROM signatures WHERE position = ?", (before,))
    report = _verify(directory, key)
    assert report.ok
    assert report.signed_position < before


def test_concurrent_signed_appends_chain_their_signatures(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """Appends from many threads share SQLite transactions (group commit); each keeps its
    own signature, chained to the one before it in commit order."""
    with ses.open(f"sqlite://{tmp_path / 'store'}", signing_key=key) as store:
        db = store.create_database("bank")

        def writer(n: int) -> None:
            for i in range(20):
                db.append(f"Account-{n}", [ses.NewEvent("Deposited", {"i": i})])

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report = db.verify(public_key=key.public_key())
    assert report.ok, report.problems
    assert report.signatures == 160


# -- keys -----------------------------------------------------------------------------------


def test_a_signing_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    public = ses.create_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "signing.pem.pub").read_bytes() == public
    with pytest.raises(ses.InvalidSigningKey, match="never overwritten"):
        ses.create_signing_key(path)
    with ses.open(f"sqlite://{tmp_path / 'store'}", signing_key=path) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened")])
        assert db.verify(public_key=tmp_path / "signing.pem.pub").ok


def test_the_signing_key_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "signing.pem"
    ses.create_signing_key(path)
    monkeypatch.setenv("SAFE_EVENTSTORE_SIGNING_KEY", str(path))
    with ses.open("memory://") as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened")])
        assert db.verify(public_key=f"{path}.pub").signatures == 1


def _x25519_pem(tmp_path: Path) -> Path:
    path = tmp_path / "x25519.pem"
    path.write_bytes(
        X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_bad_keys_are_typed_errors_before_anything_is_written(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    for bad in [tmp_path / "missing.pem", garbage, _x25519_pem(tmp_path), 42]:
        with pytest.raises(ses.InvalidSigningKey):
            ses.open(f"sqlite://{directory}", signing_key=bad)
    assert not directory.exists()
    with ses.open(f"sqlite://{directory}") as store:
        db = store.create_database("bank")
        for bad in [tmp_path / "missing.pem", garbage, b"short"]:
            with pytest.raises(ses.InvalidSigningKey):
                db.verify(public_key=bad)


def test_a_backend_without_signatures_refuses_a_signing_key(
    request: pytest.FixtureRequest, key: Ed25519PrivateKey
) -> None:
    for url in fresh_store(request, "single"):
        with pytest.raises(ses.InvalidSigningKey, match="does not store batch signatures"):
            ses.open(url, signing_key=key)
        with ses.open(url) as store:  # and verifying it with a key finds nothing signed
            db = store.create_database("bank")
            db.append("Account-1", [ses.NewEvent("Opened")])
            assert not db.verify(public_key=key).ok


def test_a_rewrite_before_a_later_signed_append_is_found(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """The writer seals its next append on whatever head it finds: a stream rewritten in
    between would be signed anew, but the signature names the head it was sealed on, which
    is not the one signed before."""
    directory = tmp_path / "store"
    _signed_store(directory, key)
    with _raw(directory) as conn:
        rewrite(conn, "Account-1", 0, b'{"approved_by":"mallory"}')
    with ses.open(f"sqlite://{directory}", signing_key=key) as store:
        store.database("bank").append("Account-1", [ses.NewEvent("Closed")])
    assert _verify(directory).ok
    problems = _verify(directory, key).problems
    assert [(p.stream, p.seq) for p in problems] == [("Account-1", 3)]
    assert "signed on a head that is not the one signed before it" in problems[0].message


def test_an_unsigned_append_between_signed_ones_is_found(url: str, key: Ed25519PrivateKey) -> None:
    with ses.open(url, signing_key=key) as store:
        db = store.create_database("bank")
        db.append("Account-1", [ses.NewEvent("Opened")])
        unsigned = ses.Store(store.storage, url=store.url).database("bank")
        unsigned.append("Account-1", [ses.NewEvent("Deposited")])
        unsigned.append("Account-2", [ses.NewEvent("Opened")])
        db.append("Account-1", [ses.NewEvent("Withdrawn")])
        db.append("Account-2", [ses.NewEvent("Closed")])
        problems = db.verify(public_key=key).problems
    assert [(p.stream, p.seq, p.message.split(" (")[0]) for p in problems] == [
        ("Account-1", 2, "signed on a head that is not the one signed before it"),
        ("Account-2", 1, "signed on an unsigned head written after signing began"),
    ]
