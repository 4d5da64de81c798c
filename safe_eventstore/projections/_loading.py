"""Finding projections by import path: ``package.module:attribute``."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from typing import Any

from ._errors import DuplicateProjection, InvalidProjection, ProjectionNotFound
from ._projection import Projection

__all__ = ["load"]


def _runnable(value: object) -> bool:
    """A projection, or an object that works like one for a runner (a process manager:
    something with a name, a version and a source)."""
    if isinstance(value, Projection):
        return True
    return all(hasattr(value, a) for a in ("name", "version", "source", "handlers"))


def _import(path: str) -> Any:
    if not isinstance(path, str) or path.count(":") != 1:
        raise ProjectionNotFound(f"{path!r} is not an import path 'package.module:attribute'")
    module_name, attribute = path.split(":")
    if not module_name or not attribute:
        raise ProjectionNotFound(f"{path!r} is not an import path 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProjectionNotFound(f"{path}: cannot import {module_name!r}: {exc}") from None
    except InvalidProjection as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except Exception as exc:  # the module itself raised while importing
        raise InvalidProjection(f"{path}: importing {module_name!r} failed: {exc!r}") from None
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ProjectionNotFound(f"{path}: {module_name!r} has no attribute {attribute!r}")
        value = getattr(value, part)
    return value


def _no_arguments(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params
    )


def _found(path: str, value: Any) -> list[Any]:
    if _runnable(value):
        return [value]
    if isinstance(value, list | tuple) and value and all(_runnable(v) for v in value):
        return list(value)
    if callable(value) and not isinstance(value, type) and _no_arguments(value):
        try:
            made = value()
        except InvalidProjection as exc:
            raise type(exc)(f"{path}: {exc}") from None
        except Exception as exc:
            raise InvalidProjection(f"{path}: calling it failed: {exc!r}") from None
        if _runnable(made):
            return [made]
        if isinstance(made, list | tuple) and made and all(_runnable(v) for v in made):
            return list(made)
        value = made
    raise InvalidProjection(
        f"{path} is {type(value).__name__}, not a projection, a list of projections, or a "
        "function returning one of those"
    )


def load(paths: Iterable[str]) -> list[Any]:
    """The projections named by import paths (``myapp.projections:balances``): each path
    names a :class:`Projection` (or a process manager), a list or tuple of them, or a
    function of no arguments returning one of those. Everything is checked before anything
    is run or written: a path that does not import or names nothing is
    :class:`ProjectionNotFound`, the wrong kind of object :class:`InvalidProjection`, and two
    projections with one name and version :class:`DuplicateProjection`."""
    found: list[Any] = []
    seen: dict[tuple[str, int], str] = {}
    for path in paths:
        for value in _found(path, _import(path)):
            key = (str(value.name), int(value.version))
            if key in seen:
                raise DuplicateProjection(
                    f"two projections named {key[0]!r} at version {key[1]}: in {seen[key]} "
                    f"and in {path}"
                )
            seen[key] = path
            found.append(value)
    if not found:
        raise InvalidProjection("no projection given: name at least one import path")
    return found
