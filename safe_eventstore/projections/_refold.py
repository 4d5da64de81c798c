"""Rebuilding a projection version in place, on request: its source folded again from the
start with the handlers the agent runs now, and every key whose stored state differs given
the new state as a correction, while readers go on reading (a key's state changes once, from
the old value to the new; the history shows the correction).

This is the rebuild an operator asks for from the console or the command line, for the code
that is deployed (a handler fixed without a new version, states damaged by hand). A changed
fold that should be built beside the serving one is a new ``version`` (``_versions``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import safe_eventstore as ses

from ._folding import STATE_TYPE, Folder
from ._json import copy_json
from ._naming import checkpoint_name, key_stream, state_category
from ._query import documents_of, prepare

__all__ = ["REBUILT", "REQUESTED", "rebuild_entry", "rebuild_pending", "refold", "request_entry"]

REQUESTED = "ProjectionRebuildRequested"
REBUILT = "ProjectionRebuilt"
# keys corrected in one batch: inside NATS's cap on an atomic batch
BATCH_KEYS = 100
_IDS = uuid.UUID("0b6c7a52-3f1e-4d1b-9a57-5d3e1c2b7f90")


def request_entry() -> ses.NewEvent:
    """The log entry that asks the agent holding a projection to rebuild it."""
    return ses.NewEvent(REQUESTED, {"at": datetime.now(UTC).isoformat()})


def rebuild_entry(request: ses.RecordedEvent, corrected: int, upto: int) -> ses.NewEvent:
    """The log entry that answers ``request``: how many keys were corrected, up to where."""
    data = {"request": request.position, "corrected": corrected, "position": upto}
    return ses.NewEvent(REBUILT, {**data, "at": datetime.now(UTC).isoformat()})


def rebuild_pending(newest_first: list[ses.RecordedEvent]) -> ses.RecordedEvent | None:
    """The request still to be answered, from a log read newest first."""
    for entry in newest_first:
        if entry.type == REBUILT:
            return None
        if entry.type == REQUESTED:
            return entry
    return None


async def _fold(folder: Folder, upto: int) -> dict[str, tuple[Any, int, datetime]]:
    """Every key's state folded from the source's start up to ``upto``, with the position
    and time of the last event it took."""
    states: dict[str, tuple[Any, int, datetime]] = {}
    handlers = folder.projection.handlers
    async for page in folder.io.source_pages(folder.projection.source, upto):
        for event in page:
            if event.kind == "restructure" or not folder._handled(event):
                continue
            for key in folder._keys(handlers[event.type][1], event):
                found = states.get(key)
                state = copy_json(folder.initial) if found is None else found[0]
                states[key] = (await folder._call(state, event), event.position, event.timestamp)
    return states


async def _stored_keys(folder: Folder) -> list[str]:
    """The keys with a stored state (read from their streams' last entries)."""
    p = folder.projection
    keys = []
    for stream in await folder.io.streams(state_category(p.name, p.version)):
        last = await folder.io.last_entry(stream)
        if last is not None:
            keys.append(last.data["key"])
    return keys


async def refold(folder: Folder, request: ses.RecordedEvent) -> tuple[int, int]:
    """Rebuild ``folder``'s projection in place up to its checkpoint; ``(keys corrected,
    checkpoint)``. Each correction is appended at its key stream's expected version, so a
    runner that wrote the key meanwhile makes the batch fail (and the agent tries again)."""
    p = folder.projection
    name = checkpoint_name(p.name, p.version)
    upto = await folder.io.get_checkpoint(name)
    if upto is None:
        return 0, 0
    if folder.documents is False:
        folder.documents = await prepare(folder.io, p)
    states = await _fold(folder, upto)
    folder.reset()
    now = datetime.now(UTC)
    for key in await _stored_keys(folder):
        states.setdefault(key, (copy_json(folder.initial), upto, now))
    changed: list[tuple[str, Any, int, datetime]] = []
    for key in sorted(states):
        state, position, at = states[key]
        if (await folder._load(key))[0] != state:
            changed.append((key, state, position, at))
    for start in range(0, len(changed), BATCH_KEYS):
        appends = []
        for key, state, position, at in changed[start : start + BATCH_KEYS]:
            stream = key_stream(p.name, p.version, key)
            data = {"key": key, "state": state, "position": position, "at": at.isoformat()}
            data["correction"] = True
            # one id per key and request: a batch retried after an unknown outcome is
            # answered with its first result
            event_id = uuid.uuid5(_IDS, f"{stream}@{request.event_id}")
            entry = ses.NewEvent(STATE_TYPE, data, event_id=event_id)
            version = (await folder._load(key))[1]
            appends.append(ses.StreamAppend(stream, [entry], expected_version=version))
        batch = {key: state for key, state, _, _ in changed[start : start + BATCH_KEYS]}
        kept = p.indexes and isinstance(folder.documents, str)
        documents = documents_of(p, batch) if kept else None
        # no checkpoint (it stays where it is): each key's expected version keeps out a
        # writer that moved on meanwhile
        await folder.io.append_batch(appends, None, documents)
    folder.reset()
    return len(changed), upto
