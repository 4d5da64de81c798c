"""Payload encoding: plain data reads back exactly or is refused; typed events are checked
against their class and round-trip through it."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import safe_eventstore as ses
from safe_eventstore._codec import MAX_DEPTH, decode_json, encode_json


@pytest.fixture
def registry() -> ses.EventTypes:
    return ses.EventTypes()


@pytest.fixture
def db(registry: ses.EventTypes) -> Iterator[ses.Database]:
    with ses.open("memory://", event_types=registry) as store:
        yield store.create_database("codec")


def _round_trip(db: ses.Database, data: Any, **options: Any) -> Any:
    result = db.append("Thing-1", [ses.NewEvent("Happened", data, **options)])
    return db.read_stream("Thing-1", from_version=result.last_version)[0]


def _same(given: Any, read: Any) -> bool:
    """Equal, and of the same types all the way down."""
    if type(given) is not type(read):
        return False
    if type(given) is dict:
        return list(given) == list(read) and all(_same(given[k], read[k]) for k in given)
    if type(given) is list:
        return len(given) == len(read) and all(map(_same, given, read))
    if type(given) is float and math.isnan(given):
        return False
    return bool(given == read)


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    SMALL = 1


@dataclasses.dataclass
class Point:
    x: int


REFUSED = {
    "nan": float("nan"),
    "infinity": float("inf"),
    "minus-infinity": -float("inf"),
    "decimal": Decimal("1.10"),
    "set": {1, 2},
    "frozenset": frozenset({"a"}),
    "tuple": (1, 2),
    "datetime": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    "date": dt.date(2024, 5, 1),
    "time": dt.time(12, 30),
    "timedelta": dt.timedelta(seconds=5),
    "uuid": uuid.UUID(int=7),
    "bytes": b"\x00\x01",
    "bytearray": bytearray(b"\x00"),
    "enum": Colour.RED,
    "int-enum": Size.SMALL,
    "ordered-dict": collections.OrderedDict(a=1),
    "dataclass": Point(1),
    "struct": msgspec.defstruct("Pair", [("a", int)])(1),
    "complex": 1j,
    "object": object(),
    "lone-surrogate": "\ud800",
}


# At the top level, bytes are a binary payload stored as they are, and an instance of a
# class is a typed event: those cases are tested nested and in metadata only.
_TOP_LEVEL_ELSEWHERE = ("bytes", "bytearray", "dataclass", "struct")
_REFUSALS = [
    pytest.param(value, where, id=f"{where}-{name}")
    for where in ("top", "nested", "metadata")
    for name, value in REFUSED.items()
    if not (where == "top" and name in _TOP_LEVEL_ELSEWHERE)
]


@pytest.mark.parametrize(("value", "where"), _REFUSALS)
def test_plain_data_that_would_not_read_back_equal_is_refused(
    db: ses.Database, value: Any, where: str
) -> None:
    if where == "top":
        event = ses.NewEvent("Happened", value)
    elif where == "nested":
        event = ses.NewEvent("Happened", {"items": [1, {"value": value}]})
    else:
        event = ses.NewEvent("Happened", {}, metadata={"value": value})
    db.append("Thing-1", [ses.NewEvent("Happened", {"n": 1})])
    with pytest.raises(ses.InvalidEvent) as info:
        db.append("Thing-1", [ses.NewEvent("Happened", {"n": 2}), event])
    assert [e.data for e in db.read_all()] == [{"n": 1}]
    if where == "nested" and not isinstance(value, str):
        assert "$.items[1].value" in str(info.value)
    elif where == "metadata" and not isinstance(value, str):
        assert "event metadata at $.value" in str(info.value)


@pytest.mark.parametrize("key", [1, 1.5, None, True, uuid.UUID(int=1), ("a",)], ids=repr)
def test_keys_that_are_not_strings_are_refused(db: ses.Database, key: Any) -> None:
    with pytest.raises(ses.InvalidEvent, match=r"at \$\.outer has the key .* JSON object keys"):
        db.append("Thing-1", [ses.NewEvent("Happened", {"outer": {key: 1}})])
    with pytest.raises(ses.InvalidEvent, match="JSON object keys"):
        db.append("Thing-1", [ses.NewEvent("Happened", {}, metadata={key: 1})])
    assert db.read_all() == []


def test_the_message_says_what_a_value_would_become_and_what_to_do() -> None:
    with pytest.raises(ses.InvalidEvent) as info:
        encode_json({"at": dt.datetime(2024, 5, 1)})
    message = str(info.value)
    assert "event data at $.at: a datetime would read back as str" in message
    assert "typed event" in message
    with pytest.raises(ses.InvalidEvent, match=r"nan is not a JSON number .* null"):
        encode_json({"ratio": [float("nan")]})
    with pytest.raises(ses.InvalidEvent, match="a Decimal would read back as"):
        encode_json(Decimal("0.1"))
    with pytest.raises(ses.InvalidEvent, match="a set would read back as list"):
        encode_json([{1}])


def test_json_values_read_back_exactly(db: ses.Database) -> None:
    data = {
        "text": "zwölf 🦆",
        "empty": {},
        "int": 2**80,
        "negative": -(2**70),
        "float": 0.1 + 0.2,
        "minus-zero": -0.0,
        "whole-float": 3.0,
        "true": True,
        "none": None,
        "list": [1, "a", None, [], [[]]],
    }
    event = _round_trip(db, data, metadata={"who": ["x", 1, 2.5]})
    assert _same(data, event.data)
    assert math.copysign(1, event.data["minus-zero"]) == -1
    assert _same({"who": ["x", 1, 2.5]}, event.metadata)
    for scalar in ("plain", 7, 7.5, False, None):
        assert _same(scalar, _round_trip(db, scalar).data)


def _nested(depth: int, container: str = "list") -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value] if container == "list" else {"a": value}
    return value


@pytest.mark.parametrize("container", ["list", "dict"])
def test_nesting_is_bounded(db: ses.Database, container: str) -> None:
    deepest = _nested(MAX_DEPTH, container)
    assert _same(deepest, _round_trip(db, deepest).data)
    for depth in (MAX_DEPTH + 1, 100_000):
        with pytest.raises(ses.InvalidEvent, match=f"deeper than {MAX_DEPTH} levels"):
            db.append("Thing-2", [ses.NewEvent("Happened", _nested(depth, container))])
        with pytest.raises(ses.InvalidEvent, match="deeper than"):
            db.append("Thing-2", [ses.NewEvent("Happened", {}, metadata={"x": _nested(depth)})])
    assert len(db.read_all()) == 1


def test_json_nested_too_deeply_to_decode_is_a_typed_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ses.InvalidEvent, match="nested too deeply"):
        decode_json(deep)
    registry = ses.EventTypes()
    registry.register(Point, "Point")
    with pytest.raises(ses.InvalidEvent, match="nested too deeply"):
        registry.decode("Point", "json", b'{"x": 1, "y": ' + deep + b"}")
    assert decode_json(b"[[[1]]]") == [[[1]]]


# -- typed events ---------------------------------------------------------------------------


class Status(enum.Enum):
    OPEN = "open"
    SHUT = "shut"


@dataclasses.dataclass
class Rich:
    when: dt.datetime
    day: dt.date
    hour: dt.time
    wait: dt.timedelta
    price: Decimal
    ref: uuid.UUID
    ids: set[int]
    names: frozenset[str]
    by_id: dict[int, str]
    blob: bytes
    status: Status
    pair: tuple[int, str]
    ratio: float
    point: Point
    extra: Any = None


def _rich(**changes: Any) -> Rich:
    base = Rich(
        when=dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC),
        day=dt.date(2024, 5, 1),
        hour=dt.time(12, 30, 0, 5),
        wait=dt.timedelta(days=1, microseconds=5),
        price=Decimal("19.90"),
        ref=uuid.UUID(int=42),
        ids={3, 1, 2},
        names=frozenset({"a", "b"}),
        by_id={1: "one", 2: "two"},
        blob=b"\x00\xff",
        status=Status.SHUT,
        pair=(1, "x"),
        ratio=1,
        point=Point(5),
        extra={"nested": [1, "a"]},
    )
    return dataclasses.replace(base, **changes)


def test_typed_fields_round_trip_exactly_through_their_class(
    db: ses.Database, registry: ses.EventTypes
) -> None:
    registry.register(Rich, "Rich")
    given = _rich()
    db.append("Thing-1", [given])
    (event,) = db.read_stream("Thing-1")
    assert event.data == given
    for field in dataclasses.fields(Rich):
        assert type(getattr(event.data, field.name)) is type(getattr(given, field.name)) or (
            field.name == "ratio"  # an int given for a float field reads back as a float
        )
    assert event.data.price.as_tuple() == Decimal("19.90").as_tuple()
    # portable JSON: the decimal as a string, keeping every digit in any language
    assert b'"price":"19.90"' in event.payload


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": 19.9}, "price"),
        ({"when": "2024-05-01"}, "when"),
        ({"ids": [1, 2]}, "ids"),
        ({"by_id": {"1": "one"}}, "by_id"),
        ({"status": "shut"}, "status"),
        ({"point": {"x": 5}}, "point"),
        ({"ratio": float("nan")}, "ratio"),
        ({"ratio": "1.5"}, "ratio"),
        ({"extra": {1, 2}}, "extra"),
        ({"extra": {"at": dt.datetime(2024, 1, 1)}}, "extra"),
        ({"extra": float("inf")}, "extra"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_typed_field_of_the_wrong_type_is_refused(
    db: ses.Database, registry: ses.EventTypes, changes: dict[str, Any], field: str
) -> None:
    registry.register(Rich, "Rich")
    db.append("Thing-1", [_rich()])
    with pytest.raises(ses.InvalidEvent) as info:
        db.append("Thing-1", [_rich(), _rich(**changes)])
    assert field in str(info.value)
    assert "Rich" in str(info.value)
    assert len(db.read_all()) == 1


class Account(msgspec.Struct):
    owner: str
    balance: int
    opened: dt.datetime


def test_a_struct_is_checked_against_its_class(db: ses.Database) -> None:
    opened = dt.datetime(2024, 5, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    db.append("Account-1", [Account("ann", 10, opened)])
    assert db.read_stream("Account-1")[0].data == Account("ann", 10, opened)
    with pytest.raises(ses.InvalidEvent, match=r"Expected `int`, got `str` - at `\$.balance`"):
        db.append("Account-1", [Account("ann", "10", opened)])  # type: ignore[arg-type]
    wrong = Account(("a",), 1, opened)  # type: ignore[arg-type]
    with pytest.raises(
        ses.InvalidEvent, match=r"Account: Expected `str`, got `array` - at `\$.owner`"
    ):
        db.append("Account-2", [ses.NewEvent("Opened", wrong)])
    assert len(db.read_all()) == 1


def test_plain_data_under_a_registered_name_follows_the_plain_rules(
    db: ses.Database, registry: ses.EventTypes
) -> None:
    registry.register(Point, "Point")
    with pytest.raises(ses.InvalidEvent, match=r"\$\.x: a Decimal"):
        db.append("Thing-1", [ses.NewEvent("Point", {"x": Decimal(1)})])
    db.append("Thing-1", [ses.NewEvent("Point", {"x": 1})])
    assert db.read_stream("Thing-1")[0].data == Point(1)


def test_a_pydantic_model_is_validated_before_writing(
    db: ses.Database, registry: ses.EventTypes
) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Paid(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        amount: int
        at: dt.datetime
        price: Decimal

    at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    registry.register(Paid, "Paid")
    db.append("Order-1", [Paid(amount=3, at=at, price=Decimal("2.50"))])
    assert db.read_stream("Order-1")[0].data == Paid(amount=3, at=at, price=Decimal("2.50"))
    with pytest.raises(ses.InvalidEvent, match="amount"):
        db.append("Order-1", [Paid.model_construct(amount="3", at=at, price=Decimal(1))])
    with pytest.raises(ses.InvalidEvent, match="Paid"):
        db.append("Order-1", [Paid.model_construct(amount=[1], at=at, price=Decimal(1))])
    assert len(db.read_all()) == 1


# -- the property: whatever is accepted reads back exactly ----------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_anything_scalars = (
    _json_scalars
    | st.floats()
    | st.decimals()
    | st.datetimes()
    | st.uuids()
    | st.binary(max_size=4)
    | st.sampled_from(list(Colour) + list(Size))
)
_anything = st.recursive(
    _anything_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.frozensets(st.integers(), max_size=3)
        | st.dictionaries(st.text() | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)
# metadata keys starting with "$" are the store's own and refused (the contract's _inputs.py)
_metadata_keys = st.text().filter(lambda key: not key.startswith("$"))
_settings = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_settings
@given(data=_json, metadata=st.dictionaries(_metadata_keys, _json, max_size=3))
def test_json_values_are_accepted_and_read_back_exactly(
    db: ses.Database, data: Any, metadata: dict[str, Any]
) -> None:
    event = _round_trip(db, data, metadata=metadata)
    assert _same(data, event.data)
    assert _same(metadata, event.metadata)


@_settings
@given(data=_anything)
def test_whatever_is_accepted_reads_back_exactly(db: ses.Database, data: Any) -> None:
    try:
        event = _round_trip(db, data)
    except ses.InvalidEvent:
        return
    assert _same(data, event.data)


def test_a_class_whose_fields_have_no_json_form_is_refused(registry: ses.EventTypes) -> None:
    @dataclasses.dataclass
    class Odd:
        handle: object()  # type: ignore[valid-type]

    with pytest.raises(ses.InvalidEvent, match="Odd cannot be read from JSON"):
        registry.register(Odd, "Odd")
    assert "Odd" not in registry
