"""How the ``eventsourcing`` library's records map onto store names, and its errors.

Library strings (topics, string originator ids, tags, application names) may hold any
character; store names may not hold whitespace, ``/`` or control characters, nor start with
``$`` or ``-``. Such characters, and ``%`` itself, are percent-encoded (UTF-8), which keeps
the mapping one-to-one and reversible.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import unquote

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)

import safe_eventstore as ses

__all__ = ["escape", "id_of", "stream_suffix", "translate_errors", "unescape"]


def _escape_char(c: str) -> str:
    return "".join(f"%{b:02X}" for b in c.encode())


@lru_cache(maxsize=4096)
def escape(text: str) -> str:
    """A store name for a library string (a topic, tag or name): ``%``, whitespace, ``/``
    and non-printable characters, and a leading ``$`` or ``-``, are percent-encoded."""
    out = [
        _escape_char(c) if c == "%" or c == "/" or c.isspace() or not c.isprintable() else c
        for c in text
    ]
    if out and out[0] in ("$", "-"):
        out[0] = _escape_char(out[0])
    return "".join(out)


@lru_cache(maxsize=4096)
def unescape(name: str) -> str:
    return unquote(name) if "%" in name else name


def stream_suffix(originator_id: uuid.UUID | str) -> str:
    """The part of a stream name after ``<category>-``: a UUID in its canonical form, or
    an escaped string (whose first character is escaped too if it reads as a UUID)."""
    if isinstance(originator_id, uuid.UUID):
        return str(originator_id)
    text = escape(originator_id)
    if _is_uuid(text):
        text = _escape_char(text[0]) + text[1:]
    return text


def id_of(suffix: str) -> uuid.UUID | str:
    """The originator id a stream name's suffix stands for (see :func:`stream_suffix`)."""
    if _is_uuid(suffix):
        return uuid.UUID(suffix)
    return unescape(suffix)


def _is_uuid(text: str) -> bool:
    if len(text) != 36 or text[8] != "-":
        return False
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


@contextmanager
def translate_errors() -> Iterator[None]:
    """Raise the library's persistence errors (PEP 249 names) for the store's errors."""
    try:
        yield
    except PersistenceError:
        raise
    except (ses.Conflict, ses.AppendConditionFailed) as exc:
        if isinstance(exc, ses.DatabaseExists):
            raise ProgrammingError(str(exc)) from exc
        raise IntegrityError(str(exc)) from exc
    except ses.InvalidInput as exc:
        raise DataError(str(exc)) from exc
    except ses.NotFound as exc:
        raise ProgrammingError(str(exc)) from exc
    except ses.IntegrityError as exc:
        raise InternalError(str(exc)) from exc
    except ses.StoreClosed as exc:
        raise InterfaceError(str(exc)) from exc
    except ses.StorageError as exc:
        raise OperationalError(str(exc)) from exc
