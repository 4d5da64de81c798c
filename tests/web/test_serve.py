"""``safe-eventstore serve`` in a real process: the address it prints, the loopback default,
the token it needs elsewhere, read-only, and a clean error without the web extra."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from safe_eventstore.cli._serve import _bind, is_loopback

CLI = [sys.executable, "-m", "safe_eventstore"]
BLOCK_WEB = "import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None; "


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFE_EVENTSTORE_")}
    return {**env, **extra}


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Runs ``serve --port 0 ARGS``; yields the host and port it printed."""
    with subprocess.Popen(
        [*CLI, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or environment(),
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = re.search(r"at http://([^/]+):(\d+)/", line)
            assert found, line
            yield found[1], int(found[2])
        finally:
            process.terminate()
            process.wait(timeout=30)


def call(
    port: int, method: str, path: str, body: object = None, token: str | None = None
) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body)
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def test_serve_listens_on_loopback_and_prints_its_address(tmp_path: Path) -> None:
    with serving("--store", f"sqlite://{tmp_path}/store") as (host, port):
        assert host == "127.0.0.1"
        status, body = call(port, "POST", "/api/v1/databases", {"name": "bank"})
        assert status == 201
        status, body = call(port, "GET", "/api/v1/databases")
        assert body == {"databases": [{"name": "bank", "last_position": 0}]}


def test_serve_refuses_an_exposed_address_without_a_token() -> None:
    result = subprocess.run(
        [*CLI, "serve", "--store", "memory://", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: refusing to serve on 0.0.0.0 without a token")


def test_serve_on_an_exposed_address_with_a_token_from_the_environment() -> None:
    env = environment(SAFE_EVENTSTORE_TOKEN="s3cret-token")
    with serving("--store", "memory://", "--host", "0.0.0.0", env=env) as (host, port):
        assert host == "0.0.0.0"
        assert call(port, "GET", "/api/v1/databases")[0] == 401
        assert call(port, "GET", "/api/v1/databases", token="s3cret-token")[0] == 200


def test_serve_read_only() -> None:
    with serving("--store", "memory://", "--read-only") as (_, port):
        status, body = call(port, "POST", "/api/v1/databases", {"name": "bank"})
        assert (status, body["error"]) == (403, "StoreReadOnly")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_without_the_web_extra_is_one_clean_line() -> None:
    code = (
        BLOCK_WEB + "from safe_eventstore.cli import main; main(['serve', '--store', 'memory://'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment(), timeout=60
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "error: serve needs the web extra: pip install 'safe-eventstore[web]'"
    )


def test_the_library_works_without_the_web_extra() -> None:
    code = (
        BLOCK_WEB
        + "import safe_eventstore as ses, safe_eventstore.cli, safe_eventstore.cqrs\n"
        + "with ses.open('memory://') as s: s.create_database('x')\n"
        + "try:\n    import safe_eventstore.web\nexcept ImportError as e:\n    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'safe-eventstore[web]'" in result.stdout


def test_the_listening_socket_says_tcp_so_answers_are_not_held_back() -> None:
    # asyncio turns on TCP_NODELAY only for sockets created with IPPROTO_TCP; without it an
    # answer written in two parts waits for the client's delayed ACK (40 ms a request)
    sock = _bind("127.0.0.1", 0)
    with sock:
        assert sock.proto == socket.IPPROTO_TCP
