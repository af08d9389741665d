"""A journal whose state must be rebuilt on open (its reducer's version is not the stored
state's) and whose entries were edited behind its back: the open fails with an
:class:`IntegrityError` naming the journal, the entry and what is wrong (and pointing at
`replicator journal verify`), never a raw decoding error, and writes nothing; such a journal
still opens without the rebuild, for verify to report the edit."""

import sqlite3

import pytest

from journal import IntegrityError, Journal, verify
from journal.entry import row_hash
from tests.journal.tamper import read_row, set_hashes, time_edit
from tests.journal.test_state_version import VersionedCounting, raw_rows
from tests.journal.test_store import CountingReducer, observed

EDITS = {
    "at with a NUL": "at = at || char(0)",
    "at not a time": "at = 'yesterday'",
    "fields not JSON": "fields = '{\"name\": '",
    "meta not JSON": "meta = '{oops'",
    "dot not JSON": "dot = '[\"crm\",'",
    "context not JSON": "context = '{\"crm\": '",
}


def made(path, n=4, *, editable=True):
    """An unversioned journal of ``n`` entries, then (``editable``) its append-only update
    trigger dropped."""
    with Journal(path, CountingReducer()) as journal:
        journal.append([observed(rid=f"crm:{i}", id=str(i), key=f"k{i}") for i in range(n)])
    if not editable:
        return
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
    conn.close()


def edit(path, assignment, seq):
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE entries SET {time_edit(conn, assignment)} WHERE seq = ?", (seq,))
    conn.close()


def snapshot(path):
    return (
        raw_rows(path, "SELECT * FROM entries ORDER BY seq"),
        raw_rows(path, "SELECT * FROM records ORDER BY module, rid"),
        raw_rows(path, "PRAGMA user_version"),
    )


@pytest.mark.parametrize("assignment", EDITS.values(), ids=EDITS.keys())
def test_an_edited_entry_fails_the_state_rebuild_naming_it_and_writes_nothing(tmp_path, assignment):
    """The rebuild checks the chain first: the edit is named with its seq, nothing is
    written, and opening without the rebuild lets verify name the same entry."""
    path = tmp_path / "journal.db"
    made(path)
    edit(path, assignment, 3)
    before = snapshot(path)
    with pytest.raises(IntegrityError) as raised:
        Journal(path, VersionedCounting())
    message = str(raised.value)
    assert raised.value.seq == 3 and "entry 3" in message
    assert str(path) in message and "replicator journal verify" in message
    assert snapshot(path) == before
    with Journal(path, VersionedCounting(), rebuild_state=False) as journal:
        assert journal.needs_state_upgrade and journal.count() == 4
        result = verify(journal)
        assert not result.chain_ok and result.first_bad_seq == 3
    assert snapshot(path) == before


@pytest.mark.parametrize("column", ["fields", "meta", "dot", "context"])
def test_an_entry_that_hashes_but_cannot_be_decoded_fails_the_rebuild_naming_it(tmp_path, column):
    """An edit whose hash was recomputed (an unkeyed chain's last entry) passes the chain
    check; its decoding fails the rebuild as an IntegrityError naming the entry and the
    column, not a raw ValueError, and nothing is written."""
    path = tmp_path / "journal.db"
    made(path)
    edit(path, EDITS[f"{column} not JSON"], 4)
    with sqlite3.connect(path) as conn:
        row = read_row(conn, 4)
        set_hashes(conn, 4, row[10], row_hash(row))
    conn.close()
    before = snapshot(path)
    with pytest.raises(IntegrityError) as raised:
        Journal(path, VersionedCounting())
    message = str(raised.value)
    assert raised.value.seq == 4 and "entry 4" in message and column in message
    assert str(path) in message and "replicator journal verify" in message
    assert snapshot(path) == before


def test_an_intact_journal_opened_without_the_rebuild_keeps_its_state_until_asked(tmp_path):
    """``rebuild_state=False`` only defers the rebuild: upgrade_state still does it."""
    path = tmp_path / "journal.db"
    made(path, editable=False)
    with Journal(path, VersionedCounting(), rebuild_state=False) as journal:
        assert journal.needs_state_upgrade and journal.count() == 4
        assert journal.upgrade_state() is not None and not journal.needs_state_upgrade
        assert verify(journal).ok


def _rehashed_edit(path, assignment, seq):
    """Edit entry ``seq`` and recompute its hash (an unkeyed chain's last entry: the
    chain still checks out), the append-only trigger put back as it was."""
    from journal.schema import TRIGGERS

    edit(path, assignment, seq)
    with sqlite3.connect(path) as conn:
        row = read_row(conn, seq)
        set_hashes(conn, seq, row[10], row_hash(row))
        conn.execute(TRIGGERS["entries_no_update"])
    conn.close()


@pytest.mark.parametrize("column", ["fields", "meta", "dot", "context"])
@pytest.mark.parametrize("reducer", ["counting", "record, one process", "record, two processes"])
def test_verify_reports_an_entry_that_hashes_but_cannot_be_decoded(tmp_path, column, reducer):
    """Verify's replay meets an entry it cannot read: a failed verification naming the
    entry and its column (as the rebuild does), not a raw decoding error out of verify."""
    from conflicts import RecordReducer
    from tests.conflicts.test_apply_row import _sync

    path = tmp_path / "journal.db"
    workers = 2 if reducer == "record, two processes" else 1
    if reducer == "counting":
        made(path)
        opened = Journal(path, CountingReducer())
    else:
        with Journal(path, RecordReducer()) as journal:
            for i in range(4):
                journal.append(_sync(f"books:{i}"))
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER entries_no_update")
        conn.close()
        opened = Journal(path, RecordReducer())
    last = opened.last_seq
    opened.close()
    _rehashed_edit(path, EDITS[f"{column} not JSON"], last)
    with Journal(path, CountingReducer() if reducer == "counting" else RecordReducer()) as journal:
        result = verify(journal, workers=workers)
    assert not result.ok and not result.state_ok
    assert result.first_bad_seq == last
    assert f"entry {last}" in (result.problem or "") and column in (result.problem or "")
