"""``[integration.transactions]``: documents with their lines expanded into the engine's modules.

Most tests read :func:`replicator.config.integration.expand`'s output (the generic
``[modules.*]`` tables); the tests that load a whole config need the engine's keys (type
``lines``, dotted lookups, ``lock``, ``totals``) and skip until the engine knows them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from replicator.config import load, mapping
from replicator.config.integration import expand
from replicator.config.load import parse_config
from replicator.errors import ConfigError

PATH = Path("/tmp/replicator.toml")
SIDES = """
[sides.crm]
connector = "zoho_crm"
[sides.ledger]
connector = "zoho_books"
organization_id = "111"
[sides.books_eu]
connector = "zoho_books"
organization_id = "222"
[integration]
books = "ledger"
"""
MASTERS = "[integration.customers]\n[integration.items]\n[integration.vendors]\n"

needs_engine = pytest.mark.skipif(
    "lines" not in mapping.TYPES or "lock" not in load.MODULE_KEYS,
    reason="the engine does not know type lines / lock / totals yet (another part of issue 12)",
)


def expanded(text: str, masters: str = MASTERS) -> dict[str, Any]:
    """The ``[modules.*]`` tables the config's ``[integration]`` makes."""
    out, _ = expand(tomllib.loads(SIDES + masters + text), PATH)
    modules: dict[str, Any] = out["modules"]
    return modules


def refused(text: str, masters: str = MASTERS) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        expand(tomllib.loads(SIDES + masters + text), PATH)
    return caught.value


def test_one_table_turns_on_the_four_document_types_after_the_masters():
    """An empty [integration.transactions] makes all four modules, after the masters they
    look up."""
    modules = expanded("[integration.transactions]\n")
    assert list(modules) == [
        "customers",
        "vendors",
        "items",
        "estimates",
        "salesorders",
        "invoices",
        "purchaseorders",
    ]
    tables = {name: (m["crm"]["table"], m["ledger"]["table"]) for name, m in modules.items()}
    assert tables["estimates"] == ("Quotes", "estimates")
    assert tables["salesorders"] == ("Sales_Orders", "salesorders")
    assert tables["invoices"] == ("Invoices", "invoices")
    assert tables["purchaseorders"] == ("Purchase_Orders", "purchaseorders")


def test_an_invoice_maps_its_header_lines_status_and_totals_to_the_sides():
    """The invoice module: header fields, lines of type lines, a status picklist with CRM's
    spelling, and each app's total on its own side only."""
    invoice = expanded("[integration.transactions]\n")["invoices"]
    fields = invoice["fields"]
    assert fields["customer"] == {"crm": "Account_Name", "ledger": "customer_id", "type": "text"}
    assert fields["subject"] == {"crm": "Subject", "ledger": "reference_number", "type": "text"}
    assert fields["date"] == {"crm": "Invoice_Date", "ledger": "date", "type": "date"}
    assert fields["due_date"] == {"crm": "Due_Date", "ledger": "due_date", "type": "date"}
    assert fields["notes"] == {"crm": "Description", "ledger": "notes", "type": "text"}
    assert fields["terms"] == {"crm": "Terms_and_Conditions", "ledger": "terms", "type": "text"}
    assert fields["lines"] == {"crm": "Invoiced_Items", "ledger": "line_items", "type": "lines"}
    assert fields["total_books"] == {"ledger": "total", "type": "decimal"}
    assert fields["total_crm"] == {"crm": "Grand_Total", "type": "decimal"}
    assert invoice["totals"] == ["total_books", "total_crm"]
    status = fields["status"]
    assert (status["crm"], status["ledger"], status["type"]) == ("Status", "status", "picklist")
    assert status["values"] == {
        "crm": {
            "Draft": "draft",
            "Sent": "sent",
            "Overdue": "overdue",
            "Partially Paid": "partially_paid",
            "Paid": "paid",
            "Void": "void",
        }
    }
    assert "currency" not in fields


