"""The console in a real headless Chromium, through Playwright (pytest-playwright).

Chromium is the Debian package (``scripts/test.sh`` installs it where it is missing);
``$CHROMIUM_PATH`` names another build. The server runs in a thread of the test process
(uvicorn), over an SQLite store holding a 1,000,000-event stream and a small shop.
Screenshots go to ``test-artifacts/browser/`` (not committed).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore.web import create_app

BIG = 1_000_000
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "browser"


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium: scripts/test.sh installs the Debian package (as root)")
    return {**browser_type_launch_args, "executable_path": path}


@pytest.fixture(scope="session")
def base_url() -> None:
    # Stands in for pytest-base-url's fixture, which this pytest warns about (an error here).
    return None


@pytest.fixture(scope="session")
def shots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _fill(store: ses.Store) -> dict[str, Any]:
    big = store.create_database("big")
    batch = 50_000
    # Ten payloads repeated: the stream is large, its payloads deduplicated, so it is built
    # in seconds.
    for start in range(0, BIG, batch):
        big.append(
            "Big-1", [ses.NewEvent("Tick", {"n": n % 10}) for n in range(start, start + batch)]
        )
    shop = store.create_database("shop")
    corr, placed, paid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    shop.append(
        "Order-1",
        [ses.NewEvent("OrderPlaced", {"total": 10}, event_id=placed, correlation_id=corr)],
    )
    shop.append(
        "Payment-1",
        [
            ses.NewEvent(
                "PaymentReceived",
                {"amount": 10},
                event_id=paid,
                correlation_id=corr,
                causation_id=placed,
            )
        ],
    )
    shop.append(
        "Shipment-1", [ses.NewEvent("OrderShipped", {}, correlation_id=corr, causation_id=paid)]
    )
    return {"correlation": corr}


class LiveServer:
    def __init__(self, store: ses.Store) -> None:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(store), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.sock = sock

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # open event streams would hold a graceful exit
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if _chromium() is None:
        pytest.skip("no Chromium: scripts/test.sh installs the Debian package (as root)")
    path = tmp_path_factory.mktemp("browser") / "store"
    with ses.open(str(path), durability="relaxed") as store:
        facts = _fill(store)
        with LiveServer(store) as server:
            yield {"url": server.url, "store": store, **facts}
