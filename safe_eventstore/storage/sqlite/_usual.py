"""The usual append, sealed straight into a group's pending rows.

A request that is one stream's small write of events and no retry (nearly every append)
needs none of the general sequence's steps (entries, a plan, a result): its checks are
made by ``_Transaction.append_one`` (_append.py), and its drafts become rows, chain hashes
and records here, in one step (docs/decisions.md, the fourth and fifth passes of the append
path). So does one stream's larger write that is a run (events only, payloads inline: a
batch of an import), into the statements of a run (the seventh pass). The rows equal those
of the general sequence (``test_sqlite_runs.py`` and ``test_group_commit.py`` compare them).
"""

from __future__ import annotations

from typing import Any

from ..._codec import entry_hash
from ..._model import NO_STREAM, AppendResult
from ..._names import category_of
from ..base import EVENT, Draft, Head, Write, by_position, indexed
from . import _rows
from ._pending import Pending
from ._records import encode_values
from ._schema import INLINE_BELOW

__all__ = ["add_events", "add_lone", "is_run", "lone", "small_events"]


def lone(write: Write, drafts: list[Draft], head: Head | None) -> bool:
    """Whether ``write`` is a lone event at the version it expects (the usual single
    append): one event, whose payload is inline, whose id was made with it and whose
    expected version is concrete (:func:`by_position`: its id is not indexed, and where the
    stream is at that version no earlier attempt of it can be stored). Its checks then
    pass, and it needs no plan: :func:`add_lone` seals it."""
    if len(drafts) != 1 or not by_position(write):
        return False
    d = drafts[0]
    version = NO_STREAM if head is None else head.version  # (a head's version is >= 0)
    return d.kind == EVENT and d.size < INLINE_BELOW and version == write.expected


def small_events(drafts: list[Draft]) -> bool:
    """Whether ``drafts`` are events only, too few for a run (:data:`_rows.RUN_MIN`)."""
    if len(drafts) == 1:
        return drafts[0].kind == EVENT
    return len(drafts) < _rows.RUN_MIN and all(d.kind == EVENT for d in drafts)


def is_run(drafts: list[Draft]) -> bool:
    """Whether ``drafts`` are a run (:func:`_rows.run_chunks`): events only, enough of
    them (:data:`_rows.RUN_MIN`), each payload inline."""
    if len(drafts) < _rows.RUN_MIN:
        return False
    for d in drafts:
        if d.kind != EVENT or d.address is None or d.size >= INLINE_BELOW:
            return False
    return True


def _follow(
    pending: Pending, stream: str, category: str, head: Head | None
) -> tuple[int, int, bytes | None]:
    """Where a write to ``stream`` starts: its head's seq, version and hash (-1, -1 and
    None for a new stream, which ``pending`` is told to name; else the head's flag is to
    be cleared)."""
    if head is None:
        pending.streams_new.append((stream, category))
        return -1, -1, None
    pending.flags_off.append((head.position, stream, head.seq))
    return head.seq, head.version, head.hash


def _seal(
    d: Draft, prev: bytes | None, stream: str, seq: int, version: int, position: int
) -> tuple[bytes, bytes]:
    """The chain hash of event draft ``d`` placed at ``seq``, ``version`` and ``position``
    after ``prev``, and the record of its entry (the fields of ``Entry``, in order)."""
    h = entry_hash(
        (
            prev, stream, seq, version, EVENT, d.event_id, d.type, d.correlation_id,
            d.causation_id, d.timestamp, d.metadata, d.tags, d.address, d.codec, d.size,
        )
    )  # fmt: skip
    record = encode_values(
        (
            stream, seq, version, position, EVENT, d.event_id, d.type, d.correlation_id,
            d.causation_id, d.timestamp, d.metadata, d.tags, d.address, d.codec, None,
            d.size, None, h,
        )
    )  # fmt: skip
    return h, record


def add_lone(
    pending: Pending,
    heads: dict[str, Head],
    stream: str,
    head: Head | None,
    d: Draft,
    blobs: dict[bytes, bytes],
) -> AppendResult:
    """:func:`add_events` for a lone event: the only event of its write, its id not
    indexed and its payload inline (the usual single append), whose row binds only its
    own values (``pending.singles``)."""
    category = category_of(stream)
    seq, version, prev = _follow(pending, stream, category, head)
    seq, version, position = seq + 1, version + 1, pending.position + 1
    address = d.address
    assert address is not None  # an event's payload
    h, record = _seal(d, prev, stream, seq, version, position)
    if d.tags:
        pending.tags.extend((tag, position) for tag in d.tags)
    pending.singles.append(
        (position, stream, seq, version, category, d.type, blobs[address], record)
    )
    pending.position = position
    pending.streams.add(stream)
    heads[stream] = Head(seq, version, h, position)
    return AppendResult(version, version, position)


def add_events(
    pending: Pending,
    heads: dict[str, Head],
    stream: str,
    head: Head | None,
    write: Write,
    blobs: dict[bytes, bytes],
    run: int | None = None,
) -> AppendResult:
    """Seal ``write``'s event drafts on ``head`` (checked) and add their rows to
    ``pending``, and the stream's new head to ``heads``: what :func:`plan_append` and
    ``_Transaction.store`` do, without making the entries. Their records are encoded from
    the entries' fields (:func:`_records.encode_values`). A write that is a run
    (:func:`is_run`: a larger one, such as a batch of an import) is given ``run``, the rows
    a run statement may hold: its rows go in such statements (``pending.runs``), binding
    only each row's own values, as :func:`_rows.run_statements` makes them from entries."""
    category = category_of(stream)
    seq, version, prev = _follow(pending, stream, category, head)
    given = indexed(write)  # the ids no retry looks up by id are left out of the index
    drafts = write.drafts
    position = pending.position
    first = version + 1
    rows, tags, apart = pending.entries, pending.tags, pending.blobs
    values: list[Any] = []  # a run's rows' own values
    last = drafts[-1]
    for d in drafts:
        seq += 1
        version += 1
        position += 1
        prev, record = _seal(d, prev, stream, seq, version, position)
        if d.tags:
            tags.extend((tag, position) for tag in d.tags)
        if run is not None:
            if given:
                values.append(d.event_id)
            values += (d.type, blobs[d.address], record)  # type: ignore[index]
            continue
        address, size = d.address, d.size
        data = None  # the payload in the row (data), or in a row of its own (payload)
        if address is not None:
            if size < INLINE_BELOW:
                data = blobs[address]
            else:
                apart[address] = blobs[address]
        rows.append(
            (
                position, stream, seq, version, EVENT, category,
                d.event_id if given else b"", d.type, size, 1 if d is last else None,
                None if given else 1, data, record, None if data is not None else address,
            )
        )  # fmt: skip
    if run is not None:
        start = (pending.position + 1, first + seq - version, first)  # seqs follow versions
        pending.runs += _rows.run_chunks(run, stream, category, None if given else 1, start, values)
    pending.position = position
    pending.streams.add(stream)
    assert prev is not None
    heads[stream] = Head(seq, version, prev, position)
    return AppendResult(first, version, position)
