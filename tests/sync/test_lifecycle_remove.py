"""Removing the CRM copies of Books documents (``disable --remove-crm-copies``) over the
engine with memory sides: which records are copies, how each delete is journaled, a crash
halfway then a re-run, and the Books side never touched (the CLI's tests are in
tests/cli/test_disable_remove.py, the sandbox's in tests/integration)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from conflicts import RecordReducer
from journal import Journal, Kind, verify
from journal.payloads import CopiesRemoval, CopiesRemoved, Failure, Tombstone, expect
from replicator.config.load import parse_config
from replicator.connectors.base import SideModule
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.remove import MemoryRemover, Removal, SQLiteRemover
from replicator.errors import ConfigError, EngineError
from replicator.sync import copies
from replicator.sync import lifecycle as lc
from replicator.sync.engine import Engine
from replicator.sync.record import CONFIG_MODULE

BY, WHY = "alice", "integration disabled: the CRM keeps no finance data"


def _config(tmp_path: Path, **invoices: object):
    spec = {
        "sync": "both_ways",
        "first": "books",
        "conflicts": "prefer:books",
        "books": {"table": "invoices", "id": "id"},
        "crm": {"table": "Invoices", "id": "id"},
        "fields": {
            "subject": {"books": "reference_number", "crm": "Subject"},
            "total": {"books": "total", "type": "decimal"},
        },
    }
    spec.update(invoices)
    data = {
        "journal": {"path": "journal.db"},
        "sides": {"books": {"connector": "memory"}, "crm": {"connector": "memory"}},
        "modules": {
            "customers": {
                "sync": "both_ways",
                "first": "crm",
                "duplicates": "overwrite",
                "books": {"table": "customers", "id": "id", "match": "name"},
                "crm": {"table": "Accounts", "id": "id", "match": "Account_Name"},
                "fields": {"name": {"books": "name", "crm": "Account_Name"}},
            },
            "invoices": spec,
        },
    }
    return parse_config(data, tmp_path / "replicator.toml")


def _refuse_books_invoices(module: SideModule, write) -> str | None:
    if module.table == "invoices" and write.values.get("reference_number") == "CRM only":
        return "a Books invoice needs line items"
    return None


class World:
    """Books and CRM in memory, with customers and invoices, a journal and an engine."""

    def __init__(self, tmp_path: Path, **invoices: object) -> None:
        self.config = _config(tmp_path, **invoices)
        self.books = MemoryConnector("books", reject=_refuse_books_invoices)
        self.crm = MemoryConnector("crm")
        self.journal = Journal(tmp_path / "journal.db", RecordReducer())
        self.connectors = {"books": self.books, "crm": self.crm}
        self.engine = Engine(self.config, self.journal, self.connectors)

    def sync(self):
        return self.engine.run()

    def invoice(self, subject: str, total: str = "10.00") -> str:
        return self.books.insert(
            "invoices", {"reference_number": subject, "total": total, "status": "sent"}
        )

    def crm_subjects(self) -> list[str]:
        return sorted(r["Subject"] for r in self.crm.rows("Invoices").values())

    def plan(self) -> copies.Plan:
        return copies.plan(self.journal, self.config)

    def remove(self, removers=None, **options: object) -> copies.Outcome:
        lc.disable(self.journal)
        found = self.plan()
        return copies.remove(
            self.journal,
            self.config,
            found,
            removers or {"crm": MemoryRemover(self.crm)},
            by=BY,
            reason=WHY,
            **options,
        )


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path)
    yield w
    w.journal.close()


def _seeded(world: World) -> dict[str, str]:
    """Two Books invoices copied to CRM, a customer on both sides, a CRM-only invoice its
    Books create was refused for, and a Books invoice deleted in Books after its copy."""
    world.crm.insert("Accounts", {"Account_Name": "Acme"})
    made = {name: world.invoice(name) for name in ("INV-1", "INV-2", "INV-3")}
    world.crm.insert("Invoices", {"Subject": "CRM only"})
    world.sync()
    world.books.delete("invoices", made.pop("INV-3"))
    world.sync()
    return made


def test_only_crm_records_linked_to_a_live_books_document_are_copies(world):
    """The plan lists the CRM copies of Books invoices still in Books, never a CRM-only
    invoice, one whose Books document was deleted, or a master."""
    _seeded(world)
    found = world.plan()
    assert sorted(c.label for c in found.copies) == ["INV-1", "INV-2"]
    assert {c.module for c in found.copies} == {"invoices"} and found.sides == {"invoices": "crm"}
    assert found.crm_only == {"invoices": 2}  # CRM only, and INV-3 whose Books one is gone
    for copy in found.copies:
        assert copy.side == "crm" and copy.id in world.crm.rows("Invoices")
        assert copy.others["books"] in world.books.rows("invoices")


def test_a_module_of_no_crm_document_table_has_no_copies(tmp_path):
    """A module whose sides keep no Quotes / Sales_Orders / Invoices / Purchase_Orders
    (masters, deals) is never looked at."""
    w = World(tmp_path, crm={"table": "Deals", "id": "id"})
    w.invoice("INV-1")
    w.sync()
    found = w.plan()
    assert found.copies == () and found.sides == {}
    w.journal.close()


def test_two_sides_keeping_crm_documents_in_one_module_are_refused(tmp_path):
    """If both sides of a module keep CRM document tables (neither a Zoho CRM side), which
    one holds the copies is not guessed: the config is refused naming the module."""
    config = _config(tmp_path, books={"table": "Invoices", "id": "id"})
    with pytest.raises(ConfigError, match="modules.invoices: sides books, crm"):
        copies.crm_side(config, config.modules["invoices"])


def test_removal_deletes_the_copies_only_and_journals_each_with_who_and_why(world):
    """The two copies go from CRM; the CRM-only invoices, the customer and every Books row
    stay as they were; the request lists the records before the deletes, each delete is a
    tombstone naming who asked, why and the request, and an end entry counts them."""
    made = _seeded(world)
    books_before = world.books.rows("invoices"), world.books.rows("customers")
    accounts = world.crm.rows("Accounts")
    found = world.plan()
    outcome = world.remove()
    assert world.crm_subjects() == ["CRM only", "INV-3"]
    assert (world.books.rows("invoices"), world.books.rows("customers")) == books_before
    assert world.crm.rows("Accounts") == accounts and set(made.values()) <= set(books_before[0])
    assert outcome.counts() == {"invoices": {"removed": 2, "gone": 0, "failed": 0}}
    request = outcome.request
    assert request is not None
    asked = expect(request, CopiesRemoval)
    assert (asked.by, asked.reason, dict(asked.sides)) == (BY, WHY, {"invoices": "crm"})
    assert asked.records == {"invoices": {c.rid: c.id for c in found.copies}}
    tombstones = [e for e in world.journal.read(kinds=[Kind.TOMBSTONE]) if e.side == "crm"]
    assert sorted(e.rid for e in tombstones) == sorted(c.rid for c in found.copies)
    for entry in tombstones:
        stone = expect(entry, Tombstone)
        assert (stone.by, stone.reason, stone.request, stone.gone) == (BY, WHY, request.seq, False)
        assert entry.seq > request.seq
    (end,) = [e for e in world.journal.read(module=CONFIG_MODULE) if e.seq > tombstones[-1].seq]
    assert expect(end, CopiesRemoved).request == request.seq
    assert copies.interrupted(world.journal) is None
    assert world.plan().copies == ()
    assert verify(world.journal).ok  # replay of the new entries gives the live state


def test_a_copy_already_gone_from_crm_counts_as_removed(world):
    """A copy someone deleted in CRM before the removal (not pulled yet) is removed without
    a delete: journaled as gone."""
    _seeded(world)
    first, second = world.plan().copies
    world.crm.delete("Invoices", first.id)
    outcome = world.remove()
    assert [(c.rid, gone) for c, gone in outcome.removed] == [
        (first.rid, True),
        (second.rid, False),
    ]
    (stone,) = [
        expect(e, Tombstone)
        for e in world.journal.read(kinds=[Kind.TOMBSTONE])
        if e.rid == first.rid
    ]
    assert stone.gone is True and stone.by == BY


class Refusing:
    """A remover whose side refuses to delete one record."""

    def __init__(self, inner: MemoryRemover, refused: str) -> None:
        self.inner, self.refused = inner, refused

    def remove(self, module: SideModule, ids: Sequence[str]) -> list[Removal]:
        done = self.inner.remove(module, [i for i in ids if i != self.refused])
        reason = f"side crm, Invoices record {self.refused}: NO_PERMISSION: not yours"
        return [*done, Removal(self.refused, error=reason)]


def test_a_refused_delete_is_an_error_naming_the_record_and_reason_and_stays_a_copy(world):
    """The side's refusal of one copy is an error entry (stage remove) on that record with
    the side's reason; the other copy goes; the refused one is listed again next time."""
    _seeded(world)
    first, second = world.plan().copies
    outcome = world.remove({"crm": Refusing(MemoryRemover(world.crm), first.id)})
    assert [(c.rid, why) for c, why in outcome.failed] == [
        (first.rid, f"side crm, Invoices record {first.id}: NO_PERMISSION: not yours")
    ]
    (error,) = [e for e in world.journal.read(kinds=[Kind.ERROR]) if e.rid == first.rid]
    failure = expect(error, Failure)
    assert (failure.stage, failure.id, error.side) == ("remove", first.id, "crm")
    assert "NO_PERMISSION" in failure.reason
    assert [c.rid for c in world.plan().copies] == [first.rid]
    assert outcome.counts()["invoices"] == {"removed": 1, "gone": 0, "failed": 1}


