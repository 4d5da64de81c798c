"""Group commit: concurrent writers share one transaction and one fsync.

A thread that submits a request while no commit is running becomes the *leader*: it takes
every queued request (its own included) and hands them to the backend's ``run`` function as
one batch, which stores them in one transaction and gives each request its own result or
error. Threads that submit while a commit is running queue up as *followers* and sleep.
When the leader is done it wakes the followers of its batch with their results, and hands
the lead to the first request still queued, whose thread commits the next batch. Under
load the queue fills during each fsync, so one fsync acknowledges many appends; a lone
writer pays only for an uncontended lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .._exceptions import StorageError

__all__ = ["BATCH_LIMIT", "GroupCommit", "Request"]

# Requests a batch may take in all, late arrivals included (GroupCommit.take_queued): each
# one lengthens the batch's transaction, and the waits of the requests that came first.
BATCH_LIMIT = 64

T = TypeVar("T")
R = TypeVar("R")


def _held() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(slots=True, eq=False)
class Request(Generic[T, R]):
    """One submitted item; ``run`` sets ``result`` or ``error``."""

    item: T
    result: R | None = None
    error: Exception | None = None
    done: bool = False
    # released once the request is done, or when its thread is to lead the next batch
    wake: threading.Lock = field(default_factory=_held)


class GroupCommit(Generic[T, R]):
    """A leader/follower queue in front of a batch-committing ``run`` function.

    ``run(batch)`` must set ``result`` or ``error`` on every request of the batch and
    return once they are durable. It may return a function, which the leader calls once
    it has woken the batch's other threads: work that must follow the commit but that
    nobody's result waits for (telling readers of the commit) then delays no other
    request, nor the next batch. If ``run`` raises instead (an interrupt in the leader's
    thread, a bug), the leader re-raises, and the other requests of its batch fail with a
    :class:`StorageError`: the batch may or may not have been committed, and running those
    appends again could store them twice. Requests queued after the batch are not affected.
    """

    def __init__(self, run: Callable[[list[Request[T, R]]], Callable[[], None] | None]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._queue: list[Request[T, R]] = []
        self._leading = False
        #: transactions committed (or attempted) so far: one per batch
        self.batches = 0

    def submit(self, item: T) -> R:
        """Run ``item`` in the next batch and return its result (or raise its error)."""
        request: Request[T, R] = Request(item)
        with self._lock:
            self._queue.append(request)
            lead = not self._leading
            self._leading = True
        if not lead:
            request.wake.acquire()  # until done, or handed the lead
        if not request.done:
            with self._lock:
                batch, self._queue = self._queue, []
                self.batches += 1
            self._lead(request, batch)
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def take_queued(self, batch: list[Request[T, R]], limit: int = BATCH_LIMIT) -> bool:
        """For ``run``, in the leader's thread, before it commits ``batch``: move the
        requests queued since the batch was taken into it (up to ``limit`` requests in
        all), to share its transaction and fsync; whether any were moved. They arrive while
        the leader works on the batch, and would otherwise wait for the next one."""
        with self._lock:
            room = limit - len(batch)
            if room <= 0 or not self._queue:
                return False
            more, self._queue = self._queue[:room], self._queue[room:]
        batch.extend(more)  # the same list _lead wakes when the batch is done
        return True

    def _lead(self, own: Request[T, R], batch: list[Request[T, R]]) -> None:
        try:
            then = self._run(batch)
        except BaseException as exc:
            for r in batch:
                r.result = None
                r.error = StorageError(
                    f"the thread committing this append was interrupted ({exc!r}): it may or "
                    "may not be stored; read the stream, or retry with the same event ids"
                )
            raise
        finally:
            with self._lock:
                for r in batch:
                    r.done = True
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            if successor is not None:  # first: the next commit need not wait for the others
                successor.wake.release()
            for r in batch:
                if r is not own:
                    r.wake.release()
        if then is not None:
            then()
