from pathlib import Path

import pytest

from conflicts import RecordReducer
from journal import Journal
from replicator.config.load import parse_config
from replicator.connectors.base import SideModule
from replicator.connectors.memory import MemoryConnector
from replicator.errors import EngineError, SetupError
from replicator.sync.checks import check_currency, check_fields
from replicator.sync.engine import Engine

ACCOUNT_FIELDS = {
    "name": {"crm": "Account_Name", "books": "contact_name"},
    "region": {"crm": "Region", "books": "cf_region"},
    "kind": {
        "crm": "Kind",
        "books": "cf_kind",
        "type": "picklist",
        "values": {"crm": {"Goods": "goods", "Services": "service"}},
    },
}
ITEM_FIELDS = {"name": {"crm": "Product_Name", "books": "name"}}


def module_spec(table: tuple[str, str] = ("Accounts", "customers"), **options):
    crm_table, books_table = table
    spec = {
        "crm": {"table": crm_table},
        "books": {"table": books_table},
        "fields": ACCOUNT_FIELDS if crm_table == "Accounts" else ITEM_FIELDS,
    }
    return {**spec, **options}


def make_config(tmp_path: Path, *, kinds=("zoho_crm", "zoho_books"), **modules):
    data = {
        "journal": {"path": "journal.db"},
        "sides": {"crm": {"connector": kinds[0]}, "books": {"connector": kinds[1]}},
        "modules": modules or {"customers": module_spec()},
    }
    return parse_config(data, tmp_path / "replicator.toml")


class Side(MemoryConnector):
    """A memory side whose tables have exactly the given columns, and a base currency."""

    def __init__(self, side, tables, currency=None):
        super().__init__(side)
        self.tables = tables
        self.currency = currency
        self.asked = 0

    def schema(self, module: SideModule) -> dict[str, str]:
        return dict.fromkeys(self.tables.get(module.table, ()), "text")

    def base_currency(self) -> str:
        self.asked += 1
        return self.currency


def sides(crm_currency="USD", books_currency="USD", *, crm=None, books=None):
    return {
        "crm": Side(
            "crm",
            crm if crm is not None else {"Accounts": ["id", "Account_Name", "Region", "Kind"]},
            crm_currency,
        ),
        "books": Side(
            "books",
            books if books is not None else {"customers": ["contact_name", "cf_region", "cf_kind"]},
            books_currency,
        ),
    }


def problems(call) -> tuple[str, ...]:
    with pytest.raises(SetupError) as info:
        call()
    return info.value.problems


# -- fields --------------------------------------------------------------------------------


def test_every_missing_field_is_reported_at_once_with_what_to_create(tmp_path):
    """Two fields missing on both Zoho sides: four problems, each naming field, side and fix."""
    config = make_config(tmp_path)
    connectors = sides(crm={"Accounts": ["Account_Name"]}, books={"customers": ["contact_name"]})
    found = problems(lambda: check_fields(config, connectors))
    assert len(found) == 4
    books_region = next(p for p in found if "'cf_region'" in p)
    assert books_region == (
        "module customers: field 'region' maps to column 'cf_region' on side books (Zoho Books "
        "contacts), which does not exist: create a custom field with API name 'cf_region' of "
        "type Text Box (Single Line) in Books (Settings > Preferences > Customers and Vendors "
        "> Field Customization), or remove it from [modules.customers.fields]"
    )
    crm_region = next(p for p in found if "column 'Region'" in p)
    assert "on side crm (Zoho CRM Accounts), which does not exist" in crm_region
    assert (
        "create a custom field 'Region' of type Single Line in CRM module Accounts "
        "(Setup > Customization > Modules and Fields)"
    ) in crm_region
    crm_kind = next(p for p in found if "column 'Kind'" in p)
    assert "'Kind' of type Pick List with values Goods, Services in CRM" in crm_kind
    books_kind = next(p for p in found if "'cf_kind'" in p)  # Books writes canonical values
    assert "'cf_kind' of type Dropdown with values goods, service in Books" in books_kind


