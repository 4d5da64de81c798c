"""Documents: the current JSON value of a key in a collection, kept beside the streams, written
in the same atomic step as an append (``append_batch(documents=...)``) and queried by the
fields a collection declares.

A :class:`DocumentQuery` is checked once, here, and then means the same on every backend:
SQLite turns it into SQL over its indexes, the memory backend (and a caller scanning states
of its own, as the read side does on NATS) applies :meth:`DocumentQuery.select` to the
documents. Values compare as SQLite compares the values ``json_extract`` gives: a missing
field or ``null`` first, then numbers (``true``/``false`` are 1 and 0), then strings (by
code point); a field holding an object or a list compares as its JSON text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from ._exceptions import InvalidDocumentQuery, InvalidEvent
from ._names import check_name

__all__ = [
    "KEY",
    "MAX_LIMIT",
    "OPERATORS",
    "Condition",
    "DocumentPage",
    "DocumentQuery",
    "check_collection",
    "check_documents",
    "check_fields",
    "field_value",
]

KEY = "key"
"""The name a query gives the document's key: always queryable, and the last tiebreak."""
OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
MAX_LIMIT = 1000
MAX_NUMBER = 2**63 - 1  # SQLite's integers
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}")
Scalar = str | int | float | bool | None


def check_collection(name: object) -> str:
    """A collection is named like a stream (and may not be ``$``-prefixed)."""
    found = check_name(name, "collection")
    if "'" in found or '"' in found:  # SQLite keeps a collection's name in its index definitions
        raise InvalidDocumentQuery(f"invalid collection name {found!r}: no quotes allowed")
    return found


def check_fields(fields: object) -> tuple[str, ...]:
    """Field paths: names of letters, digits and ``_`` (not starting with a digit), joined
    by dots for nested objects, at most 8 deep; ``key`` names the key, not a field."""
    if isinstance(fields, str) or not isinstance(fields, Iterable):
        raise InvalidDocumentQuery("fields are a list of field names, such as ['balance']")
    found = tuple(fields)
    for f in found:
        if not isinstance(f, str) or not _FIELD.fullmatch(f):
            raise InvalidDocumentQuery(
                f"invalid field {f!r}: letters, digits and '_' (not starting with a digit), "
                "with '.' between the names of nested fields"
            )
        if f == KEY:
            raise InvalidDocumentQuery("'key' names a document's key, not one of its fields")
    if len(set(found)) != len(found):
        raise InvalidDocumentQuery(f"a field is named twice in {list(found)}")
    return found


def check_documents(documents: object) -> list[tuple[str, str, bytes | None]]:
    """``{collection: {key: value or None}}`` as rows of (collection, key, JSON or None for
    a deletion), checked before anything is written."""
    if not isinstance(documents, Mapping):
        raise InvalidEvent("documents= is a mapping {collection: {key: JSON value or None}}")
    rows: list[tuple[str, str, bytes | None]] = []
    for collection, values in documents.items():
        check_collection(collection)
        if not isinstance(values, Mapping):
            raise InvalidEvent(f"documents[{collection!r}] is a mapping {{key: value}}")
        for key, value in values.items():
            if not isinstance(key, str) or not key or len(key) > 1024:
                raise InvalidEvent(f"a document key is a string of 1-1024 characters: {key!r}")
            if value is None:
                rows.append((collection, key, None))
                continue
            try:
                body = msgspec.json.encode(value)
                msgspec.json.decode(body)  # NaN and the like encode to what cannot be read
            except (TypeError, ValueError, OverflowError, msgspec.MsgspecError) as exc:
                raise InvalidEvent(
                    f"document {collection}/{key} is not a JSON value: {exc}"
                ) from None
            rows.append((collection, key, body))
    return rows


def field_value(body: Any, path: str) -> Scalar:
    """The value of a (dotted) field as ``json_extract`` gives it: ``None`` when missing, a
    scalar as it is, an object or a list as its JSON text."""
    value = body
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, dict | list):
        return msgspec.json.encode(value).decode()
    return value  # type: ignore[no-any-return]


def _rank(value: Scalar) -> int:
    if value is None:
        return 0
    return 2 if isinstance(value, str) else 1


def sort_key(value: Scalar) -> tuple[int, Any]:
    """Where a value sorts among others (SQLite's order of the values ``json_extract``
    gives)."""
    return (_rank(value), 0 if value is None else value)


@dataclass(frozen=True)
class Condition:
    """One test of a query: ``field op value`` (``field`` may be ``key``)."""

    field: str
    op: str
    value: Scalar

    def test(self, value: Scalar) -> bool:
        if self.value is None:  # == None: missing or null; != None: present
            return (value is None) == (self.op == "==")
        if value is None:
            return False
        same = _rank(value) == _rank(self.value)
        if self.op == "==":
            return same and value == self.value
        if self.op == "!=":
            return not (same and value == self.value)
        if not same:
            return False
        a, b = sort_key(value)[1], sort_key(self.value)[1]
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[self.op])


@dataclass(frozen=True)
class DocumentPage:
    """A page of a query: ``items``, a list of ``(key, value)``, and ``next``, the ``after=``
    token of the following page (``None`` on the last page)."""

    items: list[tuple[str, Any]]
    next: str | None


def _scalar(field: str, op: str, value: object) -> Scalar:
    if field == KEY and not isinstance(value, str):
        raise InvalidDocumentQuery(f"the key is compared with a string, not {value!r}")
    if value is None:
        if op not in ("==", "!="):
            raise InvalidDocumentQuery(f"{field}: None is compared with == or != only")
        return None
    if isinstance(value, bool):
        if op not in ("==", "!="):
            raise InvalidDocumentQuery(f"{field}: a boolean is compared with == or != only")
        return value
    if isinstance(value, int):
        if abs(value) > MAX_NUMBER:
            raise InvalidDocumentQuery(f"{field}: {value} is out of the 64-bit range")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidDocumentQuery(f"{field}: {value} is not a JSON number")
        return value
    if isinstance(value, str):
        return value
    raise InvalidDocumentQuery(
        f"{field}: compare with a string, a number, a boolean or None, not {value!r}"
    )


