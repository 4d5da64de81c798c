"""One NATS connection and the asyncio event loop that drives it.

The storage contract is synchronous and thread-safe; nats-py is asyncio. The loop has no
thread of its own: a caller runs it itself for as long as its call takes (the call stops
the loop as it ends), so a call costs no hand-over between threads. Only one thread runs the
loop at a time: a caller that finds it taken hands its work to the loop (an append goes
straight to the committer already running there, without a task) and waits on a lock, and
takes the loop over if it is let go before its work is done. When no caller has run
the loop for a millisecond, a daemon thread runs it, so that the connection answers the
server's pings and delivers messages to subscriptions, and lets it go as soon as a caller
asks for it. The daemon is not woken when a call ends: it looks every millisecond, and,
while callers keep the loop busy and no subscription waits for deliveries, less and less
often (up to every 8 ms), since each look takes the interpreter's lock from the callers.
Every nats-py error is translated into the store's exception tree before it reaches a
caller.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from ..._exceptions import StoreClosed, StoreUnavailable
from ._errors import translate

__all__ = ["LoopDriver", "in_event_loop"]

T = TypeVar("T")
IDLE = 0.001  # seconds without a caller running the loop before the daemon runs it
BUSY = 0.008  # at most this long between the daemon's looks while callers run the loop


def in_event_loop() -> bool:
    return asyncio._get_running_loop() is not None


class _Signal:
    """Wakes one waiting thread; a wake-up given while none waits is kept for the next
    wait (like an event cleared by the wait that sees it), on a bare lock: cheaper than
    :class:`threading.Event`, which takes a condition and a new lock per wait."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:
            pass  # given already, not yet taken

    def wait(self, timeout: float) -> None:
        self._lock.acquire(timeout=timeout)


