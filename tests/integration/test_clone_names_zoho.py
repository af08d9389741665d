"""``duplicates = "clone"`` against the sandbox's Books, which refuses a second contact or
item with a name it holds ("already exists", its default): each clone gets the
``clone_name`` rule's name, journaled; both records stay on both sides (issue 9, class 7)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from journal import Kind
from replicator.cli.main import main
from replicator.sandbox import AdminClient, Sandbox
from tests.integration.conftest import fresh
from tests.integration.test_integration_zoho import (
    journal_entries,
    journal_errors,
    sync,
    write_config,
)


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)  # Books' default: contact names are unique


def cli_json(config, *args: str):
    result = CliRunner().invoke(main, ["--config", str(config), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_clones_of_customers_and_items_get_distinct_names_in_books(admin, credentials, tmp_path):
    """Acme in CRM and Acme in Books (two companies), Widget in both with other SKUs,
    Gadget in both with one SKU: each side keeps its own and holds the other's as
    "<name> (<side> <id>)" (a Gadget's SKU too, which Books refuses twice); nothing is
    refused, no conflict opens, a re-run changes nothing and status counts the renames."""
    [crm_acme] = admin.crm_create("Accounts", {"Account_Name": "Acme", "Phone": "1"})
    [widget] = admin.crm_create(
        "Products", {"Product_Name": "Widget", "Product_Code": "W-CRM", "Unit_Price": 7}
    )
    books_acme = admin.books_create("contacts", {"contact_name": "Acme", "website": "b.test"})
    admin.books_create("items", {"name": "Widget", "sku": "W-BOOKS", "rate": 5})
    # an exact duplicate item: name and SKU alike, and Books refuses a SKU twice as well
    [crm_gadget] = admin.crm_create(
        "Products", {"Product_Name": "Gadget", "Product_Code": "G-1", "Unit_Price": 3}
    )
    books_gadget = admin.books_create("items", {"name": "Gadget", "sku": "G-1", "rate": 3})
    config = write_config(
        tmp_path,
        credentials,
        {"customers": {"duplicates": "clone"}, "items": {"duplicates": "clone"}},
    )
    report = sync(config)
    assert [e.meta for e in journal_errors(config)] == []
    assert report["modules"]["customers"]["books"]["renamed"] == 1
    contacts = {c["contact_name"]: c for c in admin.books_records("contacts")}
    assert set(contacts) == {"Acme", f"Acme (crm {crm_acme})"}
    assert contacts["Acme"]["website"] == "b.test"
    accounts = {a["Account_Name"]: a for a in admin.crm_records("Accounts")}
    books_id = books_acme["contact_id"]
    assert set(accounts) == {"Acme", f"Acme (books {books_id})"}
    assert accounts["Acme"]["Phone"] == "1"
    items = {i["name"]: i["sku"] for i in admin.books_records("items")}
    assert items["Widget"] == "W-BOOKS" and items[f"Widget (crm {widget})"] == "W-CRM"
    assert items["Gadget"] == "G-1"
    assert items[f"Gadget (crm {crm_gadget})"] == f"G-1 (crm {crm_gadget})"
    products = {p["Product_Name"]: p["Product_Code"] for p in admin.crm_records("Products")}
    books_widget = [i["item_id"] for i in admin.books_records("items") if i["sku"] == "W-BOOKS"]
    assert products["Widget"] == "W-CRM"
    assert products[f"Widget (books {books_widget[0]})"] == "W-BOOKS"
    gadget = books_gadget["item_id"]
    assert products[f"Gadget (books {gadget})"] == f"G-1 (books {gadget})"

    again = sync(config)
    kinds = {e.kind for e in journal_entries(config, since=again["entries"]["before"])}
    assert kinds <= {Kind.CURSOR, Kind.CONFIG}
    assert len(admin.books_records("contacts")) == 2 and len(admin.crm_records("Accounts")) == 2
    assert len(admin.books_records("items")) == 4 and len(admin.crm_records("Products")) == 4
    assert cli_json(config, "conflicts", "list") == []
    status = {m["module"]: m for m in cli_json(config, "status")["modules"]}
    assert status["customers"]["renamed"] == {"crm": 1, "books": 1}
    assert status["items"]["renamed"] == {"books": 2, "crm": 2}