def test_removal_is_refused_while_sync_is_enabled_and_deletes_nothing(world):
    """Copies are removed only while sync is disabled (so none appears meanwhile)."""
    _seeded(world)
    found = world.plan()
    with pytest.raises(EngineError, match="only while sync is disabled"):
        copies.remove(
            world.journal, world.config, found, {"crm": MemoryRemover(world.crm)}, by=BY, reason=WHY
        )
    assert len(world.crm.rows("Invoices")) == 4


def test_a_side_without_a_remover_is_refused_before_any_entry(world):
    """No remover for the copies' side (a Books-like side): refused, nothing journaled."""
    _seeded(world)
    lc.disable(world.journal)
    last = world.journal.last_seq
    with pytest.raises(EngineError, match="side crm .* cannot remove records"):
        copies.remove(world.journal, world.config, world.plan(), {}, by=BY, reason=WHY)
    assert world.journal.last_seq == last


class Crashing:
    """Deletes like the memory side, and on call ``crash_on`` dies after the side applied
    the deletes, before their outcomes are journaled; counts every row it deleted."""

    def __init__(self, inner: MemoryRemover, crash_on: int | None = None) -> None:
        self.inner, self.crash_on, self.calls = inner, crash_on, 0
        self.deleted: list[str] = []

    def remove(self, module: SideModule, ids: Sequence[str]) -> list[Removal]:
        self.calls += 1
        answers = self.inner.remove(module, ids)
        self.deleted += [a.id for a in answers if a.ok and not a.gone]
        if self.calls == self.crash_on:
            raise KeyboardInterrupt("killed")
        return answers


