"""What an integration user sees: a customer and its documents, read from the journal.

Pure view models (``dict`` s a template renders) over a :class:`~journal.Journal` and a
:class:`~replicator.config.load.Config`:

- :func:`customers`: customers (and vendors) whose name holds the words searched, by name,
  a page at a time;
- :func:`customer`: one customer's quotes, sales orders, invoices and purchase orders
  (purchase orders name a vendor: a vendor's page lists them), each with its status,
  totals, lines (each line's item by name, through the items module) and the associated
  deal, a page at a time per type.

They show what the record states hold (the values the sides agreed on; siblings of a field
in conflict are shown joined with `` / ``, as ``records list`` does).  Never a credential,
never the journal's internals (clocks, dots, counters, side ids, errors): a dict holds
only names, statuses, dates, amounts as text and record ids (``rid``, the page's address).

A search reads the names the journal stores folded beside each active record (its
reducer's labels, by :func:`replicator.sync.presentation.label_fields`) through their
index, and decodes only the page shown (``benchmarks/console_pages.py``).  A customer's
documents are found by the reference the journal stores beside each document (its party,
by :func:`replicator.sync.presentation.ref_fields`), through its index, so only the
documents naming the customer are decoded, and only the page shown is read further
(lines, item names, the deal) (``benchmarks/customer_page.py``).  A journal whose labels
are not the config's (folded without them) is read by a text filter over the stored
states (:func:`_holding`) instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from conflicts import ACTIVE, MANY_REFS, RecordState
from journal import Journal
from journal.entry import from_wire
from replicator.config.integration_transactions import DOCUMENT_TYPES
from replicator.config.load import Config
from replicator.errors import ReplicatorError
from replicator.sync.presentation import display_field, plain, register_value

PER_PAGE = 20  # documents of one type per page
SEARCH_PER_PAGE = 50
PARTIES = ("customers", "vendors")  # the modules a document's party is one of
# document type -> (what a person calls them, the field naming its party)
DOCUMENTS: dict[str, tuple[str, str]] = {
    "estimates": ("quotes", "customer"),
    "salesorders": ("sales orders", "customer"),
    "invoices": ("invoices", "customer"),
    "purchaseorders": ("purchase orders", "vendor"),
}
# the fields a document shows, beyond its party, status, lines and totals (dates, subject)
SHOWN = ("subject", "date", "due_date", "expiry_date", "shipment_date", "delivery_date")
assert tuple(DOCUMENTS) == DOCUMENT_TYPES


class NoSuchCustomer(ReplicatorError, LookupError):
    """The journal holds no customer (or vendor) of that id: the page answers 404."""


def _name(config: Config, state: RecordState) -> str:
    field = display_field(config, state.module)
    return state.label(field) if field else ""


def _value(state: RecordState, field: str) -> Any:
    """A field's value for a person (amounts and dates as text); None when unset."""
    return plain(register_value(state, field))


def _live(states: Iterator[tuple[str, str, Any]]) -> Iterator[RecordState]:
    for _, _, state in states:
        if state.status == ACTIVE:
            yield state


def _holding(
    journal: Journal, module: str, text: str, *, whole: bool = False
) -> Iterator[tuple[str, str, Any]]:
    """The records of ``module`` whose stored state holds ``text`` (``whole``: as a whole
    JSON string; any case) -- a superset of those the caller wants (it checks the field),
    decoding only those: 100k invoices take a few tens of ms instead of most of a second.

    Text JSON would escape (a quote, a backslash, past ASCII) is not filtered: every
    record streams.  ``Journal.records`` does not take ``holding`` yet (a one-line
    follow-up in ``journal/store.py``, which this slice may not change), so this asks
    the journal's view, whose queries the journal answers with."""
    if not text or not all(" " <= c <= "~" and c not in '"\\' for c in text):
        yield from journal.records(module)
        return
    quote = '"' if whole else ""
    yield from journal.view.records(module, holding=f"{quote}{text}{quote}")


