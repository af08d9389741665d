"""A person's associations of CRM deals with Books documents: what ``replicator deals`` does.

A Books estimate, sales order, invoice or expense is associated with a CRM deal by its
``zcrm_potential_id`` / ``zcrm_potential_name`` (CRM then shows the document under the
deal).  Here a person searches deals (:func:`search`), associates one with a document
(:func:`associate`), dissociates a document (:func:`dissociate`) and lists what a document
is and was associated with (:func:`listing`).  Each change is made in Books first, then
journaled as a :class:`~journal.payloads.DealAssociation` (module ``deals``, rid
``<crm side>:<deal id>``, ``by`` "person"): the entry records what Books now holds, so a
refused or failed write journals nothing.  Asking for what is already so journals nothing
and returns None (as ``pause`` of a paused module does).

Refused, each with one line (:class:`~replicator.errors.AssociationError`) and nothing
written:

- sides that are not Zoho (:data:`NOT_ZOHO`);
- a deal CRM does not have, or has deleted (CRM's deleted feed, or a tombstone of the
  deal in the journal's ``deals`` module);
- a document Books does not have (by id, then by number), or a number naming several;
- a deal whose account (or contact, when the document's customer syncs with CRM
  Contacts) is not the document's customer, compared through the customers modules'
  links (Books contact id <-> CRM account/contact id); a document with no customer, or a
  customer not linked to CRM yet, is refused the same way, naming it;
- dissociating (or associating elsewhere) a document a deal trigger made: its record in
  the document module carries the state its ``Triggered`` entries folded into
  (``RecordState.trigger``).

The Zoho calls are :mod:`replicator.connectors.zoho.crm_deals` and
:mod:`~replicator.connectors.zoho.books_deals`; :func:`open_zoho` builds them from the
config's sides, and the functions here take them as :class:`DealSource` and
:class:`DocumentStore`, so tests can pass fakes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import attrs

from conflicts.state import RecordState
from journal import Entry, JournalStorage, Kind
from journal.payloads import DealAssociation, Triggered, new_entry, payload_of
from replicator.config.load import Config
from replicator.connectors import build_connector
from replicator.connectors.zoho.books import ZohoBooksConnector
from replicator.connectors.zoho.books_deals import TYPES, BooksDeals, Document, DocumentType
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.connectors.zoho.crm_deals import CrmDeals, Deal, DeletedDeal
from replicator.errors import AssociationError

DEALS_MODULE = "deals"  # the module deal entries belong to (the deals watch module's)
BY = "person"
ASSOCIATE, DISSOCIATE = "associate", "dissociate"
NOT_ZOHO = "deals commands need the Zoho sides (crm and books)"
# a CRM table a customers module may sync with -> the deal's lookup field naming it
CUSTOMER_LOOKUPS = {"Accounts": "Account_Name", "Contacts": "Contact_Name"}
CUSTOMER_WORDS = {"Account_Name": "account", "Contact_Name": "contact"}
BOOKS_CUSTOMER_TABLES = ("customers", "contacts")


class DealSource(Protocol):
    """CRM's deals (:class:`~replicator.connectors.zoho.crm_deals.CrmDeals`)."""

    def get(self, deal_id: str) -> Deal | None: ...

    def deleted(self, deal_id: str) -> DeletedDeal | None: ...

    def search(
        self, text: str, *, customer: tuple[str, str] | None = None, limit: int = 100
    ) -> list[Deal]: ...


class DocumentStore(Protocol):
    """Books' documents (:class:`~replicator.connectors.zoho.books_deals.BooksDeals`)."""

    def find(self, kind: DocumentType, ref: str) -> list[Document]: ...

    def set_deal(self, document: Document, deal: str | None, deal_name: str | None) -> Document: ...


@attrs.frozen
class Zoho:
    """The Zoho sides of a config and their deal and document calls."""

    crm: str
    books: str
    deals: DealSource
    documents: DocumentStore


@attrs.frozen
class Customer:
    """A Books customer as CRM knows it: the customers module linking it, the deal field
    naming it (``Account_Name`` / ``Contact_Name``) and its CRM id (None: not linked)."""

    books_id: str | None
    module: str | None
    field: str
    crm_id: str | None

    @property
    def word(self) -> str:
        return CUSTOMER_WORDS[self.field]


