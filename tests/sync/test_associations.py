"""The deal associations library (``replicator.sync.associations``) with fakes of CRM's deals
and Books' documents and a real journal: what is refused, what is written, and what is
journaled."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from conflicts.deals import TRIGGER
from journal import Dot, JournalStorage, Kind, VectorClock
from journal.payloads import (
    Applied,
    DealAssociation,
    Observed,
    Tombstone,
    Triggered,
    new_entry,
    payload_of,
)
from replicator.config.load import Config, load_config
from replicator.connectors.zoho.books_deals import TYPES, Document, DocumentType
from replicator.connectors.zoho.crm_deals import Deal, DeletedDeal, criterion, deal_of
from replicator.errors import AssociationError, ZohoError
from replicator.sync import associations as assoc
from replicator.sync.app import open_journal, record_reducer
from tests.sync.backends import BACKENDS, Journals, journals_for

CONFIG = """
[sides.crm]
connector = "zoho_crm"
credentials = "creds.json"
[sides.books]
connector = "zoho_books"
credentials = "creds.json"
[modules.customers]
crm = { table = "Accounts", match = "Account_Name" }
books = { table = "customers", match = "contact_name" }
[modules.customers.fields]
name = { crm = "Account_Name", books = "contact_name" }
[modules.individuals]
crm = { table = "Contacts" }
books = { table = "customers" }
[modules.individuals.fields]
name = { crm = "Last_Name", books = "contact_name" }
[modules.invoices]
crm = { table = "Invoices" }
books = { table = "invoices" }
[modules.invoices.fields]
subject = { crm = "Subject", books = "reference_number" }
"""
INVOICE = TYPES["invoice"]


class FakeDeals:
    """CRM's deals: live ones by id, deleted ones by id; records each search."""

    def __init__(self, *deals: Deal) -> None:
        self.live = {d.id: d for d in deals}
        self.gone: dict[str, DeletedDeal] = {}
        self.searches: list[tuple[str, tuple[str, str] | None]] = []

    def get(self, deal_id: str) -> Deal | None:
        return self.live.get(deal_id)

    def deleted(self, deal_id: str) -> DeletedDeal | None:
        return self.gone.get(deal_id)

    def search(
        self, text: str, *, customer: tuple[str, str] | None = None, limit: int = 100
    ) -> list[Deal]:
        self.searches.append((text, customer))
        found = [d for d in self.live.values() if text.casefold() in d.name.casefold()]
        if customer is not None:
            found = [d for d in found if d.customer(customer[0])[0] == customer[1]]
        return found[:limit]


class FakeDocuments:
    """Books' documents by (type, id); ``fail`` makes the next write refused."""

    def __init__(self, *documents: Document) -> None:
        self.held = {(d.type.name, d.id): d for d in documents}
        self.writes: list[tuple[str, str | None]] = []
        self.fail = False

    def find(self, kind: DocumentType, ref: str) -> list[Document]:
        if (kind.name, ref) in self.held:
            return [self.held[(kind.name, ref)]]
        return [d for (t, _), d in self.held.items() if t == kind.name and d.number == ref]

    def set_deal(self, document: Document, deal: str | None, deal_name: str | None) -> Document:
        if self.fail:
            raise ZohoError("side books: PUT /invoices/1: HTTP 400 1002: refused", status=400)
        after = attrs.evolve(document, deal=deal, deal_name=deal_name)
        self.held[(document.type.name, document.id)] = after
        self.writes.append((document.key, deal))
        return after


def invoice(id: str, customer: str | None, *, number: str | None = None, **more: Any) -> Document:
    return Document(
        type=INVOICE,
        id=id,
        number=number or f"INV-{id}",
        customer=customer,
        customer_name={"B1": "Acme Ltd", "B2": "Jo Doe"}.get(customer or "", customer),
        deal=more.get("deal"),
        deal_name=more.get("deal_name"),
    )


@attrs.define
class World:
    config: Config
    journal: JournalStorage
    deals: FakeDeals
    documents: FakeDocuments
    zoho: assoc.Zoho

    def entries(self) -> list[DealAssociation]:
        found = [payload_of(e) for e in self.journal.read(kinds=[str(Kind.TRIGGER)])]
        return [p for p in found if isinstance(p, DealAssociation)]

    def link(self, module: str, crm_id: str, books_id: str) -> None:
        """A record of ``module`` seen on CRM as ``crm_id`` and on Books as ``books_id``."""
        rid = f"crm:{crm_id}"
        self.journal.append(
            [
                new_entry(
                    Observed(id=crm_id),
                    module,
                    rid,
                    "crm",
                    dot=Dot("crm", 1),
                    context=VectorClock(),
                    fields={"name": crm_id},
                ),
                new_entry(
                    Observed(id=books_id),
                    module,
                    rid,
                    "books",
                    dot=Dot("books", 1),
                    context=VectorClock({"crm": 1}),
                    fields={"name": crm_id},
                ),
            ]
        )


