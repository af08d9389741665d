"""The law of states stored by reference (state version 12): a record whose state is the
fold of a few observations and applied writes of its own stores their seqs instead of its
text, and reads back as exactly the state the fold of before stored as text (values,
registers and their clocks, each side's id, clock and values, status, attention, the
indexed columns, the links), after every step of a script of edits, cycles and crashes
(each a rollback the journal forgets its cache on), and once more after a reopen."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from journal import Journal, replay
from tests.journal.by_reference import check_by_reference
from tests.property.test_sync_laws import BATCH_SIZES, CONFLICTS, DUPLICATES, PAGE_SIZES
from tests.property.world import config, open_world
from tests.strategies import Cycle, Insert, edits, faults, full_cycles, partial_cycles

scripts = st.tuples(
    st.lists(edits, min_size=1, max_size=6),
    st.lists(st.one_of(full_cycles, partial_cycles, st.builds(Cycle, fault=faults)), max_size=3),
    st.lists(edits, max_size=4),
    st.lists(st.one_of(full_cycles, st.builds(Cycle, fault=faults)), max_size=2),
).map(lambda p: [*p[0], *p[1], *p[2], *p[3]])


@given(scripts, DUPLICATES, CONFLICTS, PAGE_SIZES, BATCH_SIZES)
def test_a_state_stored_by_reference_reads_as_the_state_stored_as_text(
    script, duplicates, conflicts, page_size, batch_size
):
    """After every step (crashes included), at quiescence and after a reopen, each record
    reads as the fold of before stored it, and the journal verifies."""
    cfg = config(duplicates=duplicates, conflicts=conflicts, page_size=page_size)
    with tempfile.TemporaryDirectory(prefix="by-reference-") as name:
        folder = Path(name)
        with open_world(folder, cfg, batch_size=batch_size) as w:
            for step in script:
                w.apply(step)
                check_by_reference(w.journal, folder)
            w.quiesce()
            check_by_reference(w.journal, folder)
            reducer = w.journal.reducer
        with Journal(folder / "journal.db", reducer) as journal:
            assert not journal.needs_state_upgrade
            check_by_reference(journal, folder)
            result = replay.verify(journal)
            assert result.ok, result.problem


def test_a_first_sync_stores_its_records_by_reference(tmp_path):
    """A first sync of a few rows on each side: every record is an observation and the
    create it made, stored by reference, and reads as stored as text."""
    with open_world(tmp_path, config()) as w:
        for i in range(4):
            w.apply(Insert("books", {"name": f"B{i}"}))
            w.apply(Insert("crm", {"name": f"C{i}"}))
        w.apply(Cycle())
        assert check_by_reference(w.journal, tmp_path) == 8
        states = sqlite3.connect(tmp_path / "journal.db")
        try:
            (n,) = states.execute("SELECT count(*) FROM records WHERE state GLOB '@*'").fetchone()
        finally:
            states.close()
        assert n == 8
