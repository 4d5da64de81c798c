"""Folding pages of source events into key states, written once for sync and asyncio.

One :class:`Folder` per projection keeps the checkpoint and the latest state (and stream
version) of every key it has touched. A page of source events becomes one ``append_batch``:
one state entry per key the page changed, and the checkpoint moved to the page's last
position, so states and checkpoint are stored together or not at all."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import safe_eventstore as ses

from ._errors import HandlerFailed, InvalidState
from ._io import StoreIO
from ._json import copy_json
from ._naming import PREFIX, checkpoint_name, key_stream
from ._projection import Handler, KeyFunction, Projection
from ._query import documents_of, prepare

__all__ = ["STATE_TYPE", "Folder", "Pending", "StateAhead"]

STATE_TYPE = "ProjectionState"
_IDS = uuid.UUID("6f1d3c52-8a0e-4f43-9d55-2f3a7a41c0de")
# results that cannot be awaitables: the common states skip the awaitable check
_PLAIN = frozenset({int, float, str, bool, type(None), dict, list})


class StateAhead(Exception):
    """A key's stored state already reflects an event of the page being applied: another
    runner of the projection stored a page this one is about to fold again (its pages can
    end at other positions). Like a conflict of the batch: start again from what is stored."""


@dataclass
class Pending:
    """A key's state after the events of the page applied so far."""

    state: Any
    position: int
    at: datetime
    correction: bool = False


def _push(steps: list[Pending], step: Pending, every: bool) -> None:
    """Add a key's new step: with ``history="page"`` only the latest is kept (flagged a
    correction if any step of the page was), so a long page holds one step per key."""
    if every or not steps:
        steps.append(step)
    else:
        step.correction = step.correction or steps[-1].correction
        steps[:] = [step]


