"""Setup hints: what to create in Zoho, and where, for a column a side lacks."""

from __future__ import annotations

import subprocess
import sys

from replicator.connectors.zoho.hints import books_entity, missing_field_fix, place


def test_a_missing_crm_field_names_its_label_type_and_settings_page() -> None:
    """A CRM column becomes a labelled custom field of the product's type, lookups by field."""
    fix = missing_field_fix("zoho_crm", "Accounts", "Parent_Account.name", "text")
    assert fix == (
        "create a custom field 'Parent Account' (API name 'Parent_Account') of type Single Line "
        "in CRM module Accounts (Setup > Customization > Modules and Fields)"
    )


def test_a_missing_books_custom_field_names_the_entity_page_of_an_alias() -> None:
    """customers are contacts: the hint names their preferences page and Books' type name."""
    fix = missing_field_fix("zoho_books", "customers", "cf_region", "picklist", " with values a")
    assert fix == (
        "create a custom field with API name 'cf_region' of type Dropdown with values a in "
        "Books (Settings > Preferences > Customers and Vendors > Field Customization)"
    )


def test_a_missing_books_standard_field_says_to_map_another_or_make_a_custom_one() -> None:
    """A non-cf_ Books column cannot be created as such: the hint says what to do instead."""
    fix = missing_field_fix("zoho_books", "items", "colour", "text")
    assert fix is not None and fix.startswith("Books items have no field 'colour'")
    assert "(it starts with cf_)" in fix


def test_other_connectors_get_no_zoho_hint() -> None:
    """A side that is not Zoho's has no Zoho place nor fix: the caller words its own."""
    assert missing_field_fix("sqlite", "t", "c", "text") is None
    assert place("sqlite", "t") is None
    assert place("zoho_books", "vendors") == "Zoho Books contacts"
    assert books_entity("invoices") == "invoices"


def test_the_hints_load_without_the_http_client() -> None:
    """The sync checks import the hints; that must not load httpx for a SQLite-only sync."""
    code = "import sys, replicator.connectors.zoho.hints; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
