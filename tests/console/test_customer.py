"""The integration user's view models: a customer's documents from the journal's record
states (status, totals, lines with item names, the deal), and a name search."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import pytest

from conflicts import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, verify
from replicator.config.load import Config, parse_config
from replicator.console.app import TEMPLATES
from replicator.console.auth import session_secret, store_path
from replicator.console.customer import NoSuchCustomer, customer, customers
from replicator.sync.app import record_reducer

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
SIDES = ("books", "crm")


def make_config(tmp_path: Path) -> Config:
    def module(books: str, crm: str, fields: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {
            "sync": "both_ways",
            "books": {"table": books, "id": "id", "modified": "updated_at"},
            "crm": {"table": crm, "id": "id", "modified": "updated_at"},
            "fields": fields,
            **more,
        }

    name = {"books": "name", "crm": "name"}
    data = {
        "journal": {"path": "journal.db"},
        "sides": {s: {"connector": "sqlite", "path": str(tmp_path / f"{s}.db")} for s in SIDES},
        "modules": {
            "customers": module("contacts", "accounts", {"name": name}),
            "items": module("items", "products", {"name": name}),
            "invoices": module(
                "invoices",
                "invoices",
                {
                    "customer": {"books": "customer_id", "crm": "account"},
                    "subject": {"books": "reference_number", "crm": "subject"},
                    "date": {"books": "date", "crm": "invoice_date", "type": "date"},
                    "status": {"books": "status", "crm": "status"},
                    "lines": {"books": "line_items", "crm": "invoiced_items", "type": "lines"},
                    "total_books": {"books": "total", "type": "decimal"},
                    "total_crm": {"crm": "grand_total", "type": "decimal"},
                    "deal_name": {"books": "zcrm_potential_name"},
                },
                lookups={"customer": "customers", "lines.item": "items"},
            ),
        },
    }
    return parse_config(data, tmp_path / "replicator.toml")


class World:
    """A journal whose record states are made by observations, as a sync makes them."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = make_config(tmp_path)
        self.journal = Journal(self.config.journal_path, record_reducer(self.config))
        self.n = 0

    def observe(self, module: str, rid: str, side: str = "books", **fields: Any) -> None:
        self.n += 1
        self.journal.append(
            [
                NewEntry(
                    Kind.OBSERVED,
                    module,
                    rid,
                    side,
                    Dot(side, self.n),
                    VectorClock({side: self.n - 1}) if self.n > 1 else VectorClock(),
                    fields,
                    {"id": f"{side}-secret-id-{self.n}", "modified": T0},
                )
            ]
        )


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path)
    w.observe("customers", "crm:acme", name="Acme Ltd")
    w.observe("customers", "crm:beta", name="Beta Books")
    w.observe("items", "crm:widget", name="Widget")
    w.observe(
        "invoices",
        "books:inv1",
        customer="crm:acme",
        subject="INV-1",
        date=dt.date(2026, 11, 30),
        status="sent",
        lines=[
            {
                "item": "crm:widget",
                "description": "Two widgets",
                "quantity": Decimal(2),
                "rate": Decimal("10.50"),
                "discount": Decimal(0),
                "tax": Decimal(20),
            }
        ],
        total_books=Decimal("25.20"),
        deal_name="Big order",
    )
    w.observe("invoices", "books:inv2", customer="crm:beta", subject="INV-2", status="draft")
    yield w
    w.journal.close()


