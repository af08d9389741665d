"""The materialised state is a cache of the reducer's fold: a reducer of another version
rebuilds it by replay when the journal opens, and the journal records why."""

import datetime as dt
import json
import sqlite3
from pathlib import Path

import attrs
import pytest

from conflicts import RecordReducer
from conflicts.state_codec import decode_state
from journal import ChainKey, ChainKeyError, Journal, Kind, StorageError, verify
from journal.store import JOURNAL_MODULE, STATE_RID
from tests.journal.test_store import CountingReducer, observed

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "a5dca57_journal.sql"
NEXT = getattr(RecordReducer, "version", 0) + 1


class NextRecordReducer(RecordReducer):
    """The record reducer with a state format of the next version: each state wrapped."""

    version = NEXT
    reference_limit = 0  # every state stored as its text, each wrapped

    def encode(self, state):
        text, *rest = super().encode(state)
        return (json.dumps({"next": text}), *rest)

    def decode(self, text):
        return super().decode(json.loads(text)["next"])


class VersionedCounting(CountingReducer):
    version = 2


def load_fixture(path):
    """The journal written at a5dca57 (17 entries, plain sha256 chain, no state version)."""
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    conn.close()


def raw_rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def upgrades(journal):
    return [
        e.meta
        for e in journal.read(module=JOURNAL_MODULE, kinds=[Kind.CONFIG])
        if e.rid == STATE_RID
    ]


def test_an_old_journal_opened_with_a_new_reducer_version_is_rebuilt_and_journaled(tmp_path):
    """The a5dca57 journal under a reducer of the next version: the state is rebuilt in the
    new format, the upgrade is the next entry, and verify (replay equals live) holds."""
    path = tmp_path / "journal.db"
    load_fixture(path)
    records = "SELECT module, rid FROM records ORDER BY module, rid"
    before = raw_rows(path, records)
    assert len(before) == 3 and raw_rows(path, "SELECT count(*) FROM entries") == [(17,)]
    with Journal(path, NextRecordReducer()) as journal:
        assert journal.state_version == NEXT and not journal.needs_state_upgrade
        assert journal.count() == 18
        (last,) = journal.read(since=17)
        assert (last.kind, last.module, last.rid) == (Kind.CONFIG, JOURNAL_MODULE, STATE_RID)
        assert last.meta["event"] == "state-upgrade"
        assert (last.meta["from"], last.meta["to"], last.meta["entries"]) == (0, NEXT, [1, 17])
        assert [(m, rid) for m, rid, _ in journal.records()] == before
        result = verify(journal)  # the chain holds and the live state equals a fresh replay
        assert result.ok and result.entries == 18, result.problem
    states = raw_rows(path, "SELECT state FROM records")
    assert all("next" in json.loads(text) for (text,) in states)


def test_an_upgraded_journal_opens_again_without_a_second_upgrade(tmp_path):
    """The version is stored with the state: reopening with the same reducer adds nothing,
    and a reducer without a version never rebuilds."""
    path = tmp_path / "journal.db"
    load_fixture(path)
    Journal(path, NextRecordReducer()).close()
    with Journal(path, NextRecordReducer()) as again:
        assert again.count() == 18 and len(upgrades(again)) == 1
    with Journal(path, CountingReducer()) as unversioned:
        assert unversioned.count() == 18 and unversioned.state_version == NEXT


def test_a_new_journal_records_its_version_without_an_entry(tmp_path):
    """An empty journal has nothing to rebuild: its version is recorded, unjournaled."""
    with Journal(tmp_path / "j.db", VersionedCounting()) as journal:
        assert journal.state_version == 2 and journal.count() == 0
        journal.append([observed()])
    with Journal(tmp_path / "j.db", VersionedCounting()) as journal:
        assert journal.count() == 1 and not upgrades(journal)


