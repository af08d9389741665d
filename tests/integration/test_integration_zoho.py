"""The Books <-> CRM integration end to end against the sandbox, from the command line:
each module choice, each extent of sync, views, custom fields, a second Books org."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from journal import Kind
from replicator.cli.main import main
from replicator.config.load import load_config
from replicator.sandbox import AdminClient, Sandbox
from replicator.sync.app import open_journal
from tests.integration.conftest import fresh

BOOKS_KEY = {"label": "Replicator Id", "api_name": "cf_replicator_id", "is_unique": True}


def write_config(
    folder: Path,
    credentials: Path,
    modules: Mapping[str, Mapping[str, Any]],
    *,
    books: tuple[str, ...] = ("books",),
    orgs: Mapping[str, str] | None = None,
    head: str = "",
) -> Path:
    """A replicator.toml with Zoho sides and an [integration] table."""
    lines = [
        "[journal]",
        'path = "journal.db"',
        "[sides.crm]",
        'connector = "zoho_crm"',
        f"credentials = {json.dumps(str(credentials))}",
    ]
    for side in books:
        lines += [
            f"[sides.{side}]",
            'connector = "zoho_books"',
            f"credentials = {json.dumps(str(credentials))}",
            "requests_per_minute = 100000",
        ]
        if orgs and side in orgs:
            lines.append(f'organization_id = "{orgs[side]}"')
    lines += ["[integration]", f"books = {json.dumps(list(books))}", head]
    for name, options in modules.items():
        lines.append(f"[integration.{name}]")
        for key, value in options.items():
            if key != "fields":
                lines.append(f"{key} = {json.dumps(value)}")
        for field, spec in options.get("fields", {}).items():
            inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in spec.items())
            lines.append(f"fields.{field} = {{ {inner} }}")
    path = folder / "replicator.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def sync(config: Path, *args: str) -> dict[str, Any]:
    """`replicator sync --json`; the report."""
    result = CliRunner().invoke(main, ["--config", str(config), "sync", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def journal_entries(config: Path, *, since: int = 0) -> list[Any]:
    """A config's journal entries after ``since``."""
    journal = open_journal(load_config(config))
    try:
        return list(journal.read(since=since))
    finally:
        journal.close()


def journal_errors(config: Path) -> list[Any]:
    """The error entries of a config's journal."""
    return [e for e in journal_entries(config) if e.kind is Kind.ERROR]


def names(admin: AdminClient, module: str, field: str) -> set[str]:
    return {r[field] for r in admin.crm_records(module)}


def books(admin: AdminClient, org: str | None = None, **where: Any) -> dict[str, dict[str, Any]]:
    """Books contacts by name (those matching ``where``)."""
    rows = admin.books_records("contacts", organization_id=org)
    for row in rows:  # a contact's phone, email... are its primary person's
        primary = [p for p in row.get("contact_persons", []) if p.get("is_primary_contact")]
        for key in ("first_name", "last_name", "email", "phone", "mobile"):
            row[key] = primary[0].get(key, "") if primary else ""
    return {r["contact_name"]: r for r in rows if all(r.get(k) == v for k, v in where.items())}


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)


def test_accounts_pair_with_business_customers_both_ways(admin, credentials, tmp_path):
    """crm_module accounts: Accounts <-> business customers; individuals stay out."""
    admin.crm_create("Accounts", {"Account_Name": "Acme Ltd", "Phone": "111"})
    admin.books_create("contacts", {"contact_name": "Beta Business"})
    admin.books_create(
        "contacts", {"contact_name": "Ivy Individual", "customer_sub_type": "individual"}
    )
    config = write_config(tmp_path, credentials, {"customers": {"crm_module": "accounts"}})
    sync(config)
    assert names(admin, "Accounts", "Account_Name") == {"Acme Ltd", "Beta Business"}
    acme = books(admin)["Acme Ltd"]
    assert acme["customer_sub_type"] == "business" and acme["phone"] == "111"
    assert "Ivy Individual" not in names(admin, "Accounts", "Account_Name")
    assert names(admin, "Contacts", "Last_Name") == set()
    again = sync(config)  # an idle re-sync journals no change, only its cursors
    kinds = {e.kind for e in journal_entries(config, since=again["entries"]["before"])}
    assert kinds <= {Kind.CURSOR, Kind.CONFIG}  # cursors and the run marker


