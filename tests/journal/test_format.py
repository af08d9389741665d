"""The entries table's format is a property of the journal file: a new journal stores its
hashes as bytes (format 2), a journal made before keeps hex text (format 1), and both read,
replay and verify the same way, an edit to any stored byte found in either."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from conflicts import RecordReducer
from journal import ChainKey, Journal, Kind, NewEntry, verify
from journal.anchors import chain_texts
from journal.entry import chain_text
from journal.schema import ENTRIES_FORMAT, entries_format
from journal.store import TRIGGERS
from tests.journal.test_store import CountingReducer, fixed_now

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KEY = ChainKey(bytes(range(32)))


def format1_journal(folder: Path) -> tuple[Path, ChainKey]:
    """The format-1 fixture (23 entries, keyed, anchored at 14 and 23) as a journal file
    with its anchors beside it, and its key."""
    path = folder / "journal.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "format1_journal.sql").read_text(encoding="utf-8"))
    conn.close()
    shutil.copy(FIXTURES / "format1_journal.anchors", folder / "journal.db.anchors")
    key = ChainKey.from_text((FIXTURES / "format1_journal.key").read_text())
    # opened once as the sync would: its state is rebuilt by this release's reducer
    # (journaled), so a later edit is read by verify, not by that rebuild
    Journal(path, RecordReducer(), key=key).close()
    return path, key


def anchors_of(journal: Journal):
    log = journal.anchor_log()
    assert log is not None
    return log.read()[0]


def edit(path: Path, sql: str, *params: object) -> None:
    """Change the file as plain sqlite3 can (its update trigger dropped and put back)."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute(sql, params)
        conn.execute(TRIGGERS["entries_no_update"])
    conn.close()


def test_a_new_journal_is_made_in_format_2_with_its_hashes_as_bytes(tmp_path):
    """A new file stores each hash as its 32 bytes and reads it as the same hex text."""
    path = tmp_path / "j.db"
    with Journal(path, CountingReducer(), key=KEY, now=fixed_now) as journal:
        assert journal.format == ENTRIES_FORMAT == 2
        stored = journal.append(
            [NewEntry(Kind.OBSERVED, "customers", f"crm:{i}", "crm") for i in range(3)]
        )
        rows = [row for batch in journal.row_batches() for row in batch]
        assert [(r[10], r[11]) for r in rows] == [(e.prev_hash, e.hash) for e in stored]
        raw = journal.conn.execute(
            "SELECT typeof(prev), typeof(digest), length(digest) FROM entries"
        )
        assert set(raw) == {("blob", "blob", 32)}
        made = [row for batch in journal.chain_batches() for row in batch]
        assert [(r[1], r[2]) for r in made] == [
            (bytes.fromhex(e.prev_hash), bytes.fromhex(e.hash)) for e in stored
        ]
        texts = chain_texts([r[10] for r in rows], [r[3] for r in made])
        assert texts == [chain_text(r[10], *r[:10]) for r in rows]
        assert verify(journal).ok


def test_the_format_1_fixture_replays_and_verifies_against_its_anchors(tmp_path):
    """A journal of format 1 (made by the release before format 2) stays format 1: it
    verifies (chain, anchors, replay equals live), takes new entries in its own format,
    and verifies again."""
    path, key = format1_journal(tmp_path)
    with Journal(path, RecordReducer(), key=key) as journal:
        assert journal.format == 1
        anchors = anchors_of(journal)
        assert [a.seq for a in anchors] == [14, 23]
        result = verify(journal, anchors=anchors)
        assert result.ok, result.problem
        journal.append([NewEntry(Kind.CONFIG, "@config", "@test", meta={"n": 1})])
        assert verify(journal, anchors=anchors).ok
    with sqlite3.connect(path) as conn:
        assert entries_format(conn) == 1
        assert conn.execute("SELECT typeof(hash) FROM entries").fetchall() == [("text",)] * (
            journal.last_seq
        )
    conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE entries SET fields = replace(fields, 'Acme', 'Acne') WHERE seq = 10",
        "UPDATE entries SET at = at || char(0) || 'x' WHERE seq = 10",
        "UPDATE entries SET hash = '0' || substr(hash, 2) WHERE seq = 10",
    ],
    ids=["fields", "nul", "hash"],
)
def test_an_edit_to_the_format_1_fixture_is_found(tmp_path, sql):
    """Editing one row of the format-1 journal fails verify at that entry."""
    path, key = format1_journal(tmp_path)
    edit(path, sql)
    with Journal(path, RecordReducer(), key=key) as journal:
        result = verify(journal, anchors=anchors_of(journal))
    assert not result.ok and result.first_bad_seq == 10, result.problem


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE entries SET digest = ? WHERE seq = 4", (bytes(32),)),
        ("UPDATE entries SET prev = ? WHERE seq = 4", (bytes(32),)),
        ("UPDATE entries SET digest = digest || x'00' WHERE seq = 4", ()),
        ("UPDATE entries SET digest = lower(hex(digest)) WHERE seq = 4", ()),
        ("UPDATE entries SET meta = meta || char(0) WHERE seq = 4", ()),
    ],
    ids=["digest", "prev", "longer", "as-text", "nul"],
)
def test_an_edit_to_a_stored_hash_byte_of_format_2_is_found(tmp_path, sql, params):
    """A format-2 row whose hash bytes are changed, lengthened or stored as text instead
    fails verify at that entry."""
    path = tmp_path / "j.db"
    with Journal(path, CountingReducer(), key=KEY, now=fixed_now) as journal:
        journal.append([NewEntry(Kind.OBSERVED, "customers", f"crm:{i}", "crm") for i in range(8)])
    edit(path, sql, *params)
    with Journal(path, CountingReducer(), key=KEY, now=fixed_now) as journal:
        result = verify(journal)
    assert not result.ok and result.first_bad_seq == 4, result.problem
