"""The SQLite backend's hot queries use the indexes meant for them: none of them may scan a
whole stream (whose cost grows with the stream)."""

from __future__ import annotations

import uuid
from pathlib import Path

import safe_eventstore as ses
from safe_eventstore.storage.sqlite import SqliteStorage


def test_lookups_do_not_scan_the_stream(tmp_path: Path) -> None:
    with ses.open(str(tmp_path / "store")) as store:
        db = store.create_database("bank")
        events = [ses.NewEvent("Deposited", {"n": i}, event_id=uuid.uuid4()) for i in range(50)]
        db.append("Account-1", events)
        db.restructure("Account-1", 3, reason="entered twice")
        storage = store.storage
        assert isinstance(storage, SqliteStorage)
        conn = storage._conn("bank")
        # appends go through their group's own connection, reads through the thread's
        conns = [conn, *(w.connection() for w in storage._writers)]
        statements: list[str] = []
        for c in conns:
            c.set_trace_callback(statements.append)
        db.append("Account-1", [ses.NewEvent("Deposited", event_id=uuid.uuid4())])
        assert db.stream_version("Account-1") == 50  # (appends take the head they left)
        assert len(db.read_stream("Account-1", limit=5)) == 5
        assert len(db.read_stream("Account-1", backwards=True, limit=5)) == 5
        for c in conns:
            c.set_trace_callback(None)

        def plan(fragment: str) -> str:
            (sql,) = {s for s in statements if fragment in s}
            return " ".join(str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))

        assert "entries_given_event_id" in plan("e.event_id IN")
        assert "entries_stream_seq" in plan("e.version >=")  # a stream read by version
        assert "entries_stream_restructures" in plan("e.kind = 1 AND e.stream")
        head = plan("h.head = 1")  # the stream's head: from its end, along the seq index
        assert "entries_stream_seq" in head and "SCAN" not in head
        backwards = plan("r.kind = 1")  # restructures counted along their partial index
        assert "entries_stream_restructures" in backwards and "SCAN" not in backwards