def test_contacts_pair_with_individual_customers_both_ways(admin, credentials, tmp_path):
    """crm_module contacts: Contacts <-> individual customers; Accounts and business
    customers are not synced."""
    admin.crm_create("Contacts", {"First_Name": "Jane", "Last_Name": "Doe", "Email": "j@d.test"})
    admin.crm_create("Accounts", {"Account_Name": "Not Synced Inc"})
    admin.books_create(
        "contacts",
        {
            "contact_name": "Ivy Green",
            "customer_sub_type": "individual",
            "contact_persons": [{"first_name": "Ivy", "last_name": "Green"}],
        },
    )
    admin.books_create("contacts", {"contact_name": "Business Only"})
    config = write_config(tmp_path, credentials, {"customers": {"crm_module": "contacts"}})
    sync(config)
    jane = books(admin)["Jane Doe"]
    assert jane["customer_sub_type"] == "individual" and jane["email"] == "j@d.test"
    assert ("Ivy", "Green") in {
        (r.get("First_Name"), r["Last_Name"]) for r in admin.crm_records("Contacts")
    }
    assert "Not Synced Inc" not in books(admin)
    assert "Business Only" not in names(admin, "Accounts", "Account_Name")


def test_fetch_from_crm_never_writes_crm(admin, credentials, tmp_path):
    """Extent from_crm: CRM records reach Books; Books' own records and edits stay there."""
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme", "Website": "a.test"})
    admin.books_create("contacts", {"contact_name": "Books Only"})
    config = write_config(tmp_path, credentials, {"customers": {"sync": "from_crm"}})
    sync(config)
    copy = books(admin)["Acme"]
    admin.books_update("contacts", copy["contact_id"], {"website": "edited.test"})
    admin.reset_counters()
    sync(config)
    writes = [c for c in admin.counters("crm") if c["method"] in ("POST", "PUT", "PATCH")]
    assert writes == []
    assert admin.crm_record("Accounts", acme)["Website"] == "a.test"
    assert "Books Only" not in names(admin, "Accounts", "Account_Name")


def test_one_way_books_to_crm_never_writes_books(admin, credentials, tmp_path):
    """Extent to_crm (beyond the original): Books records reach CRM; CRM's stay in CRM."""
    admin.books_create("contacts", {"contact_name": "From Books", "website": "b.test"})
    [crm_only] = admin.crm_create("Accounts", {"Account_Name": "CRM Only"})
    config = write_config(tmp_path, credentials, {"customers": {"sync": "to_crm"}})
    sync(config)
    assert "From Books" in names(admin, "Accounts", "Account_Name")
    admin.crm_update("Accounts", crm_only, Website="changed.test")
    before = books(admin)
    sync(config)
    assert "CRM Only" not in books(admin)
    assert (
        books(admin)["From Books"]["last_modified_time"]
        == (before["From Books"]["last_modified_time"])
    )


def test_vendors_and_items_both_ways(admin, credentials, tmp_path):
    """Vendors <-> Books vendors; Products <-> items with name, SKU and rate."""
    admin.crm_create("Vendors", {"Vendor_Name": "Parts Co", "Email": "p@c.test"})
    admin.books_create("contacts", {"contact_name": "Books Vendor", "contact_type": "vendor"})
    admin.books_create("items", {"name": "Widget", "sku": "W-1", "rate": 12.5})
    admin.crm_create("Products", {"Product_Name": "Gadget", "Product_Code": "G-1", "Unit_Price": 4})
    config = write_config(tmp_path, credentials, {"vendors": {}, "items": {}})
    sync(config)
    assert books(admin, contact_type="vendor").keys() == {"Parts Co", "Books Vendor"}
    assert "Books Vendor" in names(admin, "Vendors", "Vendor_Name")
    widget = {r["Product_Name"]: r for r in admin.crm_records("Products")}["Widget"]
    assert widget["Product_Code"] == "W-1" and float(widget["Unit_Price"]) == 12.5
    assert "Gadget" in {i["name"] for i in admin.books_records("items")}


