"""Long forward scans on NATS: after a full page, a read goes on through a consumer kept
between pages. What it returns must be what batched direct gets return (pages shorter than
a direct get's page never make one), and it must leave no consumer on the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest

import safe_eventstore as ses
from safe_eventstore.storage.base import Entry
from safe_eventstore.storage.nats._lookups import PAGE
from safe_eventstore.storage.nats._storage import NatsStorage

from ..conftest import fresh_store

EVENTS = 3 * PAGE + 250
SHORT = PAGE // 2  # pages this long stay on direct gets
PATIENCE = 10.0  # seconds: only turns a hang into a failure


@pytest.fixture(params=["single", "cluster"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from fresh_store(request, request.param)


@pytest.fixture
def single_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from fresh_store(request, "single")


def _fill(db: ses.Database, events: int) -> None:
    """Events of two categories, interleaved, of two types, in batches."""
    for start in range(0, events, 250):
        for stream in ("Account-1", "Order-7"):
            db.append(
                stream,
                [
                    ses.NewEvent("Even" if i % 2 == 0 else "Odd", {"i": i, "pad": "x" * 30})
                    for i in range(start, min(events, start + 250), 2)
                ],
            )


def _storage(store: ses.Store) -> NatsStorage:
    storage = store.storage
    assert isinstance(storage, NatsStorage)
    return storage


def _pages(storage: NatsStorage, db: str, size: int, start: int = 1, **kw: object) -> list[Entry]:
    out: list[Entry] = []
    while True:
        page = storage.read_all(db, from_position=start, limit=size, **kw)  # type: ignore[arg-type]
        out += page
        if len(page) < size:
            return out
        start = page[-1].position + 1


def _key(e: Entry) -> tuple[object, ...]:
    return (e.position, e.stream, e.version, e.kind, e.type, e.event_id, e.payload, e.hash)


def _consumers(storage: NatsStorage, db: str) -> int:
    """The consumers on the database's JetStream stream, as the server counts them."""
    url = storage._conn.nc.connected_url
    assert url is not None
    servers = [url.geturl()]
    stream = storage._db(db).layout.stream_name

    async def count() -> int:
        nc = await nats.connect(servers)
        try:
            info = await nc.jetstream().stream_info(stream)
            return info.state.consumer_count
        finally:
            await nc.close()

    return asyncio.run(count())