def _referring(journal: Journal, module: str, rid: str) -> Iterator[tuple[str, str, Any]]:
    """The records of ``module`` whose stored reference is ``rid`` (or several records,
    :data:`~conflicts.MANY_REFS`: the caller checks the field), read through the
    references' index and decoded in batches: only the party's documents."""
    found = journal.with_refs(module, [rid, MANY_REFS])
    rids = sorted({r for rids in found.values() for r in rids})
    journal.preload(module, rids)
    for r in rids:
        state = journal.record(module, r)
        if state is not None:
            yield module, r, state


def _page(rows: list[Any], page: int, per_page: int) -> dict[str, Any]:
    total = len(rows)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    return {"rows": rows[start : start + per_page], "page": page, "pages": pages, "total": total}


def customers(
    config: Config,
    journal: Journal,
    query: str = "",
    page: int = 1,
    *,
    per_page: int = SEARCH_PER_PAGE,
) -> dict[str, Any]:
    """Customers and vendors whose name holds ``query`` (any case; empty: all), by name
    (folded, then rid), a page at a time."""
    words = query.strip().casefold()
    modules = [module for module in PARTIES if module in config.modules]
    found = _by_label(config, journal, modules, words, page, per_page)
    if found is None:
        found = _by_state(config, journal, modules, words, page, per_page)
    return {"query": query, **found}


def _row(module: str, state: RecordState, name: str) -> dict[str, Any]:
    return {"rid": state.rid, "name": name, "kind": module[:-1]}


