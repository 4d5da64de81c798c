"""SQLite's errors, translated into the store's exception tree."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ..._exceptions import StorageError, StoreLocked, StoreReadOnly

__all__ = ["WriteFailed", "is_busy", "translate", "translated"]

P = ParamSpec("P")
R = TypeVar("R")


class WriteFailed(Exception):
    """Writing rows that passed their checks failed; ``cause`` is the driver's error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another connection's lock."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def translated(exc: Exception) -> Exception:
    """The store's exception for a driver error (caused by it); others pass through."""
    if isinstance(exc, WriteFailed):
        exc = exc.cause
    if not isinstance(exc, sqlite3.Error):
        return exc
    error: StorageError
    text = str(exc)
    if is_busy(exc):
        error = StoreLocked(f"SQLite: {exc} (another process held the lock)")
    elif "readonly" in text or "read-only" in text:
        error = StoreReadOnly(f"SQLite: {exc} (no permission to write, or a read-only file system)")
    else:
        error = StorageError(f"SQLite: {exc}")
    error.__cause__ = exc
    return error


def translate(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn driver errors into the store's exception tree."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            raise translated(exc) from exc

    return call
