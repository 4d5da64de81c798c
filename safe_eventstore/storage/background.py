"""Work that follows the appends on a thread of its own: woken after a commit, it runs once,
rests, and runs again if woken meanwhile; the thread starts at the first wake and ends
after a while without one. The SQLite backend runs its write-ahead log's checkpoints this
way (sqlite/_checkpoints.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Background"]


class Background:
    """``work`` run on a thread of its own after :meth:`wake`, at most once per ``rest``
    seconds; ``done`` runs on that thread when it ends (after ``idle`` seconds without a
    wake, or at :meth:`close`). An exception of ``work`` is for ``work`` to handle: it
    ends the thread, and the next wake starts another."""

    def __init__(
        self,
        work: Callable[[], None],
        done: Callable[[], None],
        *,
        rest: float,
        idle: float,
        name: str,
    ) -> None:
        self._work = work
        self._done = done
        self._rest = rest
        self._idle = idle
        self._name = name
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stop = threading.Event()  # set by close(): ends a rest at once
        self._thread: threading.Thread | None = None
        self._closed = False
        #: times ``work`` ran to its end (for tests and diagnostics)
        self.runs = 0

    @property
    def running(self) -> bool:
        """Whether the thread is there."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Have ``work`` run soon (on the thread, started if need be)."""
        if self._thread is not None and self._wanted.is_set():
            return  # the thread has a run to do already (it clears the event as it starts)
        with self._lock:
            if self._closed:
                return
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._wanted.wait(self._idle):
                with self._lock:  # wake() sets the event under this lock
                    if not self._wanted.is_set():
                        self._end()
                        return
                continue
            if self._closed:
                break
            self._wanted.clear()
            try:
                self._work()
                self.runs += 1
            except BaseException:
                with self._lock:
                    self._end()
                raise
            if self._stop.wait(self._rest):
                break
        with self._lock:
            self._end()

    def _end(self) -> None:
        # holding the lock: a thread started by the next wake finds ``done`` finished
        try:
            self._done()
        finally:
            self._thread = None

    def close(self) -> None:
        """End the thread (after the run it may be in); later wakes do nothing."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._wanted.set()
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