def test_a_view_limits_what_syncs_and_records_enter_and_leave(admin, credentials, tmp_path):
    """Only accounts in the CRM view sync; one entering is brought in; one leaving stops
    syncing and is not deleted."""
    admin.add_crm_view(
        "Accounts",
        "Retail accounts",
        {"comparator": "equal", "field": {"api_name": "Industry"}, "value": "Retail"},
    )
    [shop] = admin.crm_create("Accounts", {"Account_Name": "Shop", "Industry": "Retail"})
    [bank] = admin.crm_create("Accounts", {"Account_Name": "Bank", "Industry": "Technology"})
    config = write_config(
        tmp_path, credentials, {"customers": {"view": "Retail accounts", "sync": "from_crm"}}
    )
    sync(config)
    assert set(books(admin)) == {"Shop"}
    admin.crm_update("Accounts", bank, Industry="Retail")  # enters the view
    sync(config)
    assert set(books(admin)) == {"Shop", "Bank"}
    admin.crm_update("Accounts", shop, Industry="Technology", Website="left.test")
    sync(config)
    shop_books = books(admin)["Shop"]  # it left the view: kept, no longer updated
    assert shop_books["website"] == ""


def test_custom_fields_sync_both_ways(admin, credentials, tmp_path):
    """A CRM custom field and a Books custom field mapped together carry values both ways."""
    region = "Region" + tmp_path.name[-6:].replace("-", "_")
    crm_field = admin.add_crm_field("Accounts", region)
    books_field = admin.add_books_field("contacts", region)
    config = write_config(
        tmp_path,
        credentials,
        {
            "customers": {
                "fields": {
                    "region": {"crm": crm_field["api_name"], "books": books_field["api_name"]}
                }
            }
        },
    )
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme", crm_field["api_name"]: "North"})
    sync(config)
    acme_books = books(admin)["Acme"]
    values = {f["api_name"]: f["value"] for f in acme_books["custom_fields"]}
    assert values[books_field["api_name"]] == "North"
    admin.books_update(
        "contacts",
        acme_books["contact_id"],
        {"custom_fields": [{"api_name": books_field["api_name"], "value": "South"}]},
    )
    sync(config)
    assert admin.crm_record("Accounts", acme)[crm_field["api_name"]] == "South"


def test_a_value_that_does_not_convert_is_journaled_and_the_rest_syncs(
    admin, credentials, tmp_path
):
    """A value the map cannot convert is an error entry naming record, field and value;
    the record's other fields and other records still sync."""
    terms = admin.add_crm_field("Accounts", "Terms" + tmp_path.name[-6:].replace("-", "_"))
    config = write_config(
        tmp_path,
        credentials,
        {"customers": {"payment_terms": terms["api_name"], "sync": "from_crm"}},
    )
    admin.crm_create(
        "Accounts",
        {"Account_Name": "Bad Terms", "Phone": "222", terms["api_name"]: "thirty days"},
        {"Account_Name": "Good Terms", terms["api_name"]: "30"},
    )
    sync(config)
    synced = books(admin)
    assert synced["Bad Terms"]["phone"] == "222"
    assert synced["Good Terms"]["payment_terms"] == 30
    errors = journal_errors(config)
    assert len(errors) == 1
    meta = errors[0].meta
    assert meta["field"] == "payment_terms" and meta["value"] == "thirty days"
    assert "integer" in meta["reason"]
    history = CliRunner().invoke(main, ["--config", str(config), "history", "--json"])
    assert history.exit_code == 0, history.output
    shown = json.dumps(json.loads(history.stdout))
    assert "thirty days" in shown and "payment_terms" in shown and "integer" in shown
    status = CliRunner().invoke(main, ["--config", str(config), "status", "--json"])
    assert status.exit_code == 0, status.output
    assert "thirty days" in status.stdout


