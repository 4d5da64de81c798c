"""The public surface: one sorted ``__all__``, one exception tree, sync and async alike."""

from __future__ import annotations

import importlib.metadata
import inspect
import re

import pytest

import safe_eventstore as ses
from safe_eventstore import _exceptions


def _isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def test_all_is_sorted_unique_and_complete() -> None:
    assert ses.__all__ == sorted(ses.__all__, key=_isort_style)
    assert len(set(ses.__all__)) == len(ses.__all__)
    missing = [name for name in ses.__all__ if not hasattr(ses, name)]
    assert missing == []
    star: dict[str, object] = {}
    exec("from safe_eventstore import *", star)
    assert set(star) - {"__builtins__"} == set(ses.__all__)


def test_every_exception_is_exported() -> None:
    assert set(_exceptions.__all__) <= set(ses.__all__)
    defined = {
        name
        for name, obj in vars(_exceptions).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and not name.startswith("_")
    }
    assert defined == set(_exceptions.__all__)


_WARNINGS = {"StoreWarning"}  # the exceptions module's warnings, not errors


def test_the_warnings_are_user_warnings() -> None:
    for name in _WARNINGS:
        assert issubclass(getattr(ses, name), UserWarning)


def test_every_exported_exception_is_a_safe_eventstore_error() -> None:
    errors = [
        obj
        for obj in (getattr(ses, name) for name in ses.__all__)
        if inspect.isclass(obj) and issubclass(obj, BaseException) and not issubclass(obj, Warning)
    ]
    assert len(errors) == len(_exceptions.__all__) - len(_WARNINGS)
    for error in errors:
        assert issubclass(error, ses.SafeEventStoreError), error


def _documented_tree() -> dict[str, str]:
    """``{class name: parent name}`` as drawn in the exceptions module's docstring."""
    lines = (_exceptions.__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "SafeEventStoreError")
    indent = len(lines[start]) - len(lines[start].lstrip())
    parents: dict[str, str] = {}
    stack = ["SafeEventStoreError"]
    for line in lines[start + 1 :]:
        match = re.match(r"((?:│   |    )*)[├└]── (\w+)", line[indent:])
        if match is None:
            break
        depth = len(match.group(1)) // 4 + 1
        del stack[depth:]
        parents[match.group(2)] = stack[-1]
        stack.append(match.group(2))
    return parents


def test_the_exception_tree_matches_its_drawing() -> None:
    drawn = _documented_tree()
    assert set(drawn) | {"SafeEventStoreError"} | _WARNINGS == set(_exceptions.__all__)
    for name, parent in drawn.items():
        error = getattr(ses, name)
        assert getattr(ses, parent) in error.__bases__, f"{name} should derive from {parent}"


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (ses.InvalidInput, ValueError),
        (ses.InvalidName, ValueError),
        (ses.EventTooLarge, ValueError),
        (ses.InvalidURL, ValueError),
        (ses.NotFound, LookupError),
        (ses.StreamNotFound, LookupError),
        (ses.DatabaseNotFound, LookupError),
    ],
)
def test_errors_are_also_the_builtin_errors_they_resemble(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, builtin)


def test_wrong_expected_version_carries_its_details() -> None:
    error = ses.WrongExpectedVersion("Account-1", ses.NO_STREAM, 3)
    assert (error.stream, error.expected, error.actual) == ("Account-1", ses.NO_STREAM, 3)
    assert "NO_STREAM" in str(error) and "Account-1" in str(error)


def _public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, callable) if not name.startswith("_")}


@pytest.mark.parametrize(
    ("sync", "asynchronous", "sync_only"),
    [
        (ses.Store, ses.AsyncStore, {"register"}),  # no I/O: use AsyncStore.sync.register
        (ses.Database, ses.AsyncDatabase, set()),
        (ses.Subscription, ses.AsyncSubscription, set()),
    ],
)
def test_the_async_api_mirrors_the_sync_one(
    sync: type, asynchronous: type, sync_only: set[str]
) -> None:
    assert _public_methods(sync) - sync_only <= _public_methods(asynchronous)


def test_the_version_is_the_installed_one() -> None:
    assert ses.__version__ == importlib.metadata.version("safe-eventstore")


@pytest.mark.parametrize(
    "us",
    [
        0, 1, 999_999, 1_764_201_600_123_457, (1 << 32) * 1_000_000 - 1,
        (1 << 32) * 1_000_000, 253_402_300_799_999_999, -1, -86_400_000_001,
    ],
)  # fmt: skip
def test_timestamps_read_back_to_the_microsecond(us: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # reads take a fast path below 2**32 seconds and an exact sum elsewhere: both exact
    from datetime import UTC, datetime, timedelta

    from safe_eventstore import _writing

    monkeypatch.setattr(_writing, "_now_us", lambda: us)
    with ses.open("memory://") as store:
        db = store.create_database("clock")
        db.append("Clock-1", [ses.NewEvent("Ticked", {})])
        (event,) = db.read_stream("Clock-1")
    assert event.timestamp == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    assert event.timestamp.tzinfo is UTC
