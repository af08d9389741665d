"""``benchmarks/floor.py`` (issue 16's floor): a smoke run, and the rows it times are the
journal's own (the chain it precomputes is the journal's chain).  No figure is asserted:
a benchmark's figures are read side by side, never held to a time in a test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from journal import ChainKey
from journal.entry import chain_hash, chain_text, micros_text

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def floor():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import floor as module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.fixture(scope="module")
def quick(floor, tmp_path_factory):
    """One ``--quick`` run's JSON."""
    import contextlib
    import io

    out = io.StringIO()
    folder = tmp_path_factory.mktemp("floor")
    with contextlib.redirect_stdout(out):
        assert floor.main(["--quick", "--dir", str(folder)]) == 0
    return json.loads(out.getvalue())


def test_the_chain_it_precomputes_is_the_journals(floor):
    """Each row's digest is :func:`journal.entry.chain_hash` of its canonical text,
    linked to the digest before it, under the key."""
    key = ChainKey(bytes(range(32)))
    chain = floor.Chain(key)
    prev = "0" * 64
    for k, (rid, kind, fields) in enumerate(
        [
            ("books:1", "observed", '[255,"Oslo"]'),
            (None, "intent", "{}"),
            ("books:1", "applied", "[-2]"),
        ]
    ):
        micros = floor.BUILT_MICROS + k // 2
        row, data = chain.row(micros, rid, "crm", kind, '["crm",1]', "{}", fields, "[0]")
        assert row[0] == k + 1
        columns = (prev, k + 1, micros_text(micros), floor.MODULE, rid, "crm", kind)
        columns += ('["crm",1]', "{}", fields, "[0]")
        assert data == chain_text(*columns)  # the bytes its hash step hashes
        expected = chain_hash(*columns, key=key)
        assert row[-1].hex() == expected
        prev = expected


def test_a_quick_run_writes_every_row_of_a_first_copy_and_replays_it(quick):
    n = quick["records"]
    pages = -(-(n // 2) // quick["page"]) + -(-(n - n // 2) // quick["page"])
    copy = quick["first_copy"]
    assert copy["entries"] == 2 * n + pages  # an observation and an outcome, an intent a page
    for variant in ("indexed", "bulk"):
        counts = copy["counts"][variant]
        assert counts["entries"] == copy["entries"]
        assert counts["records"] == counts["records_tally"] == n
        assert counts["links"] == 2 * n
        assert counts["books_rows"] == counts["crm_rows"] == n  # each side holds every record
    # the bulk variant made again every index it put aside
    assert copy["counts"]["bulk"]["indexes"] == copy["counts"]["indexed"]["indexes"]
    replay = quick["replay"]
    for variant in ("indexed", "bulk"):
        counts = replay["counts"][variant]
        assert counts["entries_read"] == replay["entries"]
        assert counts["chain_mismatches"] == 0  # every digest checks as the journal's does
        assert counts["records"] == replay["records"]
        assert counts["links"] == 2 * counts["records"]


def test_a_quick_run_reports_each_step_and_the_floors(quick):
    steps = quick["first_copy"]["cpu_us_per_record"]
    for step in (
        "side_read_scan",
        "side_read_log",
        "hash",
        "entries_plain",
        "entries_without_virtual",
        "entries",
        "journal_commit",
        "side_write_rows",
        "side_write_keys",
        "side_commit",
        "checkpoint",
        "records.indexed",
        "records.bulk",
        "links.indexed",
        "links.bulk",
        "state_rebuild.bulk",
    ):
        assert steps[step]["samples"] >= 1
    floor = quick["first_copy"]
    assert floor["design_floor_us_per_record"] == pytest.approx(
        floor["sqlite_floor_us_per_record"]["minimum"] + floor["interpreter_floor_us_per_record"],
        abs=0.02,
    )
    assert floor["budget_us_per_record"] == 50
    assert quick["replay"]["budget_us_per_entry"] == 10
    assert set(quick["replay"]["cpu_us_per_entry"]) >= {
        "replay_read",
        "replay_decode",
        "chain_read",
        "chain_hash",
        "replay_state_write.indexed",
        "replay_state_write.bulk",
    }


def test_the_entries_table_without_its_virtual_columns_stores_the_same_columns(floor):
    """``entries_without_virtual`` inserts into the journal's table less its two virtual
    columns: every stored column, its indexes, nothing generated."""
    import sqlite3

    from journal.schema import SCHEMA, STORED_COLUMNS, statements

    db = sqlite3.connect(":memory:")
    for statement in statements(SCHEMA):
        db.execute(floor.without_virtual(statement))
    columns = [row[1] for row in db.execute("PRAGMA table_xinfo(entries)")]
    assert columns == [c.strip() for c in STORED_COLUMNS[3].split(",")]
    indexes = {row[1] for row in db.execute("PRAGMA index_list(entries)")}
    assert {"entries_record", "entries_kind", "entries_names"} <= indexes
