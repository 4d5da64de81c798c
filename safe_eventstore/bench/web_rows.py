"""The H rows: the HTTP API (``safe-eventstore serve`` in a process of its own, on the same
store) beside the same operations in-process, in one run.

=====  ==========================================================================
H1     single-event appends through ``POST .../events``, one client, keep-alive;
       H1-lib the same appends in-process (same store, same durability)
H2     every event of a database read through the API as NDJSON;
       H2-lib ``read_all`` in-process
H3     p99 latency of a page of 100 events of a 1,000,000-event stream, at random
       versions, over HTTP (target < 50 ms); H3-lib the same pages in-process
=====  ==========================================================================

The server is a real process (the ``serve`` command), so the client and the server do not
share one interpreter lock; its address is read from what it prints.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._model import ANY, NO_STREAM
from .._store import Store
from ._rows import ReadWorkload, Row, best_reads, summed_row
from ._workloads import Sizes, event, timer

__all__ = ["REFERENCES", "available", "web_rows"]

REFERENCES = {"H1": ("H1-lib",), "H2": ("H2-lib",), "H3": ("H3-lib",)}
PAGE = 100
TARGET_MS = 50.0


def available() -> bool:
    """Whether the web extra is installed (the H rows need it)."""
    return all(importlib.util.find_spec(m) is not None for m in ("fastapi", "uvicorn"))


class _Client:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(
        self, method: str, path: str, body: Any = None, accept: str = "application/json"
    ) -> bytes:
        data = None if body is None else json.dumps(body)
        headers = {"content-type": "application/json", "accept": accept}
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return payload


@contextmanager
def _server(url: str) -> Iterator[_Client]:
    command = [sys.executable, "-m", "safe_eventstore", "serve", "--store", url, "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = re.search(r"http://[^:]+:(\d+)/", line)
            if not found:
                raise RuntimeError(f"the server did not start: {line!r}")
            client = _Client(int(found[1]))
            try:
                yield client
            finally:
                client.connection.close()
        finally:
            process.terminate()
            process.wait(timeout=60)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * q) - 1))]


def web_rows(store: Store, url: str, s: Sizes, say: Callable[[str], None]) -> list[Row]:
    """The H rows on ``store`` (open here, at ``url``), whose database ``reads`` holds the
    events of the read rows."""
    store.create_database("h1")  # the server's; each system writes a database of its own
    h1 = store.create_database("h1lib")
    pages = store.create_database("pages")
    say(f"H3: storing a stream of {s.big_stream:,} events")
    step = 20_000
    for start in range(0, s.big_stream, step):
        batch = [event(i) for i in range(start, min(s.big_stream, start + step))]
        pages.append("Big-1", batch, expected_version=start - 1 if start else ANY)
    with _server(url) as client:
        rows = _append_rows(h1, client, s, say)
        rows += _read_rows(store, client, s, say)
        rows += _page_rows(pages, client, s, say)
    for row in rows:
        if row.id == "H3":
            row.notes["target"] = f"< {TARGET_MS:.0f} ms p99"
    return rows


def _append_rows(h1: Any, client: _Client, s: Sizes, say: Callable[[str], None]) -> list[Row]:
    each = max(1, s.http_appends // s.rounds)
    timings: dict[str, list[float]] = {"H1": [], "H1-lib": []}
    for r in range(s.rounds):
        say(f"H1: appends, round {r + 1} of {s.rounds}")
        path = f"/api/v1/databases/h1/streams/Http-{r}/events"
        with timer() as t:
            for i in range(each):
                body = {
                    "events": [{"type": "Deposited", "data": event(i).data}],
                    "expected_version": i - 1 if i else "no_stream",
                }
                client.call("POST", path, body)
        timings["H1"].append(t[0])
        with timer() as t:
            for i in range(each):
                h1.append(f"Http-{r}", [event(i)], expected_version=i - 1 if i else NO_STREAM)
        timings["H1-lib"].append(t[0])
    count = each * s.rounds
    return [
        summed_row(timings, "H1", "H1", "safe-eventstore", "HTTP appends, 1 event, 1 client",
                   count),
        summed_row(timings, "H1-lib", "H1", "safe-eventstore", "in-process appends, 1 event",
                   count),
    ]  # fmt: skip


def _read_rows(store: Store, client: _Client, s: Sizes, say: Callable[[str], None]) -> list[Row]:
    db = store.database("reads")

    def over_http() -> tuple[int, float]:
        with timer() as t:
            body = client.call(
                "GET", "/api/v1/databases/reads/events", accept="application/x-ndjson"
            )
        return body.count(b"\n"), t[0]

    def in_process() -> tuple[int, float]:
        with timer() as t:
            count = sum(1 for _ in db.read_all())
        return count, t[0]

    reads: list[ReadWorkload] = [
        ("H2", "H2", "safe-eventstore", "read of all events through the API, NDJSON",
         over_http),
        ("H2-lib", "H2", "safe-eventstore", "read_all in-process, decoded events", in_process),
    ]  # fmt: skip
    return best_reads(reads, s.read_repeat, say)


def _page_rows(pages: Any, client: _Client, s: Sizes, say: Callable[[str], None]) -> list[Row]:
    say(f"H3: {s.pages} pages of {PAGE} events, over HTTP and in-process")
    rng = random.Random(7)
    latencies: dict[str, list[float]] = {"H3": [], "H3-lib": []}
    base = "/api/v1/databases/pages/streams/Big-1/events"
    for k in range(s.pages):
        version = rng.randrange(0, max(1, s.big_stream - PAGE))
        backwards = k % 4 == 3  # every fourth page newest first, as a stream view opens
        query = f"?limit={PAGE}" + ("&backwards=true" if backwards else f"&from_version={version}")
        start = time.perf_counter()
        page = json.loads(client.call("GET", base + query))
        latencies["H3"].append(time.perf_counter() - start)
        if len(page["events"]) != PAGE:
            raise RuntimeError(f"a page held {len(page['events'])} events, not {PAGE}")
        start = time.perf_counter()
        list(
            pages.read_stream(
                "Big-1", from_version=None if backwards else version, limit=PAGE,
                backwards=backwards,
            )
        )  # fmt: skip
        latencies["H3-lib"].append(time.perf_counter() - start)
    rows = []
    for key, what in (
        ("H3", f"page of {PAGE} events of a {s.big_stream:,}-event stream, HTTP"),
        ("H3-lib", f"page of {PAGE} events of a {s.big_stream:,}-event stream, in-process"),
    ):
        ms = [x * 1000 for x in latencies[key]]
        p99 = _percentile(ms, 0.99)
        notes = {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(p99, 3)}
        rows.append(Row(key, "H3", "safe-eventstore", what, len(ms), sum(ms) / 1000, p99,
                        "ms p99", notes=notes))  # fmt: skip
    return rows
