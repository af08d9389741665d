"""A record's state stored by reference to its entries: a record whose state is the fold
of a few observations and applied writes of its own stores their seqs (``@...``) instead
of its text, and reads as the very state its text would have held."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conflicts import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, replay, verify
from journal.schema import STATE_SCHEMA
from journal.view import SQLiteView, reference_text, referenced
from tests.conflicts.test_apply_row import CROSSING, SCRIPTS, _conflict, _obs, _sync

LIMIT = 4


def _reducer(limit: int = LIMIT) -> RecordReducer:
    reducer = RecordReducer(labels={"customers": "name"})
    reducer.reference_limit = limit
    return reducer


def _rows(path: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every record's row: ``(module, rid) -> (state, the other columns)``."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT module, rid, state, key, attention, near, status, marks, label, ref "
            "FROM records"
        ).fetchall()
    finally:
        conn.close()
    return {(m, r): (state, tuple(rest)) for m, r, state, *rest in rows}


def _links(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM links ORDER BY 1, 2, 3").fetchall()
    finally:
        conn.close()


def _both(tmp_path: Path, batches: list[list[NewEntry]]) -> tuple[Path, Path]:
    """A journal of the entries appended live, storing states by reference, and the
    tables a replay of them makes storing every state as its text (the fold of before)."""
    ref, text = tmp_path / "ref.db", tmp_path / "text.db"
    with Journal(ref, _reducer()) as journal:
        for batch in batches:
            journal.append(batch)
        result = verify(journal)
        assert result.ok, result.problem
    with Journal(ref, _reducer(0)) as journal:
        target = replay.scratch(str(text))
        try:
            replay.replay_into(journal, target)
        finally:
            target.close()
    return ref, text


def _check_same(ref: Path, text: Path) -> int:
    """Each record of ``ref`` (read afresh, by reference or from its text) is the state
    ``text`` stored as text, with the same other columns and links; how many records
    ``ref`` stores by reference."""
    by_ref, by_text = _rows(ref), _rows(text)
    assert by_ref.keys() == by_text.keys()
    conn = sqlite3.connect(text)
    try:
        old = SQLiteView(conn, _reducer(0))
        with Journal(ref, _reducer()) as journal:
            for key, (_, columns) in by_ref.items():
                assert columns == by_text[key][1]
                assert not by_text[key][0].startswith("@")
                assert journal.record(*key) == old.record(*key)
                assert journal.record(*key).raw == old.record(*key).raw
                assert journal.links(*key) == old.links(*key)
            assert [(m, r, s.raw) for m, r, s in journal.records()] == [
                (m, r, s.raw) for m, r, s in old.records()
            ]
    finally:
        conn.close()
    assert _links(ref) == _links(text)
    return sum(state.startswith("@") for state, _ in by_ref.values())


def test_a_synced_record_is_stored_by_reference_to_its_two_entries(tmp_path):
    """An observation and the create it made: ``@`` and their seqs, and it reads as the
    state stored as text, whatever the cache held."""
    ref, text = _both(tmp_path, [_sync("books:1") + _sync("books:2")])
    rows = _rows(ref)
    assert rows[("customers", "books:1")][0] == "@1,1"  # entries 1 and 1 + 1
    assert referenced(rows[("customers", "books:2")][0]) == [3, 4]
    assert _check_same(ref, text) == 2


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_shape_reads_as_its_state_stored_as_text(tmp_path, name):
    """Every shape of entry a record is made of (observations and applied writes the
    fold reads from their rows or decodes, and others): the same state, links and
    columns as stored as text; by reference only if all are observations or applied
    writes, and no more than the limit."""
    script = SCRIPTS[name]
    ref, text = _both(tmp_path, [[entry] for entry in script])
    kinds = {str(entry.kind) for entry in script}
    simple = kinds <= {"observed", "applied"} and len(script) <= LIMIT
    assert _check_same(ref, text) == (1 if simple else 0)


def test_a_record_past_the_limit_is_stored_as_its_text_from_then_on(tmp_path):
    """The fifth entry of a record makes its state text, and it stays text."""
    batches = [[_obs("books:1", "books", "b1", n, n=n)] for n in range(1, LIMIT + 3)]
    ref, text = _both(tmp_path, batches[:LIMIT])
    assert referenced(_rows(ref)[("customers", "books:1")][0]) == [1, 2, 3, 4]
    more = tmp_path / "more"
    more.mkdir()
    ref, text = _both(more, batches)
    assert _check_same(ref, text) == 0


def test_a_conflict_makes_a_record_text(tmp_path):
    """An entry of another kind (here a conflict) about a record: stored as text."""
    ref, text = _both(tmp_path, [_sync("books:1"), [_conflict("books:1")], _sync("books:2")])
    rows = _rows(ref)
    assert not rows[("customers", "books:1")][0].startswith("@")
    assert rows[("customers", "books:2")][0].startswith("@")
    assert _check_same(ref, text) == 1


@pytest.mark.parametrize("name", sorted(CROSSING))
def test_an_entry_crossing_records_leaves_each_state_as_text_would(tmp_path, name):
    """A retry, a settling, a deleted integration, an undo's unlink...: each record reads
    as stored as text, before and after, and verify holds."""
    with Journal(tmp_path / "probe.db", _reducer()) as probe:
        probe.append(_sync("books:1") + _sync("books:2"))
        seq = probe.last_seq
    crossing = CROSSING[name](seq)
    ref, text = _both(tmp_path, [_sync("books:1") + _sync("books:2"), [crossing], _sync("books:3")])
    _check_same(ref, text)


def test_a_record_stored_by_reference_reads_after_a_reopen_and_a_rebuild(tmp_path):
    """Closed and opened again, or rebuilt by replay (two processes), the rows are the
    same and each record reads as before."""
    ref, text = _both(tmp_path, [_sync(f"books:{i}") for i in range(8)])
    before = _rows(ref)
    with Journal(ref, _reducer()) as journal:
        assert journal.record("customers", "books:3") is not None
        assert replay.rebuild(journal, workers=2) == journal.last_seq
        assert verify(journal, workers=2).ok
    assert _rows(ref) == before
    assert _check_same(ref, text) == 8


def test_a_view_reads_a_state_by_reference_from_another_files_entries(tmp_path):
    """A replay's tables live in a file of their own: its view reads the entries a
    reference names from the journal's file."""
    ref, _ = _both(tmp_path, [_sync("books:1")])
    other = sqlite3.connect(tmp_path / "tables.db")
    journal_file = sqlite3.connect(ref)
    try:
        other.executescript(STATE_SCHEMA)
        other.executemany(
            "INSERT INTO records (module, rid, key, attention, state) VALUES (?, ?, ?, ?, ?)",
            [("customers", "books:1", None, 0, reference_text([1, 2]))],
        )
        with Journal(ref, _reducer()) as journal:
            expected = journal.record("customers", "books:1")
        view = SQLiteView(other, _reducer(), entries=journal_file)
        assert view.record("customers", "books:1") == expected
    finally:
        other.close()
        journal_file.close()