def test_a_customer_shows_its_invoice_with_status_totals_lines_by_item_name_and_deal(world):
    """Acme's page lists its invoice (not Beta's): status, total, each line with the item's
    name and exact amounts, and the associated deal; the other types are empty."""
    page = customer(world.config, world.journal, "crm:acme")
    assert (page["name"], page["kind"]) == ("Acme Ltd", "customer")
    invoices = page["documents"]["invoices"]
    assert (invoices["total"], invoices["page"], invoices["pages"]) == (1, 1, 1)
    (invoice,) = invoices["rows"]
    assert invoice["subject"] == "INV-1" and invoice["date"] == "2026-11-30"
    assert invoice["status"] == "sent" and invoice["total"] == "25.2"
    assert invoice["deal"] == "Big order"
    assert invoice["lines"] == [
        {
            "item": "Widget",
            "description": "Two widgets",
            "quantity": "2",
            "rate": "10.5",
            "discount": "0",
            "tax": "20",
        }
    ]
    assert [page["documents"][t]["label"] for t in page["documents"]] == [
        "quotes",
        "sales orders",
        "invoices",
        "purchase orders",
    ]
    assert all(page["documents"][t]["total"] == 0 for t in ("estimates", "salesorders"))


def test_nothing_secret_or_internal_reaches_the_customer_view_model(world):
    """The dict holds no side id, clock, dot, store secret or side path: only what a
    person reads."""
    secret = session_secret(store_path(world.config.journal_path))
    text = json.dumps(customer(world.config, world.journal, "crm:acme"))
    for needle in (secret, "secret-id", '"c"', "counter", "books.db", "crm.db", '"s"', "dot"):
        assert needle not in text
    listing = json.dumps(customers(world.config, world.journal, "acme"))
    assert secret not in listing and "secret-id" not in listing


def test_documents_are_paginated_per_type(world):
    """Twenty-five invoices of one customer come twenty a page; page 2 has the rest."""
    for i in range(25):
        world.observe("invoices", f"books:many{i:02}", customer="crm:beta", subject=f"M-{i}")
    first = customer(world.config, world.journal, "crm:beta")["documents"]["invoices"]
    second = customer(world.config, world.journal, "crm:beta", pages={"invoices": 2})
    rest = second["documents"]["invoices"]
    assert (first["total"], first["pages"], len(first["rows"])) == (26, 2, 20)
    assert (rest["page"], len(rest["rows"])) == (2, 6)
    assert not {r["rid"] for r in first["rows"]} & {r["rid"] for r in rest["rows"]}


def test_a_search_finds_customers_by_a_part_of_their_name_in_any_case(world):
    """``customers`` matches any case, sorted by name; an empty query lists them all."""
    found = customers(world.config, world.journal, "BOOK")
    assert [(r["name"], r["rid"]) for r in found["rows"]] == [("Beta Books", "crm:beta")]
    everyone = customers(world.config, world.journal, "")
    assert [r["name"] for r in everyone["rows"]] == ["Acme Ltd", "Beta Books"]
    assert customers(world.config, world.journal, "nobody")["total"] == 0


def test_an_unknown_customer_is_refused_with_a_lookup_error(world):
    """A rid the journal does not hold as a customer (an item's, or none) is NoSuchCustomer."""
    with pytest.raises(NoSuchCustomer, match="crm:widget"):
        customer(world.config, world.journal, "crm:widget")
    with pytest.raises(LookupError):
        customer(world.config, world.journal, "nope")