def test_a_second_books_org_gets_crm_records_one_way(admin, credentials, tmp_path):
    """A second Books org receives CRM records; its own records and edits stay in it,
    while the first org syncs both ways."""
    org = admin.add_organization("Second Org " + tmp_path.name)["organization_id"]
    for resource in ("contacts", "items"):
        admin.call(
            "POST",
            "/books/customfields",
            {"resource": resource, "data_type": "text", "organization_id": org, **BOOKS_KEY},
        )
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme", "Website": "a.test"})
    admin.books_create("contacts", {"contact_name": "First Org Only"})
    admin.books_create("contacts", {"contact_name": "Second Org Only"}, organization_id=org)
    config = write_config(
        tmp_path,
        credentials,
        {"customers": {}},
        books=("books", "books_eu"),
        orgs={"books_eu": org},
    )
    sync(config)
    accounts = names(admin, "Accounts", "Account_Name")
    assert "First Org Only" in accounts and "Second Org Only" not in accounts
    second = books(admin, org)
    assert {"Acme", "First Org Only", "Second Org Only"} <= set(second)
    admin.books_update(
        "contacts", second["Acme"]["contact_id"], {"website": "eu.test"}, organization_id=org
    )
    sync(config)
    assert admin.crm_record("Accounts", acme)["Website"] == "a.test"


def test_the_record_owner_syncs_as_a_user_by_email(admin, credentials, tmp_path):
    """A CRM owner (a user lookup) maps by email to a Books custom field and back; an
    email no CRM user has is an error naming the field, and the rest of the record syncs."""
    owner = admin.add_books_field("contacts", "Owner" + tmp_path.name[-6:].replace("-", "_"))
    config = write_config(
        tmp_path,
        credentials,
        {"customers": {"fields": {"owner": {"crm": "Owner.email", "books": owner["api_name"]}}}},
    )
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme"})  # made by Sam Seller
    sync(config)

    def owner_of(name: str) -> str:
        row = books(admin)[name]
        return {f["api_name"]: f["value"] for f in row["custom_fields"]}[owner["api_name"]]

    assert owner_of("Acme") == "sam.seller@sandbox.example"
    contact = books(admin)["Acme"]["contact_id"]
    admin.books_update(
        "contacts",
        contact,
        {"custom_fields": [{"api_name": owner["api_name"], "value": "admin@sandbox.example"}]},
    )
    sync(config)
    assert admin.crm_record("Accounts", acme)["Owner"]["email"] == "admin@sandbox.example"
    admin.books_update(
        "contacts",
        contact,
        {
            "website": "w.test",
            "custom_fields": [{"api_name": owner["api_name"], "value": "nobody@x.test"}],
        },
    )
    sync(config)
    [error] = [e for e in journal_errors(config) if "nobody@x.test" in e.meta["reason"]]
    assert "Owner.email" in error.meta["reason"]


def test_accounts_and_their_contacts_with_orphans_both_ways(admin, credentials, tmp_path):
    """accounts_and_contacts: an account's contacts become its Books customer's contact
    persons and back; contacts of no account become individual customers and back."""
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme"})
    [jane] = admin.crm_create(
        "Contacts",
        {
            "First_Name": "Jane",
            "Last_Name": "Doe",
            "Email": "jane@acme.test",
            "Account_Name": {"id": acme},
        },
    )
    admin.crm_create("Contacts", {"First_Name": "Han", "Last_Name": "Solo", "Email": "h@s.test"})
    admin.books_create(
        "contacts",
        {
            "contact_name": "Beta",
            "contact_persons": [
                {
                    "first_name": "Bob",
                    "last_name": "Stone",
                    "email": "bob@beta.test",
                    "is_primary_contact": True,
                }
            ],
        },
    )
    admin.books_create(
        "contacts",
        {
            "contact_name": "Ivy Green",
            "customer_sub_type": "individual",
            "contact_persons": [
                {"first_name": "Ivy", "last_name": "Green", "is_primary_contact": True}
            ],
        },
    )
    config = write_config(
        tmp_path,
        credentials,
        {"customers": {"crm_module": "accounts_and_contacts", "orphan_contacts": True}},
    )
    report = sync(config)
    assert set(report["modules"]) == {"customers", "contact_persons", "individual_customers"}
    synced = books(admin)
    persons = {p["email"]: p for p in synced["Acme"]["contact_persons"]}
    assert persons["jane@acme.test"]["first_name"] == "Jane"
    assert synced["Han Solo"]["customer_sub_type"] == "individual"
    accounts = {r["Account_Name"]: r["id"] for r in admin.crm_records("Accounts")}
    contacts = {r["Last_Name"]: r for r in admin.crm_records("Contacts")}
    assert contacts["Stone"]["Account_Name"]["id"] == accounts["Beta"]
    assert contacts["Green"].get("Account_Name") is None
    assert "Ivy Green" not in accounts and "Han Solo" not in accounts
    admin.crm_update("Contacts", jane, Email="jane.doe@acme.test")
    sync(config)
    persons = {p["first_name"]: p for p in books(admin)["Acme"]["contact_persons"]}
    assert persons["Jane"]["email"] == "jane.doe@acme.test"
    assert [e.meta for e in journal_errors(config) if not e.meta.get("retry")] == []


