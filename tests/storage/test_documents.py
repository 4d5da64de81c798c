"""Documents written with an append and queried by declared fields: atomic with the batch,
answered through a real index on SQLite, the same as a plain Python filter everywhere, and
refused where they cannot be kept (NATS, an encrypted database)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import _documents

from ..backends import backend_url

COLL = "projection.accounts.v1"


@pytest.fixture(params=["memory", "sqlite"])
def ddb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ses.Database]:
    """A database that keeps documents, with ``balance`` and ``owner`` declared."""
    with ses.open(next(backend_url(request, tmp_path))) as store:
        db = store.create_database("bank")
        db.declare_document_index(COLL, ["balance", "owner"])
        yield db


def _put(db: ses.Database, stream: str, docs: dict[str, Any], **options: Any) -> None:
    db.append_batch(
        [ses.StreamAppend(stream, [ses.NewEvent("E")])], documents={COLL: docs}, **options
    )


def _all(db: ses.Database) -> dict[str, Any]:
    return dict(db.query_documents(COLL, limit=1000).items)


def test_documents_are_stored_replaced_and_deleted_with_the_batch(ddb: ses.Database) -> None:
    _put(ddb, "A-1", {"k1": {"balance": 1}, "k2": {"balance": 2}})
    _put(ddb, "A-1", {"k1": {"balance": 10}, "k2": None})
    assert _all(ddb) == {"k1": {"balance": 10}}
    assert ddb.get_document(COLL, "k1") == {"balance": 10}
    assert ddb.get_document(COLL, "k2") is None
    assert ddb.document_indexes(COLL) == ("balance", "owner")
    assert ddb.document_indexes("other") == ()
    assert ddb.supports_documents


def test_a_failing_batch_changes_no_document(ddb: ses.Database) -> None:
    _put(ddb, "A-1", {"k1": {"balance": 1}}, checkpoint=("c", 1))
    last = ddb.last_position()
    with pytest.raises(ses.WrongExpectedVersion):
        ddb.append_batch(
            [
                ses.StreamAppend("A-2", [ses.NewEvent("E")]),
                ses.StreamAppend("A-1", [ses.NewEvent("E")], expected_version=ses.NO_STREAM),
            ],
            documents={COLL: {"k1": {"balance": 99}, "k9": {"balance": 9}}},
        )
    with pytest.raises(ses.CheckpointConflict):
        _put(ddb, "A-3", {"k1": {"balance": 99}}, checkpoint=("c", 1))
    for bad in ({COLL: {"k1": object()}}, {COLL: {"": {}}}, {"$x": {"k": {}}}, {COLL: [1]}, [1]):
        with pytest.raises(ses.InvalidInput):
            ddb.append_batch([ses.StreamAppend("A-4", [ses.NewEvent("E")])], documents=bad)  # type: ignore[arg-type]
    assert ddb.last_position() == last
    assert _all(ddb) == {"k1": {"balance": 1}}


def test_a_retried_batch_stores_its_documents_once(ddb: ses.Database) -> None:
    event = ses.NewEvent("E")
    first = ddb.append_batch(
        [ses.StreamAppend("A-1", [event])], documents={COLL: {"k": {"balance": 1}}}
    )
    again = ddb.append_batch(
        [ses.StreamAppend("A-1", [event])], documents={COLL: {"k": {"balance": 2}}}
    )
    assert first == again
    assert ddb.get_document(COLL, "k") == {"balance": 1}  # the retry stored nothing


def test_concurrent_batches_each_keep_their_documents(ddb: ses.Database) -> None:
    def write(w: int) -> None:
        for i in range(20):
            _put(ddb, f"A-{w}", {f"k{w}-{i}": {"balance": i, "owner": f"w{w}"}})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ddb.count_documents(COLL) == 80
    assert ddb.count_documents(COLL, {"owner": "w2", "balance": (">=", 10)}) == 10


def test_sqlite_answers_a_range_page_through_the_declared_index(tmp_path: Path) -> None:
    with ses.open(f"sqlite://{tmp_path / 'store'}") as store:
        db = store.create_database("bank")
        db.declare_document_index(COLL, ["balance"])
        db.declare_document_index(COLL, ["balance", "owner"])  # again: idempotent, adds one
        _put(db, "A-1", {f"k{i}": {"balance": i, "owner": "ann"} for i in range(200)})
        conn = sqlite3.connect(tmp_path / "store" / "bank.sqlite3")
        try:
            indexes = {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index'"
                    " AND sql LIKE '%json_extract%'"
                )
            }
            assert len(indexes) == 2
            first = ses.DocumentQuery({"balance": (">=", 100)}, order_by="balance", limit=50)
            page = db.query_documents(COLL, {"balance": (">=", 100)}, order_by="balance")
            after = ses.DocumentQuery({"balance": (">=", 100)}, order_by="balance", after=page.next)
            down = ses.DocumentQuery({"owner": "ann"}, order_by="balance", descending=True)
            for query in (first, after, down):
                sql, args = _documents.query_sql(COLL, query)
                plan = " ".join(str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
                assert "USING INDEX documents_" in plan, plan
                assert "TEMP B-TREE" not in plan, plan  # the index gives the order
        finally:
            conn.close()


def test_an_encrypted_database_keeps_no_documents(tmp_path: Path) -> None:
    keyfile = ses.create_keyfile(tmp_path / "master.key")
    with ses.open(f"sqlite://{tmp_path / 'store'}", keyfile=keyfile) as store:
        db = store.create_database("people", encrypted=True)
        assert not db.supports_documents
        with pytest.raises(ses.NotSupported, match="plaintext"):
            db.declare_document_index(COLL, ["balance"])
        with pytest.raises(ses.NotSupported):
            _put(db, "A-1", {"k": {"balance": 1}})
        assert db.last_position() == 0
        assert db.document_indexes(COLL) == ()


@pytest.fixture(params=["nats"])
def nats_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request, tmp_path)


def test_nats_keeps_no_documents(nats_url: str) -> None:
    with ses.open(nats_url) as store:
        db = store.create_database("bank")
        assert not db.supports_documents
        with pytest.raises(ses.NotSupported):
            _put(db, "A-1", {"k": {"balance": 1}})
        with pytest.raises(ses.NotSupported):
            db.query_documents(COLL)
        assert db.last_position() == 0


def test_queries_of_undeclared_fields_and_bad_queries_are_refused(ddb: ses.Database) -> None:
    with pytest.raises(ses.UnknownDocumentIndex):
        ddb.query_documents(COLL, {"city": "Oslo"})
    with pytest.raises(ses.UnknownDocumentIndex):
        ddb.count_documents("other", {"balance": 1})
    with pytest.raises(ses.InvalidDocumentQuery):
        ddb.query_documents(COLL, {"balance": ("between", 1)})
    with pytest.raises(ses.InvalidDocumentQuery):
        ddb.declare_document_index(COLL, ["a-b"])
    with pytest.raises(ses.InvalidDocumentQuery):
        ddb.declare_document_index("it's", ["a"])


# -- a property: the answers of a backend equal a plain Python filter and sort -----------------

VALUES = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from(["", "a", "b", "ab", "é"]))
DOCS = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3),
    st.fixed_dictionaries({}, optional={"balance": VALUES, "owner": VALUES}),
    max_size=25,
)
OPS = ["==", "!=", "<", "<=", ">", ">="]
CONDITIONS = st.lists(
    st.tuples(
        st.sampled_from(["balance", "owner", "key"]),
        st.sampled_from(OPS),
        st.one_of(st.integers(-5, 5), st.sampled_from(["", "a", "b", "c", "é"])),
    ),
    max_size=3,
)


def _rank(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    return (2, v) if isinstance(v, str) else (1, v)


def _passes(v: Any, op: str, bound: Any) -> bool:
    if v is None:
        return False
    same = isinstance(v, str) == isinstance(bound, str)
    if op == "==":
        return same and v == bound
    if op == "!=":
        return not (same and v == bound)
    return same and {"<": v < bound, "<=": v <= bound, ">": v > bound, ">=": v >= bound}[op]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(docs=DOCS, conditions=CONDITIONS, order=st.sampled_from(["key", "balance", "owner"]),
       descending=st.booleans(), limit=st.integers(1, 7))  # fmt: skip
def test_queries_equal_a_plain_python_filter(
    ddb: ses.Database,
    docs: dict[str, dict[str, Any]],
    conditions: list[tuple[str, str, Any]],
    order: str,
    descending: bool,
    limit: int,
) -> None:
    conditions = [(f, op, v) for f, op, v in conditions if f != "key" or isinstance(v, str)]
    stored = _all(ddb)
    _put(ddb, "A-1", {**{k: None for k in stored}, **docs})
    where: dict[str, Any] = {}
    for f, op, v in conditions:
        where.setdefault(f, []).append((op, v))

    def value(key: str, doc: dict[str, Any], f: str) -> Any:
        return key if f == "key" else doc.get(f)

    wanted = [
        (k, d)
        for k, d in docs.items()
        if all(_passes(value(k, d, f), op, v) for f, op, v in conditions)
    ]
    wanted.sort(key=lambda kd: (_rank(value(kd[0], kd[1], order)), kd[0]), reverse=descending)
    got: list[tuple[str, Any]] = []
    after = None
    while True:
        page = ddb.query_documents(
            COLL, where, order_by=order, descending=descending, limit=limit, after=after
        )
        got += page.items
        if page.next is None:
            break
        after = page.next
    assert got == wanted
    assert ddb.count_documents(COLL, where) == len(wanted)
