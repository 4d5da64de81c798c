"""A smoke run of the H rows (the HTTP API beside in-process calls): tiny sizes, the rows'
shape only; the figures are read from a full ``safe-eventstore bench`` run."""

from __future__ import annotations

from pathlib import Path

import safe_eventstore as ses
from safe_eventstore.bench import QUICK, web_rows
from safe_eventstore.bench._rows import add_ratios


def test_the_h_rows_stand_beside_their_in_process_references(tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    with ses.open(url) as store:
        reads = store.create_database("reads")
        reads.append("Account-1", [ses.NewEvent("Deposited", {"i": i}) for i in range(300)])
        rows = web_rows.web_rows(store, url, QUICK, lambda _: None)
    add_ratios(rows, web_rows.REFERENCES)
    by_id = {r.id: r for r in rows}
    assert set(by_id) == {"H1", "H1-lib", "H2", "H2-lib", "H3", "H3-lib"}
    for key in ("H1", "H2", "H3"):
        assert set(by_id[key].ratios) == {f"{key}-lib"}
    assert by_id["H1"].count == by_id["H1-lib"].count == QUICK.http_appends
    assert by_id["H2"].count == by_id["H2-lib"].count == 300
    assert by_id["H3"].count == QUICK.pages
    assert by_id["H3"].unit == "ms p99"
    assert by_id["H3"].notes["target"] == "< 50 ms p99"
    assert all(r.rate > 0 for r in rows)
