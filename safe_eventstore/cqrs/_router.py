"""Command routers: each command type goes to one handler, which decides on the loaded
aggregates; the router saves them in one atomic batch, with event ids derived from the
command id (so a repeated command is a retry the store recognises), and re-runs the handler
on a conflict. The sync and asyncio routers share this logic as sans-IO plans (``_io``)."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import safe_eventstore as ses

from ._aggregate import Aggregate
from ._commands import Command, CommandResult, event_id_for
from ._errors import DomainError, HandlerFailed, UnknownCommand
from ._io import Append, Plan, Read, Version, run, run_async
from ._loading import PAGE, Causes, save
from ._repository import Core

__all__ = ["AsyncCommandRouter", "CommandRouter"]

C = TypeVar("C", bound=Command)
F = TypeVar("F", bound=Callable[..., Any])
Others = Callable[[Any], Iterable[tuple[type[Aggregate], str]]]

PROBE_TYPE = "CommandProbe"
_NEVER = 2**63 - 1  # an expected version no stream reaches: the probe never writes


class _Route:
    __slots__ = ("creates", "handler", "others", "target")

    def __init__(
        self,
        handler: Callable[..., Any],
        target: type[Aggregate],
        others: Others | None,
        creates: bool,
    ):
        self.handler = handler
        self.target = target
        self.others = others
        self.creates = creates


# How an attempt gets its aggregates: the target as a new aggregate without a read (a
# creating command), the cached aggregates as they are, or each checked against the store.
_NEW, _CACHED, _FRESH = "new", "cached", "fresh"
# An attempt that ended otherwise than with a save, on aggregates not checked against the
# store: they may be stale, so the command runs again on checked ones (not a retry).
_UNCHECKED = object()


def _check_command(command: Command) -> None:
    if not isinstance(command.command_id, uuid.UUID):
        raise ses.InvalidInput(f"command_id must be a UUID, not {command.command_id!r}")
    if command.correlation_id is not None and not isinstance(command.correlation_id, uuid.UUID):
        raise ses.InvalidInput(f"correlation_id must be a UUID, not {command.correlation_id!r}")
    expected = command.expected_version
    if expected is not None and (
        isinstance(expected, bool) or not isinstance(expected, int) or expected < ses.NO_STREAM
    ):
        raise ses.InvalidInput(
            f"expected_version must be None, NO_STREAM or a version, not {expected!r}"
        )


class RouterCore:
    """The routes and the execution plan both routers run."""

    def __init__(self, retries: int, cache: bool | int) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ses.InvalidInput(f"retries must be an int >= 0, not {retries!r}")
        self.retries = retries
        self.cache = cache
        self.routes: dict[type[Command], _Route] = {}
        self.cores: dict[type[Aggregate], Core[Any]] = {}

    def handles(
        self,
        command: type[Command],
        target: type[Aggregate],
        others: Others | None,
        creates: bool = False,
    ) -> Callable[[F], F]:
        if not isinstance(command, type) or not issubclass(command, Command):
            raise ses.InvalidInput(f"a command type is a Command subclass, not {command!r}")
        if command in self.routes:
            raise ses.InvalidInput(f"{command.__name__} has a handler already")
        if not isinstance(creates, bool):
            raise ses.InvalidInput(f"creates must be True or False, not {creates!r}")
        core = self.core(target)  # checks the class

        def register(handler: F) -> F:
            if inspect.iscoroutinefunction(handler) or not callable(handler):
                raise ses.InvalidInput(
                    f"the handler of {command.__name__} must be a plain function (the asyncio "
                    "router calls the same one)"
                )
            self.routes[command] = _Route(handler, core.cls, others, creates)
            return handler

        return register

    def core(self, cls: type[Aggregate]) -> Core[Any]:
        core = self.cores.get(cls)
        if core is None:
            core = self.cores[cls] = Core(cls, self.cache)
        return core

    def execute(self, command: Command) -> Plan[CommandResult]:
        route = self.routes.get(type(command))
        if route is None:
            raise UnknownCommand(f"no handler for command type {type(command).__name__}")
        _check_command(command)
        expected = command.expected_version
        creating = route.creates and expected in (None, ses.NO_STREAM)
        if creating and not self.core(route.target).holds(command.target_id):
            mode = _NEW
        else:
            mode = _CACHED
        attempt = 0
        while True:
            final = expected is not None or attempt >= self.retries
            result = yield from self._attempt(route, command, final, mode)
            if isinstance(result, CommandResult):
                return result
            if result is _UNCHECKED:
                mode = _FRESH
                continue
            attempt += 1
            mode = _CACHED

    def _attempt(
        self, route: _Route, command: Command, final: bool, mode: str
    ) -> Plan[CommandResult | object | None]:
        """Load, decide, save once; ``None`` when a conflict calls for another attempt,
        ``_UNCHECKED`` when the aggregates were not checked and the outcome was not a save."""
        cid = command.command_id
        loaded, unchecked = yield from self._load(route, command, mode)
        target, expected = loaded[0], command.expected_version
        if expected is not None and target.version != expected:
            if unchecked:
                return _UNCHECKED
            found = yield from _find(cid, loaded)
            if found is not None:
                return found
            actual = None if target.version == ses.NO_STREAM else target.version
            raise ses.WrongExpectedVersion(target.stream, expected, actual)
        try:
            value = _decide(route, command, loaded)
        except (DomainError, HandlerFailed):
            if unchecked:
                return _UNCHECKED
            found = yield from _find(cid, loaded)
            if found is not None:
                return found
            raise
        if unchecked:
            # the save checks the version of each aggregate it writes; the decision may
            # also rest on one it does not write, which must be current
            for aggregate in unchecked:
                if not aggregate._cqrs_pending:
                    head = yield Version(aggregate.stream)
                    if (ses.NO_STREAM if head is None else head) != aggregate.version:
                        return _UNCHECKED
        if not any(a._cqrs_pending for a in loaded):
            found = yield from _find(cid, loaded)
            return found if found is not None else CommandResult(cid, value)
        causes = Causes(cid, command.correlation_id or cid)
        try:
            saved = yield from save(
                loaded, ids_for=functools.partial(event_id_for, cid), causes=causes
            )
        except ses.WrongExpectedVersion:
            for core in self.cores.values():
                core.forget(loaded)
            if unchecked:
                return _UNCHECKED
            if final:
                raise
            return None
        except ses.IdempotencyConflict:
            found = yield from _find(cid, loaded)
            if found is not None:
                return found
            raise
        for core in self.cores.values():
            core.remember(saved, owned=True)  # the loaded aggregates go nowhere else
        if mode == _NEW:
            # the store answers a repeated create with the original result, which looks
            # like a first write: the state decided here need not be the stored one
            self.core(route.target).forget(loaded[:1])
        return CommandResult(
            cid,
            None if saved.replayed else value,
            tuple(a.stream for a in saved.aggregates),
            tuple(saved.results),
            saved.replayed,
        )

    def _load(
        self, route: _Route, command: Command, mode: str
    ) -> Plan[tuple[list[Aggregate], list[Aggregate]]]:
        """The target and the others, and those of them not checked against the store."""
        pairs: list[tuple[type[Aggregate], str]] = [(route.target, command.target_id)]
        if route.others is not None:
            try:
                pairs += list(route.others(command))
            except Exception as exc:
                raise HandlerFailed(
                    f"others() of {type(command).__name__} failed: {exc!r}"
                ) from exc
        loaded: list[Aggregate] = []
        unchecked: list[Aggregate] = []
        for n, (cls, id) in enumerate(pairs):
            core = self.core(cls)
            if n == 0 and mode == _NEW:
                aggregate: Aggregate = core.cls(id)  # checks the id; the save expects no stream
                unchecked.append(aggregate)
            else:
                aggregate, trusted = yield from core.take(id, check=mode == _FRESH)
                if trusted:
                    unchecked.append(aggregate)
            loaded.append(aggregate)
        return loaded, unchecked


def _decide(route: _Route, command: Command, loaded: list[Aggregate]) -> Any:
    """Run the handler: the store's typed errors (and ``DomainError``) pass through, any
    other exception becomes :class:`HandlerFailed`."""
    try:
        return route.handler(command, *loaded)
    except ses.SafeEventStoreError:
        raise
    except Exception as exc:
        raise HandlerFailed(f"the handler of {type(command).__name__} failed: {exc!r}") from exc


def _find(command_id: uuid.UUID, aggregates: Sequence[Aggregate]) -> Plan[CommandResult | None]:
    """The outcome of an earlier execution of the command, if one took effect: for each
    loaded stream, a probe append of the command's first event id there, expecting a version
    no stream reaches. The store answers a stored id with the original result (an
    idempotent retry) and anything else with ``WrongExpectedVersion``: either way nothing is
    written, and the look-up is the store's own id index, not a scan of the stream."""
    streams: list[str] = []
    results: list[ses.AppendResult] = []
    for aggregate in aggregates:
        stream = aggregate.stream
        probe = ses.NewEvent(PROBE_TYPE, None, event_id=event_id_for(command_id, stream, 0))
        try:
            found = yield Append([ses.StreamAppend(stream, [probe], expected_version=_NEVER)])
        except ses.WrongExpectedVersion:
            continue
        first: ses.AppendResult = found[0]
        last = first
        page: list[ses.RecordedEvent] = yield Read(
            stream, from_version=first.first_version, limit=PAGE
        )
        for n, event in enumerate(page):
            if event.event_id != event_id_for(command_id, stream, n):
                break
            last = ses.AppendResult(first.first_version, event.version, event.position)
        streams.append(stream)
        results.append(last)
    if not streams:
        return None
    return CommandResult(command_id, None, tuple(streams), tuple(results), True)