def test_a_crash_halfway_then_a_rerun_finishes_without_deleting_twice_or_more(tmp_path):
    """Killed after the side applied the second batch's deletes but before they were
    journaled: the re-run lists the copies not journaled as removed, finds the second
    batch's gone (counted removed), removes the rest; every copy is deleted exactly once,
    nothing else is, and the first request stays unfinished while the second ends."""
    w = World(tmp_path)
    for n in range(5):
        w.invoice(f"INV-{n}")
    w.crm.insert("Invoices", {"Subject": "CRM only"})
    w.sync()
    all_copies = {c.id for c in w.plan().copies}
    assert len(all_copies) == 5
    crashing = Crashing(MemoryRemover(w.crm), crash_on=2)
    with pytest.raises(KeyboardInterrupt):
        w.remove({"crm": crashing}, batch=2)
    first = copies.interrupted(w.journal)
    assert first is not None
    left = w.plan()
    assert left.interrupted == first and len(left.copies) == 3
    again = Crashing(MemoryRemover(w.crm))
    outcome = w.remove({"crm": again}, batch=2)
    assert sorted(gone for _, gone in outcome.removed) == [False, True, True]
    deleted = crashing.deleted + again.deleted
    assert sorted(deleted) == sorted(all_copies)  # each copy once, nothing else
    assert w.crm_subjects() == ["CRM only"]
    assert [done for _, done in copies.requests(w.journal)] == [False, True]
    assert copies.interrupted(w.journal) is None
    stones = [e for e in w.journal.read(kinds=[Kind.TOMBSTONE]) if e.side == "crm"]
    assert len(stones) == 5 and len({e.rid for e in stones}) == 5
    assert verify(w.journal).ok
    w.journal.close()