@attrs.frozen
class Change:
    """What :func:`associate` / :func:`dissociate` did: the document before and after,
    the deal, the entries journaled, and whether Books was written."""

    before: Document
    after: Document
    deal: Deal | None
    entries: tuple[Entry, ...]
    written: bool = True  # False: Books held it already, only the journal was behind


@attrs.frozen
class TriggerMade:
    """A document a deal trigger made: its module and record, the trigger and the deal."""

    module: str
    rid: str
    trigger: str
    deal: str  # the deal's rid

    def reason(self) -> str:
        return f"it was made by the {self.trigger} trigger of deal {self.deal}"


@attrs.frozen
class Listing:
    """A document, the deal it is associated with now (as CRM has it, when it still
    does), the trigger that made it, and its journaled associations, oldest first."""

    document: Document
    deal: Deal | None
    trigger: TriggerMade | None
    history: tuple[dict[str, Any], ...]


# -- the sides --------------------------------------------------------------------------------


def zoho_sides(config: Config) -> tuple[str, str]:
    """The CRM side and the Books side deals commands work on (the integration's first
    Books side; else the config's first Zoho Books side); :data:`NOT_ZOHO` otherwise."""
    crms = [s.name for s in config.sides.values() if s.connector == "zoho_crm"]
    books = [s.name for s in config.sides.values() if s.connector == "zoho_books"]
    if config.integration is not None:
        crms = [s for s in crms if s == config.integration.crm] or crms
        books = [s for s in books if s == config.integration.primary] or books
    if not crms or not books:
        raise AssociationError(NOT_ZOHO)
    return crms[0], books[0]


@contextlib.contextmanager
def open_zoho(config: Config) -> Iterator[Zoho]:
    """The config's Zoho sides, their connectors open until the block ends."""
    crm, books = zoho_sides(config)
    crm_connector = build_connector(config.sides[crm])
    try:
        books_connector = build_connector(config.sides[books])
        try:
            if not isinstance(crm_connector, ZohoCRMConnector) or not isinstance(
                books_connector, ZohoBooksConnector
            ):
                raise AssociationError(NOT_ZOHO)
            deals = CrmDeals(crm_connector.client, side=crm)
            documents = BooksDeals(
                books_connector.client,
                side=books,
                organization_id=books_connector.organization_id,
            )
            yield Zoho(crm, books, deals, documents)
        finally:
            books_connector.close()
    finally:
        crm_connector.close()


# -- reading what is named -------------------------------------------------------------------


def parse_document(text: str) -> tuple[DocumentType, str]:
    """``TYPE/ID`` -> the document type and the id or number; refused if it is not one."""
    kind, slash, ref = text.strip().partition("/")
    found = TYPES.get(kind.strip().lower())
    if not slash or found is None or not ref.strip():
        raise AssociationError(
            f"document {text!r} is not TYPE/ID (TYPE: {', '.join(TYPES)}; ID: the Books id "
            "or number, e.g. invoice/INV-00001)"
        )
    return found, ref.strip()


def find_document(zoho: Zoho, text: str) -> Document:
    """The one Books document ``text`` (``TYPE/ID``) names; refused if none or several."""
    kind, ref = parse_document(text)
    found = zoho.documents.find(kind, ref)
    if not found:
        by = "id or reference number" if kind.name == "expense" else "id or number"
        raise AssociationError(f"no {kind.label} {ref!r} in {zoho.books} (by {by})")
    if len(found) > 1:
        ids = ", ".join(d.id for d in found)
        raise AssociationError(
            f"{kind.label} {ref!r} names {len(found)} documents in {zoho.books} (ids {ids}): "
            f"name it by id ({kind.name}/<id>)"
        )
    return found[0]


def deal_rid(zoho: Zoho, deal_id: str) -> str:
    return f"{zoho.crm}:{deal_id}"


