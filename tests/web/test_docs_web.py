"""The curl examples of docs/web.md, replayed through the app: each answer as shown."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

import safe_eventstore as ses
from safe_eventstore.web import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "web.md"


def examples() -> list[tuple[str, list[str]]]:
    block = DOC.read_text().split("### Examples", 1)[1]
    block = re.search(r"```console\n(.*?)```", block, re.S)[1]  # type: ignore[index]
    pairs: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        else:
            pairs[-1][1].append(line)
    return pairs


def request(command: str) -> dict[str, Any]:
    args = shlex.split(command)
    assert args[0] == "curl"
    call: dict[str, Any] = {"method": "GET", "headers": {}, "content": None}
    it = iter(args[1:])
    for arg in it:
        if arg == "-X":
            call["method"] = next(it)
        elif arg == "-H":
            name, value = next(it).split(": ", 1)
            call["headers"][name] = value
        elif arg == "-d":
            call["content"] = next(it)
        elif "localhost:8765" in arg:
            parts = urlsplit("http://" + arg)
            call["url"] = parts.path + (f"?{parts.query}" if parts.query else "")
    return call


def normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "TIME" if k == "timestamp" else normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def test_the_curl_examples_answer_as_shown() -> None:
    pairs = examples()
    assert len(pairs) >= 5
    with ses.open("memory://") as store:
        client = TestClient(create_app(store))
        for command, shown in pairs:
            response = client.request(**request(command))
            lines = response.text.splitlines()
            assert [normal(json.loads(x)) for x in lines] == [
                normal(json.loads(x)) for x in shown
            ], command
