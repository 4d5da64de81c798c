"""The HTTP API under ``/api/v1``: the router, and the routes on databases.

Routes are plain functions, which FastAPI runs in its worker threads: the store's calls
block, and the threads keep the event loop free (the store is thread-safe). The reads and
writes of events live in their own modules.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from starlette.responses import Response

from ._api_common import Context, DbName, errors, known_query, open_db
from ._api_live import live
from ._api_models import CreateDatabaseBody, DatabaseOut, DatabasesOut, VerifyOut, VerifyProblemOut
from ._api_projections import projections_api
from ._api_reads import reads
from ._api_writes import writes
from ._security import require_bearer, require_writable

__all__ = ["api_router"]

api_router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(require_bearer), Depends(known_query)]
)


@api_router.get("/databases", tags=["databases"], responses=errors())
def list_databases(context: Context) -> DatabasesOut:
    """Every database of the store, with its last position."""
    store = context.store
    return DatabasesOut(
        databases=[
            DatabaseOut(
                name=name, last_position=store.database(name, without_key=True).last_position()
            )
            for name in store.list_databases()
        ]
    )


@api_router.post(
    "/databases",
    tags=["databases"],
    status_code=status.HTTP_201_CREATED,
    responses=errors(403, 409, 413),
    dependencies=[Depends(require_writable)],
)
def create_database(body: CreateDatabaseBody, context: Context, response: Response) -> DatabaseOut:
    """Create a database (409 ``DatabaseExists`` if there is one of that name)."""
    db = context.store.create_database(body.name)
    response.headers["Location"] = f"/api/v1/databases/{body.name}"
    return DatabaseOut(name=body.name, last_position=db.last_position())


@api_router.get("/databases/{db}", tags=["databases"], responses=errors(404))
def get_database(db: DbName, context: Context) -> DatabaseOut:
    """One database."""
    return DatabaseOut(name=db, last_position=open_db(context, db).last_position())


@api_router.get("/databases/{db}/stats", tags=["databases"], responses=errors(404))
def get_stats(db: DbName, context: Context) -> dict[str, float]:
    """Counts and sizes: events, streams, restructures, payloads, their bytes and the
    deduplication ratio."""
    return open_db(context, db).stats()


@api_router.post("/databases/{db}/verify", tags=["databases"], responses=errors(404, 413))
def verify(db: DbName, context: Context) -> VerifyOut:
    """Re-check every hash chain and payload address of the database (allowed read-only:
    it writes nothing)."""
    report = open_db(context, db).verify()
    return VerifyOut(
        ok=report.ok,
        streams=report.streams,
        entries=report.entries,
        payloads=report.payloads,
        problems=[
            VerifyProblemOut(stream=p.stream, seq=p.seq, message=p.message) for p in report.problems
        ],
    )


api_router.include_router(reads)
api_router.include_router(writes)
api_router.include_router(live)
api_router.include_router(projections_api)
