import datetime as dt
import sqlite3
from decimal import Decimal

import pytest

from journal import CursorError, Dot, Journal, Kind, NewEntry, StorageError, VectorClock
from journal.entry import GENESIS, row_hash


class CountingReducer:
    """Counts entries per record and keeps cursors: enough to see folding work."""

    def apply(self, view, entry):
        if entry.kind is Kind.CURSOR:
            view.set_cursor(entry.side, entry.module, entry.meta["cursor"])
            return
        if entry.rid is None:
            return
        state = view.record(entry.module, entry.rid) or {"n": 0}
        view.put_record(
            entry.module, entry.rid, {"n": state["n"] + 1, "key": entry.meta.get("key")}
        )
        if "id" in entry.meta:
            view.link(entry.module, entry.side, entry.meta["id"], entry.rid, "active")

    def encode(self, state):
        import json

        return json.dumps(state, sort_keys=True), state.get("key"), state["n"] % 2 == 1

    def decode(self, text):
        import json

        return json.loads(text)


def fixed_now():
    return dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.db", CountingReducer(), now=fixed_now)
    yield j
    j.close()


def observed(rid="crm:1", n=1, **meta):
    return NewEntry(
        Kind.OBSERVED,
        "customers",
        rid,
        "crm",
        Dot("crm", n),
        VectorClock(),
        {"name": "Acme", "limit": Decimal("10.5")},
        meta,
    )


def test_append_numbers_and_chains_entries(journal):
    """Entries get consecutive seqs and each hash covers its predecessor."""
    stored = journal.append([observed(), observed(n=2)])
    assert [e.seq for e in stored] == [1, 2]
    assert stored[0].prev_hash == GENESIS
    assert stored[1].prev_hash == stored[0].hash
    rows = [row for batch in journal.row_batches() for row in batch]
    assert [row_hash(r) for r in rows] == [r[11] for r in rows]


def test_entries_read_back_equal_what_was_appended(journal):
    """read() returns the typed values that were written."""
    stored = journal.append([observed(id="1")])
    (back,) = list(journal.read())
    assert back == stored[0]
    assert back.fields["limit"] == Decimal("10.5")
    assert back.at == fixed_now()