class Folder:
    """The fold of one projection: its cached states, checkpoint and page application."""

    def __init__(self, projection: Projection, io: StoreIO) -> None:
        self.projection = projection
        self.io = io
        self.checkpoint_name = checkpoint_name(projection.name, projection.version)
        self.initial = copy_json(projection.initial)
        # key -> (state, the last version of the key's stream); filled on first touch
        self.cache: dict[str, tuple[Any, int]] = {}
        self.documents: str | bool | None = False  # the documents' collection, once prepared
        # key -> the last source position its loaded or stored state reflects
        self.reflects: dict[str, int] = {}

    def reset(self) -> None:
        """Forget what is cached (after a conflict: someone else wrote)."""
        self.cache.clear()
        self.reflects.clear()

    async def _load(self, key: str) -> tuple[Any, int]:
        cached = self.cache.get(key)
        if cached is None:
            p = self.projection
            last = await self.io.last_entry(key_stream(p.name, p.version, key))
            if last is None:
                cached = (copy_json(self.initial), ses.NO_STREAM)
            else:
                cached = (last.data["state"], last.version)
                self.reflects[key] = last.data["position"]
            self.cache[key] = cached
        return cached

    def _keys(self, keyfn: KeyFunction, event: ses.RecordedEvent) -> list[str]:
        try:
            found = keyfn(event)
        except Exception as exc:
            raise HandlerFailed(self.projection.name, event, exc) from exc
        if type(found) is str and found:
            return [found]
        keys = [found] if isinstance(found, str) else found
        if not isinstance(keys, list | tuple | set | frozenset) or not all(
            isinstance(k, str) and k for k in keys
        ):
            error = TypeError(f"a key is a non-empty string, not {found!r}")
            raise HandlerFailed(self.projection.name, event, error)
        return list(keys)

    async def _call(self, state: Any, event: ses.RecordedEvent) -> Any:
        result = self._result(self.projection.handlers[event.type][0], state, event)
        if type(result) not in _PLAIN and inspect.isawaitable(result):
            result = await self._awaited(result, event)
        return self._json(result, event)

    def _json(self, result: Any, event: ses.RecordedEvent) -> Any:
        try:
            return copy_json(result)
        except InvalidState as exc:
            exc.event = event  # so an agent records which event it was
            raise

    def _result(self, fn: Handler, state: Any, event: ses.RecordedEvent) -> Any:
        try:
            return fn(state, event)
        except Exception as exc:
            raise HandlerFailed(self.projection.name, event, exc) from exc

    async def _awaited(self, result: Any, event: ses.RecordedEvent) -> Any:
        try:
            return await result
        except Exception as exc:
            raise HandlerFailed(self.projection.name, event, exc) from exc

    def _handled(self, event: ses.RecordedEvent) -> bool:
        return self.projection.reads(event) and not event.forgotten

    async def apply(self, page: Iterable[ses.RecordedEvent]) -> int:
        """Apply a page of source events (restructure entries among them) and store the
        result with the checkpoint in one batch; how many events were applied. The page may
        be an iterator that reads the events as they are folded (nothing but the keys'
        states is then held, however long the page); it must not be empty."""
        pending: dict[str, list[Pending]] = {}
        applied = 0
        last = -1
        handlers, reads = self.projection.handlers, self.projection.reads
        # with history="page" a key keeps only its latest step (a correction carried on)
        every = self.projection.history == "event"
        for event in page:
            last = event.position
            if event.kind == "restructure":
                affected = await self._affected(event)
                for key in affected:
                    state = await self._rebuild(key, event.position)
                    step = Pending(state, event.position, event.timestamp, True)
                    _push(pending.setdefault(key, []), step, every)
                applied += 1 if affected else 0
                continue
            if event.forgotten or not reads(event):
                continue
            # the fold of one event, inlined: it runs once per source event and key
            fn, keyfn = handlers[event.type]
            for key in self._keys(keyfn, event):
                steps = pending.get(key)
                if steps is None:
                    steps = pending[key] = []
                    state = (await self._load(key))[0]
                    if self.reflects.get(key, 0) >= event.position:
                        raise StateAhead(key)
                else:
                    state = steps[-1].state
                new = self._result(fn, state, event)
                if type(new) not in _PLAIN and inspect.isawaitable(new):
                    new = await self._awaited(new, event)
                step = Pending(self._json(new, event), event.position, event.timestamp)
                _push(steps, step, every)
            applied += 1
        if last < 0:
            raise ValueError("an empty page")  # the runners never pass one
        await self._store(pending, last)
        return applied

    def _entries(self, stream: str, key: str, steps: list[Pending], last: int) -> list[Any]:
        """The state entries of one key for one page: every step with ``history="event"``,
        else the last one (a correction if any step was)."""
        if self.projection.history == "page":
            final = steps[-1]
            correction = any(step.correction for step in steps)
            steps = [Pending(final.state, final.position, final.at, correction)]
        events = []
        for step in steps:
            data = {
                "key": key,
                "state": step.state,
                "position": step.position,
                "at": step.at.isoformat(),
                "correction": step.correction,
            }
            # ids derived from what the entry reflects: a retry after an unknown outcome
            # is answered with the original result, never stored twice
            mark = last if self.projection.history == "page" else step.position
            event_id = uuid.uuid5(_IDS, f"{stream}@{mark}")
            events.append(ses.NewEvent(STATE_TYPE, data, event_id=event_id))
        return events

    async def _state_appends(
        self, keys: list[str], pending: dict[str, list[Pending]], last: int
    ) -> list[ses.StreamAppend]:
        """The appends of a page's states: each key's stream, expected where it was loaded."""
        p = self.projection
        appends = []
        for key in keys:
            stream = key_stream(p.name, p.version, key)
            version = (await self._load(key))[1]
            events = self._entries(stream, key, pending[key], last)
            appends.append(ses.StreamAppend(stream, events, expected_version=version))
        return appends

    async def _store(self, pending: dict[str, list[Pending]], last: int) -> None:
        p = self.projection
        if self.documents is False:
            self.documents = await prepare(self.io, p)
        keys = sorted(pending)
        appends = await self._state_appends(keys, pending, last)
        states = {key: pending[key][-1].state for key in keys}
        documents = documents_of(p, states) if p.indexes else None
        if not isinstance(self.documents, str):
            documents = None  # checked, but kept by no document collection here
        results = await self.io.append_batch(appends, (self.checkpoint_name, last), documents)
        for key, result in zip(keys, results, strict=True):
            self.cache[key] = (pending[key][-1].state, result.last_version)
            self.reflects[key] = pending[key][-1].position

    async def _affected(self, entry: ses.RecordedEvent) -> set[str]:
        """The keys an event restructured by ``entry`` was (or now is) folded into: those of
        its original and of every replacement up to ``entry``."""
        if entry.stream.startswith(PREFIX):
            return set()
        keys: set[str] = set()
        for raw in await self.io.raw(entry.stream):
            if raw.version != entry.version or raw.position > entry.position:
                continue
            if raw.type in self.projection.handlers and not raw.forgotten:
                keys.update(self._keys(self.projection.handlers[raw.type][1], raw))
        return keys

    async def _rebuild(self, key: str, upto: int) -> Any:
        """The state of ``key`` folded again from the source as it reads now (restructures
        applied), up to position ``upto``: how a correction is made."""
        state = copy_json(self.initial)
        async for page in self.io.source_pages(self.projection.source, upto):
            for event in page:
                if self._handled(event) and key in self._matching(event):
                    state = await self._call(state, event)
        return state

    def _matching(self, event: ses.RecordedEvent) -> Iterable[str]:
        return self._keys(self.projection.handlers[event.type][1], event)
