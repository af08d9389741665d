"""Transactions end to end against the sandbox (issue 12): documents with their lines
through ``[integration.transactions]``, from the command line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from journal import Kind
from replicator.cli.main import main
from replicator.sandbox import AdminClient, Sandbox
from tests.integration.conftest import fresh
from tests.integration.test_integration_zoho import journal_entries, sync, write_config

MASTERS: dict[str, dict[str, Any]] = {
    "customers": {"crm_module": "accounts"},
    "vendors": {},
    "items": {},
    "transactions": {},
}


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)


@pytest.fixture
def config(admin: AdminClient, credentials: Path, tmp_path: Path) -> Path:
    """The integration with every master and transaction module, set up on CRM (the
    status picklist values) and synced once while both apps are empty."""
    path = write_config(tmp_path, credentials, MASTERS)
    done = CliRunner().invoke(main, ["--config", str(path), "setup"])
    assert done.exit_code == 0, done.output
    sync(path)
    return path


def amount(value: Any) -> Decimal:
    return Decimal(str(value))


def books_document(admin: AdminClient, resource: str, **where: Any) -> dict[str, Any]:
    (found,) = [
        r for r in admin.books_records(resource) if all(r.get(k) == v for k, v in where.items())
    ]
    return admin.call("GET", f"/books/{resource}/{found[f'{resource[:-1]}_id']}")


def crm_document(admin: AdminClient, module: str, **where: Any) -> dict[str, Any]:
    (found,) = [
        r for r in admin.crm_records(module) if all(r.get(k) == v for k, v in where.items())
    ]
    return admin.crm_record(module, found["id"])


def test_a_crm_quote_with_three_lines_reaches_books_exactly_fetching_its_customer_and_items(
    admin, config
):
    """A quote naming an account and products not synced yet: the estimates module alone
    fetches them first, and Books holds the three lines with exact amounts and the same
    total as CRM."""
    account = admin.crm_create("Accounts", {"Account_Name": "Acme Ltd"})[0]
    products = admin.crm_create(
        "Products",
        {"Product_Name": "Widget", "Unit_Price": 10},
        {"Product_Name": "Gadget", "Unit_Price": 20},
        {"Product_Name": "Gizmo", "Unit_Price": 30},
    )
    lines = [
        {"Product_Name": {"id": products[0]}, "Quantity": 3, "List_Price": 10.5, "Discount": 1.5},
        {
            "Product_Name": {"id": products[1]},
            "Quantity": 2,
            "List_Price": 19.99,
            "line_tax": [{"name": "VAT", "percentage": 20}],
        },
        {"Product_Name": {"id": products[2]}, "Quantity": 1, "List_Price": 30},
    ]
    admin.crm_create(
        "Quotes",
        {
            "Subject": "Q-1",
            "Account_Name": {"id": account},
            "Quote_Stage": "Draft",
            "Quoted_Items": lines,
        },
    )
    report = sync(config, "--module", "estimates")
    assert report["modules"]["estimates"]["books"]["created"] == 1, report
    estimate = books_document(admin, "estimates", reference_number="Q-1")
    assert estimate["customer_name"] == "Acme Ltd"
    got = [
        (li["name"], amount(li["quantity"]), amount(li["rate"]), amount(li["discount"]))
        for li in estimate["line_items"]
    ]
    assert got == [
        ("Widget", Decimal(3), Decimal("10.5"), Decimal("1.5")),
        ("Gadget", Decimal(2), Decimal("19.99"), Decimal(0)),
        ("Gizmo", Decimal(1), Decimal(30), Decimal(0)),
    ]
    assert [amount(li.get("tax_percentage") or 0) for li in estimate["line_items"]] == [0, 20, 0]
    quote = crm_document(admin, "Quotes", Subject="Q-1")
    assert amount(estimate["total"]) == amount(quote["Grand_Total"])
    assert {i["name"] for i in admin.books_records("items")} >= {"Widget", "Gadget", "Gizmo"}
    again = sync(config)
    assert again["entries"]["after"] - again["entries"]["before"] <= 10  # cursors only
    assert not [e for e in journal_entries(config) if e.kind is Kind.ERROR]


def test_a_books_invoice_with_tax_and_discount_appears_in_crm_and_its_status_follows(admin, config):
    """A Books invoice with a taxed line and a discounted one is created in CRM with its
    lines; sent and void in Books reach CRM's Status; a CRM edit of the sent invoice is
    refused and journaled, and Books keeps its notes."""
    customer = admin.books_create("contacts", {"contact_name": "Beta Books Ltd"})
    item = admin.books_create("items", {"name": "Service hour", "rate": 80})
    taxes = admin.call("GET", "/books/taxes")["taxes"]
    vat = next(t for t in taxes if amount(t["tax_percentage"]) == 20)
    invoice = admin.books_create(
        "invoices",
        {
            "customer_id": customer["contact_id"],
            "notes": "thanks",
            "line_items": [
                {"item_id": item["item_id"], "quantity": 2, "rate": 80, "tax_id": vat["tax_id"]},
                {"item_id": item["item_id"], "quantity": 1, "rate": 100, "discount": 10},
            ],
        },
    )
    number = invoice["invoice_number"]
    sync(config)
    crm = crm_document(admin, "Invoices", Subject=number)
    rows = crm["Invoiced_Items"]
    assert [
        (amount(r["Quantity"]), amount(r["List_Price"]), amount(r["Discount"])) for r in rows
    ] == [
        (Decimal(2), Decimal(80), Decimal(0)),
        (Decimal(1), Decimal(100), Decimal(10)),
    ]
    assert [sum(amount(t["percentage"]) for t in r.get("line_tax") or []) for r in rows] == [20, 0]
    books_now = books_document(admin, "invoices", invoice_number=number)
    assert amount(crm["Grand_Total"]) == amount(books_now["total"])
    assert crm["Status"] == "Draft"

    admin.books_update("invoices", invoice["invoice_id"], {"status": "sent"})
    sync(config)
    assert crm_document(admin, "Invoices", Subject=number)["Status"] == "Sent"

    before = len(journal_entries(config))
    admin.crm_update("Invoices", crm["id"], Description="changed in CRM")
    sync(config)
    assert books_document(admin, "invoices", invoice_number=number)["notes"] == "thanks"
    refused = [
        e
        for e in journal_entries(config, since=before)
        if e.kind is Kind.ERROR and "only while it is draft" in str(e.meta)
    ]
    assert refused, "the refused CRM edit is journaled with its reason"

    admin.crm_update("Invoices", crm["id"], Status="Void")
    sync(config)
    assert books_document(admin, "invoices", invoice_number=number)["status"] == "void"
