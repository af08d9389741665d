"""The setup checks against the Zoho sandbox: base currencies, missing custom fields, and a
CRM Goods / Services picklist syncing with Books' product type.

Configs are what a user writes (:func:`replicator.cli.demo.zoho.zoho_config`), changed where a test
says; ``replicator sync`` runs through click's runner as a user would run it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from journal import Kind
from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.config.load import load_config
from replicator.connectors.zoho.books import from_options as books_from_options
from replicator.connectors.zoho.crm import from_options as crm_from_options
from replicator.sandbox import AdminClient, AdminError, Sandbox
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_journal
from tests.integration.conftest import fresh

PRODUCT_TYPE = (
    'product_type = { crm = "Product_Type", books = "product_type", type = "picklist", '
    'values = { crm = { Goods = "goods", Services = "service" } } }'
)


@pytest.fixture(autouse=True)
def usd_again(sandbox: Sandbox) -> Iterator[None]:
    """Both orgs back to USD after each test, for the session's other tests."""
    yield
    sandbox.admin.settings(crm_currency="USD")
    sandbox.admin.set_books_currency("USD")


def write(folder: Path, text: str) -> Path:
    path = folder / "replicator.toml"
    path.write_text(text, encoding="utf-8")
    return path


def one_way(text: str) -> str:
    return text.replace('sync = "both_ways"', 'sync = "one_way"\nsource = "crm"')


def sync(config: Path) -> Result:
    env = {**os.environ, "COLUMNS": "200"}
    return CliRunner(env=env).invoke(main, ["--config", str(config), "sync"])


def journaled(config: Path) -> int:
    """How many entries the config's journal holds (0 if it was never made)."""
    loaded = load_config(config)
    if not loaded.journal_path.exists():
        return 0
    journal = open_journal(loaded)
    try:
        return journal.count()
    finally:
        journal.close()


def add_field(admin: AdminClient, *args: object, **spec: object) -> None:
    """Add a CRM custom field unless the session sandbox has it already."""
    try:
        admin.add_crm_field(*args, **spec)  # type: ignore[arg-type]
    except AdminError as exc:
        if "already" not in str(exc.body):
            raise


