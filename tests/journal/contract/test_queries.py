"""The queries the sync engine asks of a journal's materialised state and entries, the
same assertions over every backend (docs/postgres-journal-gaps.md lists which the engine
calls): the PostgreSQL journal answers them as SQLite's :class:`journal.Journal` does."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from journal import Dot, Entry, Kind, NewEntry, VectorClock, View, dumps, loads
from journal.payloads import SettledIntent, WriteIntent, new_entry
from tests.journal.contract.backends import Harness
from tests.journal.contract.test_contract import KEY, fixed_now


class Indexing:
    """A reducer giving everything :data:`journal.protocols.Encoded` can carry, from the
    entry's fields: ``email`` the match key, ``todo`` the attention flag, ``near`` the near
    key, ``status`` and ``marks``, ``name`` (folded) the label, ``party`` the reference.
    Links by ``meta["id"]`` (status ``meta["link"]``), cursors and conflicts as entries say;
    a ``config`` entry with ``meta["drop"]`` forgets that module's state."""

    def apply(self, view: View, entry: Entry) -> None:
        if entry.kind is Kind.CONFIG and "drop" in entry.meta:
            view.drop_module(entry.meta["drop"])
            return
        if entry.kind is Kind.CURSOR:
            view.set_cursor(str(entry.side), entry.module, entry.meta["cursor"])
            return
        if entry.rid is None or entry.kind is Kind.INTENT:
            return
        if entry.kind is Kind.CONFLICT:
            view.put_conflict(
                entry.meta["id"], entry.module, entry.rid, "name", entry.meta["status"], {}
            )
            return
        state = view.record(entry.module, entry.rid) or {"n": 0, "fields": {}}
        fields = {**state["fields"], **entry.fields}
        view.put_record(entry.module, entry.rid, {"n": state["n"] + 1, "fields": fields})
        if "id" in entry.meta:
            status = entry.meta.get("link", "active")
            view.link(entry.module, str(entry.side), entry.meta["id"], entry.rid, status)

    def encode(self, state: Any) -> tuple[Any, ...]:
        f = state["fields"]
        label = f["name"].casefold() if "name" in f else None
        return (
            dumps(state),
            f.get("email"),
            bool(f.get("todo")),
            f.get("near"),
            f.get("status"),
            f.get("marks"),
            label,
            f.get("party"),
        )

    def decode(self, text: str) -> Any:
        return loads(text)


def seen(module: str, rid: str, n: int = 1, *, link: str = "active", **fields: Any) -> NewEntry:
    side, _, side_id = rid.partition(":")
    return NewEntry(
        Kind.OBSERVED,
        module,
        rid,
        side,
        Dot(side, n),
        VectorClock(),
        fields,
        {"id": side_id, "link": link},
    )


def conflict(cid: int, module: str, rid: str, status: str = "open") -> NewEntry:
    return NewEntry(Kind.CONFLICT, module, rid, "crm", meta={"id": cid, "status": status})


@pytest.fixture
def journal(store: Harness) -> Iterator[Any]:
    made = store.backend.open(store.location(), Indexing(), key=KEY, now=fixed_now)
    yield made
    made.close()


def fill(journal: Any) -> list[Entry]:
    """Two modules of records with keys, near keys, marks, labels, references, links of
    two sides and statuses, conflicts and a cursor."""
    return journal.append(
        [
            seen("contacts", "crm:a", name="Zed", email="z@x", todo=True, near="zed"),
            seen("contacts", "crm:B", name="Ann", email="a@x", todo=True, status="ok"),
            seen("contacts", "books:1", name="Anna", email="a@x", near="ann", marks="held"),
            seen("contacts", "crm:ä", name="Åsa", todo=True, status="ok", marks="held clone"),
            seen("contacts", "books:2", link="gone", name="Bo", near="ann", status="ok"),
            seen("invoices", "books:9", name="INV-9", party="crm:B", todo=True),
            seen("invoices", "books:10", name="INV-10", party="crm:B", marks="held"),
            conflict(7, "contacts", "crm:a"),
            conflict(3, "contacts", "crm:B", "resolved"),
            conflict(5, "invoices", "books:9"),
            NewEntry(Kind.CURSOR, "contacts", None, "crm", meta={"cursor": ["2026-12-04", 3]}),
        ]
    )


# -- the records ------------------------------------------------------------------------------


