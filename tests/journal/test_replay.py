import sqlite3

import pytest

from journal import Journal, rebuild, verify
from tests.journal.test_store import CountingReducer, observed


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.db", CountingReducer())
    j.append([observed(rid=f"crm:{i}", id=str(i), key=f"k{i}") for i in range(5)])
    j.append([observed(rid="crm:1", n=2)])
    yield j
    j.close()


def test_an_untouched_journal_verifies(journal):
    """Chain and materialised state check out on an intact journal."""
    result = verify(journal)
    assert result.ok and result.entries == 6


def test_an_edited_row_is_named_by_verify(journal, tmp_path):
    """Editing an entry with the sqlite3 shell (trigger dropped) names that entry."""
    raw = sqlite3.connect(tmp_path / "j.db")
    raw.execute("DROP TRIGGER entries_no_update")
    raw.execute("UPDATE entries SET fields = replace(fields, 'Acme', 'Evil') WHERE seq = 3")
    raw.commit()
    raw.close()
    result = verify(journal)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "entry 3" in result.problem


def test_a_deleted_row_breaks_the_chain(journal, tmp_path):
    """Removing an entry is detected at the gap."""
    raw = sqlite3.connect(tmp_path / "j.db")
    raw.execute("DROP TRIGGER entries_no_delete")
    raw.execute("DELETE FROM entries WHERE seq = 2")
    raw.commit()
    raw.close()
    result = verify(journal)
    assert not result.chain_ok and result.first_bad_seq == 2


def test_tampered_state_tables_fail_verification(journal):
    """A materialised row that the entries do not produce is reported."""
    journal.conn.execute("UPDATE records SET state = '{\"n\": 99}' WHERE rid = 'crm:2'")
    result = verify(journal)
    assert result.chain_ok and not result.state_ok
    assert "records" in result.problem


def test_rebuild_restores_the_state_from_entries(journal):
    """rebuild() replaces tampered state with the replay of the entries."""
    journal.conn.execute("DELETE FROM records")
    journal.conn.execute("DELETE FROM links")
    assert not verify(journal).ok
    assert rebuild(journal) == 6
    assert verify(journal).ok
    assert journal.record("customers", "crm:1")["n"] == 2
    assert journal.rid_for("customers", "crm", "3") == "crm:3"


def _record_reads(conn: sqlite3.Connection) -> list[str]:
    """The statements that read records' states on ``conn`` (collected from now on)."""
    seen: list[str] = []
    conn.set_trace_callback(lambda sql: seen.append(sql) if "FROM records" in sql else None)
    return seen


def test_an_append_reads_its_batchs_records_in_one_query(tmp_path):
    """Appending a batch reads the states of the records it is about in one query (those
    not in memory), not one query a record; records it makes are known absent."""
    with Journal(tmp_path / "j.db", CountingReducer()) as j:
        j.append([observed(rid=f"crm:{i}", id=str(i)) for i in range(40)])
    with Journal(tmp_path / "j.db", CountingReducer()) as j:
        reads = _record_reads(j.conn)
        j.append([observed(rid=f"crm:{i}", n=2) for i in range(30, 60)])
        assert len(reads) == 1
        assert j.record("customers", "crm:35")["n"] == 2
        assert j.record("customers", "crm:55")["n"] == 1


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 6, 100])
def test_a_replay_in_batches_of_any_size_equals_the_live_state(journal, batch):
    """A record's entries split over several batches of the replay (each batch's states
    read in bulk and written once) fold as the live appends did."""
    journal.append([observed(rid=f"crm:{i % 3}", n=i) for i in range(7)])
    result = verify(journal, batch=batch)
    assert result.ok, result.problem


# each an edit of the live state tables that no entry made: verify names the table
STATE_EDITS = {
    "a record's column": (
        "records",
        "UPDATE records SET attention = 1 - attention WHERE rid = 'crm:2'",
    ),
    "a key made empty": ("records", "UPDATE records SET key = '' WHERE rid = 'crm:3'"),
    "a record gone": ("records", "DELETE FROM records WHERE rid = 'crm:4'"),
    "a link added": (
        "links",
        "INSERT INTO links VALUES ('customers', 'books', '9', 'crm:1', 'active')",
    ),
    "a link moved": ("links", "UPDATE links SET rid = 'crm:0' WHERE side_id = '1'"),
    "a cursor added": ("cursors", "INSERT INTO cursors VALUES ('crm', 'customers', '5')"),
    "a conflict added": (
        "conflicts",
        "INSERT INTO conflicts VALUES (3, 'customers', 'crm:1', 'name', 'open', '{}')",
    ),
}


@pytest.mark.parametrize("name", sorted(STATE_EDITS))
def test_every_edit_of_the_state_tables_fails_verification(journal, name):
    """The tables are compared row for row, each live row found replayed by its key with
    every column the same, and as many rows: an edit of any column, a row added or gone."""
    table, sql = STATE_EDITS[name]
    journal.conn.execute(sql)
    result = verify(journal)
    assert result.chain_ok and not result.state_ok
    assert f"materialised table {table} differs" in result.problem
