"""Verify a database from the console: the check runs in a thread of its own, the page
polls its progress (entries and payloads checked, out of the database's counts) with htmx,
then shows the report.

Verifying writes nothing, so a read-only server offers it too.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import safe_eventstore as ses

from ._csrf import csrf_form
from ._page_errors import PageError
from ._pages import page_database, pages, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=pages)

MAX_JOBS = 20  # finished checks kept for their reports; the oldest go first


@dataclass
class VerifyJob:
    db: str
    total_entries: int
    total_payloads: int
    started: float = field(default_factory=time.monotonic)
    progress: ses.VerifyReport = field(default_factory=ses.VerifyReport)
    report: ses.VerifyReport | None = None
    error: str | None = None
    finished: float | None = None

    def run(self, database: ses.Database) -> None:
        try:
            self.report = database.verify(progress=self._update)
        except ses.SafeEventStoreError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished = time.monotonic()

    def _update(self, report: ses.VerifyReport) -> None:
        self.progress = report

    @property
    def percent(self) -> int:
        if self.report is not None:
            return 100
        done = self.progress.entries + self.progress.payloads
        total = self.total_entries + self.total_payloads
        return min(99, 100 * done // total) if total else 0

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


def _jobs(request: Request) -> dict[str, VerifyJob]:
    jobs: dict[str, VerifyJob] | None = getattr(request.app.state, "console_verify_jobs", None)
    if jobs is None:
        jobs = request.app.state.console_verify_jobs = {}
    return jobs


def _job(request: Request, db: str, job: str) -> VerifyJob:
    found = _jobs(request).get(job)
    if found is None or found.db != db:
        raise PageError(404, "no such verification (the server may have restarted)")
    return found


@router.get("/db/{db}/verify")
def verify_page(
    request: Request, db: str, job: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    page_database(request, db)
    return render(
        request, "verify.html", db=db, job_id=job, job=_job(request, db, job) if job else None
    )


@router.get("/db/{db}/verify/status")
def verify_status(request: Request, db: str, job: Annotated[str, Query(max_length=64)]) -> Response:
    return render(request, "_verify_status.html", db=db, job_id=job, job=_job(request, db, job))


@router.post("/db/{db}/verify")
def start_verify(
    request: Request, db: str, form: Annotated[FormData, Depends(csrf_form)]
) -> Response:
    database = page_database(request, db)
    stats = database.stats()
    job = VerifyJob(db, int(stats["events"] + stats["restructures"]), int(stats["payloads"]))
    jobs = _jobs(request)
    while len(jobs) >= MAX_JOBS:
        jobs.pop(next(iter(jobs)))
    job_id = secrets.token_urlsafe(12)
    jobs[job_id] = job
    threading.Thread(target=job.run, args=(database,), daemon=True, name="verify").start()
    return RedirectResponse(f"/db/{db}/verify?job={job_id}", status_code=303)
