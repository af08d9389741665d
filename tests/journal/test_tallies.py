"""The record and link tallies: counts the state tables' triggers keep, so that a status
of 100k records reads a few rows; always equal to a recount, rebuilt with the state,
checked by verify, and counted for a journal made before them."""

import json
import sqlite3

from conflicts import RecordReducer
from journal import Journal, Kind, NewEntry, rebuild, verify
from tests.journal.test_state_version import load_fixture
from tests.journal.test_store import CountingReducer


class MarkingReducer:
    """Each record's status and marks are what its last entry's meta says; ``link`` meta
    links it on the entry's side with that status."""

    version = 1

    def apply(self, view, entry):
        if entry.kind is Kind.CONFIG:
            for module in entry.meta.get("drop", ()):
                view.drop_module(module)
            return
        if entry.rid is None:
            return
        view.put_record(
            entry.module,
            entry.rid,
            {"status": entry.meta.get("status", "active"), "marks": entry.meta.get("marks")},
        )
        if "link" in entry.meta:
            view.link(entry.module, entry.side, entry.rid, entry.rid, entry.meta["link"])

    def encode(self, state):
        return json.dumps(state, sort_keys=True), None, False, None, state["status"], state["marks"]

    def decode(self, text):
        return json.loads(text)


def seen(rid, module="customers", side="crm", **meta):
    return NewEntry(Kind.OBSERVED, module, rid, side, meta=meta)


def recount(journal):
    """The tallies counted afresh from the records and links themselves."""
    records = {}
    for module, status, marks, n in journal.conn.execute(
        "SELECT module, status, marks, count(*) FROM records GROUP BY 1, 2, 3"
    ):
        records.setdefault(module, {})[(status, marks)] = n
    links = dict(
        ((m, s, st), n)
        for m, s, st, n in journal.conn.execute(
            "SELECT module, side, status, count(*) FROM links GROUP BY 1, 2, 3"
        )
    )
    return records, links


def tallies(journal):
    return journal.view.tallies(), journal.link_counts()


def test_the_tallies_follow_every_change_of_status_marks_and_links(tmp_path):
    """Records made, re-marked and deleted with their module, links made and turned
    deleted: the tallies equal a recount after each step, and record_tallies counts each
    word of the marks."""
    with Journal(tmp_path / "j.db", MarkingReducer()) as journal:
        journal.append(
            [
                seen("crm:1", link="active"),
                seen("crm:2", marks="errors held:books", link="active"),
                seen("crm:3", status="merged", link="active"),
                seen("crm:9", module="items", marks="renamed:crm", side="books", link="active"),
            ]
        )
        assert tallies(journal) == recount(journal)
        summary = journal.record_tallies()["customers"]
        assert summary.total == 3 and summary.statuses == {"active": 2, "merged": 1}
        assert summary.marks == {"errors": 1, "held:books": 1}
        journal.append(
            [
                seen("crm:2", marks="errors"),  # held no more, still an error
                seen("crm:1", marks="errors retrying:books", link="deleted"),
                seen("crm:3", status="active"),
            ]
        )
        assert tallies(journal) == recount(journal)
        summary = journal.record_tallies()["customers"]
        assert summary.statuses == {"active": 3}
        assert summary.marks == {"errors": 2, "retrying:books": 1}
        assert journal.link_counts()[("customers", "crm", "deleted")] == 1
        journal.append(
            [NewEntry(Kind.CONFIG, "@config", "@lifecycle", meta={"drop": ["customers"]})]
        )
        assert tallies(journal) == recount(journal)
        assert set(journal.record_tallies()) == {"items"}
        assert verify(journal).ok


def test_a_rebuild_counts_the_tallies_again_and_verify_finds_one_changed_by_hand(tmp_path):
    """A tally row changed outside the triggers is reported by verify (it differs from a
    replay's) and put right by a rebuild."""
    with Journal(tmp_path / "j.db", MarkingReducer()) as journal:
        journal.append([seen("crm:1", marks="errors", link="active"), seen("crm:2")])
        journal.conn.execute("UPDATE links_tally SET n = n + 1")
        result = verify(journal)
        assert not result.ok and "links_tally" in (result.problem or "")
        rebuild(journal)
        assert tallies(journal) == recount(journal)
        assert verify(journal).ok


def test_a_journal_made_before_the_tallies_gets_them_counted_when_it_opens(tmp_path):
    """The a5dca57 journal (no tally tables, no status or marks columns): opened with a
    reducer that rebuilds nothing, its records and links are counted from the rows it
    holds; with the record reducer, its state is rebuilt with statuses and counted so."""
    path = tmp_path / "journal.db"
    load_fixture(path)
    with sqlite3.connect(path) as conn:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        links = conn.execute("SELECT count(*) FROM links").fetchone()[0]
    conn.close()
    assert "links_tally" not in names and links > 0
    with Journal(path, CountingReducer()) as journal:  # no version: nothing rebuilt
        assert tallies(journal) == recount(journal)
        assert sum(journal.link_counts().values()) == links
        assert journal.record_tallies()["customers"].statuses == {None: 3}
    with Journal(path, RecordReducer()) as journal:
        assert tallies(journal) == recount(journal)
        assert sum(journal.link_counts().values()) == links
        assert journal.record_tallies()["customers"].statuses == {"active": 3}
        assert verify(journal).ok
