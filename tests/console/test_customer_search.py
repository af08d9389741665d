"""The integration user's search: customers and vendors by a part of their name, in any
case, ordered by the folded name then rid, a page at a time, from the names the journal
stores beside each record (only the page shown is decoded)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conflicts import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, verify
from journal.payloads import IntegrationDeleted, Merged, Skipped, Tombstone, new_entry
from journal.store import JOURNAL_MODULE, STATE_RID
from replicator.config.load import Config, parse_config
from replicator.console.customer import customers
from replicator.sync.presentation import label_fields

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
FIXTURE = Path(__file__).resolve().parents[1] / "journal" / "fixtures" / "a5dca57_journal.sql"


def make_config(tmp_path: Path, *, vendors_match: str | None = None) -> Config:
    """Customers named by ``name``, vendors by ``company`` (their first field), or by
    ``vendors_match`` when they are matched on it."""

    def module(table: str, fields: dict[str, Any], match: str | None = None) -> dict[str, Any]:
        side = {"table": table, "id": "id", "modified": "updated_at"}
        if match is not None:
            side["match"] = match
        return {"sync": "both_ways", "books": side, "crm": side, "fields": fields}

    both = {f: {"books": f, "crm": f} for f in ("name", "company", "email")}
    data = {
        "journal": {"path": "journal.db"},
        "sides": {
            s: {"connector": "sqlite", "path": str(tmp_path / f"{s}.db")} for s in ("books", "crm")
        },
        "modules": {
            "customers": module("contacts", {"name": both["name"]}),
            "vendors": module(
                "vendors", {"company": both["company"], "email": both["email"]}, vendors_match
            ),
        },
    }
    return parse_config(data, tmp_path / "replicator.toml")


class CountingReducer(RecordReducer):
    """The record reducer, counting the states it decodes (from their text, or folded
    from the entries a state stored by reference names)."""

    decoded = 0

    def decode(self, text: str) -> Any:
        CountingReducer.decoded += 1
        return super().decode(text)

    def unfold(self, rows: Any, names: Any = None) -> Any:
        CountingReducer.decoded += 1
        return super().unfold(rows, names=names)


class World:
    """A journal whose states are made by observations, folded with the config's labels."""

    def __init__(self, tmp_path: Path, config: Config | None = None) -> None:
        self.config = config or make_config(tmp_path)
        self.reducer = CountingReducer(labels=label_fields(self.config))
        self.journal = Journal(self.config.journal_path, self.reducer)
        self.n = 0

    def observe(self, module: str, rid: str, side: str = "books", **fields: Any) -> None:
        self.n += 1
        context = VectorClock({side: self.n - 1}) if self.n > 1 else VectorClock()
        meta = {"id": f"{rid}-{self.n}", "modified": T0}
        self.journal.append(
            [NewEntry(Kind.OBSERVED, module, rid, side, Dot(side, self.n), context, fields, meta)]
        )

    def search(self, query: str = "", page: int = 1, per_page: int = 50) -> dict[str, Any]:
        self.journal.view.forget()  # every search reads the file, as a new request does
        return customers(self.config, self.journal, query, page, per_page=per_page)

    def found(self, query: str = "", **options: Any) -> list[tuple[str, str, str]]:
        return [(r["name"], r["rid"], r["kind"]) for r in self.search(query, **options)["rows"]]


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path)
    yield w
    w.journal.close()


def test_a_search_matches_a_part_of_the_name_in_any_case_ordered_by_folded_name_then_rid(world):
    """ "ACME" finds every name holding "acme" (middle, start, any case, past ASCII too),
    ordered by the folded name then rid; customers and vendors come together."""
    world.observe("customers", "crm:2", name="acme Ltd")
    world.observe("customers", "crm:1", name="ACME LTD")
    world.observe("customers", "crm:3", name="The Acme Co")
    world.observe("vendors", "crm:1", company="Acme Supplies", email="s@acme.example")
    world.observe("customers", "crm:4", name="Beta")
    world.observe("customers", "crm:5", name="Straße Acmé")
    assert world.found("ACME") == [
        ("ACME LTD", "crm:1", "customer"),
        ("acme Ltd", "crm:2", "customer"),
        ("Acme Supplies", "crm:1", "vendor"),
        ("The Acme Co", "crm:3", "customer"),
    ]
    assert world.found("strasse acm") == [("Straße Acmé", "crm:5", "customer")]
    assert world.found("  beta ") == [("Beta", "crm:4", "customer")]
    assert world.found("nobody") == []
    # the vendor's e-mail holds "acme" too, but only its name is searched
    assert [rid for _, rid, _ in world.found("example")] == []