def test_two_way_sync_is_refused_when_the_base_currencies_differ(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """CRM in EUR, Books in USD: `sync` fails with the fix, writes no record, journals nothing."""
    admin = fresh(sandbox, crm_currency="EUR")
    with ZohoApi(sandbox.credentials_path) as api:
        api.crm_create("Accounts", {"Account_Name": "Euro Co"})
    config = write(tmp_path, zoho_config(sandbox.credentials_path))
    result = sync(config)
    assert result.exit_code == 1
    org = sandbox.credentials["organization_id"]
    assert result.output.strip() == (
        "Error: module customers: two-way sync needs one base currency: CRM org is EUR, "
        f"Books org {org} (side books) is USD; make them equal in CRM Setup > Company "
        "Details > Currencies, or sync one way"
    )
    assert journaled(config) == 0
    assert admin.books_records("contacts") == []


def test_one_way_customers_sync_when_the_base_currencies_differ(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """The same orgs with customers one way from CRM: the account arrives in Books."""
    admin = fresh(sandbox, crm_currency="EUR")
    with ZohoApi(sandbox.credentials_path) as api:
        api.crm_create("Accounts", {"Account_Name": "Euro Co"})
    config = write(tmp_path, one_way(zoho_config(sandbox.credentials_path)))
    result = sync(config)
    assert result.exit_code == 0, result.output
    assert [c["contact_name"] for c in admin.books_records("contacts")] == ["Euro Co"]


def test_items_are_refused_one_way_when_a_books_org_has_another_currency(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A Books org switched to GBP: even one-way items cannot sync (the rule is per org)."""
    admin = fresh(sandbox)
    admin.set_books_currency("GBP")
    text = one_way(zoho_config(sandbox.credentials_path, modules=("items",)))
    result = sync(write(tmp_path, text))
    assert result.exit_code == 1
    assert (
        "Error: module items: items cannot sync when the base currencies differ, even one "
        "way: CRM org is USD, Books org"
    ) in result.output
    assert "(side books) is GBP" in result.output


def test_the_base_currencies_are_read_once_per_connector(sandbox: Sandbox) -> None:
    """`base_currency()` answers the orgs' codes and asks each API once per connector."""
    admin = fresh(sandbox, crm_currency="EUR")
    options = {"credentials": str(sandbox.credentials_path)}
    admin.reset_counters()
    with (
        crm_from_options("crm", options, env={}) as crm,
        books_from_options("books", options, env={}) as books,
    ):
        assert [crm.base_currency(), crm.base_currency()] == ["EUR", "EUR"]
        assert [books.base_currency(), books.base_currency()] == ["USD", "USD"]
    paths = [(c["method"], c["path"]) for c in admin.counters() for _ in range(c["count"])]
    assert sum(1 for m, p in paths if m == "GET" and p.endswith("/org")) == 1
    assert sum(1 for m, p in paths if m == "GET" and "/organizations/" in p) == 1


def test_a_mapped_field_missing_in_crm_says_which_field_to_create(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A field mapped to a CRM column nobody made: `sync` names the field to create and
    where; the Books custom field is taken on trust (Books cannot list them)."""
    fresh(sandbox)
    text = zoho_config(sandbox.credentials_path)
    text += 'sales_region = { crm = "Sales_Region", books = "cf_sales_region" }\n'
    config = write(tmp_path, text)
    result = sync(config)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: module customers: field 'sales_region' maps to column 'Sales_Region' on side "
        "crm (Zoho CRM Accounts), which does not exist: create a custom field 'Sales Region' "
        "(API name 'Sales_Region') of type Single Line in CRM module Accounts (Setup > "
        "Customization > Modules and Fields), or remove it from [modules.customers.fields]"
    )
    assert journaled(config) == 0


def test_a_crm_goods_services_picklist_syncs_with_books_product_type(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """CRM Product_Type Goods/Services <-> Books product_type goods/service, both ways;
    a Books type CRM cannot spell is journaled as that record's error."""
    admin = fresh(sandbox)
    text = zoho_config(sandbox.credentials_path, modules=("items",)) + PRODUCT_TYPE + "\n"
    config = write(tmp_path, text)
    add_field(
        admin,
        "Products",
        "Product Type",
        "picklist",
        api_name="Product_Type",
        pick_list_values=["-None-", "Goods", "Services"],
    )
    with ZohoApi(sandbox.credentials_path) as api:
        (desk,) = api.crm_create(
            "Products",
            {"Product_Name": "Fitting", "Unit_Price": 80, "Product_Type": "Services"},
        )
        for name, kind in [("Bolt", "goods"), ("E-book", "digital_service")]:
            api.books("POST", "/items", json={"name": name, "rate": 2, "product_type": kind})
        result = sync(config)
        assert result.exit_code == 0, result.output
        books = {i["name"]: i["product_type"] for i in admin.books_records("items")}
        assert books["Fitting"] == "service"
        crm = {p["Product_Name"]: p["Product_Type"] for p in admin.crm_records("Products")}
        assert crm == {"Fitting": "Services", "Bolt": "Goods"}

        api.crm_update("Products", desk, Product_Type="Goods")
        admin.advance_clock(1)
        assert sync(config).exit_code == 0
    books = {i["name"]: i["product_type"] for i in admin.books_records("items")}
    assert books["Fitting"] == "goods"
    journal = open_journal(load_config(config))
    try:
        errors = [e for e in journal.read() if e.kind == Kind.ERROR]
    finally:
        journal.close()
    assert errors and all("digital_service" in e.meta["reason"] for e in errors)
    assert "'goods'" in errors[0].meta["reason"] and "side crm" in errors[0].meta["reason"]