def test_the_error_message_lists_every_problem(tmp_path):
    """The SetupError text (what the CLI prints) is the one problem, or a list of them all."""
    config = make_config(tmp_path)
    with pytest.raises(SetupError) as one:
        check_fields(config, sides(crm={"Accounts": ["Account_Name", "Kind"]}))
    assert isinstance(one.value, EngineError)
    assert str(one.value) == one.value.problems[0]
    with pytest.raises(SetupError) as two:
        check_fields(config, sides(crm={"Accounts": ["Account_Name"]}))
    lines = str(two.value).splitlines()
    assert lines[0] == "2 problems with the sides' setup:"
    assert lines[1:] == [f"- {p}" for p in two.value.problems]


def test_a_generic_side_is_told_to_add_the_column(tmp_path):
    """A memory or SQLite side without a mapped column is told to add it to its table."""
    config = make_config(tmp_path, kinds=("memory", "memory"))
    connectors = sides(books={"customers": ["contact_name", "cf_kind"]})
    (problem,) = problems(lambda: check_fields(config, connectors))
    assert problem == (
        "module customers: field 'region' maps to column 'cf_region' on side books (table "
        "'customers'), which does not exist: add column 'cf_region' to 'customers' on side "
        "books, or remove it from [modules.customers.fields]"
    )


def test_a_missing_table_and_a_missing_criteria_column_are_reported(tmp_path):
    """A side with no table, and a `where` column the other side lacks, are both problems."""
    spec = module_spec(crm={"table": "Accounts", "where": {"Account_Type": "Customer"}})
    config = make_config(tmp_path, customers=spec)
    found = problems(lambda: check_fields(config, sides(books={})))
    assert len(found) == 2
    assert "side books has no table 'customers' (Zoho Books contacts)" in found[1]
    assert "where names column 'Account_Type'" in found[0]


def test_a_books_standard_field_that_does_not_exist_asks_for_a_cf_name(tmp_path):
    """A non-cf_ Books column that is missing points at custom fields, which start with cf_."""
    fields = {"name": {"crm": "Product_Name", "books": "title"}}
    spec = module_spec(("Products", "items"), fields=fields)
    config = make_config(tmp_path, items=spec)
    connectors = sides(crm={"Products": ["Product_Name"]}, books={"items": ["name"]})
    (problem,) = problems(lambda: check_fields(config, connectors))
    assert "Books items have no field 'title'" in problem
    assert "Settings > Preferences > Items > Field Customization" in problem


def test_sides_that_have_every_column_pass(tmp_path):
    """Nothing is raised when both sides have every mapped column."""
    check_fields(make_config(tmp_path), sides())


def test_a_missing_field_stops_the_cycle_before_anything_is_journaled(tmp_path):
    """The engine checks the sides first: a SetupError, and the journal stays empty."""
    config = make_config(tmp_path)
    journal = Journal(tmp_path / "journal.db", RecordReducer())
    engine = Engine(config, journal, sides(crm={"Accounts": ["Account_Name", "Kind"]}))
    with pytest.raises(SetupError, match="'Region'"):
        engine.run()
    assert journal.count() == 0


# -- currencies ----------------------------------------------------------------------------


def test_two_way_sync_is_refused_when_the_base_currencies_differ(tmp_path):
    """CRM EUR and Books USD: a both-ways module cannot sync, and the message says the fix."""
    connectors = sides("EUR", "USD")
    connectors["books"].identity = "123"
    (problem,) = problems(lambda: check_currency(make_config(tmp_path), connectors))
    assert problem == (
        "module customers: two-way sync needs one base currency: CRM org is EUR, Books org 123 "
        "(side books) is USD; make them equal in CRM Setup > Company Details > Currencies, or "
        "sync one way"
    )


def test_one_way_customers_sync_with_different_currencies(tmp_path):
    """A one-way customers module is allowed whatever the currencies."""
    config = make_config(tmp_path, customers=module_spec(sync="one_way", source="crm"))
    check_currency(config, sides("EUR", "USD"))


