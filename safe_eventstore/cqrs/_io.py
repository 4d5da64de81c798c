"""The sans-IO seam: the repository and router logic are generators that yield the store
calls they need (:class:`Read`, :class:`Version`, :class:`Append`) and receive their answers;
a store error is thrown back into them. :func:`run` drives one on a :class:`ses.Database`,
:func:`run_async` on a :class:`ses.AsyncDatabase`: the only code that differs between the
two APIs."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import safe_eventstore as ses

__all__ = ["Append", "Plan", "Read", "Version", "run", "run_async"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Read:
    """``read_stream(stream, ...)``; answered with a list of events."""

    stream: str
    from_version: int | None = None
    limit: int | None = None
    backwards: bool = False


@dataclass(frozen=True, slots=True)
class Version:
    """``stream_version(stream)``; answered with the last version, or ``None``."""

    stream: str


@dataclass(frozen=True, slots=True)
class Append:
    """``append_batch(appends)``; answered with its list of results."""

    appends: list[ses.StreamAppend]


Request = Read | Version | Append
Plan = Generator[Request, Any, T]


def run(db: ses.Database, plan: Plan[T]) -> T:
    """Carry out ``plan`` on a sync database."""
    send: Any = None
    error: Exception | None = None
    while True:
        try:
            request = plan.throw(error) if error is not None else plan.send(send)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            if isinstance(request, Read):
                send = list(
                    db.read_stream(
                        request.stream,
                        from_version=request.from_version,
                        limit=request.limit,
                        backwards=request.backwards,
                    )
                )
            elif isinstance(request, Version):
                send = db.stream_version(request.stream)
            else:
                send = db.append_batch(request.appends)
        except Exception as exc:
            error = exc


async def run_async(db: ses.AsyncDatabase, plan: Plan[T]) -> T:
    """Carry out ``plan`` on an asyncio database."""
    send: Any = None
    error: Exception | None = None
    while True:
        try:
            request = plan.throw(error) if error is not None else plan.send(send)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            if isinstance(request, Read):
                send = await db.read_stream(
                    request.stream,
                    from_version=request.from_version,
                    limit=request.limit,
                    backwards=request.backwards,
                )
            elif isinstance(request, Version):
                send = await db.stream_version(request.stream)
            else:
                send = await db.append_batch(request.appends)
        except Exception as exc:
            error = exc
