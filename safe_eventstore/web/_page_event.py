"""One event's page: every field, its data and metadata, its payload's address and codec,
its correlation chain and its causation parent and children, with a small picture of the
causation tree.

The store keeps no index by event id or correlation id, so relatives are looked for among
the entries around the event (:data:`WINDOW` positions each way): events of one command or
process are stored close together. The page says which positions it looked at, and links
to the search page for a wider scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

import safe_eventstore as ses

from ._event_view import pretty, pretty_data, short_time
from ._page_errors import PageError
from ._pages import event_url, page_database, pages, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=pages)

WINDOW = 2000
MAX_CHILDREN = 8  # drawn in the picture; the list below it has them all
NODE_WIDTH, NODE_HEIGHT, GAP = 170, 34, 12


@dataclass(frozen=True)
class Node:
    x: int
    y: int
    label: str
    detail: str
    href: str | None
    current: bool = False


@dataclass(frozen=True)
class Relatives:
    parent: ses.RecordedEvent | None
    children: list[ses.RecordedEvent]
    correlated: list[ses.RecordedEvent]
    first: int
    last: int


def _relatives(db: ses.Database, event: ses.RecordedEvent) -> Relatives:
    first = max(1, event.position - WINDOW)
    parent, children, correlated = None, [], []
    last = first
    for other in db.read_all(from_position=first, limit=2 * WINDOW + 1):
        last = other.position
        if event.causation_id is not None and other.event_id == event.causation_id:
            parent = other
        if other.causation_id == event.event_id and other.event_id != event.event_id:
            children.append(other)
        if event.correlation_id is not None and other.correlation_id == event.correlation_id:
            correlated.append(other)
    return Relatives(parent, children, correlated, first, last)


def _node_of(db: str, event: ses.RecordedEvent, x: int, y: int, current: bool = False) -> Node:
    return Node(
        x,
        y,
        event.type,
        f"{event.stream}@{event.version}",
        event_url(db, event),
        current,
    )


def _tree(db: str, event: ses.RecordedEvent, relatives: Relatives) -> tuple[list[Node], int, int]:
    """The causation tree's boxes: the parent above, the event, its children below."""
    shown = relatives.children[:MAX_CHILDREN]
    width = max(1, len(shown)) * (NODE_WIDTH + GAP)
    middle = (width - NODE_WIDTH) // 2
    nodes: list[Node] = []
    if relatives.parent is not None:
        nodes.append(_node_of(db, relatives.parent, middle, 0))
    elif event.causation_id is not None:
        nodes.append(Node(middle, 0, "cause", str(event.causation_id)[:18] + "…", None))
    y = NODE_HEIGHT + 2 * GAP if nodes else 0
    nodes.append(_node_of(db, event, middle, y, current=True))
    child_y = y + NODE_HEIGHT + 2 * GAP
    for i, child in enumerate(shown):
        nodes.append(_node_of(db, child, i * (NODE_WIDTH + GAP), child_y))
    height = (child_y + NODE_HEIGHT if shown else y + NODE_HEIGHT) + 2
    return nodes, width, height


@router.get("/db/{db}/events/{stream}/{version}")
def event_page(
    request: Request, db: str, stream: str, version: Annotated[int, Path(ge=0, le=2**63 - 1)]
) -> Response:
    database = page_database(request, db)
    try:
        found = list(database.read_stream(stream, from_version=version, limit=1))
    except ses.InvalidInput as exc:
        raise PageError(422, str(exc)) from exc
    if not found or found[0].version != version:
        raise PageError(404, f"no event {version} in stream {stream!r}")
    event = found[0]
    relatives = _relatives(database, event)
    nodes, width, height = _tree(db, event, relatives)
    return render(
        request,
        "event.html",
        db=db,
        event=event,
        time=short_time(event),
        data=pretty_data(event),
        metadata=pretty(event.metadata),
        relatives=relatives,
        nodes=nodes,
        tree_width=width,
        tree_height=height,
        node_width=NODE_WIDTH,
        node_height=NODE_HEIGHT,
        parent_is_command=event.causation_id is not None and relatives.parent is None,
        correlation=str(event.correlation_id) if event.correlation_id else None,
        window=WINDOW,
    )
