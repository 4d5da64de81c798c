"""The encryption commands: keys init and rotate, db create --encrypted, forget, and the
one-line errors of a missing or wrong key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import safe_eventstore as ses

from .support import ok, run


def _error(*args: str) -> str:
    result = run(*args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_keys_init_makes_an_owner_only_file_and_never_overwrites(tmp_path: Path) -> None:
    key = tmp_path / "master.key"
    ok("keys", "init", str(key))
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    before = key.read_bytes()
    assert "never overwritten" in _error("keys", "init", str(key))
    assert key.read_bytes() == before


def test_encrypted_database_forget_and_rotate(url: str, tmp_path: Path) -> None:
    key, new = str(tmp_path / "master.key"), str(tmp_path / "new.key")
    ok("keys", "init", key)
    ok("keys", "init", new)
    ok("db", "create", "people", "--encrypted", "--store", url, "--keyfile", key)
    with ses.open(url, keyfile=key) as store:
        db = store.database("people")
        db.append("Customer-1", [ses.NewEvent("Moved", {"to": "Elm Street"})])
        db.append("Customer-2", [ses.NewEvent("Moved", {"to": "Oak Lane"})])
    ok("--keyfile", key, "forget", "Customer-1", "--store", url, "--db", "people")
    out = ok("--keyfile", key, "read", "Customer-2", "--store", url, "--db", "people").output
    assert "Oak Lane" in out
    assert "Customer-9" in _error("forget", "Customer-9", "--store", url, "--db", "people",
                                  "--keyfile", key)  # fmt: skip
    assert "forgotten already" in _error(
        "forget", "Customer-1", "--store", url, "--db", "people", "--keyfile", key
    )
    ok("keys", "rotate", "--new-keyfile", new, "--store", url, "--keyfile", key)
    with ses.open(url, keyfile=new) as store:
        events = list(store.database("people").read_all())
        assert [e.forgotten for e in events[:2]] == [True, False]
    assert "does not open" in _error("--keyfile", key, "read", "Customer-2", "--store", url,
                                     "--db", "people")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["db", "create", "x", "--encrypted"], "needs a master key"),
        (["--keyfile", "/nonexistent/k", "db", "list"], "no key file"),
        (["keys", "rotate", "--new-keyfile", "/nonexistent/k"], "no key file"),
        (["db", "create", "x", "--encrypt-metadata"], "need encrypted=True"),
    ],
)
def test_bad_key_input_is_one_line(db_url: str, args: list[str], words: str) -> None:
    assert words in _error(*args, "--store", db_url)
    with ses.open(db_url) as store:
        assert store.list_databases() == ["default"]


def test_reading_an_encrypted_database_without_its_key(url: str, tmp_path: Path) -> None:
    key = str(tmp_path / "master.key")
    ok("keys", "init", key)
    ok("db", "create", "people", "--encrypted", "--store", url, "--keyfile", key)
    with ses.open(url, keyfile=key) as store:
        store.database("people").append("Customer-1", [ses.NewEvent("Moved", {"to": "x"})])
    assert "is encrypted" in _error("read", "Customer-1", "--store", url, "--db", "people")
    ok("verify", "--store", url, "--db", "people")  # verify needs no key


def test_export_and_import_carry_a_forget_over(url: str, tmp_path: Path) -> None:
    key = str(tmp_path / "master.key")
    ok("keys", "init", key)
    with ses.open(url, keyfile=key) as store:
        db = store.create_database("people", encrypted=True)
        db.append("Customer-1", [ses.NewEvent("Moved", {"to": "Elm Street"})])
        db.append("Customer-2", [ses.NewEvent("Moved", {"to": "Oak Lane"})])
        db.forget("Customer-1")
        store.create_database("copy", encrypted=True)
        store.create_database("plain")
    dump = tmp_path / "people.jsonl"
    dump.write_text(ok("--keyfile", key, "export", "--store", url, "--db", "people").stdout)
    assert "Elm Street" not in dump.read_text()
    ok("--keyfile", key, "import", str(dump), "--store", url, "--db", "copy")
    ok("--keyfile", key, "import", str(dump), "--store", url, "--db", "copy")  # a re-run
    with ses.open(url, keyfile=key) as store:
        copied = [(e.stream, e.forgotten, e.data) for e in store.database("copy").read_all()]
    assert copied == [
        ("Customer-1", True, None),
        ("Customer-2", False, {"to": "Oak Lane"}),
        (ses.FORGOTTEN_STREAM, False, {"scope": "Customer-1"}),
    ]
    assert "only an encrypted database" in _error(
        "--keyfile", key, "import", str(dump), "--store", url, "--db", "plain"
    )