def test_an_empty_query_lists_every_customer_and_vendor_by_name_a_page_at_a_time(world):
    """Seven records, three a page: pages of 3, 3 and 1 in name order, no record twice;
    a page past the last shows the last, a page before the first the first."""
    for i in (5, 2, 7, 1, 4):
        world.observe("customers", f"crm:{i}", name=f"Name {i}")
    world.observe("vendors", "books:3", company="name 3")
    world.observe("vendors", "books:6", company="NAME 6")
    pages = [world.search("", page, per_page=3) for page in (1, 2, 3)]
    assert [(p["total"], p["pages"], p["page"]) for p in pages] == [(7, 3, 1), (7, 3, 2), (7, 3, 3)]
    names = [r["name"] for p in pages for r in p["rows"]]
    assert names == ["Name 1", "Name 2", "name 3", "Name 4", "Name 5", "NAME 6", "Name 7"]
    assert world.search("", 9, per_page=3)["rows"] == pages[2]["rows"]
    assert world.search("", 0, per_page=3)["rows"] == pages[0]["rows"]
    matched = world.search("name", 2, per_page=2)
    assert (matched["total"], matched["pages"], [r["name"] for r in matched["rows"]]) == (
        7,
        4,
        ["name 3", "Name 4"],
    )


def test_a_rename_changes_what_a_search_finds(world):
    """A customer renamed on a side is found by its new name, no longer by its old one;
    a name in conflict (two sides' values) is found by either, shown joined."""
    world.observe("customers", "crm:1", side="crm", name="Old Name")
    assert world.found("old") == [("Old Name", "crm:1", "customer")]
    world.observe("customers", "crm:1", side="crm", name="Fresh Name")
    assert world.found("old") == [] and world.found("fresh") == [
        ("Fresh Name", "crm:1", "customer")
    ]
    # a concurrent edit on the other side (its context does not cover crm's write)
    world.journal.append(
        [
            NewEntry(
                Kind.OBSERVED,
                "customers",
                "crm:1",
                "books",
                Dot("books", 1),
                VectorClock(),
                {"name": "Other Name"},
                {"id": "b1", "modified": T0},
            )
        ]
    )
    (row,) = world.found("other")
    assert row[0] in ("Fresh Name / Other Name", "Other Name / Fresh Name")
    assert world.found("fresh") == [row]


def test_merged_skipped_and_dropped_records_are_not_found_deleted_ones_are(world):
    """A record merged into another or skipped as a duplicate is no customer to show; a
    deleted integration's records are gone; a record deleted on one side stays (a delete
    is not propagated: the other side holds it still)."""
    for rid in ("crm:1", "crm:2", "crm:3", "crm:4"):
        world.observe("customers", rid, name=f"Acme {rid}")
    world.observe("vendors", "crm:9", company="Acme Vendor")
    world.journal.append(
        [
            new_entry(Merged(into="crm:1", policy="link", key="acme"), "customers", "crm:2"),
            new_entry(Skipped(reason="a duplicate", key="acme"), "customers", "crm:3"),
            new_entry(Tombstone(id="crm:4-4"), "customers", "crm:4", "books"),
        ]
    )
    assert [rid for _, rid, _ in world.found("acme")] == ["crm:1", "crm:4", "crm:9"]
    world.journal.append([new_entry(IntegrationDeleted(modules=("vendors",)), "@config")])
    assert [rid for _, rid, _ in world.found("acme")] == ["crm:1", "crm:4"]
    # the stored names are a fold of the entries like the rest: replay gives them again
    checked = verify(world.journal)
    assert checked.state_ok, checked.problem