def test_update_and_delete_are_refused_by_triggers(journal):
    """The entries table is append-only."""
    journal.append([observed()])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal.conn.execute("UPDATE entries SET kind = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal.conn.execute("DELETE FROM entries")


def test_materialised_state_commits_with_its_entries(journal):
    """Folded state is visible after commit and gone with a rollback."""
    journal.append([observed(id="1", key="acme")])
    assert journal.record("customers", "crm:1") == {"n": 1, "key": "acme"}
    assert journal.rid_for("customers", "crm", "1") == "crm:1"
    assert journal.with_keys("customers", ["acme"]) == {"acme": ["crm:1"]}
    with pytest.raises(RuntimeError), journal.transaction():
        journal.append([observed(n=2)])
        raise RuntimeError("crash before commit")
    assert journal.count() == 1
    assert journal.last_seq == 1
    assert journal.record("customers", "crm:1") == {"n": 1, "key": "acme"}


def test_nested_transactions_are_savepoints(journal):
    """An inner failure rolls back the inner part only."""
    with journal.transaction():
        journal.append([observed()])
        with pytest.raises(ValueError), journal.transaction():
            journal.append([observed(n=2)])
            raise ValueError
        journal.append([observed(rid="crm:2")])
    assert [e.rid for e in journal.read()] == ["crm:1", "crm:2"]
    assert [e.seq for e in journal.read()] == [1, 2]


def test_reads_filter_by_record_module_kind_and_since(journal):
    """read() narrows by rid, kinds and sequence number."""
    journal.append([observed(), observed(rid="crm:2"), NewEntry(Kind.CONFIG, "@config")])
    assert [e.rid for e in journal.read(rid="crm:2")] == ["crm:2"]
    assert [e.seq for e in journal.read(since=2)] == [3]
    assert [e.kind for e in journal.read(kinds=[Kind.CONFIG])] == [Kind.CONFIG]


def test_attention_lists_records_in_rid_order(journal):
    """Records whose reducer says they need attention are paged by rid."""
    journal.append([observed(rid=f"crm:{i}") for i in (3, 1, 2)])
    assert journal.attention("customers") == ["crm:1", "crm:2", "crm:3"]
    assert journal.attention("customers", after="crm:1", limit=1) == ["crm:2"]


def test_cursors_only_move_forward(journal):
    """A cursor entry that would move a watermark back is refused and nothing is written."""

    def cursor(value):
        return NewEntry(Kind.CURSOR, "customers", None, "crm", meta={"cursor": value})

    journal.append([cursor(5)])
    journal.append([cursor(9)])
    with pytest.raises(CursorError):
        journal.append([cursor(7)])
    assert journal.cursor("crm", "customers") == 9
    assert journal.count() == 2


def test_state_survives_reopening(tmp_path):
    """A journal reopened continues the chain where it stopped."""
    with Journal(tmp_path / "j.db", CountingReducer()) as j:
        first = j.append([observed()])
    with Journal(tmp_path / "j.db", CountingReducer()) as j:
        second = j.append([observed(n=2)])
        assert second[0].seq == 2 and second[0].prev_hash == first[0].hash
        assert j.record("customers", "crm:1")["n"] == 2


def test_another_connection_commit_invalidates_the_cache(tmp_path):
    """A second journal object on the same file sees the first one's commits."""
    a = Journal(tmp_path / "j.db", CountingReducer())
    b = Journal(tmp_path / "j.db", CountingReducer())
    a.append([observed()])
    b.append([observed(n=2)])
    a.append([observed(n=3)])
    assert a.record("customers", "crm:1")["n"] == 3
    assert [e.seq for e in a.read()] == [1, 2, 3]
    a.close()
    b.close()


def test_an_unopenable_file_is_a_storage_error(tmp_path):
    """sqlite3 failures surface as the journal's own StorageError."""
    with pytest.raises(StorageError):
        Journal(tmp_path / "missing-dir" / "j.db", CountingReducer())


def test_the_journal_uses_wal(journal):
    """WAL mode lets readers read while the engine writes."""
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


class DecodeCounting(CountingReducer):
    """A CountingReducer that counts its decodes (a state read back from its row)."""

    def __init__(self):
        self.decodes = 0

    def decode(self, text):
        self.decodes += 1
        return super().decode(text)


def test_a_full_cache_keeps_the_states_the_planner_has_yet_to_read(tmp_path):
    """Six records need attention (one entry each, as a pull leaves them) but four fit in
    the cache.  Read in their pull order, a batch of one at a time, each then settled (a
    second entry: no attention): least recently used alone would push out each state
    just before its turn and decode all six again; the states settled go first instead."""
    reducer = DecodeCounting()
    j = Journal(tmp_path / "j.db", reducer, now=fixed_now, cache_size=4)
    rids = [f"crm:{i}" for i in range(6)]
    for dot, rid in enumerate(rids, start=1):
        j.append([observed(rid, n=dot)])
    assert j.attention("customers") == rids
    for dot, rid in enumerate(rids, start=7):
        j.preload("customers", [rid])
        assert j.record("customers", rid)["n"] == 1
        j.append([observed(rid, n=dot)])
    # the first read pushes out one still to come (no settled one to push out yet), then
    # each read pushes out the one settled before it: 2 left beyond the cache, and 1
    assert reducer.decodes == 3
    assert j.attention("customers") == []
    assert [j.record("customers", rid)["n"] for rid in rids] == [2] * 6
    j.close()


def test_a_batch_read_into_a_full_cache_stays_for_the_batch(tmp_path):
    """The cache holds four records needing attention; a batch reads three that need
    none: all three stay in memory until the batch is done (the states that need
    attention are pushed out for them, as a least recently used cache would)."""
    reducer = DecodeCounting()
    j = Journal(tmp_path / "j.db", reducer, now=fixed_now, cache_size=4)
    calm = [f"crm:{i}" for i in range(3)]
    for dot, rid in enumerate(calm, start=1):
        j.append([observed(rid, n=dot), observed(rid, n=dot + 10)])
    for dot, rid in enumerate([f"books:{i}" for i in range(4)], start=20):
        j.append([observed(rid, n=dot)])
    j.view.forget()
    j.preload("customers", [f"books:{i}" for i in range(4)])
    j.preload("customers", calm)
    assert reducer.decodes == 7
    assert [j.record("customers", rid)["n"] for rid in calm] == [2, 2, 2]
    assert reducer.decodes == 7  # none read again
    j.close()
