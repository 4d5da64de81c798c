"""Writes docs/api.md, the reference of every public name, from the package's docstrings.

    .venv/bin/python scripts/api_reference.py          # rewrite docs/api.md
    .venv/bin/python scripts/api_reference.py --check  # exit 1 if docs/api.md is out of date

The test suite runs the check, so the page cannot drift from the code.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import safe_eventstore as ses

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "api.md"

INTRO = """\
# API reference

Every name that `import safe_eventstore as ses` exports, with its signature and docstring,
in the order of `ses.__all__`. This page is generated from the code by
`scripts/api_reference.py`; the test suite fails when it is out of date, so edit the
docstrings, then run `.venv/bin/python scripts/api_reference.py`.

Groups: [constants](#constants), [classes](#classes), [errors](#errors),
[functions](#functions).
"""


CONSTANTS = {
    "ANY": "An `expected_version` that checks nothing: the append goes on whatever the "
    "stream holds (the default).",
    "NO_STREAM": "An `expected_version` that requires the stream to have no events yet.",
    "STREAM_EXISTS": "An `expected_version` that requires the stream to have at least one event.",
    "FORGOTTEN_STREAM": "The reserved stream `$forgotten` of an encrypted database: a "
    '`ScopeForgotten` event (data `{"scope": ...}`) for each forgotten key scope.',
}


def _doc(obj: object) -> str:
    doc = inspect.getdoc(obj)
    return doc.strip() if doc else "(no docstring)"


def _signature(name: str, obj: Any) -> str:
    try:
        text = f"{name}{inspect.signature(obj)}"
    except (TypeError, ValueError):
        return name
    return re.sub(r"<([\w.]+) object at 0x[0-9a-f]+>", r"<\1>", text)


def _own_members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined by the class itself or a project base."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property) or inspect.isfunction(value):
            members.append((name, value))
        elif isinstance(value, staticmethod | classmethod):
            members.append((name, value.__func__))
    return members


def _block(text: str) -> str:
    return "```python\n" + text + "\n```"


def _member_doc(cls: type, member: str, value: Any) -> str | None:
    """A member's docstring; an async twin without one of its own has its sync twin's."""
    doc = inspect.getdoc(value)
    if doc or not cls.__name__.startswith("Async"):
        return doc
    twin = getattr(ses, cls.__name__.removeprefix("Async"), None)
    original = getattr(twin, member, None) if twin is not None else None
    return inspect.getdoc(original) if original is not None else None


def _class_section(name: str, cls: type) -> list[str]:
    out = [f"### `{name}`", "", _block(_signature(f"class {name}", cls)), "", _doc(cls), ""]
    if issubclass(cls, BaseException):
        bases = ", ".join(b.__name__ for b in cls.__bases__)
        out[2] = _block(f"class {name}({bases})")
        return out
    if issubclass(cls, enum.Enum):
        return out
    for member, value in _own_members(cls):
        if isinstance(value, property):
            head = f"{name}.{member}  # a property"
        else:
            head = _signature(f"{name}.{member}", value)
        doc = _member_doc(cls, member, value)
        out += [f"#### `{name}.{member}`", "", _block(head), ""]
        if doc:
            out += [doc.strip(), ""]
    return out


def render() -> str:
    constants, classes, errors, functions = [], [], [], []
    for name in ses.__all__:
        obj = getattr(ses, name)
        if inspect.isclass(obj):
            target = errors if issubclass(obj, BaseException) else classes
            target.extend(_class_section(name, obj))
        elif callable(obj):
            functions += [f"### `{name}`", "", _block(_signature(name, obj)), "", _doc(obj), ""]
        elif isinstance(obj, int | str | float):
            value = json.dumps(obj) if isinstance(obj, str) else repr(obj)  # as ruff writes it
            constants += [f"### `{name}`", "", _block(f"{name} = {value}"), ""]
            constants += [CONSTANTS.get(name, ""), ""]
        else:  # an instance: its repr would name a memory address
            kind = type(obj).__name__
            constants += [f"### `{name}`", "", _block(f"{name}: {kind}"), ""]
            constants += [f"The default instance of [`{kind}`](#{kind.lower()}).", ""]
    parts = [INTRO]
    for title, body in (
        ("Constants", constants),
        ("Classes", classes),
        ("Errors", errors),
        ("Functions", functions),
    ):
        parts.append(f"## {title}\n\n" + "\n".join(body).rstrip() + "\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE} is out of date: run scripts/api_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