def test_a_reference_to_an_entry_the_journal_lacks_is_a_storage_error(tmp_path):
    """A row naming entries past the journal's end says so, not a KeyError."""
    from journal.errors import StorageError

    ref, _ = _both(tmp_path, [_sync("books:1")])
    with Journal(ref, _reducer()) as journal:
        journal.conn.execute("UPDATE records SET state = '@1,99' WHERE rid = 'books:1'")
        journal.view.forget()
        with pytest.raises(StorageError, match=r"\[100\]"):
            journal.record("customers", "books:1")


def test_a_reference_to_another_records_entries_is_a_storage_error(tmp_path):
    """A row edited to name the entries of another record does not read as that record's
    state under this record's rid: the read says so, and verify finds the edit."""
    from journal.errors import StorageError

    ref, _ = _both(tmp_path, [_sync("books:1"), _sync("books:2")])
    with Journal(ref, _reducer()) as journal:
        other = _rows(ref)[("customers", "books:2")][0]
        journal.conn.execute("UPDATE records SET state = ? WHERE rid = 'books:1'", (other,))
        journal.view.forget()
        with pytest.raises(StorageError, match=r"books:1 .*\[3, 4\] of another record"):
            journal.record("customers", "books:1")
        assert not verify(journal).ok


def test_the_reference_text_round_trips():
    """Seqs as the first and the distances after it."""
    assert reference_text([1041, 6041]) == "@1041,5000"
    assert referenced("@1041,5000") == [1041, 6041]
    assert referenced(reference_text([7])) == [7]


def _holding(view: SQLiteView, text: str) -> set[str]:
    return {rid for _, rid, _ in view.records("customers", holding=text)}


def test_a_search_of_held_text_finds_a_record_by_reference_as_its_text_would(tmp_path):
    """``records(holding=)`` is a superset of the records whose state holds the text: a
    record stored by reference is found by its values and by each side's id, also the
    side id a compact entry leaves out because it is the rid's own."""
    books_own = NewEntry(
        Kind.OBSERVED,
        "customers",
        "books:b7",
        "books",
        Dot("books", 1),
        VectorClock(),
        {"name": "Zebulon"},
        {"id": "b7", "key": "zebulon"},
    )
    created = NewEntry(
        Kind.APPLIED,
        "customers",
        "books:b7",
        "crm",
        context=VectorClock.of(books=1),
        fields={"name": "Zebulon"},
        meta={"id": "c9", "create": True, "done": True},
    )
    ref, text = _both(tmp_path, [[books_own, created], _sync("books:2")])
    assert _rows(ref)[("customers", "books:b7")][0].startswith("@")
    as_text = {rid: state.casefold() for (_, rid), (state, _) in _rows(text).items()}
    with Journal(ref, _reducer()) as journal:
        for needle in ("b7", "c9", "Zebulon", "zebu", "Acme", "cbooks:2", "nowhere"):
            held = {rid for rid, state in as_text.items() if needle.casefold() in state}
            assert _holding(journal.view, needle) >= held, needle
        assert _holding(journal.view, "b7") == {"books:b7"}
        assert _holding(journal.view, "c9") == {"books:b7"}
        assert _holding(journal.view, "nowhere") == set()