def _by_label(
    config: Config, journal: Journal, modules: list[str], words: str, page: int, per_page: int
) -> dict[str, Any] | None:
    """The search from the names the journal stores folded beside each active record
    (``Journal.labelled``: their index, no state read), decoding only the page shown.

    None when the stored labels are not this config's names (:func:`_labels_serve`), or
    a name on the page is not its label."""
    if not _labels_serve(config, journal, modules):
        return None
    start = (max(1, page) - 1) * per_page
    total, shown = journal.labelled(modules, holding=words, limit=per_page, offset=start)
    pages = max(1, -(-total // per_page))
    if page > pages or page < 1:  # past the last page (or before the first): the last one
        page = min(max(1, page), pages)
        start = (page - 1) * per_page
        total, shown = journal.labelled(modules, holding=words, limit=per_page, offset=start)
    rows = []
    for label, rid, module in shown:
        state = journal.record(module, rid)
        if not isinstance(state, RecordState):
            return None
        name = _name(config, state)
        if name.casefold() != label:
            return None
        rows.append(_row(module, state, name))
    return {"rows": rows, "page": page, "pages": pages, "total": total}


def _labels_serve(config: Config, journal: Journal, modules: list[str]) -> bool:
    """Whether the journal's labels are the config's names of each module's records, as
    far as its first one tells.  The reducer stores a label with every active record's
    state, so a module with active records but no label was folded without the config's
    ``label_fields``; one whose first label is not its name is named by another field
    since its states were folded (``journal rebuild`` folds them again)."""
    tallies = journal.record_tallies()
    for module in modules:
        tally = tallies.get(module)
        active = tally.statuses[ACTIVE] if tally is not None else 0
        first = journal.first_label(module)
        if first is None:
            if active:
                return False
            continue
        label, rid = first
        state = journal.record(module, rid)
        if not isinstance(state, RecordState) or _name(config, state).casefold() != label:
            return False
    return True


def _by_state(
    config: Config, journal: Journal, modules: list[str], words: str, page: int, per_page: int
) -> dict[str, Any]:
    """The search over every stored state, its name read from each (the labels do not
    serve: slow with many records)."""
    rows: list[dict[str, Any]] = []
    for module in modules:
        for state in _live(journal.records(module)):
            name = _name(config, state)
            if words in name.casefold():
                rows.append(_row(module, state, name))
    rows.sort(key=lambda r: (r["name"].casefold(), r["rid"]))
    return _page(rows, page, per_page)


def _party(config: Config, journal: Journal, rid: str) -> RecordState:
    for module in PARTIES:
        if module in config.modules:
            state = journal.record(module, rid)
            if isinstance(state, RecordState) and state.status == ACTIVE:
                return state
    raise NoSuchCustomer(f"customer {rid!r}: the journal holds no customer or vendor of that id")


class _Names:
    """Names of the records documents point at (items, deals), read once each."""

    def __init__(self, config: Config, journal: Journal) -> None:
        self.config, self.journal = config, journal
        self._known: dict[tuple[str, str], str | None] = {}

    def __call__(self, module: str, rid: Any) -> str | None:
        if not isinstance(rid, str) or module not in self.config.modules:
            return None
        key = (module, rid)
        if key not in self._known:
            state = self.journal.record(module, rid)
            self._known[key] = _name(self.config, state) if state is not None else None
        return self._known[key]


def _lines(state: RecordState, names: _Names) -> list[dict[str, Any]]:
    wire = state.wire_values("lines")
    if not wire:
        return []
    lines = from_wire(wire[0][1])  # the lines are one value: the first sibling's
    if not isinstance(lines, list):
        return []
    out = []
    for line in lines:
        if not isinstance(line, Mapping):
            continue
        item = names("items", line.get("item")) or line.get("name")
        out.append(
            plain(
                {
                    "item": item,
                    "description": line.get("description"),
                    "quantity": line.get("quantity"),
                    "rate": line.get("rate"),
                    "discount": line.get("discount"),
                    "tax": line.get("tax"),
                }
            )
        )
    return out


def _deal(state: RecordState, names: _Names) -> str | None:
    """The associated deal's name: the document's own ``deal_name`` (a trigger's or a
    person's association, read from Books), else the deal whose trigger made it."""
    named = _value(state, "deal_name")
    if named:
        return str(named)
    trigger = state.trigger
    return names("deals", trigger.deal) if trigger is not None else None


def _document(module: str, state: RecordState, names: _Names) -> dict[str, Any]:
    row: dict[str, Any] = {"rid": state.rid, "type": module}
    for field in SHOWN:
        if state.siblings(field):
            row[field] = _value(state, field)
    row["status"] = _value(state, "status")
    row["total"] = _value(state, "total_books")  # Books' total (the system of record)
    row["total_crm"] = _value(state, "total_crm")  # CRM's Grand_Total, when it differs
    row["lines"] = _lines(state, names)
    row["deal"] = _deal(state, names)
    return row


def customer(
    config: Config,
    journal: Journal,
    rid: str,
    *,
    pages: Mapping[str, int] | None = None,
    per_page: int = PER_PAGE,
) -> dict[str, Any]:
    """A customer's (or vendor's) name and its documents per type (``pages``: type ->
    page wanted, default 1); :class:`NoSuchCustomer` if the journal holds no such party."""
    party = _party(config, journal, rid)
    names = _Names(config, journal)
    parties = [module for module in PARTIES if module in config.modules]
    # the references stored beside the states come with the labels (``record_reducer``)
    referenced = _labels_serve(config, journal, parties)
    documents: dict[str, Any] = {}
    for module, (label, field) in DOCUMENTS.items():
        found: list[tuple[str, str, RecordState]] = []
        if module in config.modules:
            if referenced:
                candidates = _referring(journal, module, rid)
            else:
                candidates = _holding(journal, module, rid, whole=True)
            for state in _live(candidates):
                if any(v == rid for _, v in state.wire_values(field)):
                    found.append((str(_value(state, "date") or ""), state.rid, state))
        # newest first by the document's date where it has one, then by record; only the
        # page shown is read further (lines, item names, the deal)
        found.sort(key=lambda f: (f[0], f[1]), reverse=True)
        shown = _page(found, (pages or {}).get(module, 1), per_page)
        rows = [_document(module, state, names) for _, _, state in shown["rows"]]
        documents[module] = {"label": label, **shown, "rows": rows}
    return {
        "rid": party.rid,
        "name": _name(config, party),
        "kind": party.module[:-1],
        "documents": documents,
    }


__all__ = ["DOCUMENTS", "NoSuchCustomer", "customer", "customers"]