def test_records_needing_attention_are_paged_in_bytewise_rid_order(journal: Any):
    fill(journal)
    assert journal.attention("contacts") == ["crm:B", "crm:a", "crm:ä"]
    assert journal.attention("contacts", limit=2) == ["crm:B", "crm:a"]
    assert journal.attention("contacts", after="crm:a", limit=2) == ["crm:ä"]
    assert journal.attention("invoices") == ["books:9"]
    assert journal.attention("nothing") == []
    journal.append([seen("contacts", "crm:a", 2, todo=False)])
    assert journal.attention("contacts") == ["crm:B", "crm:ä"]


def test_records_are_found_by_key_near_key_and_reference(journal: Any):
    fill(journal)
    assert journal.with_keys("contacts", ["a@x", "z@x", "none@x"]) == {
        "a@x": ["books:1", "crm:B"],
        "z@x": ["crm:a"],
    }
    assert journal.with_keys("contacts", []) == {}
    assert journal.with_near_keys("contacts", ["ann", "ann"]) == {"ann": ["books:1", "books:2"]}
    assert journal.with_refs("invoices", ["crm:B"]) == {"crm:B": ["books:10", "books:9"]}
    assert journal.with_refs("contacts", ["crm:B"]) == {}


def test_a_preload_reads_what_record_reads_and_follows_later_appends(journal: Any):
    fill(journal)
    wanted = {rid: journal.record("contacts", rid) for rid in ("crm:a", "books:1")}
    journal.preload("contacts", ["crm:a", "books:1", "crm:nobody"])
    assert {rid: journal.record("contacts", rid) for rid in wanted} == wanted
    assert journal.record("contacts", "crm:nobody") is None
    journal.append([seen("contacts", "crm:nobody", name="New"), seen("contacts", "crm:a", 2)])
    assert journal.record("contacts", "crm:nobody")["fields"] == {"name": "New"}
    assert journal.record("contacts", "crm:a")["n"] == 2


def test_a_rolled_back_state_is_not_read_after_a_preload(journal: Any):
    fill(journal)
    journal.preload("contacts", ["crm:a", "crm:new"])
    with pytest.raises(ZeroDivisionError), journal.transaction():
        journal.append([seen("contacts", "crm:a", 2, name="Gone"), seen("contacts", "crm:new")])
        assert journal.record("contacts", "crm:a")["fields"]["name"] == "Gone"
        raise ZeroDivisionError
    assert journal.record("contacts", "crm:a")["fields"]["name"] == "Zed"
    assert journal.record("contacts", "crm:new") is None


def test_another_writers_append_is_read_in_the_next_transaction(store: Harness):
    location = store.location()
    first = store.backend.open(location, Indexing(), key=KEY, now=fixed_now)
    second = store.backend.open(location, Indexing(), key=KEY, now=fixed_now)
    try:
        fill(first)
        first.preload("contacts", ["crm:a", "crm:later"])
        assert first.record("contacts", "crm:a")["n"] == 1
        second.append([seen("contacts", "crm:a", 2, name="Zed Ltd"), seen("contacts", "crm:later")])
        with first.transaction():
            assert first.record("contacts", "crm:a")["fields"]["name"] == "Zed Ltd"
            assert first.record("contacts", "crm:later") is not None
            (entry,) = first.append([seen("contacts", "crm:a", 3, name="Zed Inc")])
        assert entry.seq == second.last_seq + 1
        assert first.record("contacts", "crm:a")["n"] == 3
    finally:
        first.close()
        second.close()


def test_an_append_folds_its_entries_in_order_whatever_it_keeps_unwritten(journal: Any):
    """A record touched by several entries of one append ends as the last made it; a
    module dropped in the middle of an append keeps only what came after the drop."""
    fill(journal)
    journal.append(
        [
            seen("contacts", "crm:x", name="One", todo=True),
            seen("contacts", "crm:x", 2, name="Two"),
            seen("invoices", "books:9", 2, name="INV-9b"),
            NewEntry(Kind.CONFIG, "@test", "@drop", meta={"drop": "contacts"}),
            seen("contacts", "crm:y", name="After"),
        ]
    )
    assert [(m, rid) for m, rid, _ in journal.records()] == [
        ("contacts", "crm:y"),
        ("invoices", "books:10"),
        ("invoices", "books:9"),
    ]
    assert journal.record("contacts", "crm:x") is None
    assert journal.record("invoices", "books:9")["fields"]["name"] == "INV-9b"
    assert journal.module_links("contacts") == {("crm", "y"): ("crm:y", "active")}
    assert journal.attention("contacts") == []
    assert journal.state_counts()["contacts"] == {
        "records": 1,
        "links": 1,
        "cursors": 0,
        "conflicts": 0,
    }
    journal.append([seen("contacts", "crm:x", 3, name="Back")])
    assert journal.record("contacts", "crm:x") == {"n": 1, "fields": {"name": "Back"}}