def _conditions(where: object) -> tuple[Condition, ...]:
    if where is None:
        return ()
    if not isinstance(where, Mapping):
        raise InvalidDocumentQuery(
            "where= is a mapping such as {'owner': 'ann', 'balance': ('>=', 100)}"
        )
    found: list[Condition] = []
    for field, test in where.items():
        if field != KEY:
            check_fields([field])
        tests = test if isinstance(test, list) else [test]
        if not tests:
            raise InvalidDocumentQuery(f"{field}: an empty list of conditions")
        for t in tests:
            if isinstance(t, tuple):
                if len(t) != 2 or t[0] not in OPERATORS:
                    raise InvalidDocumentQuery(
                        f"{field}: a condition is (operator, value) with an operator of "
                        f"{', '.join(OPERATORS)}; not {t!r}"
                    )
                op, value = t
            else:
                op, value = "==", t
            found.append(Condition(field, op, _scalar(field, op, value)))
    return tuple(found)


class DocumentQuery:
    """A checked query of a collection's documents::

        ses.DocumentQuery({"owner": "ann", "balance": [(">=", 100), ("<", 500)]},
                          order_by="balance", descending=True, limit=50)

    ``where`` maps a field (or ``"key"``) to a value (equality) or to ``(op, value)`` with
    ``op`` one of ``== != < <= > >=``, or to a list of those (all must hold). Values are
    strings, numbers, booleans (``==``/``!=`` only) or ``None`` (``== None``: the field is
    missing or null; ``!= None``: it is there). A range matches values of its bound's kind
    only (numbers or strings). ``!=`` matches documents where the field is present.
    Results are ordered by ``order_by`` (a field, or ``"key"``, the default) and then by
    key; ``after`` is the ``next`` token of the previous page (keyset paging: a page starts
    after the last item of the one before, whatever was written in between). Bad input
    raises :class:`InvalidDocumentQuery`."""

    def __init__(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> None:
        self.conditions = _conditions(where)
        if order_by is None:
            order_by = KEY
        if order_by != KEY:
            check_fields([order_by])
        self.order_by = order_by
        if not isinstance(descending, bool):
            raise InvalidDocumentQuery(f"descending is True or False, not {descending!r}")
        self.descending = descending
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidDocumentQuery(f"limit is a whole number from 1 to {MAX_LIMIT}")
        self.limit = limit
        self.after = None if after is None else self._read_token(after)

    @property
    def fields(self) -> set[str]:
        """The fields the query names (besides the key)."""
        named = {c.field for c in self.conditions} | {self.order_by}
        return named - {KEY}

    def order_value(self, key: str, body: Any) -> Scalar:
        """The value a document is ordered by (its key, or its ``order_by`` field)."""
        return key if self.order_by == KEY else field_value(body, self.order_by)

    def matches(self, key: str, body: Any) -> bool:
        """Whether a document passes every condition."""
        return all(
            c.test(key if c.field == KEY else field_value(body, c.field)) for c in self.conditions
        )

    def _position(self, key: str, body: Any) -> tuple[tuple[int, Any], str]:
        return sort_key(self.order_value(key, body)), key

    def select(self, documents: Iterable[tuple[str, Any]]) -> DocumentPage:
        """The page of this query among ``documents`` (``(key, value)`` pairs), computed
        in Python: what the memory backend does, and what a scan of states does."""
        return self.page(self.ordered(documents))

    def ordered(self, documents: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """Up to ``limit + 1`` of ``documents`` that the query selects, in its order."""
        found = [(k, v) for k, v in documents if self.matches(k, v)]
        found.sort(key=lambda kv: self._position(*kv), reverse=self.descending)
        if self.after is not None:
            mark = (sort_key(self.after[0]), self.after[1])
            if self.descending:
                found = [kv for kv in found if self._position(*kv) < mark]
            else:
                found = [kv for kv in found if self._position(*kv) > mark]
        return found[: self.limit + 1]

    def count(self, documents: Iterable[tuple[str, Any]]) -> int:
        """How many of ``documents`` pass the conditions."""
        return sum(1 for k, v in documents if self.matches(k, v))

    def page(self, rows: list[tuple[str, Any]]) -> DocumentPage:
        """A page from up to ``limit + 1`` rows in query order (one more tells that a next
        page exists)."""
        items = rows[: self.limit]
        if len(rows) <= self.limit:
            return DocumentPage(items, None)
        key, body = items[-1]
        return DocumentPage(items, self._token(self.order_value(key, body), key))

    def _token(self, value: Scalar, key: str) -> str:
        raw = msgspec.json.encode([self.order_by, self.descending, value, key])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _read_token(self, token: object) -> tuple[Scalar, str]:
        bad = InvalidDocumentQuery(f"after= is the next token of a page, not {token!r}")
        if not isinstance(token, str):
            raise bad
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            order_by, descending, value, key = msgspec.json.decode(raw)
        except (binascii.Error, ValueError, TypeError, msgspec.MsgspecError):
            raise bad from None
        if order_by != self.order_by or descending != self.descending:
            raise InvalidDocumentQuery(
                "after= comes from a query with another order: page with the same "
                "order_by and descending"
            )
        if not isinstance(key, str) or isinstance(value, dict | list):
            raise bad
        return value, key