def test_books_owns_a_document_through_the_lock_lookups_fetch_and_conflicts():
    """Each document module locks on the Books side's status, looks its party and line items
    up (fetching missing ones) and prefers Books in a conflict."""
    modules = expanded("[integration.transactions]\n")
    passes = {
        "estimates": ["accepted", "declined"],
        "salesorders": ["void"],
        "invoices": ["void"],
        "purchaseorders": ["cancelled"],
    }
    for name, passing in passes.items():
        module = modules[name]
        assert module["lock"] == {
            "side": "ledger",
            "field": "status",
            "open": ["draft"],
            "passes": passing,
        }
        assert module["conflicts"] == "prefer:ledger"
        assert module["lookup_missing"] == "fetch"
        assert module["sync"] == "both_ways"
        assert "match" not in module["crm"] and "match" not in module["ledger"]
    assert modules["invoices"]["lookups"] == {"customer": "customers", "lines.item": "items"}
    assert modules["purchaseorders"]["lookups"] == {"vendor": "vendors", "lines.item": "items"}
    assert modules["purchaseorders"]["fields"]["vendor"]["crm"] == "Vendor_Name"
    assert "customer" not in modules["purchaseorders"]["fields"]


def test_each_type_has_its_own_dates_lines_and_status_field():
    """Quotes keep Valid_Till in Quote_Stage's module, sales orders ship on Due_Date,
    purchase orders date on PO_Date."""
    modules = expanded("[integration.transactions]\n")
    quote = modules["estimates"]["fields"]
    assert quote["expiry_date"] == {"crm": "Valid_Till", "ledger": "expiry_date", "type": "date"}
    assert quote["status"]["crm"] == "Quote_Stage"
    assert quote["lines"]["crm"] == "Quoted_Items"
    assert quote["status"]["values"]["crm"]["Accepted"] == "accepted"
    order = modules["salesorders"]["fields"]
    assert order["shipment_date"]["crm"] == "Due_Date"
    assert order["lines"]["crm"] == "Ordered_Items"
    purchase = modules["purchaseorders"]["fields"]
    assert purchase["date"] == {"crm": "PO_Date", "ledger": "date", "type": "date"}
    assert purchase["delivery_date"]["ledger"] == "delivery_date"
    assert purchase["lines"]["crm"] == "Purchase_Items"
    assert purchase["status"]["values"]["crm"]["Cancelled"] == "cancelled"


def test_naming_types_turns_on_only_those_with_their_own_options():
    """[integration.transactions.invoices] alone makes only invoices; its sync, exclude,
    currency and custom fields apply to it."""
    modules = expanded(
        "[integration.transactions]\n"
        'sync = "to_crm"\n'
        "[integration.transactions.invoices]\n"
        'exclude = ["terms", "total_crm"]\n'
        "currency = true\n"
        '[integration.transactions.invoices.fields]\npo = { crm = "PO_Number", books = "cf_po" }\n'
        "[integration.transactions.estimates]\n"
        'sync = "from_crm"\n'
    )
    assert [m for m in modules if m not in ("customers", "vendors", "items")] == [
        "estimates",
        "invoices",
    ]
    invoice = modules["invoices"]
    assert (invoice["sync"], invoice["source"]) == ("one_way", "ledger")
    assert modules["estimates"]["source"] == "crm"
    fields = invoice["fields"]
    assert "terms" not in fields and "total_crm" not in fields
    assert "totals" not in invoice  # one total alone compares with nothing
    assert fields["currency"] == {"crm": "Currency", "ledger": "currency_code", "type": "text"}
    assert fields["po"] == {"crm": "PO_Number", "ledger": "cf_po"}


def test_customers_syncing_crm_contacts_make_documents_name_a_contact():
    """With crm_module = "contacts", a document's customer is its CRM Contact_Name."""
    masters = '[integration.customers]\ncrm_module = "contacts"\n[integration.items]\n'
    modules = expanded("[integration.transactions.invoices]\n", masters)
    assert modules["invoices"]["fields"]["customer"]["crm"] == "Contact_Name"


def test_taxes_go_to_each_sides_options_by_percentage():
    """taxes names, per side, the tax a write takes for a percentage several taxes share."""
    out, _ = expand(
        tomllib.loads(
            SIDES
            + MASTERS
            + "[integration.transactions]\n"
            + 'taxes = { books = { "20.0" = "Standard Rate", "7.5" = "Reduced" }, '
            + 'crm = { "20" = "VAT" } }\n'
        ),
        PATH,
    )
    assert out["sides"]["ledger"]["taxes"] == {"20": "Standard Rate", "7.5": "Reduced"}
    assert out["sides"]["crm"]["taxes"] == {"20": "VAT"}
    assert "taxes" not in out["sides"]["books_eu"]


