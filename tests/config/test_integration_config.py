"""The ``[integration]`` table: Zoho's setup steps expanded into the engine's modules."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from conflicts.policy import DuplicatePolicy
from replicator.config.load import parse_config
from replicator.errors import ConfigError

SIDES = """
[sides.crm]
connector = "zoho_crm"
organization_id = "crm-org"
[sides.books]
connector = "zoho_books"
organization_id = "111"
[sides.books_eu]
connector = "zoho_books"
organization_id = "222"
"""


def config(text: str, path: Path = Path("/tmp/replicator.toml")):
    return parse_config(tomllib.loads(SIDES + text), path)


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config(text)
    return caught.value


def test_accounts_sync_with_business_customers_by_default():
    """crm_module accounts: CRM Accounts pair with Books customers of sub-type business."""
    cfg = config("[integration.customers]\n")
    module = cfg.modules["customers"]
    assert module.side_module("crm").table == "Accounts"
    books = module.side_module("books")
    assert books.table == "customers"
    assert books.where == {"customer_sub_type": "business"}
    assert books.create == {"customer_sub_type": "business"}
    assert module.match_fields == ("name",)
    assert module.order == ("crm", "books")  # customers take CRM first
    assert module.policy.direction.source is None
    assert cfg.integration is not None and cfg.integration.crm_module() == "accounts"


def test_contacts_sync_with_individual_customers():
    """crm_module contacts: CRM Contacts pair with Books individual customers."""
    module = config('[integration.customers]\ncrm_module = "contacts"\n').modules["customers"]
    assert module.side_module("crm").table == "Contacts"
    assert module.side_module("books").where == {"customer_sub_type": "individual"}
    assert "email" in module.fields.fields


def test_accounts_and_contacts_make_persons_with_a_lookup_and_orphans_on_request():
    """Accounts & their Contacts: persons look up their customer; orphans only when asked."""
    cfg = config('[integration.customers]\ncrm_module = "accounts_and_contacts"\n')
    assert list(cfg.modules) == ["customers", "contact_persons"]
    persons = cfg.modules["contact_persons"]
    assert persons.lookups == {"account": "customers"}
    assert persons.side_module("books").table == "contactpersons"
    assert persons.side_module("crm").where == {"Account_Name": {"present": True}}
    # the business customer's phone is its primary person's (the persons carry it): the
    # account's phone is kept, as the customer's billing address phone
    customers = cfg.modules["customers"].fields
    assert customers.fields["phone"][1] == {"crm": "Phone", "books": "billing_address.phone"}
    excluded = config(
        '[integration.customers]\ncrm_module = "accounts_and_contacts"\nexclude = ["phone"]\n'
    )
    assert "phone" not in excluded.modules["customers"].fields.fields
    cfg = config(
        '[integration.customers]\ncrm_module = "accounts_and_contacts"\norphan_contacts = true\n'
    )
    assert list(cfg.modules) == ["customers", "contact_persons", "individual_customers"]
    orphans = cfg.modules["individual_customers"]
    assert orphans.side_module("crm").where == {"Account_Name": {"present": False}}
    assert orphans.side_module("books").where == {"customer_sub_type": "individual"}


def test_orphan_contacts_need_accounts_and_contacts():
    """orphan_contacts with another module choice is refused, naming the key."""
    err = error("[integration.customers]\norphan_contacts = true\n")
    assert err.key == "integration.customers.orphan_contacts"


@pytest.mark.parametrize(
    ("extent", "source"), [("both_ways", None), ("from_crm", "crm"), ("to_crm", "books")]
)
def test_the_extent_of_sync_sets_the_direction(extent, source):
    """from_crm and to_crm are one way from that side; both_ways has no source."""
    module = config(f'[integration.vendors]\nsync = "{extent}"\n').modules["vendors"]
    assert module.policy.direction.source == source
    if source is not None:
        assert module.order[0] == source


def test_items_take_books_first_and_match_name_plus_sku():
    """Items: Books first in two-way, and the match key is name plus SKU."""
    module = config('[integration.items]\nduplicates = "link"\n').modules["items"]
    assert module.order == ("books", "crm")
    assert module.match_fields == ("name", "sku")
    assert module.policy.duplicates is DuplicatePolicy.LINK
    assert module.fields.kind("rate") == "decimal"


def test_views_go_to_the_crm_side():
    """view and contact_view become the CRM side's views of each module."""
    cfg = config(
        '[integration.customers]\ncrm_module = "accounts_and_contacts"\n'
        'view = "My Accounts"\ncontact_view = "All Contacts"\n'
    )
    assert cfg.modules["customers"].side_module("crm").view == "My Accounts"
    assert cfg.modules["contact_persons"].side_module("crm").view == "All Contacts"