class _Call(Generic[T]):
    """A caller's work handed to the loop while another thread runs it."""

    __slots__ = ("cancelled", "coro", "driving", "future", "loop", "queued", "woken")

    def __init__(
        self,
        coro: Coroutine[Any, Any, T] | None,
        queued: Callable[[], asyncio.Future[T]] | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.coro = coro  # run as a task, or
        self.queued = queued  # called on the loop: the future of the work
        self.loop = loop
        self.future: asyncio.Future[T] | None = None  # once the loop started the work
        self.woken = _Signal()  # the work is done, or the loop was let go to this caller
        self.driving = False  # the caller took the loop over: the work's end stops it
        self.cancelled = False

    def start(self) -> None:
        if self.coro is not None:
            self.future = self.loop.create_task(self.coro)
        else:
            assert self.queued is not None
            try:
                self.future = self.queued()
            except Exception as exc:  # a bug of ours: the caller raises it
                self.future = self.loop.create_future()
                self.future.set_exception(exc)
        self.future.add_done_callback(self.finish)

    def finish(self, future: asyncio.Future[T]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved: the caller raises it (or gave up)
        if self.driving:
            self.loop.stop()
        self.woken.set()


class LoopDriver:
    """The event loop of one connection, run by whichever thread needs it (see the module's
    docstring); every method is safe to call from any thread."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._closed = False
        self.loop = asyncio.new_event_loop()
        self._driver = threading.Lock()  # held by the thread running the loop
        self._changed = threading.Condition()  # the loop was let go, or a call finished
        # a subscription follows a stream: the daemon runs the loop soon after each call
        self.followed = False
        self._released = time.monotonic()
        self._parked: asyncio.Event | None = None  # set to make the daemon let the loop go
        self._waiting: list[_Signal] = []  # callers waiting while another runs it
        self._submitted: collections.deque[_Call[Any]] = collections.deque()
        self._starting = False  # the loop is asked to start the calls submitted
        self._thread = threading.Thread(
            target=self._idle_driver, name="safe-eventstore-nats", daemon=True
        )
        self._thread.start()

    # -- running coroutines from any thread -----------------------------------------------------

    def call(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None = None,
        *,
        queued: Callable[[], asyncio.Future[T]] | None = None,
    ) -> T:
        """Run ``coro`` on the loop and return its result, translating every error.

        ``queued``, if given, does the same work without a task: called on the loop, it
        hands the work to whatever already runs there and returns its future. A caller
        that finds the loop taken uses it instead of ``coro`` (a task and its steps cost
        the loop, which every caller waits for, more than the work's own future)."""
        if self._closed:
            coro.close()
            raise StoreClosed("the store is closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        # a thread that runs an event loop of its own cannot run ours: it waits instead
        drives = not in_event_loop()
        if drives and self._driver.acquire(blocking=False):
            # the work stops the loop as it ends (run_until_complete would take one more
            # turn of the loop to notice that it has)
            task = self.loop.create_task(self._translated(coro, deadline, stop=True))
            return self._drive(lambda: self._until_done(task))
        if queued is not None:
            coro.close()
            call: _Call[T] = _Call(None, queued, self.loop)
        else:
            call = _Call(self._translated(coro, deadline), None, self.loop)
        with self._changed:
            self._waiting.append(call.woken)
        self._submit(call)
        self._wake_loop()
        try:
            while True:
                if call.future is not None and call.future.done():
                    return self._outcome(call)
                if self._closed:
                    self._cancel(call)
                    raise StoreClosed("the store is closed")
                if drives and self._driver.acquire(blocking=False):  # let go before we were done
                    call.driving = True
                    return self._drive(functools.partial(self._until_called, call))
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._cancel(call)
                    raise StoreUnavailable(f"NATS did not answer within {timeout:.1f} s")
                call.woken.wait(0.5 if left is None else min(left, 0.5))
        finally:
            with self._changed:
                self._waiting.remove(call.woken)
            if not self._driver.locked():
                self._hand_over()  # we took no turn: let another waiter run the loop

    def _submit(self, call: _Call[Any]) -> None:
        """Hand ``call`` to the loop. Calls handed over while the loop has not yet started
        the earlier ones are started together, for one wake-up of the loop (a write to its
        socket pair)."""
        self._submitted.append(call)
        if not self._starting:
            self._starting = True
            try:
                self.loop.call_soon_threadsafe(self._start_calls)
            except RuntimeError:  # the loop is closed
                self._starting = False

    def _start_calls(self) -> None:
        # cleared first: a call handed over from now on schedules another start
        self._starting = False
        while self._submitted:
            call = self._submitted.popleft()
            if call.cancelled:
                if call.coro is not None:
                    call.coro.close()
                call.woken.set()
                continue
            call.start()

    def _cancel(self, call: _Call[Any]) -> None:
        """Give up ``call``: its work is cancelled on the loop, or never started."""
        call.cancelled = True
        try:
            # on the loop: the call was started before it saw the flag, or it never will be
            self.loop.call_soon_threadsafe(self._cancelled, call)
        except RuntimeError:
            pass  # the loop is closed: so is the work

    def _cancelled(self, call: _Call[Any]) -> None:
        if call.future is not None:
            call.future.cancel()

    def _drive(self, work: Callable[[], T]) -> T:
        """Run the loop in this thread (the driver lock is held) with ``work``."""
        try:
            try:
                return work()
            except (asyncio.CancelledError, concurrent.futures.CancelledError):
                raise StoreClosed("the store is closed") from None
        finally:
            self._released = time.monotonic()
            self._driver.release()
            self._hand_over()

    def _until_done(self, future: asyncio.Future[T]) -> T:
        """Run the loop until ``future`` is done, which stops it (so does the end of any
        work started with ``stop``: a caller's left behind by an interrupt)."""
        while not future.done():
            self.loop.run_forever()
        return future.result()

    def _until_called(self, call: _Call[T]) -> T:
        """Run the loop until ``call`` is done (taken over from the thread that ran it)."""
        while call.future is None or not call.future.done():
            self.loop.run_forever()
        return self._outcome(call)

    def _stop(self, _: object = None) -> None:
        self.loop.stop()

    def _hand_over(self) -> None:
        """Wake one thread waiting for its work to be done, to run the loop next. (The
        daemon is not woken: it looks every ``IDLE`` seconds, so that a caller making one
        call after another does not wake it once per call.)"""
        if self._waiting:
            with self._changed:
                if self._waiting:
                    self._waiting[0].set()

    def _outcome(self, call: _Call[T]) -> T:
        future = call.future
        assert future is not None
        if future.cancelled():
            raise StoreClosed("the store is closed")
        exc = future.exception()
        if exc is None or call.coro is not None:  # a task's errors are translated already
            return future.result()
        if self._closed:  # whatever closing did to the work under way
            raise StoreClosed("the store is closed") from exc
        translated = translate(exc) if isinstance(exc, Exception) else exc
        if translated is exc:
            raise exc
        raise translated from exc

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _wake_loop(self) -> None:
        """Make the daemon let the loop go, if it runs it."""
        parked = self._parked
        if parked is not None:
            self.loop.call_soon_threadsafe(parked.set)

    def _idle_driver(self) -> None:
        """Run the loop whenever no caller has for a moment: pings, subscriptions. Once
        the store is closed, close the connection and the loop."""
        try:
            self._drive_when_idle()
        finally:
            self._shutdown()

    def _drive_when_idle(self) -> None:
        pause = IDLE
        while not self._closed:
            with self._changed:
                while not self._closed:
                    if self._driver.locked():
                        # callers keep the loop busy: look less and less often (each look
                        # takes the interpreter's lock from them), up to BUSY, unless a
                        # subscription's deliveries would wait for the loop that long
                        self._changed.wait(pause)
                        pause = min(pause * 2, IDLE if self.followed else BUSY)
                        continue
                    quiet = time.monotonic() - self._released
                    if quiet >= IDLE:
                        break
                    self._changed.wait(IDLE - quiet)
            if self._closed or not self._driver.acquire(blocking=False):
                continue
            pause = IDLE
            try:
                self._parked = asyncio.Event()
                self.loop.run_until_complete(self._parked.wait())
            except Exception:
                pass  # the loop is closing
            finally:
                self._parked = None
                self._released = time.monotonic()
                self._driver.release()
                self._hand_over()

    async def _translated(
        self, coro: Coroutine[Any, Any, T], deadline: float | None, *, stop: bool = False
    ) -> T:
        try:
            if deadline is None:
                return await coro
            async with asyncio.timeout_at(deadline):  # the loop's clock is time.monotonic
                return await coro
        except asyncio.CancelledError:
            raise  # the caller gave up, or the store is closing: call() says which
        except Exception as exc:
            if self._closed:  # whatever closing did to the work under way
                raise StoreClosed("the store is closed") from exc
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            if stop:
                self._stop()

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake_loop()
        self._notify()
        if in_event_loop():
            return  # the daemon thread closes the connection: this thread may not wait
        self._shutdown()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _shutdown(self) -> None:
        """Close the connection and the loop, once the thread running it lets it go."""
        if not self._driver.acquire(timeout=max(self.timeout, 5)):
            return  # a caller still runs the loop: leave it to the process's end
        try:
            if not self.loop.is_closed():
                self._close_client()
                tasks = asyncio.all_tasks(self.loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    left = asyncio.gather(*tasks, return_exceptions=True)
                    left.add_done_callback(self._stop)
                    self._until_done(left)
                self.loop.close()
        finally:
            self._driver.release()
            self._notify()

    @property
    def closed(self) -> bool:
        return self._closed

    def _close_client(self) -> None:
        """Close the client on the loop (the driver lock is held): nothing to close here."""
