"""The journal's storage contract (:mod:`journal.storage`), the same tests over every
backend, as eventsourcing runs one recorder suite over SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from journal import (
    GENESIS,
    ChainKey,
    ChainKeyError,
    CursorError,
    Dot,
    Entry,
    JournalStorage,
    Kind,
    NewEntry,
    VectorClock,
    View,
    dumps,
    loads,
)
from tests.journal.contract.backends import Harness

KEY = ChainKey(bytes(range(32)))
AT = dt.datetime(2026, 12, 4, 16, 30, tzinfo=dt.UTC)
# the head of the three entries of ``three`` chained under KEY at AT: the same bytes on
# every backend (a stored journal's hashes never change; the same new entries are chained
# over their compact fields and metas since journal.names: 17f0ae06... over their object
# forms before)
THREE_HEAD = "cbe8aabf92a2f41a09be9dc93602eedf86b2ff2f3e8c96752a3e55b4d1bc7d41"


def fixed_now() -> dt.datetime:
    return AT


class Folding:
    """A small reducer: a record's fields merged, links by ``meta["id"]``, cursors from
    cursor entries, a conflict per conflict entry."""

    def apply(self, view: View, entry: Entry) -> None:
        if entry.kind is Kind.CURSOR:
            view.set_cursor(str(entry.side), entry.module, entry.meta["cursor"])
            return
        if entry.rid is None:
            return
        if entry.kind is Kind.CONFLICT:
            view.put_conflict(
                entry.meta["id"], entry.module, entry.rid, "name", "open", {"seq": entry.seq}
            )
            return
        state = view.record(entry.module, entry.rid) or {"n": 0, "fields": {}}
        fields = {**state["fields"], **entry.fields}
        view.put_record(entry.module, entry.rid, {"n": state["n"] + 1, "fields": fields})
        if "id" in entry.meta:
            view.link(entry.module, str(entry.side), entry.meta["id"], entry.rid, "active")

    def encode(self, state: Any) -> tuple[str, str | None, bool]:
        return dumps(state), state["fields"].get("name"), False

    def decode(self, text: str) -> Any:
        return loads(text)


def observed(rid: str, n: int, side: str = "crm", **fields: Any) -> NewEntry:
    return NewEntry(
        Kind.OBSERVED,
        "customers",
        rid,
        side,
        Dot(side, n),
        VectorClock(),
        fields,
        {"id": rid.partition(":")[2]},
    )


def cursor(value: Any, side: str = "crm") -> NewEntry:
    return NewEntry(Kind.CURSOR, "customers", None, side, meta={"cursor": value})


def three() -> list[NewEntry]:
    return [
        observed("crm:1", 1, name="Acme", limit=Decimal("10.50")),
        observed("books:7", 1, side="books", name="Globex"),
        cursor(["2026-12-04T16:00:00Z", 7]),
    ]


@pytest.fixture
def journal(store: Harness) -> Iterator[JournalStorage]:
    made = store.backend.open(store.location(), Folding(), key=KEY, now=fixed_now)
    yield made
    made.close()


def test_entries_are_numbered_from_one_and_each_links_to_the_last(journal: JournalStorage):
    stored = journal.append(three())
    assert [e.seq for e in stored] == [1, 2, 3]
    assert stored[0].prev_hash == GENESIS
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    assert journal.last_seq == 3
    assert journal.head() == (3, stored[-1].hash, AT)
    assert list(journal.read()) == stored


def test_the_chain_is_the_same_bytes_on_every_backend(journal: JournalStorage):
    """Three entries under one key at one time have one head hash, whatever stores them."""
    journal.append(three())
    assert journal.head()[1] == THREE_HEAD


def test_a_reopened_journal_goes_on_from_its_head(store: Harness):
    location = store.location()
    first = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    stored = first.append(three())
    first.close()
    again = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    try:
        assert again.head() == (3, stored[-1].hash, AT)
        (fourth,) = again.append([observed("crm:1", 2, name="Acme Ltd")])
        assert (fourth.seq, fourth.prev_hash) == (4, stored[-1].hash)
        assert again.record("customers", "crm:1")["fields"]["name"] == "Acme Ltd"
    finally:
        again.close()


def test_a_snapshot_reads_one_moment_while_another_connection_appends(store: Harness):
    """Inside ``snapshot()`` (what verify reads in) the entries are those of its start
    though another connection commits meanwhile; after it, the new ones too."""
    location = store.location()
    reader = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    writer = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    try:
        reader.append(three())
        with reader.snapshot():
            writer.append([observed("crm:1", 2, name="Acme Ltd")])
            assert (reader.count(), reader.last_seq) == (3, 3)
            assert [e.seq for e in reader.read(rid="crm:1")] == [1]
            assert reader.head()[0] == 3
        assert (reader.count(), reader.last_seq) == (4, 4)
        assert [e.seq for e in reader.read(rid="crm:1")] == [1, 4]
    finally:
        writer.close()
        reader.close()


def test_reads_filter_by_module_record_kind_and_range(journal: JournalStorage):
    journal.append(three())
    journal.append([NewEntry(Kind.CONFIG, "@journal", "@x", meta={"event": "test"})])
    assert [e.seq for e in journal.read(rid="crm:1")] == [1]
    assert [e.seq for e in journal.read(kinds=["cursor"])] == [3]
    assert [e.seq for e in journal.read(module="customers", since=1)] == [2, 3]
    assert [e.seq for e in journal.read(descending=True, limit=2)] == [4, 3]
    assert journal.count() == 4
    assert journal.count(module="customers") == 3


def test_values_of_any_size_and_precision_come_back_exactly(journal: JournalStorage):
    """Decimals, huge integers, dates and aware times: never through float."""
    fields = {
        "limit": Decimal("12345678901234567890.000000001"),
        "big": 2**80,
        "since": dt.date(2026, 2, 28),
        "seen": dt.datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=dt.UTC),
        "name": 'Ünïcode "quoted" \\ back',
    }
    journal.append([observed("crm:9", 1, **fields)])
    (entry,) = journal.read(rid="crm:9")
    assert entry.fields == fields
    assert journal.record("customers", "crm:9")["fields"] == fields


def test_the_database_refuses_to_update_or_delete_an_entry(store: Harness, journal: JournalStorage):
    stored = journal.append(three())
    with pytest.raises(store.refused):
        store.update_entry(journal, 2)
    with pytest.raises(store.refused):
        store.delete_entry(journal, 3)
    assert journal.missing_triggers() == []
    assert list(journal.read()) == stored


def test_entries_state_and_cursors_commit_together_or_not_at_all(journal: JournalStorage):
    """An error inside a transaction leaves no entry, no record, no link and no cursor;
    the next append goes on from the last committed entry."""
    (first,) = journal.append([observed("crm:1", 1, name="Acme")])

    class Boom(Exception):
        pass

    with pytest.raises(Boom), journal.transaction():
        journal.append([observed("crm:2", 1, name="Globex"), cursor(["2026-12-05", 1])])
        assert journal.record("customers", "crm:2") is not None
        raise Boom
    assert journal.count() == 1 and journal.last_seq == 1
    assert journal.record("customers", "crm:2") is None
    assert journal.links("customers", "crm:2") == {}
    assert journal.cursor("crm", "customers") is None
    (second,) = journal.append([observed("crm:3", 1, name="Initech")])
    assert (second.seq, second.prev_hash) == (2, first.hash)


def test_a_nested_transaction_is_a_savepoint(journal: JournalStorage):
    """An inner failure undoes the inner appends only; the outer ones commit."""
    with journal.transaction():
        journal.append([observed("crm:1", 1, name="Acme")])
        with pytest.raises(ZeroDivisionError), journal.transaction():
            journal.append([observed("crm:2", 1, name="Globex")])
            raise ZeroDivisionError
        journal.append([cursor(["2026-12-04", 1])])
    assert [(e.seq, e.rid) for e in journal.read()] == [(1, "crm:1"), (2, None)]
    assert journal.record("customers", "crm:2") is None
    assert journal.cursor("crm", "customers") == ["2026-12-04", 1]
    assert [e.prev_hash for e in journal.read()][1] == next(journal.read()).hash


def test_the_state_is_folded_from_the_entries(journal: JournalStorage):
    journal.append(three())
    journal.append([NewEntry(Kind.CONFLICT, "customers", "crm:1", "crm", meta={"id": 5})])
    assert journal.record("customers", "crm:1") == {
        "n": 1,
        "fields": {"name": "Acme", "limit": Decimal("10.50")},
    }
    assert journal.links("customers", "books:7") == {"books": ("7", "active")}
    assert journal.cursors() == {("crm", "customers"): ["2026-12-04T16:00:00Z", 7]}
    conflict = journal.conflict(5)
    assert conflict is not None and conflict["rid"] == "crm:1" and conflict["data"] == {"seq": 4}


def test_a_cursor_never_goes_back_and_the_entry_that_tried_is_not_kept(
    journal: JournalStorage,
):
    journal.append([cursor(["2026-12-04", 5])])
    with pytest.raises(CursorError):
        journal.append([cursor(["2026-12-03", 9])])
    assert journal.cursor("crm", "customers") == ["2026-12-04", 5]
    assert journal.count() == 1


def test_verify_passes_an_intact_journal(store: Harness, journal: JournalStorage):
    journal.append(three())
    found = store.backend.verify(journal)
    assert found.ok, found.problem
    assert found.entries == 3
    assert (found.chain_ok, found.state_ok, found.storage_ok) == (True, True, True)


def test_verify_names_an_edited_entry_and_the_missing_guard(
    store: Harness, journal: JournalStorage
):
    journal.append(three())
    store.tamper_entry(journal, 2, '{"name":"Evil"}')
    found = store.backend.verify(journal)
    assert not found.ok
    assert (found.chain_ok, found.first_bad_seq, found.storage_ok) == (False, 2, False)
    assert journal.missing_triggers() != []


def test_verify_finds_a_state_edited_behind_the_reducer_and_rebuild_restores_it(
    store: Harness, journal: JournalStorage
):
    journal.append(three())
    journal.append([observed("crm:1", 2, name="Acme Ltd")])
    wanted = journal.record("customers", "crm:1")
    store.tamper_state(journal, "customers", "crm:1", dumps({"n": 0, "fields": {}}))
    found = store.backend.verify(journal)
    assert (found.chain_ok, found.state_ok) == (True, False)
    assert store.backend.rebuild(journal) == 4
    assert store.backend.verify(journal).ok
    assert journal.record("customers", "crm:1") == wanted


def test_a_keyed_journal_is_written_only_with_its_key(store: Harness):
    """Without its key a keyed journal refuses appends; under another key verify fails."""
    location = store.location()
    keyed = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    keyed.append(three())
    keyed.close()
    keyless = store.backend.open(location, Folding(), now=fixed_now)
    try:
        with pytest.raises(ChainKeyError):
            keyless.append([observed("crm:5", 1, name="x")])
    finally:
        keyless.close()
    other = store.backend.open(location, Folding(), key=ChainKey(bytes(32)), now=fixed_now)
    try:
        found = store.backend.verify(other)
        assert (found.chain_ok, found.first_bad_seq) == (False, 1)
    finally:
        other.close()