def _journal_deleted(journal: JournalStorage | None, zoho: Zoho, deal_id: str) -> bool:
    """Whether the journal's ``deals`` module holds the deal deleted on CRM (a tombstone)."""
    if journal is None:
        return False
    rid = journal.rid_for(DEALS_MODULE, zoho.crm, deal_id)
    state = journal.record(DEALS_MODULE, rid) if rid is not None else None
    if not isinstance(state, RecordState):
        return False
    held = state.held_wire(zoho.crm)
    return held is not None and held.deleted


def find_deal(zoho: Zoho, journal: JournalStorage | None, deal_id: str) -> Deal:
    """The live CRM deal of that id; refused when CRM has none or deleted it."""
    deal_id = deal_id.strip()
    deal = zoho.deals.get(deal_id) if deal_id else None
    if deal is not None and not _journal_deleted(journal, zoho, deal_id):
        return deal
    gone = zoho.deals.deleted(deal_id) if deal_id.isdigit() else None
    if gone is not None:
        name = f" ({gone.name})" if gone.name else ""
        when = f" on {gone.deleted:%Y-%m-%d %H:%M} UTC" if gone.deleted else ""
        raise AssociationError(f"deal {deal_id}{name} was deleted in {zoho.crm}{when}")
    if deal is not None:  # CRM still answers it, but the journal saw it deleted
        raise AssociationError(f"{deal.label()} was deleted in {zoho.crm} (journaled)")
    raise AssociationError(f"no deal {deal_id!r} in {zoho.crm}")


def _customer_modules(config: Config, zoho: Zoho) -> list[tuple[str, str]]:
    """``(module, deal field)`` of each module pairing Books customers with CRM Accounts
    or Contacts, in config order."""
    found = []
    for name, module in config.modules.items():
        books, crm = module.sides.get(zoho.books), module.sides.get(zoho.crm)
        if books is None or crm is None:
            continue
        field = CUSTOMER_LOOKUPS.get(crm.table)
        if field is not None and books.table in BOOKS_CUSTOMER_TABLES:
            found.append((name, field))
    return found


def customer_of(
    journal: JournalStorage, config: Config, zoho: Zoho, books_id: str | None
) -> Customer:
    """The CRM account or contact a Books customer is linked to (``crm_id`` None: none)."""
    modules = _customer_modules(config, zoho)
    default = modules[0][1] if modules else "Account_Name"
    if books_id is None:
        return Customer(None, None, default, None)
    for name, field in modules:
        rid = journal.rid_for(name, zoho.books, books_id)
        if rid is None:
            continue
        held = journal.links(name, rid).get(zoho.crm)
        return Customer(books_id, name, field, held[0] if held else None)
    return Customer(books_id, None, default, None)


def customer_filter(
    journal: JournalStorage | None, config: Config, zoho: Zoho, given: str
) -> tuple[str, str]:
    """``(deal field, CRM id)`` of ``--customer ID``: a Books customer linked to CRM, else
    a CRM account or contact the journal knows, else the id taken as a CRM account's (a
    contact's, when customers sync with CRM Contacts)."""
    given = given.strip()
    modules = _customer_modules(config, zoho)
    if journal is not None:
        linked = customer_of(journal, config, zoho, given)
        if linked.module is not None:
            if linked.crm_id is None:
                raise AssociationError(
                    f"customer {given} of {zoho.books} is not linked to a {zoho.crm} "
                    f"{linked.word} yet (module {linked.module}): sync it first"
                )
            return linked.field, linked.crm_id
        for name, field in modules:
            if journal.rid_for(name, zoho.crm, given) is not None:
                return field, given
    if not given.isdigit():
        raise AssociationError(
            f"customer {given!r} is neither a {zoho.books} customer id nor a {zoho.crm} id"
        )
    return (modules[0][1] if modules else "Account_Name"), given


def trigger_made(
    journal: JournalStorage, config: Config, zoho: Zoho, document: Document
) -> TriggerMade | None:
    """The deal trigger that made ``document``, if one did: its record in a module syncing
    that document type carries the state its ``Triggered`` entries folded into (``tg``)."""
    for name, module in config.modules.items():
        books = module.sides.get(zoho.books)
        if books is None or books.table != document.type.path:
            continue
        rid = journal.rid_for(name, zoho.books, document.id)
        if rid is None:
            continue
        state = journal.record(name, rid)
        info = state.trigger if isinstance(state, RecordState) else None
        if info is not None:
            return TriggerMade(name, rid, info.trigger, info.deal)
    return None