def test_custom_fields_extend_and_exclude_trims_the_default_map():
    """fields adds mapped custom fields; exclude drops default ones; payment terms is integer."""
    cfg = config(
        "[integration.customers]\n"
        'exclude = ["website"]\npayment_terms = "Payment_Terms"\n'
        '[integration.customers.fields]\nregion = { crm = "Region", books = "cf_region" }\n'
    )
    fields = cfg.modules["customers"].fields
    assert "website" not in fields.fields
    assert fields.fields["region"][1] == {"crm": "Region", "books": "cf_region"}
    assert fields.kind("payment_terms") == "integer"


def test_an_unknown_default_field_in_exclude_is_refused():
    """exclude names only default fields."""
    err = error('[integration.customers]\nexclude = ["shoe_size"]\n')
    assert err.key == "integration.customers.exclude" and "shoe_size" in str(err)


def test_a_second_books_org_syncs_one_way_from_crm():
    """Every module of a second Books org is one way CRM -> Books, under its own name."""
    cfg = config(
        '[integration]\nbooks = ["books", "books_eu"]\n'
        '[integration.customers]\ncrm_module = "accounts_and_contacts"\n[integration.items]\n'
    )
    assert set(cfg.modules) == {
        "customers",
        "contact_persons",
        "items",
        "customers@books_eu",
        "contact_persons@books_eu",
        "items@books_eu",
    }
    assert cfg.modules["customers"].policy.direction.source is None
    for name in ("customers@books_eu", "items@books_eu"):
        assert cfg.modules[name].policy.direction.source == "crm"
        assert set(cfg.modules[name].sides) == {"crm", "books_eu"}
    assert cfg.modules["contact_persons@books_eu"].lookups == {"account": "customers@books_eu"}


def test_a_second_org_cannot_sync_both_ways():
    """Asking a second org for two-way sync is refused with the reason."""
    err = error(
        '[integration]\nbooks = ["books", "books_eu"]\n[integration.orgs.books_eu]\n'
        'sync = "both_ways"\n[integration.customers]\n'
    )
    assert err.key == "integration.orgs.books_eu.sync"
    assert "one way" in str(err)


def test_a_second_org_gets_no_transaction_modules():
    """Transaction modules for a second org are refused."""
    err = error(
        '[integration]\nbooks = ["books", "books_eu"]\n[integration.orgs.books_eu]\n'
        "invoices = true\n[integration.customers]\n"
    )
    assert "no transaction modules" in str(err)


def test_one_books_org_cannot_be_connected_twice():
    """Two Books sides on one organisation id are refused."""
    text = SIDES.replace('organization_id = "222"', 'organization_id = "111"')
    with pytest.raises(ConfigError) as caught:
        parse_config(
            tomllib.loads(
                text + '[integration]\nbooks = ["books", "books_eu"]\n[integration.customers]\n'
            ),
            Path("/tmp/r.toml"),
        )
    assert caught.value.key == "sides.books_eu.organization_id"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[integration]\ncrm = "nope"\n[integration.customers]\n', "integration.crm"),
        ('[integration.customers]\ncrm_module = "leads"\n', "integration.customers.crm_module"),
        ('[integration.customers]\nsync = "sideways"\n', "integration.customers.sync"),
        ("[integration.customers]\ncolour = 1\n", "integration.customers.colour"),
        ("[integration.vendors]\nproduct_type = 'X'\n", "integration.vendors.product_type"),
        ("[integration]\n", "integration"),
    ],
)
def test_mistakes_name_the_key(text, key):
    """Every mistake in [integration] names the key at fault."""
    assert error(text).key == key


def test_the_journaled_settings_are_what_the_user_wrote():
    """The fingerprinted settings are the file's, with [integration], not the expansion."""
    cfg = config("[integration.customers]\n")
    assert "integration" in cfg.raw and "modules" not in cfg.raw


def test_addresses_map_billing_and_shipping_part_by_part():
    """addresses = true maps each part of both addresses (Accounts) or the vendor's one
    address to Books' billing address; CRM Contacts have no billing/shipping pair."""
    cfg = config(
        "[integration.customers]\naddresses = true\n[integration.vendors]\naddresses = true\n"
    )
    fields = cfg.modules["customers"].fields.fields
    assert fields["billing_city"][1] == {"crm": "Billing_City", "books": "billing_address.city"}
    assert fields["shipping_zip"][1] == {"crm": "Shipping_Code", "books": "shipping_address.zip"}
    vendor = cfg.modules["vendors"].fields.fields
    assert vendor["billing_zip"][1] == {"crm": "Zip_Code", "books": "billing_address.zip"}
    err = error('[integration.customers]\ncrm_module = "contacts"\naddresses = true\n')
    assert err.key == "integration.customers.addresses"
    assert error("[integration.items]\naddresses = true\n").key == "integration.items.addresses"