@pytest.fixture(params=BACKENDS)
def journals(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journals]:
    made = journals_for(request, tmp_path)
    yield made
    made.close()


@pytest.fixture
def world(tmp_path: Path, journals: Journals) -> Iterator[World]:
    """The integration's journal over each backend (SQLite's opened as the app opens it,
    with its key; PostgreSQL's in a new schema)."""
    (tmp_path / "replicator.toml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "replicator.toml")
    journal = (
        open_journal(config) if journals.name == "sqlite" else journals.open(record_reducer(config))
    )
    deals = FakeDeals(
        Deal("D1", "Big order", "Qualification", account="A1", account_name="Acme Ltd"),
        Deal("D2", "Small order", "Qualification", account="A1", account_name="Acme Ltd"),
        Deal("D3", "Other order", "Qualification", account="A2", account_name="Other Co"),
        Deal("D4", "Loose order", "Qualification"),
        Deal("D5", "Jo's order", "Qualification", account="A2", contact="C1", contact_name="Jo"),
    )
    documents = FakeDocuments(invoice("1", "B1"), invoice("2", "B2"), invoice("3", None))
    w = World(config, journal, deals, documents, assoc.Zoho("crm", "books", deals, documents))
    w.link("customers", "A1", "B1")
    w.link("individuals", "C1", "B2")
    try:
        yield w
    finally:
        journal.close()


def associate(w: World, deal: str, document: str) -> assoc.Change | None:
    return assoc.associate(w.zoho, w.journal, w.config, deal, document)


# -- the sides --------------------------------------------------------------------------------


def test_the_sides_must_be_zoho(tmp_path):
    """A config whose sides are not Zoho CRM and Zoho Books is refused with one line."""
    (tmp_path / "b.db").touch()
    (tmp_path / "c.db").touch()
    (tmp_path / "replicator.toml").write_text(
        '[sides.books]\nconnector = "sqlite"\npath = "b.db"\n'
        '[sides.crm]\nconnector = "zoho_crm"\ncredentials = "x.json"\n'
        '[modules.m]\nbooks = { table = "t" }\ncrm = { table = "Accounts" }\n'
        '[modules.m.fields]\nname = { books = "n", crm = "Account_Name" }\n',
        encoding="utf-8",
    )
    with pytest.raises(AssociationError, match=r"^deals commands need the Zoho sides \(crm"):
        assoc.zoho_sides(load_config(tmp_path / "replicator.toml"))


def test_the_zoho_sides_are_found_by_their_connectors(world):
    """The CRM side and the Books side are named by their connectors, not by their names."""
    assert assoc.zoho_sides(world.config) == ("crm", "books")


# -- associate --------------------------------------------------------------------------------


def test_associate_writes_then_journals_one_entry_by_person(world):
    """The deal is written to the document, then one DealAssociation journaled on the
    deal's record (module deals, rid crm:<deal id>, no side)."""
    change = associate(world, "D1", "invoice/INV-1")
    assert change is not None and change.after.deal == "D1"
    assert world.documents.writes == [("invoice/1", "D1")]
    (entry,) = change.entries
    assert (entry.module, entry.rid, entry.side) == ("deals", "crm:D1", None)
    assert payload_of(entry) == DealAssociation(
        document="invoice/1",
        deal="D1",
        deal_name="Big order",
        action="associate",
        by="person",
        number="INV-1",
    )


def test_a_refused_books_write_journals_nothing(world):
    """When Books refuses the write, the error goes up and no entry says otherwise."""
    world.documents.fail = True
    with pytest.raises(ZohoError, match="refused"):
        associate(world, "D1", "invoice/1")
    assert world.entries() == []


def test_a_deal_with_no_account_is_refused(world):
    """A deal naming no account cannot belong to the document's customer."""
    with pytest.raises(AssociationError, match=r"deal D4 \(Loose order\) has no account"):
        associate(world, "D4", "invoice/1")
    assert world.documents.writes == []


def test_a_customer_syncing_with_crm_contacts_is_compared_with_the_deal_contact(world):
    """A Books customer linked to a CRM contact (module individuals) takes the deals whose
    Contact_Name is that contact, whatever their account; another deal is refused naming
    the contact."""
    with pytest.raises(AssociationError, match=r"deal D1 \(Big order\) has no contact"):
        associate(world, "D1", "invoice/2")
    assert associate(world, "D5", "invoice/2") is not None
    world.deals.live["D6"] = Deal("D6", "Mo's", "Qualification", contact="C9", contact_name="Mo")
    with pytest.raises(AssociationError, match=r"belongs to contact Mo \(crm C9\).*crm contact C1"):
        associate(world, "D6", "invoice/2")


def test_a_deal_tombstoned_in_the_journal_is_refused_though_crm_still_answers(world):
    """CRM's read may lag a delete: a deal the journal's deals module holds deleted in CRM
    is refused and not offered by a search."""
    world.journal.append(
        [
            new_entry(
                Observed(id="D2"),
                "deals",
                "crm:D2",
                "crm",
                dot=Dot("crm", 1),
                context=VectorClock(),
                fields={"name": "Small order"},
            ),
            new_entry(Tombstone(id="D2"), "deals", "crm:D2", "crm"),
        ]
    )
    with pytest.raises(AssociationError, match=r"deal D2 \(Small order\) was deleted in crm"):
        associate(world, "D2", "invoice/1")
    found = assoc.search(world.zoho, world.journal, world.config, "order")
    assert "D2" not in {d.id for d in found} and "D1" in {d.id for d in found}


def test_a_deal_in_crm_deleted_feed_is_refused_naming_it(world):
    """A deal CRM lists as deleted is refused with its name there."""
    world.deals.gone["77"] = DeletedDeal("77", "Old order", None)
    with pytest.raises(AssociationError, match=r"^deal 77 \(Old order\) was deleted in crm$"):
        associate(world, "77", "invoice/1")


def test_a_number_naming_several_documents_is_refused_listing_their_ids(world):
    """Two invoices with one number: refused, asking for the id."""
    world.documents.held[("invoice", "8")] = invoice("8", "B1", number="DUP")
    world.documents.held[("invoice", "9")] = invoice("9", "B1", number="DUP")
    with pytest.raises(AssociationError, match=r"names 2 documents in books \(ids 8, 9\)"):
        associate(world, "D1", "invoice/DUP")


def test_the_trigger_deal_may_be_associated_again_with_what_it_made(world):
    """Associating a trigger-made document with the trigger's own deal (Books lost it) is
    allowed; with another deal it is refused."""
    rid = "invoice:crm:D1"
    world.journal.append(
        [
            new_entry(
                Triggered(
                    deal="crm:D1",
                    trigger="invoice",
                    outcome="won",
                    create=True,
                    only=("books",),
                    reason="won",
                ),
                "invoices",
                rid,
                TRIGGER,
                dot=Dot(TRIGGER, 1),
                context=VectorClock(),
                fields={"subject": "Big order"},
            ),
            new_entry(
                Applied(id="1", create=True, done=True),
                "invoices",
                rid,
                "books",
                context=VectorClock({TRIGGER: 1}),
                fields={"subject": "Big order"},
            ),
        ]
    )
    with pytest.raises(AssociationError, match="made by the invoice trigger of deal crm:D1"):
        associate(world, "D2", "invoice/1")
    assert associate(world, "D1", "invoice/1") is not None
    with pytest.raises(AssociationError, match="may not be dissociated from deal D1"):
        assoc.dissociate(world.zoho, world.journal, world.config, "invoice/1")
    listed = assoc.listing(world.zoho, world.journal, world.config, "invoice/1")
    assert [(r["action"], r["by"]) for r in listed.history] == [
        ("invoice trigger (won)", "trigger"),
        ("associate", "person"),
    ]
    assert listed.trigger is not None and listed.trigger.deal == "crm:D1"


def _written_elsewhere(w: World, deal: str | None, name: str | None) -> None:
    """Books holds ``deal`` on invoice 1 without a journal entry: a run stopped between
    its write and its entry."""
    key = ("invoice", "1")
    w.documents.held[key] = attrs.evolve(w.documents.held[key], deal=deal, deal_name=name)


def test_an_associate_stopped_before_its_entry_is_finished_by_running_it_again(world):
    """Books holds the deal, the journal does not say so: running it again journals the
    association without writing; a third run has nothing to do."""
    _written_elsewhere(world, "D1", "Big order")
    change = associate(world, "D1", "invoice/1")
    assert change is not None and not change.written and world.documents.writes == []
    assert [(a.action, a.deal) for a in world.entries()] == [("associate", "D1")]
    assert associate(world, "D1", "invoice/1") is None
    assert len(world.entries()) == 1


def test_a_move_stopped_before_its_entries_journals_both_when_run_again(world):
    """Associated with D1 (journaled), moved to D2 in Books but not journaled: running the
    move again journals the dissociation from D1 and the association with D2."""
    assert associate(world, "D1", "invoice/1") is not None
    _written_elsewhere(world, "D2", "Small order")
    assert associate(world, "D2", "invoice/1") is not None
    assert world.documents.writes == [("invoice/1", "D1")]
    assert [(a.action, a.deal) for a in world.entries()] == [
        ("associate", "D1"),
        ("dissociate", "D1"),
        ("associate", "D2"),
    ]


def test_a_dissociate_stopped_before_its_entry_is_finished_by_running_it_again(world):
    """Journaled as associated, Books holds no deal: dissociate journals it, no write."""
    assert associate(world, "D1", "invoice/1") is not None
    _written_elsewhere(world, None, None)
    change = assoc.dissociate(world.zoho, world.journal, world.config, "invoice/1")
    assert change is not None and change.before.deal == "D1" and not change.written
    assert world.documents.writes == [("invoice/1", "D1")]
    assert [(a.action, a.deal) for a in world.entries()] == [
        ("associate", "D1"),
        ("dissociate", "D1"),
    ]
    assert assoc.dissociate(world.zoho, world.journal, world.config, "invoice/1") is None


# -- search -----------------------------------------------------------------------------------


def test_the_customer_filter_takes_a_books_id_or_a_crm_id(world):
    """--customer: a linked Books customer becomes its CRM account (or contact) id; a CRM
    id the journal knows, or any number, is taken as it is; other text is refused."""
    f = assoc.customer_filter
    assert f(world.journal, world.config, world.zoho, "B1") == ("Account_Name", "A1")
    assert f(world.journal, world.config, world.zoho, "B2") == ("Contact_Name", "C1")
    assert f(world.journal, world.config, world.zoho, "C1") == ("Contact_Name", "C1")
    assert f(world.journal, world.config, world.zoho, "123") == ("Account_Name", "123")
    with pytest.raises(AssociationError, match="neither a books customer id nor a crm id"):
        f(world.journal, world.config, world.zoho, "Acme")


def test_a_books_customer_not_linked_to_crm_is_refused_as_a_filter(world):
    """A Books customer the journal holds with no CRM link yet (say its create in CRM was
    refused) names no deals: refused, saying to sync it."""
    world.journal.append(
        [
            new_entry(
                Observed(id="B7"),
                "customers",
                "books:B7",
                "books",
                dot=Dot("books", 1),
                context=VectorClock(),
                fields={"name": "Lone Ltd"},
            )
        ]
    )
    with pytest.raises(AssociationError, match="customer B7 of books is not linked to a crm"):
        assoc.search(world.zoho, world.journal, world.config, "", customer="B7")
    assert world.deals.searches == []


def test_a_search_needs_a_word_or_a_customer(world):
    """Nothing to search by is refused before any call."""
    with pytest.raises(AssociationError, match="give a word"):
        assoc.search(world.zoho, world.journal, world.config, "  ")
    assert world.deals.searches == []


def test_a_customer_search_sends_the_account_criterion(world):
    """The deals of a Books customer are searched by its CRM account."""
    found = assoc.search(world.zoho, world.journal, world.config, "", customer="B1")
    assert {d.id for d in found} == {"D1", "D2"}
    assert world.deals.searches == [("", ("Account_Name", "A1"))]


# -- the CRM side's pieces --------------------------------------------------------------------


def test_a_criterion_escapes_what_criteria_give_a_meaning():
    """Parentheses, commas and backslashes in a value are escaped."""
    assert criterion("Account_Name", "12") == "(Account_Name:equals:12)"
    assert criterion("Deal_Name", "a(b),c\\") == "(Deal_Name:equals:a\\(b\\)\\,c\\\\)"


def test_a_deal_reads_its_lookups_owner_and_exact_amount():
    """Lookups are {id, name}, the owner its email, the amount an exact Decimal."""
    deal = deal_of(
        {
            "id": 5,
            "Deal_Name": "Big",
            "Stage": "Closed Won",
            "Account_Name": {"id": "A1", "name": "Acme"},
            "Contact_Name": None,
            "Amount": Decimal("1234.50"),
            "Owner": {"id": "u", "name": "Sam", "email": "sam@example.com"},
        }
    )
    assert (deal.id, deal.account, deal.account_name, deal.contact) == ("5", "A1", "Acme", None)
    assert deal.amount == Decimal("1234.50") and deal.owner == "sam@example.com"