def test_a_keyed_journal_opened_without_its_key_waits_for_it(tmp_path):
    """No key, no write: the state keeps its version until use_key, which upgrades it with
    an entry chained under the key."""
    key, _ = ChainKey.generate()
    path = tmp_path / "j.db"
    with Journal(path, CountingReducer(), key=key) as journal:
        journal.append([observed(rid=f"crm:{i}", id=str(i)) for i in range(3)])
    journal = Journal(path, VersionedCounting())
    try:
        assert journal.needs_state_upgrade and journal.state_version == 0
        assert journal.count() == 3
        with pytest.raises(ChainKeyError):
            journal.upgrade_state()
        journal.use_key(key)
        assert not journal.needs_state_upgrade and upgrades(journal) == [
            {
                "event": "state-upgrade",
                "from": 0,
                "to": 2,
                "entries": [1, 3],
                "reason": upgrades(journal)[0]["reason"],
            }
        ]
        assert verify(journal).ok
    finally:
        journal.close()


def test_an_unkeyed_chain_given_a_key_upgrades_its_state_after_the_chain(tmp_path):
    """A key on an unkeyed chain refuses writes until upgrade(): the chain entry comes
    first, then the state's, both keyed."""
    path = tmp_path / "journal.db"
    load_fixture(path)
    key, _ = ChainKey.generate()
    with Journal(path, NextRecordReducer(), key=key) as journal:
        assert journal.needs_upgrade and journal.needs_state_upgrade
        chain = journal.upgrade()
        assert chain is not None and chain.seq == 18 and journal.keyed_from == 18
        (state,) = journal.read(since=18)
        assert state.rid == STATE_RID and state.meta["to"] == NEXT
        assert verify(journal).ok


class FailingReducer(CountingReducer):
    """A reducer of a new version that fails on the third entry it folds."""

    version = 3

    def __init__(self):
        self.folded = 0

    def apply(self, view, entry):
        self.folded += 1
        if self.folded == 3:
            raise RuntimeError("fold interrupted")
        super().apply(view, entry)


def test_an_interrupted_rebuild_leaves_the_old_state_and_version(tmp_path):
    """A rebuild that fails half-way rolls back whole: the old state, version 0, no entry,
    and the next open rebuilds it."""
    path = tmp_path / "j.db"
    with Journal(path, CountingReducer()) as journal:
        journal.append([observed(rid=f"crm:{i}", id=str(i), key=f"k{i}") for i in range(4)])
    before = raw_rows(path, "SELECT * FROM records ORDER BY rid")
    with pytest.raises(RuntimeError, match="fold interrupted"):
        Journal(path, FailingReducer())
    assert raw_rows(path, "SELECT * FROM records ORDER BY rid") == before
    assert raw_rows(path, "PRAGMA user_version") == [(0,)]
    with Journal(path, VersionedCounting()) as journal:
        assert journal.count() == 5 and journal.state_version == 2 and verify(journal).ok


@pytest.mark.parametrize("version", ["2", 2.0, True, -1, 2**31])
def test_a_reducer_version_that_is_not_a_small_int_is_refused(tmp_path, version):
    """The version is an int SQLite's user_version can hold; anything else is an error."""

    class Odd(CountingReducer):
        pass

    Odd.version = version
    with pytest.raises((TypeError, ValueError), match="version"):
        Journal(tmp_path / "j.db", Odd())


def test_a_journal_that_cannot_be_opened_is_a_storage_error(tmp_path):
    """The state upgrade adds no new way for open to fail with a raw sqlite3 error."""
    path = tmp_path / "not-a-journal.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError):
        Journal(path, VersionedCounting())


def label_rows(path):
    return raw_rows(path, "SELECT rid, label FROM records ORDER BY rid")