def render(name: str, **context: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    user = {"name": "ivy@example.com", "role": "integration"}
    return env.get_template(name).render(root="/console", user=user, csrf="t", **context)


def test_the_customer_page_shows_the_invoice_its_lines_and_deal_with_no_form_of_its_own(world):
    """customer.html renders the invoice's subject, status, total, line item and deal,
    links back to the search, and posts nothing (the only form is the layout's sign-out)."""
    page = render("customer.html", customer=customer(world.config, world.journal, "crm:acme"))
    for text in ("Acme Ltd", "INV-1", "sent", "25.2", "Widget", "Two widgets", "Big order"):
        assert text in page
    assert 'href="/console/customers"' in page
    assert page.count("<form") == 1 and 'action="/console/signout"' in page


def test_the_search_page_links_each_customer_found_and_escapes_the_query(world):
    """customers.html links each customer to its page; a query is shown escaped."""
    found = customers(world.config, world.journal, "")
    page = render("customers.html", customers=found)
    assert 'href="/console/customers/crm%3Aacme"' in page and "Beta Books" in page
    nothing = render("customers.html", customers=customers(world.config, world.journal, "<b>"))
    assert "&lt;b&gt;" in nothing and "<b>" not in nothing


def test_a_customer_whose_id_holds_like_wildcards_or_other_letters_gets_only_its_documents(
    world,
):
    """A rid with ``%`` / ``_`` (escaped in the state filter) or non-ASCII letters (read
    without it) finds exactly its own invoice, not a look-alike's."""
    for rid, other in (("crm:a_b%", "crm:aXbY"), ("crm:zürich", "crm:zurich")):
        world.observe("customers", rid, name=f"Name {rid}")
        world.observe("customers", other, name=f"Name {other}")
        world.observe("invoices", f"books:of-{rid}", customer=rid, subject=f"mine {rid}")
        world.observe("invoices", f"books:of-{other}", customer=other, subject="not mine")
        rows = customer(world.config, world.journal, rid)["documents"]["invoices"]["rows"]
        assert [r["subject"] for r in rows] == [f"mine {rid}"]


class Counting:
    """Wraps a reducer, counting the states it decodes per module, from their text or
    folded from the entries a state stored by reference names."""

    def __init__(self, reducer: Any) -> None:
        self.reducer = reducer
        self.decoded: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reducer, name)

    def decode(self, text: str) -> Any:
        return self._count(self.reducer.decode(text))

    def unfold(self, rows: Any, names: Any = None) -> Any:
        return self._count(self.reducer.unfold(rows, names=names))

    def _count(self, state: Any) -> Any:
        self.decoded[state.module] = self.decoded.get(state.module, 0) + 1
        return state


def test_a_customer_page_decodes_only_that_customers_documents(world):
    """Forty invoices of other customers: Acme's page reads its own invoice alone (found
    by the party the journal stores beside each document), and shows the same page as a
    journal folded without those references, which reads every document's state."""
    for i in range(40):
        world.observe("invoices", f"books:other{i:02}", customer="crm:beta", subject=f"O-{i}")
    expected = customer(world.config, world.journal, "crm:acme")
    counting = Counting(world.journal.reducer)
    world.journal.view.reducer = counting
    world.journal.view.forget()
    assert customer(world.config, world.journal, "crm:acme") == expected
    assert counting.decoded.get("invoices") == 1
    # the same entries, folded by a reducer that stores no labels or references
    with Journal(world.config.journal_path.parent / "plain.db", RecordReducer()) as plain:
        plain.append(
            NewEntry(e.kind, e.module, e.rid, e.side, e.dot, e.context, e.fields, e.meta)
            for e in world.journal.read()
        )
        again = customer(world.config, plain, "crm:acme")
    assert again == expected


def test_a_document_moved_to_another_customer_or_naming_two_is_on_each_page_it_names(world):
    """An invoice re-pointed from Acme to Beta leaves Acme's page for Beta's; one whose
    two sides name different customers (a conflict) is on both pages."""
    world.observe("invoices", "books:inv1", customer="crm:beta")
    acme = customer(world.config, world.journal, "crm:acme")["documents"]["invoices"]
    beta = customer(world.config, world.journal, "crm:beta")["documents"]["invoices"]
    assert acme["total"] == 0 and {r["rid"] for r in beta["rows"]} == {"books:inv1", "books:inv2"}
    world.journal.append(
        [
            NewEntry(
                Kind.OBSERVED,
                "invoices",
                "books:inv2",
                "crm",
                Dot("crm", 1),
                VectorClock(),
                {"customer": "crm:acme"},
                {"id": "crm-inv2", "modified": T0},
            )
        ]
    )
    acme = customer(world.config, world.journal, "crm:acme")["documents"]["invoices"]
    beta = customer(world.config, world.journal, "crm:beta")["documents"]["invoices"]
    assert [r["rid"] for r in acme["rows"]] == ["books:inv2"]
    assert {r["rid"] for r in beta["rows"]} == {"books:inv1", "books:inv2"}
    # the stored parties are a fold of the entries like the rest: replay gives them again
    checked = verify(world.journal)
    assert checked.state_ok, checked.problem
