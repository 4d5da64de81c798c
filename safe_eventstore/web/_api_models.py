"""The shapes of the API's requests and answers, which the OpenAPI document shows."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "AppendBody",
    "AppendOut",
    "CategoriesOut",
    "CreateDatabaseBody",
    "DatabaseOut",
    "DatabasesOut",
    "EventOut",
    "EventsPageOut",
    "ExpectedVersion",
    "NewEventBody",
    "ProblemOut",
    "StreamOut",
    "StreamsOut",
    "VerifyOut",
    "VerifyProblemOut",
]

NAME_LENGTH = 255
ExpectedVersion = int | Literal["any", "no_stream", "stream_exists"]


class ProblemOut(BaseModel):
    """An RFC 9457 problem document; ``error`` names the store's error class."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    error: str | None = None


class DatabaseOut(BaseModel):
    name: str
    last_position: int = Field(description="The highest position in the database, 0 if empty.")


class DatabasesOut(BaseModel):
    databases: list[DatabaseOut]


class CreateDatabaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        examples=["bank"],
        description="1-64 characters of a-z, 0-9, '_' and '-', starting with a letter or digit.",
    )


class CategoriesOut(BaseModel):
    categories: list[str]
    next_after: str | None = Field(description="`after=` for the next page; null on the last.")


class StreamsOut(BaseModel):
    streams: list[str]
    next_after: str | None = Field(description="`after=` for the next page; null on the last.")


class StreamOut(BaseModel):
    name: str
    category: str
    version: int | None = Field(description="The last version; null for a stream with no events.")


class EventOut(BaseModel):
    """A recorded event. ``data`` is the event's JSON for the ``json`` codec; for ``bytes``,
    ``data_base64`` holds the payload instead."""

    stream: str
    type: str
    version: int
    position: int
    event_id: uuid.UUID
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    timestamp: str
    metadata: dict[str, Any]
    tags: list[str]
    codec: str
    address: str
    kind: str
    restructured: bool
    data: JsonValue = None
    data_base64: str | None = None


class EventsPageOut(BaseModel):
    events: list[EventOut]
    next: int | None = Field(
        description="Where the next page starts (a version for a stream, a position for a "
        "category or the database): the `from_version` or `from_position` to ask for; null "
        "on the last page."
    )


class NewEventBody(BaseModel):
    """An event to append: ``data`` (any JSON) or ``data_base64`` (bytes, stored as given)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=NAME_LENGTH, examples=["Deposited"])
    data: JsonValue = None
    data_base64: str | None = None
    metadata: dict[str, JsonValue] | None = None
    event_id: uuid.UUID | None = Field(
        default=None, description="Give ids to make a retry of the same append safe."
    )
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    tags: list[str] = Field(default_factory=list)


class AppendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[NewEventBody] = Field(min_length=1)
    expected_version: ExpectedVersion | None = Field(
        default=None,
        description="The stream's last version, or `no_stream`, `stream_exists`, `any` (the "
        "default). The `ES-Expected-Version` header says the same.",
    )


class AppendOut(BaseModel):
    first_version: int
    last_version: int
    position: int


class VerifyProblemOut(BaseModel):
    stream: str | None
    seq: int | None
    message: str


class VerifyOut(BaseModel):
    ok: bool
    streams: int
    entries: int
    payloads: int
    problems: list[VerifyProblemOut]