@pytest.mark.parametrize(
    ("text", "masters", "key", "words"),
    [
        (
            "[integration.transactions]\n",
            "[integration.items]\n",
            "integration.transactions",
            "need customers to sync",
        ),
        (
            "[integration.transactions]\n",
            "[integration.customers]\n",
            "integration.transactions",
            "need items to sync",
        ),
        (
            "[integration.transactions.purchaseorders]\n",
            "[integration.customers]\n[integration.items]\n",
            "integration.transactions.purchaseorders",
            "purchaseorders need vendors to sync",
        ),
        (
            "[integration.transactions.deals]\n",
            MASTERS,
            "integration.transactions.deals",
            "[integration.deals]",
        ),
        (
            "[integration.invoices]\n",
            MASTERS,
            "integration.invoices",
            "[integration.transactions.invoices]",
        ),
        (
            "[integration.transactions]\ncolour = 1\n",
            MASTERS,
            "integration.transactions.colour",
            "unknown key",
        ),
        (
            '[integration.transactions.invoices]\nexclude = ["status"]\n',
            MASTERS,
            "integration.transactions.invoices.exclude",
            "cannot be left out",
        ),
        (
            '[integration.transactions.invoices]\nexclude = ["expiry_date"]\n',
            MASTERS,
            "integration.transactions.invoices.exclude",
            "not a default field",
        ),
        (
            '[integration.transactions]\nsync = "sideways"\n',
            MASTERS,
            "integration.transactions.sync",
            "must be one of",
        ),
        (
            "[integration.transactions]\ncurrency = 1\n",
            MASTERS,
            "integration.transactions.currency",
            "true or false",
        ),
        (
            '[integration.transactions]\ntaxes = { books = { "20%" = "VAT" } }\n',
            MASTERS,
            "integration.transactions.taxes.books.20%",
            "percentage",
        ),
        (
            '[integration.transactions]\ntaxes = { books = { "20" = "VAT", "20.00" = "X" } }\n',
            MASTERS,
            "integration.transactions.taxes.books.20.00",
            "twice",
        ),
        (
            "[integration.transactions]\ninvoices = 1\n",
            MASTERS,
            "integration.transactions.invoices",
            "must be a table",
        ),
        (
            '[integration.transactions]\n[modules.invoices]\ncrm = { table = "Invoices" }\n',
            MASTERS,
            "modules.invoices",
            "made by [integration]",
        ),
    ],
)
def test_bad_transaction_setups_are_refused_with_one_line(text, masters, key, words):
    """Each wrong setup is refused naming the key and the reason, on one line."""
    err = refused(text, masters)
    assert err.key == key
    assert words in str(err)
    assert "\n" not in str(err)


def test_a_second_books_org_gets_no_transactions():
    """transactions under a second Books org's table is refused; the first org's documents
    are made for the first Books side only."""
    text = (
        '[integration]\nbooks = ["ledger", "books_eu"]\n'
        "[integration.orgs.books_eu]\ntransactions = {}\n"
    )
    with pytest.raises(ConfigError) as caught:
        expand(tomllib.loads(SIDES.replace('[integration]\nbooks = "ledger"\n', "") + text), PATH)
    assert caught.value.key == "integration.orgs.books_eu.transactions"
    assert "no transaction modules" in str(caught.value)
    two = SIDES.replace('books = "ledger"', 'books = ["ledger", "books_eu"]')
    out, integration = expand(tomllib.loads(two + MASTERS + "[integration.transactions]\n"), PATH)
    assert "invoices" in out["modules"] and "invoices@books_eu" not in out["modules"]
    assert "ledger" in out["modules"]["invoices"] and "books_eu" not in out["modules"]["invoices"]
    assert integration.modules["invoices"] == ("transactions", "ledger", "invoices")


@needs_engine
def test_the_expanded_documents_load_as_engine_modules():
    """With the engine's keys, the whole config loads: lookups into the masters, a lock,
    totals and lines."""
    text = '[integration.transactions]\ntaxes = { books = { "20" = "VAT" } }\n'
    cfg = parse_config(tomllib.loads(SIDES + MASTERS + text), PATH)
    assert cfg.sides["ledger"].options["taxes"] == {"20": "VAT"}
    invoices = cfg.modules["invoices"]
    assert invoices.fields.kind("lines") == "lines"
    assert invoices.lookups["lines.item"] == "items"
    assert invoices.side_module("crm").table == "Invoices"
    assert cfg.modules["purchaseorders"].lookups["vendor"] == "vendors"