def test_removed_copies_are_never_propagated_to_books_nor_made_again(world):
    """After the removal and `enable`, syncs read the deletes as known (no new tombstone),
    write nothing to Books, and a Books edit of a removed copy's document is not sent to
    CRM: the tombstone rule keeps deletes from propagating both ways."""
    _seeded(world)
    found = world.plan()
    world.remove()
    lc.enable(world.journal)
    books = world.books.rows("invoices")
    stones = len(list(world.journal.read(kinds=[Kind.TOMBSTONE])))
    world.sync()
    assert world.books.rows("invoices") == books
    assert len(list(world.journal.read(kinds=[Kind.TOMBSTONE]))) == stones
    copy = found.copies[0]
    world.books.update("invoices", copy.others["books"], {"total": "99.00"})
    report = world.sync()
    assert report.total("created") == 0
    assert world.crm_subjects() == ["CRM only", "INV-3"]
    assert world.books.rows("invoices")[copy.others["books"]]["total"] == "99.00"
    assert world.plan().copies == ()
    assert verify(world.journal).ok


def test_a_plan_made_before_another_removal_sends_nothing_again(world):
    """A stale plan (its copies removed by a removal run since) deletes and journals
    nothing: only copies still linked on both sides are ever sent."""
    _seeded(world)
    lc.disable(world.journal)
    stale = world.plan()
    world.remove()
    last = world.journal.last_seq
    crashing = Crashing(MemoryRemover(world.crm))
    outcome = copies.remove(
        world.journal, world.config, stale, {"crm": crashing}, by=BY, reason=WHY
    )
    assert outcome.request is None and crashing.calls == 0
    assert world.journal.last_seq == last


def test_history_shows_the_removal_asked_and_its_end(world):
    """history lists the request (who, why, how many) and its end (counts), under the
    module's filter too."""
    _seeded(world)
    world.remove()
    events = [i for i in lc.history(world.journal, module="invoices") if i["type"] == "event"]
    asked, ended = events[-2:]
    assert asked["event"] == "remove-crm-copies" and asked["modules"] == ["invoices"]
    assert asked["summary"] == (
        f"removal of 2 CRM copies of Books documents (invoices) asked by {BY}: {WHY}"
    )
    assert ended["event"] == "removed-crm-copies"
    assert "2 removed, 0 gone already, 0 failed; Books untouched" in ended["summary"]
    assert lc.lifecycle(world.journal).disabled  # the removal events change no lifecycle state


def test_nothing_to_remove_journals_nothing(world):
    """With no copy, a removal appends no entry at all."""
    world.crm.insert("Invoices", {"Subject": "CRM only"})
    world.sync()
    lc.disable(world.journal)
    last = world.journal.last_seq
    outcome = copies.remove(world.journal, world.config, world.plan(), {}, by=BY, reason=WHY)
    assert outcome.request is None and world.journal.last_seq == last


def test_the_sqlite_remover_deletes_rows_by_id_and_says_which_were_gone(tmp_path):
    """SQLite: rows go in one transaction, a missing id is gone, other rows stay."""
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "Invoices" (id INTEGER PRIMARY KEY, "Subject" TEXT)')
        db.executemany('INSERT INTO "Invoices" VALUES (?, ?)', [(1, "a"), (2, "b"), (3, "c")])
    remover = SQLiteRemover("crm", path)
    module = SideModule("invoices", "Invoices")
    assert remover.remove(module, ["1", "9", "3"]) == [
        Removal("1"),
        Removal("9", gone=True),
        Removal("3"),
    ]
    with sqlite3.connect(path) as db:
        assert db.execute('SELECT id FROM "Invoices"').fetchall() == [(2,)]