def test_a_search_decodes_only_the_states_of_the_page_it_shows(world):
    """Two hundred customers, a page of ten: ten states are decoded, whatever the query."""
    for i in range(200):
        world.observe("customers", f"crm:{i:03}", name=f"Customer {i:03}")
    for query in ("", "customer 1", "9"):
        CountingReducer.decoded = 0
        found = world.search(query, 2, per_page=10)
        # and the first record's, to tell the stored names are the config's
        assert len(found["rows"]) == 10 and CountingReducer.decoded <= 11


def test_a_journal_folded_without_labels_is_searched_from_its_states_alike(tmp_path):
    """The same records folded by a reducer with no labels (a journal no config folded):
    the search reads every state and answers as the labels do."""
    config = make_config(tmp_path)
    rows = [("customers", f"crm:{i}", {"name": f"Name {9 - i}"}) for i in range(9)]
    rows.append(("vendors", "crm:1", {"company": "name 4½", "email": None}))
    answers = []
    for folder, labels in (("plain", None), ("labelled", label_fields(config))):
        (tmp_path / folder).mkdir()
        world = World(tmp_path / folder, make_config(tmp_path / folder))
        world.journal.reducer.labels = dict(labels or {})
        for module, rid, fields in rows:
            world.observe(module, rid, **fields)
        CountingReducer.decoded = 0
        answers.append(
            [world.search(q, p, per_page=4) for q in ("", "NAME 4", "x") for p in (1, 3)]
        )
        decoded = CountingReducer.decoded
        world.journal.close()
    assert answers[0] == answers[1]
    assert decoded <= 6 * (4 + 2)  # the labelled journal: each page shown (and a first)


def test_a_config_naming_vendors_by_another_field_is_answered_by_that_field(tmp_path):
    """Labels folded while vendors were named by ``company``, searched under a config that
    names them by ``email`` (matched on it): opening the journal with the new config
    rebuilds its state under the new naming (journaled), so the search finds vendors by
    e-mail, not by company, from the stored names, and verify holds."""
    world = World(tmp_path)
    world.observe("vendors", "crm:1", company="Acme Supplies", email="ap@zeta.example")
    world.observe("vendors", "crm:2", company="Beta Parts", email="sales@beta.example")
    world.journal.close()
    again = World(tmp_path, make_config(tmp_path, vendors_match="email"))
    try:
        assert label_fields(again.config)["vendors"] == "email"
        (upgrade,) = [
            e
            for e in again.journal.read(module=JOURNAL_MODULE, kinds=[Kind.CONFIG])
            if e.rid == STATE_RID
        ]
        assert '"vendors":"email"' in upgrade.meta["reason"]
        CountingReducer.decoded = 0
        assert again.found("zeta") == [("ap@zeta.example", "crm:1", "vendor")]
        assert again.found("acme") == []
        assert CountingReducer.decoded <= 2  # the page's state and the first record's
        result = verify(again.journal)
        assert result.ok, result.problem
    finally:
        again.journal.close()


def test_a_journal_of_an_old_state_version_is_rebuilt_on_open_and_then_searched(tmp_path):
    """The a5dca57 journal (no state version, no labels): opened with the config's labels
    its state is rebuilt once (journaled), and the search finds its customers by name,
    decoding only the page."""
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    conn.close()
    config = make_config(tmp_path)
    world = World(tmp_path, config)
    try:
        journal = world.journal
        assert journal.state_version == RecordReducer.version
        (upgrade,) = [
            e
            for e in journal.read(module=JOURNAL_MODULE, kinds=[Kind.CONFIG])
            if e.rid == STATE_RID
        ]
        assert upgrade.meta["from"] == 0
        CountingReducer.decoded = 0
        assert world.found("") == [
            ("Acme Ltd", "books:1", "customer"),
            ("Beta Inc", "books:2", "customer"),
            ("Gamma LLC", "crm:1", "customer"),
        ]
        assert CountingReducer.decoded == 3  # the page (its first record told the names)
        assert world.found("L") == [
            ("Acme Ltd", "books:1", "customer"),
            ("Gamma LLC", "crm:1", "customer"),
        ]
    finally:
        world.journal.close()
