"""A projection's log: the stream ``projection.<name>.v<version>.log`` where agents record
what the read model's states cannot tell: the source they run it on, a handler's failure,
and a retry.

Entries (newest wins): ``ProjectionStarted`` (the source, written when an agent first runs a
projection or its source changed), ``ProjectionFailed`` (the event, the error and a bounded
traceback), ``ProjectionRetried``. A projection is *failed* while its latest failure has no
later retry."""

from __future__ import annotations

import os
import socket
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import safe_eventstore as ses

from ._naming import PREFIX, state_category

__all__ = [
    "FAILED",
    "RETRIED",
    "STARTED",
    "Failure",
    "failure_entry",
    "last_failure",
    "last_source",
    "log_stream",
    "parse_lease_name",
    "parse_log_stream",
    "retry_entry",
    "source_of",
    "started_entry",
]

STARTED = "ProjectionStarted"
FAILED = "ProjectionFailed"
RETRIED = "ProjectionRetried"
LOG_SUFFIX = ".log"
TRACEBACK_CHARS = 4000
# how far back a log is read: far more than the entries between a failure and its retry
LOG_WINDOW = 100


def log_stream(name: str, version: int) -> str:
    return state_category(name, version) + LOG_SUFFIX


def parse_log_stream(stream: str) -> tuple[str, int] | None:
    """``(name, version)`` of a log stream's name, ``None`` for any other stream."""
    if not (stream.startswith(PREFIX) and stream.endswith(LOG_SUFFIX)):
        return None
    return parse_lease_name(stream[: -len(LOG_SUFFIX)])


def parse_lease_name(name: str) -> tuple[str, int] | None:
    """``(name, version)`` of ``projection.<name>.v<version>`` (a checkpoint or a lease)."""
    if not name.startswith(PREFIX):
        return None
    base, dot, version = name[len(PREFIX) :].rpartition(".v")
    if not dot or not base or "." in base or "-" in base or not version.isdigit():
        return None
    return base, int(version)


@dataclass(frozen=True)
class Failure:
    """A recorded handler failure: the event (``stream``, ``version``, ``position``,
    ``type``, ``event_id``), the error's ``repr``, a bounded ``traceback`` text, when it was
    recorded (``at``) and by which agent (``owner``)."""

    stream: str
    version: int
    position: int
    type: str
    event_id: str
    error: str
    traceback: str
    at: datetime
    owner: str


def source_of(projection: Any) -> dict[str, Any]:
    """The description of a projection's source stored in its log and lease."""
    source = projection.source
    types = getattr(projection, "types", None)
    return {
        "kind": source.kind,
        "name": source.name,
        "types": None if types is None else sorted(types),
    }


def started_entry(projection: Any, owner: str) -> ses.NewEvent:
    data = {"source": source_of(projection), "owner": owner, "host": socket.gethostname()}
    return ses.NewEvent(STARTED, data)


def failure_entry(event: ses.RecordedEvent, cause: BaseException, owner: str) -> ses.NewEvent:
    text = "".join(traceback.format_exception(cause))
    if len(text) > TRACEBACK_CHARS:  # the end of a traceback says the most
        text = "...\n" + text[-TRACEBACK_CHARS:]
    data = {
        "stream": event.stream,
        "version": event.version,
        "position": event.position,
        "type": event.type,
        "event_id": str(event.event_id),
        "error": repr(cause)[:TRACEBACK_CHARS],
        "traceback": text,
        "at": datetime.now(UTC).isoformat(),
        "owner": owner,
        "pid": os.getpid(),
    }
    return ses.NewEvent(FAILED, data)


def retry_entry() -> ses.NewEvent:
    data = {"at": datetime.now(UTC).isoformat(), "host": socket.gethostname()}
    return ses.NewEvent(RETRIED, data)


def last_failure(newest_first: list[ses.RecordedEvent]) -> Failure | None:
    """The failure that blocks a projection, from its log read newest first: the latest
    failure when no retry came after it."""
    for entry in newest_first:
        if entry.type == RETRIED:
            return None
        if entry.type == FAILED:
            d = entry.data
            return Failure(
                d["stream"],
                d["version"],
                d["position"],
                d["type"],
                d["event_id"],
                d["error"],
                d["traceback"],
                datetime.fromisoformat(d["at"]),
                d["owner"],
            )
    return None


def last_source(newest_first: list[ses.RecordedEvent]) -> dict[str, Any] | None:
    """The source recorded last in a log read newest first."""
    for entry in newest_first:
        if entry.type == STARTED:
            source: dict[str, Any] = entry.data["source"]
            return source
    return None