def test_records_stream_by_module_and_rid_and_the_marked_ones_alone(journal: Any):
    fill(journal)
    everything = [(m, rid) for m, rid, _ in journal.records()]
    assert everything == [
        ("contacts", "books:1"),
        ("contacts", "books:2"),
        ("contacts", "crm:B"),
        ("contacts", "crm:a"),
        ("contacts", "crm:ä"),
        ("invoices", "books:10"),
        ("invoices", "books:9"),
    ]
    marked = [(m, rid, s["fields"]["marks"]) for m, rid, s in journal.records(marked=True)]
    assert marked == [
        ("contacts", "books:1", "held"),
        ("contacts", "crm:ä", "held clone"),
        ("invoices", "books:10", "held"),
    ]
    assert [rid for _, rid, _ in journal.records("invoices", marked=True)] == ["books:10"]
    assert list(journal.records("nothing")) == []


def test_records_are_tallied_by_status_and_mark(journal: Any):
    fill(journal)
    tallies = journal.record_tallies()
    assert sorted(tallies) == ["contacts", "invoices"]
    contacts = tallies["contacts"]
    assert dict(contacts.statuses) == {"ok": 3, None: 2}
    assert dict(contacts.marks) == {"held": 2, "clone": 1}
    assert contacts.total == 5
    assert dict(tallies["invoices"].marks) == {"held": 1}


# -- links, conflicts, counts -------------------------------------------------------------------


def test_links_are_found_by_side_id_and_listed_and_counted(journal: Any):
    fill(journal)
    assert journal.rid_for("contacts", "books", "1") == "books:1"
    assert journal.rid_for("contacts", "crm", "1") is None
    assert journal.rid_for("invoices", "books", "1") is None
    assert journal.rids_for("contacts", "crm", ["a", "B", "zz", "a"]) == {
        "a": "crm:a",
        "B": "crm:B",
    }
    assert journal.rids_for("contacts", "crm", []) == {}
    assert journal.module_links("invoices") == {
        ("books", "9"): ("books:9", "active"),
        ("books", "10"): ("books:10", "active"),
    }
    assert journal.module_links("contacts")[("books", "2")] == ("books:2", "gone")
    assert journal.link_counts() == {
        ("contacts", "books", "active"): 1,
        ("contacts", "books", "gone"): 1,
        ("contacts", "crm", "active"): 3,
        ("invoices", "books", "active"): 2,
    }


def test_conflicts_are_listed_paged_and_counted(journal: Any):
    fill(journal)
    assert [c["id"] for c in journal.conflicts()] == [3, 5, 7]
    assert [c["id"] for c in journal.conflicts(status="open")] == [5, 7]
    assert [c["id"] for c in journal.conflicts(module="contacts", rid="crm:a")] == [7]
    assert [c["id"] for c in journal.conflicts(limit=1, offset=1)] == [5]
    assert journal.conflicts(status="open", module="invoices")[0] == {
        "id": 5,
        "module": "invoices",
        "rid": "books:9",
        "field": "name",
        "status": "open",
        "data": {},
    }
    assert journal.conflict_total() == 3
    assert journal.conflict_total(status="open", module="contacts") == 1
    assert journal.conflict_counts() == {"contacts": 2, "invoices": 1}
    assert journal.conflict_counts(status="resolved") == {"contacts": 1}


def test_the_state_is_counted_per_module_and_table(journal: Any):
    fill(journal)
    assert journal.state_counts() == {
        "contacts": {"records": 5, "links": 5, "cursors": 1, "conflicts": 2},
        "invoices": {"records": 2, "links": 2, "cursors": 0, "conflicts": 1},
    }


# -- the entries --------------------------------------------------------------------------------


def test_entries_are_read_by_rids_and_paged(journal: Any):
    stored = fill(journal)
    by_rids = [e.seq for e in journal.read(module="contacts", rids=["crm:a", "books:1"])]
    assert by_rids == [1, 3, 8]
    assert [e.seq for e in journal.read(limit=3, offset=2)] == [3, 4, 5]
    assert [e.seq for e in journal.read(descending=True, limit=2, offset=1)] == [10, 9]
    assert [e.seq for e in journal.read(since=2, until=4)] == [3, 4]
    assert journal.count(module="contacts", rids=["crm:a", "books:1"]) == 3
    assert journal.count(rids=[]) == 0
    assert list(journal.stream(batch=4)) == stored
    assert [e.seq for e in journal.stream(since=9, batch=1)] == [10, 11]