def _until_no_consumers(count: Callable[[], int]) -> int:
    deadline = time.monotonic() + PATIENCE
    while (left := count()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_long_scan_returns_what_direct_gets_return(store_url: str) -> None:
    with ses.open(store_url) as store:
        db = store.create_database("scan")
        _fill(db, EVENTS)
        s = _storage(store)
        direct = _pages(s, "scan", SHORT)
        assert len(direct) == 2 * (EVENTS // 2) + (EVENTS % 2 and 1)
        assert not s._db("scan").scanners and not s._db("scan").longs
        # pages of a direct get's size: from the second on, a consumer
        first = s.read_all("scan", from_position=1, limit=PAGE)
        second = s.read_all("scan", from_position=first[-1].position + 1, limit=PAGE)
        assert s._db("scan").scanners, "the second page was read through a consumer"
        rest = _pages(s, "scan", PAGE, second[-1].position + 1)
        assert [_key(e) for e in first + second + rest] == [_key(e) for e in direct]
        # one category, and a filter that keeps one type of two
        category = _pages(s, "scan", PAGE, category="Order")
        assert [_key(e) for e in category] == [_key(e) for e in direct if e.stream == "Order-7"]
        odd = _pages(s, "scan", PAGE, types=("Odd",))
        assert [_key(e) for e in odd] == [_key(e) for e in direct if e.type == "Odd"]
        # one call asking for more than a page goes on through a consumer too
        whole = s.read_all("scan", from_position=1, limit=10 * PAGE)
        assert [_key(e) for e in whole] == [_key(e) for e in direct]
        # a stream, as the core reads it, payloads and all
        events = list(db.read_stream("Account-1"))
        assert [e.version for e in events] == list(range(len(events)))
        assert [e.data["i"] for e in events] == list(range(0, EVENTS, 2))
        assert _until_no_consumers(lambda: _consumers(s, "scan")) == 0


def test_a_read_after_an_append_mid_scan_sees_it(single_url: str) -> None:
    with ses.open(single_url) as store, ses.open(single_url) as other:
        db = store.create_database("ryw")
        _fill(db, EVENTS)
        s = _storage(store)
        first = s.read_all("ryw", from_position=1, limit=PAGE)
        second = s.read_all("ryw", from_position=first[-1].position + 1, limit=PAGE)
        assert s._db("ryw").scanners
        mine = db.append("Late-1", [ses.NewEvent("Late", {"n": n}) for n in range(3)])
        theirs = other.database("ryw").append("Late-2", [ses.NewEvent("Late", {})])
        rest = _pages(s, "ryw", PAGE, second[-1].position + 1)
        late = [e.stream for e in rest if e.type == "Late"]
        assert late[:3] == ["Late-1"] * 3 and rest[-1].position >= mine.position
        assert theirs.position not in [e.position for e in first + second]
        # and once the scan has reached the end, the next page sees a new append
        again = db.append("Late-1", [ses.NewEvent("Later", {})])
        tail = s.read_all("ryw", from_position=rest[-1].position + 1, limit=PAGE)
        assert [e.position for e in tail if e.type == "Later"] == [again.position]


def test_a_scan_that_jumps_backwards_reads_the_same_again(single_url: str) -> None:
    with ses.open(single_url) as store:
        db = store.create_database("jump")
        _fill(db, EVENTS)
        s = _storage(store)
        direct = _pages(s, "jump", SHORT)
        pages = [s.read_all("jump", from_position=1, limit=PAGE)]
        for _ in range(2):
            pages.append(s.read_all("jump", from_position=pages[-1][-1].position + 1, limit=PAGE))
        back = pages[0][PAGE // 2].position
        again = _pages(s, "jump", PAGE, back)
        assert [_key(e) for e in again] == [_key(e) for e in direct if e.position >= back]
        # the scan left behind goes on where it was
        rest = _pages(s, "jump", PAGE, pages[-1][-1].position + 1)
        got = [_key(e) for page in pages for e in page] + [_key(e) for e in rest]
        assert got == [_key(e) for e in direct]


def test_no_consumer_is_left_on_the_server(single_url: str, tmp_path: Path) -> None:
    keyfile = ses.create_keyfile(tmp_path / "scans.key")
    with ses.open(single_url, keyfile=keyfile) as store:
        db = store.create_database("secret", encrypted=True)
        _fill(db, EVENTS)
        s = _storage(store)
        # a scan read to its end deletes its consumer
        events = list(db.read_all())
        assert [e.data["i"] for e in events if e.stream == "Order-7"] == list(range(0, EVENTS, 2))
        assert _until_no_consumers(lambda: _consumers(s, "secret")) == 0
        # so does one left unused
        first = s.read_all("secret", from_position=1, limit=PAGE)
        s.read_all("secret", from_position=first[-1].position + 1, limit=PAGE)
        assert _consumers(s, "secret") == 1
        assert _until_no_consumers(lambda: _consumers(s, "secret")) == 0
        # and closing the store, mid-scan
        with ses.open(single_url, keyfile=keyfile) as reader:
            r = _storage(reader)
            first = r.read_all("secret", from_position=1, limit=PAGE)
            r.read_all("secret", from_position=first[-1].position + 1, limit=PAGE)
            assert _consumers(s, "secret") == 1
        assert _consumers(s, "secret") == 0


def test_a_scan_whose_consumer_is_deleted_goes_on_by_direct_gets(single_url: str) -> None:
    with ses.open(f"{single_url}&timeout=1") as store:
        db = store.create_database("lost")
        _fill(db, EVENTS)
        s = _storage(store)
        direct = _pages(s, "lost", SHORT)
        first = s.read_all("lost", from_position=1, limit=PAGE)
        second = s.read_all("lost", from_position=first[-1].position + 1, limit=PAGE)
        assert _consumers(s, "lost") == 1
        url = s._conn.nc.connected_url
        assert url is not None
        stream = s._db("lost").layout.stream_name

        async def delete() -> None:
            nc = await nats.connect([url.geturl()])
            try:
                js = nc.jetstream()
                for info in await js.consumers_info(stream):
                    await js.delete_consumer(stream, info.name)
            finally:
                await nc.close()

        asyncio.run(delete())
        # events its consumer would have delivered, had it not been deleted
        db.append("Late-1", [ses.NewEvent("Late", {"n": n}) for n in range(10)])
        rest = _pages(s, "lost", PAGE, second[-1].position + 1)
        late = [e for e in rest if e.type == "Late"]
        assert [e.version for e in late] == list(range(10))
        rest = [e for e in rest if e.type != "Late"]
        assert [_key(e) for e in first + second + rest] == [_key(e) for e in direct]
        assert _until_no_consumers(lambda: _consumers(s, "lost")) == 0