def test_items_cannot_sync_with_different_currencies_even_one_way(tmp_path):
    """Products <-> items is refused one way too; every refused module is listed."""
    config = make_config(
        tmp_path,
        customers=module_spec(),
        items=module_spec(("Products", "items"), sync="one_way", source="crm"),
    )
    connectors = sides("EUR", "USD")
    found = problems(lambda: check_currency(config, connectors))
    assert [p.split(":")[0] for p in found] == ["module customers", "module items"]
    assert "items cannot sync when the base currencies differ, even one way" in found[1]
    assert "CRM org is EUR, Books org (side books) is USD" in found[1]


def test_equal_currencies_pass_and_only_named_modules_are_checked(tmp_path):
    """Same code (any case) passes; a module not being synced is not checked."""
    config = make_config(
        tmp_path, customers=module_spec(), items=module_spec(("Products", "items"))
    )
    check_currency(config, sides("usd", "USD"))
    connectors = sides("EUR", "USD")
    check_currency(config, connectors, modules=[])
    assert connectors["crm"].asked == 0


def test_sides_that_are_not_crm_and_books_or_cannot_say_are_not_checked(tmp_path):
    """Memory sides in the config, or connectors without base_currency, skip the check."""
    check_currency(make_config(tmp_path, kinds=("memory", "memory")), sides("EUR", "USD"))
    plain = {"crm": MemoryConnector("crm"), "books": MemoryConnector("books")}
    check_currency(make_config(tmp_path), plain)


def test_a_currency_mismatch_stops_the_cycle_before_anything_is_journaled(tmp_path):
    """`Engine.run` refuses the module with the currency message and journals nothing."""
    journal = Journal(tmp_path / "journal.db", RecordReducer())
    engine = Engine(make_config(tmp_path), journal, sides("EUR", "USD"))
    with pytest.raises(SetupError, match="two-way sync needs one base currency"):
        engine.run()
    assert journal.count() == 0


def test_a_crm_field_to_create_is_named_by_its_label(tmp_path):
    """CRM makes Product_Type from the label "Product Type": the message gives both."""
    fields = {
        "name": {"crm": "Product_Name", "books": "name"},
        "product_type": {
            "crm": "Product_Type",
            "books": "product_type",
            "type": "picklist",
            "values": {"crm": {"Goods": "goods", "Services": "service"}},
        },
    }
    config = make_config(tmp_path, items=module_spec(("Products", "items"), fields=fields))
    connectors = sides(
        crm={"Products": ["Product_Name"]}, books={"items": ["name", "product_type"]}
    )
    (problem,) = problems(lambda: check_fields(config, connectors))
    assert (
        "create a custom field 'Product Type' (API name 'Product_Type') of type Pick List with "
        "values Goods, Services in CRM module Products"
    ) in problem


def test_currencies_are_asked_again_only_for_modules_new_to_the_settings(tmp_path):
    """After a cycle under these settings the engine does not ask again; new settings do."""
    journal = Journal(tmp_path / "journal.db", RecordReducer())
    config = make_config(tmp_path)
    Engine(config, journal, sides()).run()
    later = sides("EUR", "USD")  # Zoho allows no such change once an org has records
    Engine(config, journal, later).run()
    assert later["crm"].asked == 0
    changed = make_config(tmp_path, customers=module_spec(conflicts="manual"))
    with pytest.raises(SetupError, match="two-way sync needs one base currency"):
        Engine(changed, journal, later).run()


def test_a_module_made_by_the_integration_table_points_there(tmp_path):
    """A field of an [integration] module is to be left out of [integration.<module>]."""
    data = {
        "sides": {
            "crm": {"connector": "zoho_crm"},
            "books": {"connector": "zoho_books", "organization_id": "1"},
        },
        "integration": {"items": {"product_type": "Product_Type"}},
    }
    config = parse_config(data, tmp_path / "replicator.toml")
    items = config.modules["items"]
    connectors = sides(
        crm={"Products": [c for c in items.side_module("crm").columns if c != "Product_Type"]},
        books={"items": list(items.side_module("books").columns)},
    )
    (problem,) = problems(lambda: check_fields(config, connectors))
    assert "'Product Type' (API name 'Product_Type') of type Pick List" in problem
    assert problem.endswith("or leave it out of [integration.items]")
