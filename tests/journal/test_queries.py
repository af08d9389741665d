"""The Journal's summaries: what the CLI, the daemon and the lifecycle ask of it instead
of running SQL on its connection."""

import datetime as dt

import pytest

from journal import Journal, Kind, NewEntry
from tests.journal.test_store import CountingReducer, observed


class ConflictReducer(CountingReducer):
    """Also opens (or closes) a conflict when an entry's meta names one."""

    def apply(self, view, entry):
        super().apply(view, entry)
        if "conflict" in entry.meta:
            cid, status = entry.meta["conflict"]
            view.put_conflict(cid, entry.module, entry.rid, "name", status, {"why": "test"})


def at(hour):
    return dt.datetime(2026, 12, 1, hour, tzinfo=dt.UTC)


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.db", ConflictReducer(), now=lambda: at(9))
    j.append(
        [
            observed("crm:1", id="1", conflict=[1, "open"]),
            observed("crm:2", n=2, id="2", conflict=[2, "resolved"]),
            NewEntry(Kind.CURSOR, "customers", side="crm", meta={"cursor": 5}, at=at(10)),
            NewEntry(Kind.OBSERVED, "items", "crm:9", "crm", meta={"conflict": [3, "open"]}),
            NewEntry(Kind.INTENT, "items", meta={"writes": {}}, at=at(11)),
            NewEntry(Kind.CURSOR, "items", side="books", meta={"cursor": "a"}, at=at(8)),
        ]
    )
    yield j
    j.close()


def test_entry_counts_are_per_module(journal):
    """Every module's entries are counted, by module name."""
    assert journal.entry_counts() == {"customers": 3, "items": 3}


def test_an_empty_journal_counts_nothing(tmp_path):
    """No entries: no modules, no times, no conflicts, no state."""
    with Journal(tmp_path / "e.db", ConflictReducer()) as empty:
        assert empty.entry_counts() == {}
        assert empty.last_times(kinds=[Kind.CURSOR]) == {}
        assert empty.conflict_counts() == {}
        assert empty.state_counts() == {}


def test_last_times_are_the_newest_entry_of_the_kinds_asked_per_module(journal):
    """The newest cursor or intent entry per module, as an aware UTC time."""
    found = journal.last_times(kinds=[Kind.CURSOR, Kind.INTENT])
    assert found == {"customers": at(10), "items": at(11)}
    assert all(t.tzinfo is not None for t in found.values())
    assert journal.last_times(kinds=[Kind.CURSOR]) == {"customers": at(10), "items": at(8)}
    assert journal.last_times(kinds=[Kind.LINK]) == {}
    assert journal.last_times(kinds=[]) == {}


def test_conflict_counts_are_per_module_of_a_status_or_all(journal):
    """Open conflicts per module; without a status, every conflict."""
    assert journal.conflict_counts(status="open") == {"customers": 1, "items": 1}
    assert journal.conflict_counts(status="resolved") == {"customers": 1}
    assert journal.conflict_counts() == {"customers": 2, "items": 1}


def test_state_counts_give_each_state_table_per_module(journal):
    """Records, links, cursors and conflicts per module, zero where a table has none."""
    assert journal.state_counts() == {
        "customers": {"records": 2, "links": 2, "cursors": 1, "conflicts": 2},
        "items": {"records": 1, "links": 0, "cursors": 1, "conflicts": 1},
    }


def test_module_links_map_each_side_row_to_its_record(journal):
    """Every link of one module: (side, side id) -> (rid, status)."""
    assert journal.module_links("customers") == {
        ("crm", "1"): ("crm:1", "active"),
        ("crm", "2"): ("crm:2", "active"),
    }
    assert journal.module_links("items") == {}
