"""The API's view of the read side: each projection's status, a retry of a failed one, and
the switch of a projection's readers to another built version."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from safe_eventstore import projections

from ._api_common import Context, DbName, errors, open_db
from ._problems import ApiProblem
from ._security import require_writable

__all__ = ["projections_api"]

projections_api = APIRouter(tags=["projections"])

ProjectionName = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_]{1,64}$", description="The projection's name.")
]


class FailureOut(BaseModel):
    stream: str
    version: int
    position: int
    type: str
    event_id: str
    error: str = Field(description="The handler's error (its repr).")
    traceback: str
    at: datetime
    owner: str


class ProjectionOut(BaseModel):
    name: str
    version: int
    state: str = Field(description="running, standby, failed, rebuilding or stopped.")
    serving: bool | None = Field(
        description="Whether readers read this version (null: no version was ever promoted)."
    )
    position: int | None = Field(description="The checkpoint: the last source position applied.")
    head: int | None = Field(description="The position of the source's latest event.")
    lag_events: int | None
    lag_exact: bool = Field(description="False: lag_events is a lower bound.")
    lag_seconds: float | None
    events_per_second: float | None
    owner: str | None = Field(description="The agent holding the projection's lease.")
    standby: int = Field(description="Agents waiting to take over.")
    source: dict[str, Any] | None
    failure: FailureOut | None


class ProjectionsOut(BaseModel):
    projections: list[ProjectionOut]


class RetryOut(BaseModel):
    retried: list[int] = Field(description="The versions a retry was recorded for.")


class RebuildOut(BaseModel):
    requested: list[int] = Field(description="The versions a rebuild was asked of.")


class PromoteBody(BaseModel):
    version: int = Field(ge=1, le=2**31 - 1)


class ActiveOut(BaseModel):
    name: str
    active_version: int


def _out(s: projections.ProjectionStatus, active: int | None) -> ProjectionOut:
    failure = None if s.failure is None else FailureOut(**vars(s.failure))
    return ProjectionOut(
        name=s.name,
        version=s.version,
        state=s.state,
        serving=None if active is None else active == s.version,
        position=s.position,
        head=s.head,
        lag_events=s.lag_events,
        lag_exact=s.lag_exact,
        lag_seconds=s.lag_seconds,
        events_per_second=s.events_per_second,
        owner=s.owner,
        standby=s.standby,
        source=s.source,
        failure=failure,
    )


@projections_api.get("/databases/{db}/projections", responses=errors(404))
def list_projections(db: DbName, context: Context) -> ProjectionsOut:
    """Every projection version the database records (a checkpoint, a lease or a log), with
    its state, position, head, lag, rate, agent and failure."""
    database = open_db(context, db)
    found = projections.status(database)
    active = {n: projections.active_version(database, n) for n in {s.name for s in found}}
    return ProjectionsOut(projections=[_out(s, active[s.name]) for s in found])


@projections_api.post(
    "/databases/{db}/projections/{name}/retry",
    responses=errors(403, 404),
    dependencies=[Depends(require_writable)],
)
def retry_projection(db: DbName, name: ProjectionName, context: Context) -> RetryOut:
    """Record a retry of a failed projection (every failed version); the agent holding it
    resumes it. ``retried`` is empty when nothing was failed."""
    try:
        return RetryOut(retried=projections.retry(open_db(context, db), name))
    except projections.ProjectionNotFound as exc:
        raise ApiProblem(404, str(exc), error=type(exc).__name__) from exc


@projections_api.post(
    "/databases/{db}/projections/{name}/rebuild",
    responses=errors(403, 404),
    dependencies=[Depends(require_writable)],
)
def rebuild_projection(db: DbName, name: ProjectionName, context: Context) -> RebuildOut:
    """Ask the agent holding a projection to rebuild it in place (every version the store
    knows of): its source folded again with the handlers it runs, and every key whose stored
    state differs corrected, readers reading all along."""
    try:
        return RebuildOut(requested=projections.request_rebuild(open_db(context, db), name))
    except projections.ProjectionNotFound as exc:
        raise ApiProblem(404, str(exc), error=type(exc).__name__) from exc


@projections_api.post(
    "/databases/{db}/projections/{name}/promote",
    responses=errors(403, 404),
    dependencies=[Depends(require_writable)],
)
def promote_projection(
    db: DbName, name: ProjectionName, body: PromoteBody, context: Context
) -> ActiveOut:
    """Switch the readers of a projection to a built version (after a rebuild, or to roll
    back). A version never built is refused (422 ``UnbuiltVersion``)."""
    projections.promote(open_db(context, db), name, body.version)
    return ActiveOut(name=name, active_version=body.version)