def test_accounts_and_contacts_keep_the_account_phone_apart_from_its_persons(
    admin, credentials, tmp_path
):
    """accounts_and_contacts: the account's phone (a default field) reaches the Books
    customer as its billing address phone and back, while each contact's own phone stays
    its person's; a re-sync changes nothing."""
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme", "Phone": "555-0100"})
    admin.crm_create(
        "Contacts",
        {
            "First_Name": "Jane",
            "Last_Name": "Doe",
            "Email": "jane@acme.test",
            "Phone": "555-0199",
            "Account_Name": {"id": acme},
        },
    )
    admin.books_create(
        "contacts", {"contact_name": "Beta", "billing_address": {"phone": "555-0200"}}
    )
    config = write_config(
        tmp_path, credentials, {"customers": {"crm_module": "accounts_and_contacts"}}
    )
    sync(config)
    synced = books(admin)
    assert synced["Acme"]["billing_address"]["phone"] == "555-0100"
    (jane,) = synced["Acme"]["contact_persons"]
    assert jane["phone"] == "555-0199"
    accounts = {r["Account_Name"]: r for r in admin.crm_records("Accounts")}
    assert accounts["Beta"]["Phone"] == "555-0200"
    assert accounts["Acme"]["Phone"] == "555-0100"
    again = sync(config)
    kinds = {e.kind for e in journal_entries(config, since=again["entries"]["before"])}
    assert kinds <= {Kind.CURSOR, Kind.CONFIG}
    assert journal_errors(config) == []