def test_a_state_folded_under_another_rule_is_rebuilt_on_open_and_journaled(tmp_path):
    """The reducer's settings (its ``rule``: here the field naming customers) are stored
    with the state: reopening under the same rule rebuilds nothing; under another, the
    state is rebuilt by replay (journaled, same version, the new rule named), the stored
    names follow the new field and verify holds; a reader's reducer without a rule
    (no settings given) rebuilds nothing."""
    path = tmp_path / "journal.db"
    by_name = RecordReducer(labels={"customers": "name"})
    by_email = RecordReducer(labels={"customers": "email"})
    with Journal(path, by_name) as journal:
        fields = {"name": "Acme", "email": "ap@acme.example"}
        modified = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
        entry = observed(id="c-1", modified=modified)
        journal.append([attrs.evolve(entry, fields=fields)])
    assert label_rows(path) == [("crm:1", "acme")]
    with Journal(path, RecordReducer(labels={"customers": "name"})) as again:
        assert not again.needs_state_upgrade and upgrades(again) == []
    with Journal(path, by_email) as renamed:
        assert not renamed.needs_state_upgrade
        (meta,) = upgrades(renamed)
        version = RecordReducer.version
        assert (meta["from"], meta["to"], meta["entries"]) == (version, version, [1, 1])
        assert '"email"' in meta["reason"] and '"name"' in meta["reason"]
        result = verify(renamed)
        assert result.ok, result.problem
    assert label_rows(path) == [("crm:1", "ap@acme.example")]
    with Journal(path, RecordReducer()) as reader:
        assert not reader.needs_state_upgrade and len(upgrades(reader)) == 1


V8_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "v8_journal.sql"


def layout(path):
    """The SQL that made ``records``, and the indexes of ``links``."""
    (records,) = raw_rows(path, "SELECT sql FROM sqlite_master WHERE name = 'records'")
    indexes = raw_rows(path, "SELECT name FROM sqlite_master WHERE tbl_name = 'links'")
    return records[0], sorted(name for (name,) in indexes)


def test_a_version_8_state_reads_and_is_rebuilt_in_the_compact_form_and_layout_of_now(tmp_path):
    """A journal whose state the version 8 reducer stored (sides in ``h``, times as text,
    ``records`` a rowid table, ``links`` indexed by rid) reads as it was until it is
    rebuilt; opened with the reducer of now it is rebuilt (journaled, 8 to now) into
    states that decode to the very same and are smaller, in tables of the new layout
    (``records`` WITHOUT ROWID, no index of links by rid), each record's links read as
    the rows say, and verify (replay equals live) holds."""
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V8_FIXTURE.read_text(encoding="utf-8"))
    conn.close()
    read = "SELECT rid, state FROM records ORDER BY rid"
    before = raw_rows(path, read)
    assert len(before) == 3 and all('"h":' in text for _, text in before)
    assert "WITHOUT ROWID" not in layout(path)[0] and "links_rid" in layout(path)[1]
    linked = "SELECT rid, side, side_id, status FROM links ORDER BY rid, side"
    links = raw_rows(path, linked)
    with Journal(path, RecordReducer()) as journal:
        assert journal.state_version == RecordReducer.version >= 10
        *_, meta = upgrades(journal)  # the fixture's own (0 to 8), then this one
        assert (meta["from"], meta["to"], meta["entries"]) == (8, RecordReducer.version, [1, 18])
        result = verify(journal)
        assert result.ok and result.entries == 19, result.problem
        for rid, _ in before:
            expected = {side: (i, status) for r, side, i, status in links if r == rid}
            assert journal.links("customers", rid) == expected and len(expected) == 2
    after = raw_rows(path, read)
    assert [rid for rid, _ in after] == [rid for rid, _ in before]
    with Journal(path, RecordReducer()) as journal:
        for (rid, old), (_, new) in zip(before, after, strict=True):
            # stored by reference to its entries (version 12), or as compact text
            assert new.startswith("@") or '"y":' in new
            assert len(new) < len(old)
            assert journal.record("customers", rid).raw == decode_state(old)
    assert raw_rows(path, linked) == links
    assert "WITHOUT ROWID" in layout(path)[0] and "links_rid" not in layout(path)[1]
