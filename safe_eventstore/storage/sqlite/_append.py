"""The append path: checks inside the write transaction, rows written in bulk, and caches.

Concurrent appends to one database reach :func:`run_group` together (see group_commit.py)
and share one ``BEGIN IMMEDIATE`` transaction. Each append runs the sequence of
:func:`~safe_eventstore.storage.base.run_append` on a :class:`_Transaction`, whose checks
only read; the rows of the appends that pass them collect in a :class:`Pending` and are
written together, one statement per table. What the connection's last commit left (the
last position, stream heads) is kept in a :class:`Known` and reused while no other
connection has committed, so a lone writer reads neither again (both in _pending.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..._model import AppendCondition, AppendResult, Query
from ..._names import category_of
from ..base import (
    EVENT,
    BatchSignature,
    Entry,
    Head,
    Signer,
    Transaction,
    Write,
    check_version,
    earlier,
    indexed,
    placed,
    plan_append,
    result_of,
    run_append,
)
from ..documents import DocumentRow
from ..group_commit import Request
from . import _reads, _rows, _signatures, _usual
from ._errors import WriteFailed, translated
from ._pending import Known, Pending
from ._records import encode as encode_record
from ._schema import INLINE_BELOW

__all__ = ["AppendItem", "AppendRequest", "Known", "Pending", "run_group"]

AppendItem = tuple[
    list[Write],
    dict[bytes, bytes],
    tuple[str, int] | None,
    AppendCondition | None,
    list[DocumentRow] | None,
]
AppendRequest = Request[AppendItem, list[AppendResult]]


class _Transaction(Transaction):
    """One append's primitives inside the group's write transaction. A stream's head comes
    from ``heads`` (this transaction's), else from ``before`` (known from an earlier
    commit), else from the stream's entries; the rows of the entries it stores go to
    ``pending`` when the append is finished, and ``heads`` gains the heads it moved."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        pending: Pending,
        heads: dict[str, Head],
        before: dict[str, Head] | None,
    ) -> None:
        self.conn = conn
        self.pending = pending
        self.heads = heads
        self.before = before
        self.blobs: dict[bytes, bytes] = {}  # the payloads of the append being run
        self.run_limit: int | None = None  # rows a run statement may hold, once asked
        # (begin() starts each append of the general sequence; append_one needs none)

    def begin(self) -> None:
        """Start the next append of the group."""
        self.position = self.pending.position
        self.rows: list[tuple[Any, ...]] = []
        self.runs: list[_rows.Statement] = []
        self.streams_new: list[tuple[str, str]] = []
        self.flags_off: list[tuple[int, str, int]] = []  # heads the appends follow
        self.tags: list[tuple[str, int]] = []
        self.apart: dict[bytes, bytes] = {}  # payloads kept in rows of their own
        self.writes: list[Write] = []
        self.moved: dict[str, Head] = {}
        self.signature: BatchSignature | None = None
        self.documents: list[DocumentRow] = []

    def head(self, stream: str) -> Head | None:
        head = self.heads.get(stream)
        if head is None and self.before is not None:
            head = self.before.get(stream)
        if head is None:
            head = _reads.head(self.conn, stream)
            if head is not None:
                self.heads[stream] = head
        return head

    def existing(self, stream: str, event_ids: list[bytes]) -> list[Entry]:
        marks = ",".join("?" * len(event_ids))
        # "+e.stream" keeps the planner on the event id index: the stream's own indexes
        # would scan the whole stream. Nearly every append finds nothing (only a retry
        # finds its entries), which the first statement tells from the index alone.
        where = f"e.event_id IN ({marks}) AND e.generated IS NULL AND +e.stream = ? AND e.kind = 0"
        args = (*event_ids, stream)
        if self.conn.execute(f"SELECT 1 FROM entries e WHERE {where} LIMIT 1", args).fetchone():
            rows = self.conn.execute(f"{_reads.SELECT} WHERE {where}", args)
            return _reads.stored_entries(self.conn, rows)
        return []

    def at_versions(self, stream: str, first: int, event_ids: list[bytes]) -> list[Entry]:
        # an event's seq is its version plus the restructures before it, so the (stream,
        # seq) index starts the walk at or before version ``first``; events follow in version
        # order, so the first len(event_ids) from version ``first`` on are the ones wanted
        rows = self.conn.execute(
            f"{_reads.SELECT} WHERE e.stream = ? AND e.seq >= ? AND e.kind = 0"
            " AND e.version >= ? ORDER BY e.seq LIMIT ?",
            (stream, first, first, len(event_ids)),
        )
        return placed(event_ids, first, _reads.stored_entries(self.conn, rows))

    def first_match(self, query: Query, from_position: int) -> Entry | None:
        sql, args = _reads.query_sql(query, from_position)
        match = _reads.stored_entries(
            self.conn,
            self.conn.execute(
                f"{_reads.SELECT} WHERE e.position = (SELECT min(position) FROM ({sql}))", args
            ),
        )
        return match[0] if match else None

    def checkpoint(self, name: str) -> int | None:
        row = self.conn.execute(
            "SELECT position FROM checkpoints WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else int(row[0])

    def _run_limit(self) -> int:
        """Rows a run statement may hold on this connection (asked once)."""
        if self.run_limit is None:
            self.run_limit = _rows.run_limit(self.pending.variables)
        return self.run_limit

    def store(self, write: Write, entries: list[Entry], head: Head | None) -> None:
        category = category_of(write.stream)
        if head is None:
            self.streams_new.append((write.stream, category))
            version = -1
        else:
            self.flags_off.append((head.position, write.stream, head.seq))
            version = head.version
        given = indexed(write)  # the ids no retry looks up by id are left out of the index
        last = entries[-1]  # the stream's new head
        position = self.position
        for e in entries:
            position += 1
            e.position = position
        runs = None
        if len(entries) >= _rows.RUN_MIN:
            runs = _rows.run_statements(
                self._run_limit(), write.stream, category, None if given else 1, entries,
                self.blobs, self.tags,
            )  # fmt: skip
        if runs is None:
            version = self._rows(
                entries, category, given, version, self.rows, self.tags, self.apart
            )
        else:
            self.runs += runs
            version = last.version
        self.position = position
        self.writes.append(write)
        self.moved[write.stream] = Head(last.seq, version, last.hash, last.position)

    def _rows(
        self,
        entries: list[Entry],
        category: str,
        given: bool,
        version: int,
        rows: list[tuple[Any, ...]],
        tags: list[tuple[str, int]],
        apart: dict[bytes, bytes],
    ) -> int:
        """Add the rows of ``entries`` (placed) with every value bound to ``rows`` (their
        tags to ``tags``, the payloads kept in rows of their own to ``apart``); the version
        of the last event among them (else ``version``)."""
        blobs = self.blobs
        last = entries[-1]
        for e in entries:
            position = e.position
            if e.kind == EVENT:
                if e.tags:
                    tags.extend((tag, position) for tag in e.tags)
                version = e.version
            # a payload kept in its entry's row (data) or in a row of its own (payload: its
            # address here, that row's id once written: _rows.with_payload_ids)
            address = e.address
            data = None
            if address is not None:
                if e.size < INLINE_BELOW:
                    data = blobs[address]
                else:
                    apart[address] = blobs[address]
            # the id in its column only where the index of ids has it (schema 10)
            generated = None if given and e.kind == EVENT else 1
            rows.append(
                (
                    position, e.stream, e.seq, e.version, e.kind, category,
                    b"" if generated else e.event_id, e.type, e.size,
                    1 if e is last else None, generated,
                    data, encode_record(e), None if data is not None else address,
                )
            )  # fmt: skip
        return version

    def append_one(self, request: AppendRequest, write: Write, blobs: dict[bytes, bytes]) -> None:
        """Run the usual request, one stream's write and nothing else with it, outside a
        savepoint: :func:`run_append`'s sequence for it, in one step. Its drafts are made
        here if the write left them to this thread (``Write.later``). A small write of
        events only that is no retry (the usual append) is sealed straight into the rows
        of ``pending`` (``_usual.add_events``, ``add_lone``): the sequence's steps cost
        more than their work in a group of single appends. So is a larger one that is a
        run (a batch of an import, say), into a run's statements. Sets the request's result or
        error."""
        stream = write.stream
        try:
            later = write.later
            if later is not None:  # kept on failure: a retry of the batch refuses it again
                write.drafts = later()
                write.later = None
            drafts = write.drafts
            if stream in self.pending.streams:  # rows of this stream are unwritten
                self.pending.write(self.conn)
            head = self.head(stream)
            lone = _usual.lone(write, drafts, head)
            plan: AppendResult | list[Entry] | None = None
            run = False
            if not lone:
                found = earlier(self, write, head)
                if not found and (_usual.small_events(drafts) or _usual.is_run(drafts)):
                    check_version(stream, head, write.expected)
                    run = len(drafts) >= _rows.RUN_MIN
                else:
                    plan = plan_append(stream, head, write.expected, drafts, found)
        except WriteFailed:
            raise  # the group's rows: the whole group fails
        except Exception as exc:
            if not self.conn.in_transaction:
                raise  # SQLite rolled the whole transaction back
            request.result, request.error = None, translated(exc)
            return
        request.error = None
        # outside the try: the rows go to ``pending`` as they are made, so a failure while
        # sealing (a bug) must fail the group's transaction, not this request alone
        if lone:
            request.result = [
                _usual.add_lone(self.pending, self.heads, stream, head, drafts[0], blobs)
            ]
            return
        if plan is None:
            limit = self._run_limit() if run else None
            request.result = [
                _usual.add_events(self.pending, self.heads, stream, head, write, blobs, limit)
            ]
            return
        if isinstance(plan, AppendResult):
            request.result = [plan]  # an idempotent retry
            return
        self.begin()
        self.blobs = blobs
        self.store(write, plan, head)
        self.finish(blobs, None)
        request.result = [result_of(plan)]

    def last_signature(self) -> BatchSignature | None:
        if self.pending.signatures:  # an earlier append of this group, not written yet
            return self.pending.signatures[-1]
        last = _signatures.last(self.conn)
        self.pending.signed_before = self.pending.signed_before or last is not None
        return last

    def store_signature(self, signature: BatchSignature) -> None:
        self.signature = signature

    def store_documents(self, documents: list[DocumentRow]) -> None:
        self.documents = documents

    def finish(self, blobs: dict[bytes, bytes], checkpoint: tuple[str, int] | None) -> None:
        # of ``blobs``, only the payloads that store() kept apart get rows of their own
        self.pending.add(
            self.writes, self.rows, self.runs, self.streams_new, self.flags_off, self.tags,
            self.apart, checkpoint, self.position,
        )  # fmt: skip
        if self.signature is not None:
            self.pending.signatures.append(self.signature)
        self.pending.documents += self.documents
        self.heads.update(self.moved)


def _undo(
    conn: sqlite3.Connection,
    pending: Pending,
    heads: dict[str, Head],
    saved: dict[str, Head] | None,
    exc: Exception,
) -> None:
    """After a request failed inside the group's transaction: roll an isolated request back
    to its savepoint, with the heads it moved (``saved``: those from before it); without
    ``isolate``, a failed write of the pending rows fails the whole group (raised again)."""
    if saved is not None:
        conn.execute("ROLLBACK TO append")
        pending.clear()
        heads.clear()
        heads.update(saved)
    elif isinstance(exc, WriteFailed):
        raise exc


def _run_request(
    tx: _Transaction, request: AppendRequest, *, isolate: bool, db: str, signer: Signer | None
) -> None:
    """Run one request of the group: its result, or its error with its rows undone."""
    conn, pending, heads = tx.conn, tx.pending, tx.heads
    request.result = request.error = None
    writes, blobs, checkpoint, condition, documents = request.item
    if isolate:
        conn.execute("SAVEPOINT append")
        saved = dict(heads)  # a request rolled back takes the heads it moved with it
    try:
        if not isolate and pending.touches(writes, checkpoint, condition):
            pending.write(conn)
        tx.begin()
        tx.blobs = blobs
        request.result = run_append(
            tx, writes, blobs, checkpoint, condition, signer=signer, db=db,
            documents=documents,
        )  # fmt: skip
        if isolate:
            pending.write(conn)
    except Exception as exc:
        if not conn.in_transaction:
            raise  # SQLite rolled the whole transaction back
        _undo(conn, pending, heads, saved if isolate else None, exc)
        request.result, request.error = None, translated(exc)
    if isolate:
        conn.execute("RELEASE append")


def _drafted(request: AppendRequest, writes: list[Write]) -> bool:
    """Make the drafts that ``writes`` leave to this thread (``Write.later``): whether
    they were made; if not, the request has the error and nothing was written."""
    for write in writes:
        later = write.later
        if later is not None:
            try:
                write.drafts = later()
            except Exception as exc:  # the event refused (a retry of the batch refuses it again)
                request.result, request.error = None, exc
                return False
            write.later = None
    return True


def run_group(
    conn: sqlite3.Connection,
    known: Known,
    batch: list[AppendRequest],
    *,
    isolate: bool,
    begin: Callable[[sqlite3.Connection], None],
    db: str = "",
    signer: Signer | None = None,
    more: Callable[[list[AppendRequest]], bool] | None = None,
) -> None:
    """One transaction (opened by ``begin``) for the batch, and for the requests that
    ``more`` adds to it before the commit (see ``GroupCommit.take_queued``), asked again
    after each write of the rows until none came. Each request's
    checks only read, so a request that fails them has written nothing; its rows are
    written later, with those of the requests around it, in one statement per table. A
    request that touches a stream or checkpoint with rows still unwritten first writes
    them, so it checks against what is stored (a request with an append condition, which
    may match any event, first writes all of them). With ``isolate``, each request is
    written at once inside its own savepoint instead. When no other connection has
    committed since this one's last commit, the last position and the heads that commit
    left are taken from ``known`` instead of read again. With a ``signer``, every append is
    signed (database ``db``): signed appends are grouped apart from unsigned ones."""
    begin(conn)
    version: int | None = None
    valid = False
    if isolate:  # a request rolled back to its savepoint would leave its heads behind
        known.forget()
    else:
        version, valid = known.check(conn)
    if valid:
        position = known.position
    else:
        (position,) = conn.execute("SELECT coalesce(max(position), 0) FROM entries").fetchone()
    pending = Pending(position, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    # the heads this transaction looked up or moved, and those known from before it
    heads: dict[str, Head] = {}
    tx = _Transaction(conn, pending, heads, known.heads if valid else None)
    plain = not isolate and signer is None  # requests may take tx.append_one
    done = 0
    while True:
        for request in batch[done:]:
            writes, blobs, checkpoint, condition, documents = request.item
            if plain and len(writes) == 1 and checkpoint is None and condition is None:
                if not documents:
                    tx.append_one(request, writes[0], blobs)
                    continue
            if writes and writes[0].later is not None and not _drafted(request, writes):
                continue
            _run_request(tx, request, isolate=isolate, db=db, signer=signer)
        done = len(batch)
        # requests queued meanwhile join the transaction (``more`` adds them to ``batch``)
        if more is None:
            break
        if more(batch):
            continue
        # None queued yet: write the rows, and look again after the statement, which let
        # the threads woken by the last commit run and queue their next appends: those
        # that arrive now share this commit instead of waiting for the next one
        pending.write(conn)
        if not more(batch):
            break
    pending.write(conn, last=True)
    conn.execute("COMMIT")
    if version is not None:
        known.committed(version, pending.position, heads)