def test_fetch_customer_re_syncs_one_record_from_crm(admin, credentials, tmp_path):
    """`replicator fetch customer ID` brings one CRM account's change to Books now."""
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme", "Website": "a.test"})
    config = write_config(tmp_path, credentials, {"customers": {}})
    sync(config)
    admin.crm_update("Accounts", acme, Website="fetched.test")
    result = CliRunner().invoke(
        main, ["--config", str(config), "fetch", "customer", acme, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["module"] == "customers"
    assert books(admin)["Acme"]["website"] == "fetched.test"


def test_a_predefined_view_by_name(admin, credentials, tmp_path):
    """A predefined CRM view named in the config ("My Accounts": the API user's) limits
    what syncs, like a view a user made."""
    me = "4876876000000225013"  # the sandbox's API user (Sandbox Admin)
    admin.crm_create("Accounts", {"Account_Name": "Mine", "Owner": {"id": me}})
    admin.crm_create("Accounts", {"Account_Name": "Sam's"})  # owned by Sam Seller
    config = write_config(
        tmp_path, credentials, {"customers": {"view": "My Accounts", "sync": "from_crm"}}
    )
    sync(config)
    assert set(books(admin)) == {"Mine"}


DEALS = """
[modules.deals]
sync = "one_way"
source = "crm"
lookup_missing = "fetch"
crm = { table = "Deals", modified = "Modified_Time" }
books = { table = "salesorders", modified = "last_modified_time" }
lookups = { customer = "customers" }

[modules.deals.fields]
name = { crm = "Deal_Name", books = "zcrm_potential_name" }
customer = { crm = "Account_Name", books = "customer_id" }
"""


def test_a_deal_of_a_customer_not_synced_yet_fetches_the_customer_on_demand(
    admin, credentials, tmp_path
):
    """Beyond the original: a transaction naming a customer not synced yet fetches that
    customer on the spot instead of failing until the next master cycle."""
    config = write_config(tmp_path, credentials, {"customers": {}})
    config.write_text(config.read_text() + DEALS)
    sync(config)
    [fresh] = admin.crm_create("Accounts", {"Account_Name": "Fresh Co"})
    admin.crm_create(
        "Deals",
        {"Deal_Name": "Fresh deal", "Account_Name": {"id": fresh}, "Stage": "Qualification"},
    )
    report = sync(config, "--module", "deals")  # the customers module does not run
    assert report["modules"]["customers"]["crm"]["fetched"] == 1
    customer = books(admin)["Fresh Co"]
    [order] = [
        o for o in admin.books_records("salesorders") if o["zcrm_potential_name"] == "Fresh deal"
    ]
    assert order["customer_id"] == customer["contact_id"]
    assert journal_errors(config) == []


def test_connecting_another_books_org_needs_the_old_links_dropped(admin, credentials, tmp_path):
    """Pointing the Books side at another organisation is refused while the journal links
    records to the first (the original loses links on reconnect; writing to the wrong
    ids would be worse); disable, delete, enable, and the new org gets the records."""
    org = admin.add_organization("Other Org " + tmp_path.name)["organization_id"]
    admin.call(
        "POST",
        "/books/customfields",
        {"resource": "contacts", "data_type": "text", "organization_id": org, **BOOKS_KEY},
    )
    admin.crm_create("Accounts", {"Account_Name": "Acme"})
    config = write_config(tmp_path, credentials, {"customers": {}})
    sync(config)
    write_config(tmp_path, credentials, {"customers": {}}, orgs={"books": org})
    refused = CliRunner().invoke(main, ["--config", str(config), "sync"])
    assert refused.exit_code == 1
    assert f"Zoho Books organisation {org}" in refused.output
    assert "replicator delete" in refused.output
    assert books(admin, org) == {}
    for command in (["disable"], ["delete", "--yes"], ["enable"]):
        result = CliRunner().invoke(main, ["--config", str(config), *command])
        assert result.exit_code == 0, result.output
    sync(config)
    assert set(books(admin, org)) == {"Acme"}


def test_addresses_sync_both_ways_part_by_part(admin, credentials, tmp_path):
    """addresses = true: an account's billing and shipping address reach the Books
    customer, and a city changed in Books reaches CRM, leaving the other parts alone; a
    vendor's one address is the Books vendor's billing address."""
    config = write_config(
        tmp_path, credentials, {"customers": {"addresses": True}, "vendors": {"addresses": True}}
    )
    [acme] = admin.crm_create(
        "Accounts",
        {
            "Account_Name": "Acme",
            "Billing_Street": "1 Main St",
            "Billing_City": "Springfield",
            "Billing_Code": "12345",
            "Billing_Country": "USA",
            "Shipping_City": "Shelbyville",
        },
    )
    admin.crm_create("Vendors", {"Vendor_Name": "Parts Co", "City": "Ogdenville"})
    sync(config)
    customer = books(admin)["Acme"]
    billing = customer["billing_address"]
    assert (billing["address"], billing["city"], billing["zip"], billing["country"]) == (
        "1 Main St",
        "Springfield",
        "12345",
        "USA",
    )
    assert customer["shipping_address"]["city"] == "Shelbyville"
    vendor = books(admin, contact_type="vendor")["Parts Co"]
    assert vendor["billing_address"]["city"] == "Ogdenville"
    admin.books_update(
        "contacts", customer["contact_id"], {"billing_address": {"city": "Capital City"}}
    )
    sync(config)
    account = admin.crm_record("Accounts", acme)
    assert account["Billing_City"] == "Capital City"
    assert account["Billing_Street"] == "1 Main St" and account["Shipping_City"] == "Shelbyville"