# -- what a person does ----------------------------------------------------------------------


def search(
    zoho: Zoho,
    journal: JournalStorage | None,
    config: Config,
    text: str,
    *,
    customer: str | None = None,
    limit: int = 100,
) -> list[Deal]:
    """Deals whose name holds ``text`` (CRM's word search), or the deals of ``customer``
    (a Books customer id or a CRM account id) whose name holds it; deleted deals (in CRM,
    or tombstoned in the journal) are never offered."""
    if not text.strip() and customer is None:
        raise AssociationError("give a word to search deals for, or --customer ID")
    by = customer_filter(journal, config, zoho, customer) if customer is not None else None
    found = zoho.deals.search(text, customer=by, limit=limit)
    return [d for d in found if not _journal_deleted(journal, zoho, d.id)]


def _mismatch(zoho: Zoho, document: Document, deal: Deal, customer: Customer) -> str | None:
    """Why ``deal`` may not be associated with ``document`` (None: it may)."""
    whose = f"{document.label()}'s customer"
    if document.customer is None:
        return (
            f"{document.label()} has no customer: a deal is associated only with documents "
            "of its account's customer"
        )
    named = f"{document.customer_name or document.customer} ({zoho.books} {document.customer})"
    if customer.crm_id is None:
        return (
            f"{whose} {named} is not linked to a {zoho.crm} {customer.word} yet: sync "
            "customers first"
        )
    named = (
        f"{document.customer_name or document.customer} ({zoho.books} {document.customer}, "
        f"{zoho.crm} {customer.word} {customer.crm_id})"
    )
    deal_id, deal_name = deal.customer(customer.field)
    if deal_id is None:
        return f"{deal.label()} has no {customer.word}: it is not {whose} {named}"
    if deal_id != customer.crm_id:
        return (
            f"{deal.label()} belongs to {customer.word} {deal_name or deal_id} "
            f"({zoho.crm} {deal_id}), not to {whose} {named}"
        )
    return None


def _entry(zoho: Zoho, document: Document, deal: str, name: str | None, action: str) -> Any:
    payload = DealAssociation(
        document=document.key,
        deal=deal,
        deal_name=name,
        action=action,
        by=BY,
        number=document.number,
    )
    return new_entry(payload, DEALS_MODULE, deal_rid(zoho, deal))


def associate(
    zoho: Zoho, journal: JournalStorage, config: Config, deal_id: str, document_text: str
) -> Change | None:
    """Associate the deal with the document (in Books, then journaled); None when Books
    holds it and the journal says so already.  A document associated with another deal is
    moved: a ``dissociate`` entry for the old deal, an ``associate`` for the new one.

    A run stopped between the write and its entry is finished by running it again: Books
    holds the deal, the journal does not say so, so the entries are journaled (no write).
    """
    parse_document(document_text)  # a malformed name is refused before any call
    deal = find_deal(zoho, journal, deal_id)
    document = find_document(zoho, document_text)
    made = trigger_made(journal, config, zoho, document)
    if made is not None:
        if made.deal != deal_rid(zoho, deal.id):
            raise AssociationError(
                f"{document.label()} is associated by a deal trigger, not by a person: "
                f"{made.reason()}; it stays with that deal"
            )
        if document.deal == deal.id:
            return None  # the trigger's own association: its entries say it
    why = _mismatch(zoho, document, deal, customer_of(journal, config, zoho, document.customer))
    if why is not None:
        raise AssociationError(why)
    last = journaled(journal, document)
    said = last is not None and last.action == ASSOCIATE and last.deal == deal.id
    if document.deal == deal.id and said:
        return None
    old: tuple[str, str | None] | None = None
    if document.deal is not None and document.deal != deal.id:
        old = (document.deal, document.deal_name)
    elif last is not None and last.action == ASSOCIATE and not said:
        old = (last.deal, last.deal_name)  # an interrupted move: the journal's deal left
    written = document.deal != deal.id
    after = zoho.documents.set_deal(document, deal.id, deal.name) if written else document
    entries = []
    if old is not None:
        entries.append(_entry(zoho, document, old[0], old[1], DISSOCIATE))
    entries.append(_entry(zoho, after, deal.id, deal.name, ASSOCIATE))
    return Change(document, after, deal, tuple(journal.append(entries)), written)