class CommandRouter:
    """Sends each command to its handler, and saves what the handler recorded.

    ::

        router = cqrs.CommandRouter(db, retries=3)

        @router.handles(Deposit, Account)
        def deposit(cmd: Deposit, account: Account) -> None:
            account.deposit(cmd.amount)

        result = router.execute(Deposit(target_id="42", amount=5))

    The router loads the target (a new aggregate when it has no events) and the
    aggregates ``others(command)`` names, calls the handler, and saves every aggregate with
    pending events in one atomic batch. Events get causation id = the command id, the
    command's correlation id, and ids derived from the command id: executing the same
    command again records nothing and returns the original outcome. Without an
    ``expected_version``, a conflict re-loads and re-runs the handler up to ``retries``
    times. ``cache`` (``True`` or a maximum number of aggregates) keeps saved aggregates in
    memory and uses them without a read: the save expects the cached version, and a stale
    entry is a refused save that reloads and runs the command again (not counted as a
    retry). ``handles(..., creates=True)`` skips the read for commands that create.
    """

    def __init__(self, db: ses.Database, *, retries: int = 3, cache: bool | int = False) -> None:
        self._db = db
        self._core = RouterCore(retries, cache)

    def handles(
        self,
        command: type[C],
        target: type[Aggregate],
        *,
        others: Others | None = None,
        creates: bool = False,
    ) -> Callable[[F], F]:
        """Register the decorated function as the handler of ``command``:
        ``handler(command, target, *others) -> Any``, a plain function shared by the sync and
        asyncio routers. ``others(command)`` gives ``(AggregateClass, id)`` pairs to load
        as well. ``creates=True``: the command usually creates its target, so the router
        hands the handler a new aggregate without reading the stream and saves it expecting
        no stream; when the stream exists, it loads the target and runs the handler again."""
        return self._core.handles(command, target, others, creates)

    def execute(self, command: Command) -> CommandResult:
        """Execute ``command``: load, decide, save. Typed errors, nothing written:
        :class:`UnknownCommand`, :class:`DomainError` (as the handler raised it),
        :class:`HandlerFailed` (any other exception, chained), ``ses.WrongExpectedVersion``
        (``expected_version`` not met, or the retries used up)."""
        return run(self._db, self._core.execute(command))


class AsyncCommandRouter:
    """The asyncio twin of :class:`CommandRouter`, for databases of ``ses.open_async``:
    the same handlers (plain functions), the same behaviour."""

    def __init__(
        self, db: ses.AsyncDatabase, *, retries: int = 3, cache: bool | int = False
    ) -> None:
        self._db = db
        self._core = RouterCore(retries, cache)

    def handles(
        self,
        command: type[C],
        target: type[Aggregate],
        *,
        others: Others | None = None,
        creates: bool = False,
    ) -> Callable[[F], F]:
        """As :meth:`CommandRouter.handles`."""
        return self._core.handles(command, target, others, creates)

    async def execute(self, command: Command) -> CommandResult:
        """As :meth:`CommandRouter.execute`."""
        return await run_async(self._db, self._core.execute(command))
