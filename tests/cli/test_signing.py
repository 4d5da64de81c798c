"""``keys signing-init`` and ``verify --public-key``: signed writes from the command line."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from ..test_signing import rewrite
from .support import fails, ok, run


def test_signing_init_writes_a_private_key_and_prints_the_public_one(tmp_path: Path) -> None:
    key = tmp_path / "signing.pem"
    result = ok("keys", "signing-init", str(key))
    assert key.stat().st_mode & 0o777 == 0o600
    assert result.stdout == (tmp_path / "signing.pem.pub").read_text()
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert "never overwritten" in fails(2, "keys", "signing-init", str(key))


def test_writes_sign_with_the_key_in_the_environment_and_verify_checks_them(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "signing.pem"
    ok("keys", "signing-init", str(key))
    monkeypatch.setenv("SAFE_EVENTSTORE_SIGNING_KEY", str(key))
    ok("append", "Account-1", "Opened", '{"owner": "ann"}', "--store", db_url)
    ok("append", "Account-1", "Deposited", '{"amount": 5}', "--store", db_url)
    monkeypatch.delenv("SAFE_EVENTSTORE_SIGNING_KEY")
    public = f"{key}.pub"
    assert "2 signed batches" in ok("verify", "--public-key", public, "--store", db_url).stdout
    report = json.loads(ok("verify", "--json", "--public-key", public, "--store", db_url).stdout)
    assert report["ok"] and report["signatures"] == 2

    # a consistent rewrite of the stream, as someone with the file could make it
    path = Path(db_url.removeprefix("sqlite://")) / "default.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        rewrite(conn, "Account-1", 0, b'{"approved_by":"mallory"}')
    ok("verify", "--store", db_url)
    result = run("verify", "--public-key", public, "--store", db_url)
    assert result.exit_code == 1
    assert "not the one last signed" in result.stdout


def test_a_bad_public_key_file_is_an_input_error(tmp_path: Path, db_url: str) -> None:
    line = fails(2, "verify", "--public-key", str(tmp_path / "nope.pub"), "--store", db_url)
    assert "cannot read public key" in line