def dissociate(
    zoho: Zoho, journal: JournalStorage, config: Config, document_text: str
) -> Change | None:
    """Dissociate the document from its deal (in Books, then journaled); None when it has
    none and the journal says so.  Refused for a document a deal trigger made.  A run
    stopped between the write and its entry is finished by running it again."""
    document = find_document(zoho, document_text)
    if document.deal is None:
        last = journaled(journal, document)
        if last is None or last.action != ASSOCIATE:
            return None
        entry = _entry(zoho, document, last.deal, last.deal_name, DISSOCIATE)
        before = attrs.evolve(document, deal=last.deal, deal_name=last.deal_name)
        return Change(before, document, None, tuple(journal.append([entry])), written=False)
    made = trigger_made(journal, config, zoho, document)
    if made is not None:
        raise AssociationError(
            f"{document.label()} may not be dissociated from deal {document.deal}"
            f"{f' ({document.deal_name})' if document.deal_name else ''}: {made.reason()}"
        )
    after = zoho.documents.set_deal(document, None, None)
    entry = _entry(zoho, document, document.deal, document.deal_name, DISSOCIATE)
    return Change(document, after, None, tuple(journal.append([entry])))


def _associations(
    journal: JournalStorage, document: Document
) -> list[tuple[Entry, DealAssociation]]:
    """The document's journaled associations, oldest first."""
    found = []
    for entry in journal.read(module=DEALS_MODULE, kinds=[str(Kind.TRIGGER)]):
        payload = payload_of(entry)
        if isinstance(payload, DealAssociation) and payload.document == document.key:
            found.append((entry, payload))
    return found


def journaled(journal: JournalStorage, document: Document) -> DealAssociation | None:
    """The last association a person journaled for the document (None: none)."""
    found = _associations(journal, document)
    return found[-1][1] if found else None


def history(journal: JournalStorage, document: Document) -> list[dict[str, Any]]:
    """The journaled associations of a document by a person, oldest first."""
    return [
        _row(e, a.action, a.deal, a.deal_name, a.by) for e, a in _associations(journal, document)
    ]


def _row(entry: Entry, action: str, deal: str, name: str | None, by: str) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "action": action,
        "deal": deal,
        "deal_name": name,
        "by": by,
    }


def listing(zoho: Zoho, journal: JournalStorage, config: Config, document_text: str) -> Listing:
    """The document, its deal now, the trigger that made it and its journaled associations."""
    document = find_document(zoho, document_text)
    deal = zoho.deals.get(document.deal) if document.deal else None
    made = trigger_made(journal, config, zoho, document)
    rows = history(journal, document)
    if made is not None:
        for entry in journal.read(module=made.module, rid=made.rid, kinds=[str(Kind.TRIGGER)]):
            found = payload_of(entry)
            if isinstance(found, Triggered):
                deal_id = found.deal.partition(":")[2] or found.deal
                rows.append(
                    _row(
                        entry,
                        f"{found.trigger} trigger ({found.outcome})",
                        deal_id,
                        None,
                        "trigger",
                    )
                )
        rows.sort(key=lambda r: r["seq"])
    return Listing(document, deal, made, tuple(rows))


__all__ = [
    "ASSOCIATE",
    "BY",
    "DEALS_MODULE",
    "DISSOCIATE",
    "NOT_ZOHO",
    "Change",
    "Customer",
    "DealSource",
    "DocumentStore",
    "Listing",
    "TriggerMade",
    "Zoho",
    "associate",
    "customer_filter",
    "customer_of",
    "dissociate",
    "find_deal",
    "find_document",
    "history",
    "journaled",
    "listing",
    "open_zoho",
    "parse_document",
    "search",
    "trigger_made",
    "zoho_sides",
]
