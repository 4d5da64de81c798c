"""An event as the console shows it: its data and metadata pretty-printed as text (the
templates escape that text; it is never interpreted as markup or script)."""

from __future__ import annotations

import base64
import json
from datetime import UTC
from typing import Any

import msgspec

import safe_eventstore as ses

__all__ = ["pretty", "pretty_data", "short_time"]

BYTES_SHOWN = 4096  # a bytes payload is shown as base64 up to this many bytes


def pretty(value: Any) -> str:
    """``value`` as indented JSON text (typed events through their JSON form)."""
    try:
        plain = msgspec.to_builtins(value)
    except TypeError:
        plain = repr(value)
    return json.dumps(plain, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def pretty_data(event: ses.RecordedEvent) -> str:
    """The event's data as text: JSON pretty-printed, bytes as base64."""
    if event.codec == "json" or not isinstance(event.data, bytes | bytearray):
        return pretty(event.data)
    raw = bytes(event.data)
    shown = base64.b64encode(raw[:BYTES_SHOWN]).decode()
    more = f"\n... ({len(raw)} bytes in all)" if len(raw) > BYTES_SHOWN else ""
    return f"base64: {shown}{more}"


def short_time(event: ses.RecordedEvent) -> str:
    """The event's time, to the millisecond, in UTC."""
    return event.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
