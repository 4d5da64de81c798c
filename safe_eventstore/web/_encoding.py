"""Recorded events as JSON: the store's events, and the API's answers, encoded with msgspec
(the event pages are the hot path of the API; pydantic only describes their shape)."""

from __future__ import annotations

import base64
from typing import Any

import msgspec

import safe_eventstore as ses

__all__ = ["dump_json", "event_json"]


def _plain(obj: Any) -> Any:
    # Typed events: msgspec encodes dataclasses and Structs itself; pydantic models dump.
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"cannot show a {type(obj).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_plain)


def event_json(event: ses.RecordedEvent) -> dict[str, Any]:
    """An event as the API shows it: ``data`` as JSON for the ``json`` codec, else
    ``data_base64`` with the payload's bytes."""
    out: dict[str, Any] = {
        "stream": event.stream,
        "type": event.type,
        "version": event.version,
        "position": event.position,
        "event_id": str(event.event_id),
        "correlation_id": None if event.correlation_id is None else str(event.correlation_id),
        "causation_id": None if event.causation_id is None else str(event.causation_id),
        "timestamp": event.timestamp.isoformat(),
        "metadata": event.metadata,
        "tags": list(event.tags),
        "codec": event.codec,
        "address": event.address,
        "kind": event.kind,
        "restructured": event.restructured,
    }
    if event.codec == "json":
        out["data"] = event.data
    else:
        out["data_base64"] = base64.b64encode(event.payload).decode("ascii")
    return out


def dump_json(value: Any) -> bytes:
    """``value`` (with dataclasses, Structs, UUIDs and datetimes in it) as JSON bytes."""
    return _encoder.encode(value)
