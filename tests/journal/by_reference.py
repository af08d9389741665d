"""A law's check for the journal's own tests and others': each record stored by reference
reads as the state a fold storing every state as text makes (it reads the journal's file,
which only the journal's tests may)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from journal import Journal, replay
from journal.view import SQLiteView

_COLUMNS = "module, rid, state, key, attention, near, status, marks, label, ref"


def check_by_reference(journal: Journal, folder: Path) -> int:
    """Every record of ``journal`` read afresh (those stored by reference folded again
    from their entries) is the state a fold storing every state as text makes of the same
    entries, with the same columns and links; how many are stored by reference."""
    text_reducer = copy.copy(journal.reducer)
    text_reducer.reference_limit = 0  # type: ignore[attr-defined]
    text_reducer._unfolder = None  # type: ignore[attr-defined]
    path = folder / "as-text.db"
    path.unlink(missing_ok=True)
    target = replay.scratch(str(path))
    try:
        was, journal.reducer = journal.reducer, text_reducer
        try:
            replay.replay_into(journal, target)
        finally:
            journal.reducer = was
        old = SQLiteView(target, text_reducer)
        live = SQLiteView(journal.conn, journal.reducer)  # no cache: every state read
        order = " FROM records ORDER BY module, rid"
        rows = journal.conn.execute(f"SELECT {_COLUMNS}{order}").fetchall()
        texts = target.execute(f"SELECT {_COLUMNS}{order}").fetchall()
        assert [r[:2] for r in rows] == [r[:2] for r in texts]
        by_reference = 0
        for row, as_text in zip(rows, texts, strict=True):
            module, rid, state = row[:3]
            assert row[3:] == as_text[3:], (module, rid)
            assert not as_text[2].startswith("@")
            if state.startswith("@"):
                by_reference += 1
            else:
                assert state == as_text[2]
            assert _raw(live.record(module, rid)) == _raw(old.record(module, rid))
        links = "SELECT module, side, side_id, rid, status FROM links ORDER BY 1, 2, 3"
        assert journal.conn.execute(links).fetchall() == target.execute(links).fetchall()
        assert [(m, r, s.raw) for m, r, s in live.records()] == [
            (m, r, s.raw) for m, r, s in old.records()
        ]
    finally:
        target.close()
        path.unlink(missing_ok=True)
    return by_reference


def _raw(state: Any) -> Any:
    assert state is not None
    return state.raw


__all__ = ["check_by_reference"]
