"""The benchmark harness: SAFE EventStore side by side with references, in one run.

Only the ``safe-eventstore bench`` command imports it; nothing at run time does. One
:func:`run` measures every workload on this machine, in this process, interleaved with its
references (the ``eventsourcing`` library's SQLite recorder and raw ``sqlite3``), and reports
each of our rows with its ratio to its references. Only ratios from one run mean anything:
absolute figures move with the disk and whatever else the machine is doing.

=====  ==========================================================================
W1     single-event appends, one writer, durable
W2     single-event appends, concurrent writers (threads) on distinct streams
W3     appends of 100-event batches
W4     ``read_stream`` of one long stream, fully decoded events
W5     ``read_all`` over the same events
W6     subscription catch-up over the same events; live latency from append to
       delivery (p50, p99)
P1     projection catch-up (``projections.Runner``), beside the ``eventsourcing`` library's
       ``ProjectionRunner`` (P1-es) and W6; P2 its live lag (:mod:`.projection_rows`)
C1     commands on new aggregates (create, save) through ``safe_eventstore.cqrs``
C2     commands on existing aggregates (load, decide, save), no cache
C3     C2 with the repository's cache
C4     loads of a long aggregate with snapshots; C4-full without
H1     single-event appends through the HTTP API, beside the same in-process (H1-lib)
H2     a read of every event through the HTTP API as NDJSON, beside ``read_all``
H3     p99 latency of a page of a 1,000,000-event stream over HTTP (target < 50 ms)
P3     p99 latency of a read-model query page on a declared index of 1,000,000 keys
       (target < 5 ms), beside the same page without the index and from a plain table
=====  ==========================================================================

The C rows are compared with the ``eventsourcing`` library's ``Application`` (rows ``-es``).

::

    from safe_eventstore import bench

    rows = bench.run(quick=True, out="bench.json")
    print(bench.format_table(rows))

The modules: :mod:`._workloads` (W1-W6 on a store of ours, sizes, timing),
:mod:`._rows` (rows, ratios, table, JSON), :mod:`.sqlite_rows` (the SQLite run) with its
references in :mod:`._sqlite_references`, :mod:`.projection_rows` (the P rows) with the
library's runner in :mod:`._es_projection`, :mod:`.cqrs_rows` (the C rows) with the library's
applications in :mod:`._es_application`, :mod:`.web_rows` (the H rows, with the web
extra), :mod:`.query_rows` (the P3 rows), and :mod:`.nats_rows` (the NATS run, beside raw
nats-py; it imports ``nats``, so it is imported only when asked for).
"""

from __future__ import annotations

from ._rows import COLUMNS, Row, format_table, table
from ._workloads import QUICK, Sizes, Workloads, threads, timer
from .sqlite_rows import run

__all__ = [
    "COLUMNS",
    "QUICK",
    "Row",
    "Sizes",
    "Workloads",
    "format_table",
    "run",
    "table",
    "threads",
    "timer",
]
