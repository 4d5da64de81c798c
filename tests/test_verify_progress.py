"""``verify(progress=...)``: the report so far, after each stream and page of payloads."""

from __future__ import annotations

import asyncio

import safe_eventstore as ses


def test_verify_reports_its_progress_as_it_goes() -> None:
    with ses.open("memory://") as store:
        db = store.create_database("bank")
        for n in range(3):
            db.append(f"Account-{n}", [ses.NewEvent("Opened", {"n": n}), ses.NewEvent("Closed")])
        seen: list[tuple[int, int, int]] = []
        report = db.verify(progress=lambda r: seen.append((r.streams, r.entries, r.payloads)))
        assert report.ok
        assert seen[:3] == [(1, 2, 0), (2, 4, 0), (3, 6, 0)]
        assert seen[-1] == (report.streams, report.entries, report.payloads) == (3, 6, 4)


def test_the_asyncio_verify_reports_its_progress_too() -> None:
    async def main() -> list[int]:
        async with ses.open_async("memory://") as store:
            db = await store.create_database("bank")
            await db.append("Account-1", [ses.NewEvent("Opened", {})])
            entries: list[int] = []
            await db.verify(progress=lambda r: entries.append(r.entries))
            return entries

    assert asyncio.run(main())[-1] == 1