def test_entries_are_counted_and_timed_per_module(store: Harness):
    times = iter(dt.datetime(2026, 12, 4, h, tzinfo=dt.UTC) for h in range(9, 24))
    journal = store.backend.open(store.location(), Indexing(), key=KEY, now=lambda: next(times))
    try:
        journal.append([seen("contacts", "crm:a")])  # 09:00
        journal.append([seen("invoices", "books:1")])  # 10:00
        journal.append([conflict(1, "contacts", "crm:a")])  # 11:00
        journal.append([NewEntry(Kind.CONFIG, "@journal", "@x", meta={"event": "t"})])  # 12:00
        assert journal.entry_counts() == {"@journal": 1, "contacts": 2, "invoices": 1}
        assert journal.last_times(kinds=["observed"]) == {
            "contacts": dt.datetime(2026, 12, 4, 9, tzinfo=dt.UTC),
            "invoices": dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC),
        }
        assert journal.last_times(kinds=["observed", "conflict"])["contacts"].hour == 11
        assert journal.last_times(kinds=[]) == {}
    finally:
        journal.close()


def test_a_records_history_holds_the_batch_intents_that_name_it(journal: Any):
    journal.append(
        [
            seen("contacts", "crm:a"),
            new_entry(WriteIntent(writes={"crm:a": None, "crm:b": "7"}), "contacts", side="books"),
            new_entry(SettledIntent(settled=("crm:b",)), "contacts"),
            new_entry(WriteIntent(writes={"crm:ab": None}), "contacts", side="books"),
            seen("invoices", "crm:a"),
            seen("contacts", "crm:a", 2),
        ]
    )
    assert [e.seq for e in journal.history("crm:a")] == [1, 2, 5, 6]
    assert [e.seq for e in journal.history("crm:a", module="contacts")] == [1, 2, 6]
    assert [e.seq for e in journal.history("crm:b")] == [2, 3]
    assert list(journal.history("crm:zz")) == []


# -- the labels (the console's search) ------------------------------------------------------------


def test_records_are_found_and_paged_by_label_in_bytewise_order(journal: Any):
    fill(journal)
    assert journal.labelled(["contacts", "invoices", "contacts"]) == (
        7,
        [
            ("ann", "crm:B", "contacts"),
            ("anna", "books:1", "contacts"),
            ("bo", "books:2", "contacts"),
            ("inv-10", "books:10", "invoices"),
            ("inv-9", "books:9", "invoices"),
            ("zed", "crm:a", "contacts"),
            ("åsa", "crm:ä", "contacts"),
        ],
    )
    assert journal.labelled(["contacts"], holding="an") == (
        2,
        [("ann", "crm:B", "contacts"), ("anna", "books:1", "contacts")],
    )
    assert journal.labelled(["contacts", "invoices"], limit=2, offset=3) == (
        7,
        [("inv-10", "books:10", "invoices"), ("inv-9", "books:9", "invoices")],
    )
    assert journal.labelled(["invoices"], holding="nv-1", limit=1) == (
        1,
        [("inv-10", "books:10", "invoices")],
    )
    assert journal.labelled(["contacts"], holding="%") == (0, [])
    assert journal.labelled([]) == (0, [])
    assert journal.first_label("contacts") == ("ann", "crm:B")
    assert journal.first_label("nothing") is None


def test_a_read_of_every_entry_goes_on_past_a_batch(
    store: Harness, journal: Any, monkeypatch: pytest.MonkeyPatch
):
    """However many entries a read without a page returns, and whichever way: all of them,
    in order (the PostgreSQL journal reads them a batch a query: made 2 here)."""
    if store.backend.name == "postgres":
        monkeypatch.setattr(importlib.import_module("journal.postgres"), "READ_BATCH", 2)
    stored = fill(journal)
    assert list(journal.read()) == stored
    assert [e.seq for e in journal.read(descending=True)] == list(range(11, 0, -1))
    assert [e.seq for e in journal.read(module="contacts", since=2, until=9)] == [3, 4, 5, 8, 9]
    assert [e.seq for e in journal.read(kinds=["conflict"], descending=True, until=9)] == [9, 8]
    named = journal.read(rids=["crm:a", "books:9"], descending=True)
    assert [e.seq for e in named] == [10, 8, 6, 1]
