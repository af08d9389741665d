"""``[integration.deals]``: deal triggers expanded into the watch module ``deals``.

Most tests read :func:`replicator.config.integration.expand`'s output (the generic
``[modules.*]`` tables); the last ones load the whole config into the engine's
:class:`~replicator.config.load.Config`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from replicator.config.integration import expand
from replicator.config.load import Config, parse_config
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
books = ["ledger", "books_eu"]
"""
MASTERS = "[integration.customers]\n[integration.items]\n[integration.vendors]\n"
BOTH = '[integration.transactions]\n[integration.deals]\nquote = "created"\ninvoice = true\n'


def expanded(text: str, masters: str = MASTERS) -> dict[str, Any]:
    """The ``[modules.*]`` tables the config's ``[integration]`` makes."""
    out, _ = expand(tomllib.loads(SIDES + masters + text), PATH)
    modules: dict[str, Any] = out["modules"]
    return modules


def refused(text: str, masters: str = MASTERS) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        expand(tomllib.loads(SIDES + masters + text), PATH)
    return caught.value


def test_the_deals_module_comes_after_every_other_module_user_modules_included():
    """deals is last, after the documents and customers it names and after a module of
    the user's own."""
    extra = '[modules.notes]\ncrm = { table = "Notes" }\nledger = { table = "x" }\n'
    names = list(expanded(BOTH + extra))
    assert names[-2:] == ["notes", "deals"]
    assert names.index("customers") < names.index("estimates") < names.index("deals")
    assert "deals@books_eu" not in names  # a second Books org gets no deals


def test_the_deals_module_watches_crm_deals_with_the_contract_fields_and_triggers():
    """sync = watch on CRM Deals only, customer a lookup fetched on the spot, the six
    fields of the contract, and both triggers."""
    deals = expanded(BOTH)["deals"]
    assert deals == {
        "sync": "watch",
        "crm": {"table": "Deals", "modified": "Modified_Time"},
        "lookups": {"customer": "customers"},
        "lookup_missing": "fetch",
        "fields": {
            "name": {"crm": "Deal_Name"},
            "stage": {"crm": "Stage"},
            "customer": {"crm": "Account_Name"},
            "amount": {"crm": "Amount", "type": "decimal"},
            "description": {"crm": "Description"},
            "owner": {"crm": "Owner"},
        },
        "triggers": {
            "quote": {"module": "estimates", "on": "created"},
            "invoice": {"module": "invoices"},
        },
    }
    assert "ledger" not in deals and "books_eu" not in deals


def test_a_deal_names_its_contact_when_customers_sync_crm_contacts():
    """crm_module = contacts: the deal's customer is Contact_Name, as the documents'."""
    masters = '[integration.customers]\ncrm_module = "contacts"\n[integration.items]\n'
    modules = expanded(
        "[integration.transactions.invoices]\n[integration.deals]\ninvoice = true\n", masters
    )
    assert modules["deals"]["fields"]["customer"] == {"crm": "Contact_Name"}
    assert modules["invoices"]["fields"]["customer"]["crm"] == "Contact_Name"


def test_accounts_and_contacts_customers_make_deals_name_their_account():
    """crm_module = accounts_and_contacts: customers are Accounts, so is a deal's customer."""
    masters = '[integration.customers]\ncrm_module = "accounts_and_contacts"\n[integration.items]\n'
    modules = expanded(
        '[integration.transactions.estimates]\n[integration.deals]\nquote = "created"\n', masters
    )
    assert modules["deals"]["fields"]["customer"] == {"crm": "Account_Name"}


def test_only_the_trigger_document_modules_get_the_books_only_deal_fields():
    """invoice = true alone: invoices get deal, deal_name and salesperson on Books only;
    estimates and the other documents do not."""
    modules = expanded("[integration.transactions]\n[integration.deals]\ninvoice = true\n")
    fields = modules["invoices"]["fields"]
    assert fields["deal"] == {"ledger": "zcrm_potential_id", "type": "text"}
    assert fields["deal_name"] == {"ledger": "zcrm_potential_name", "type": "text"}
    assert fields["salesperson"] == {"ledger": "salesperson", "type": "text"}
    for other in ("estimates", "salesorders", "purchaseorders"):
        assert not {"deal", "deal_name", "salesperson"} & set(modules[other]["fields"])
    assert modules["deals"]["triggers"] == {"invoice": {"module": "invoices"}}


def test_a_quote_on_a_stage_keeps_the_stage_value_as_written():
    """quote = a CRM stage value: the trigger's `on` is that value, untouched."""
    modules = expanded(
        '[integration.transactions]\n[integration.deals]\nquote = "Proposal/Price Quote"\n'
    )
    assert modules["deals"]["triggers"] == {
        "quote": {"module": "estimates", "on": "Proposal/Price Quote"}
    }
    assert "deal" in modules["estimates"]["fields"]
    assert "deal" not in modules["invoices"]["fields"]


def test_integration_records_the_deals_module_as_made():
    """The Integration value lists deals with the Books side it serves."""
    _, integration = expand(tomllib.loads(SIDES + MASTERS + BOTH), PATH)
    assert integration.modules["deals"] == ("deals", "ledger", "accounts")


@pytest.mark.parametrize(
    ("text", "masters", "key", "words"),
    [
        ("", "deals = 1\n" + MASTERS, "integration.deals", "must be a table"),
        (
            '[integration.transactions]\n[integration.deals]\nquote = "created"\n'
            "salesorder = true\n",
            MASTERS,
            "integration.deals.salesorder",
            "unknown key 'salesorder'",
        ),
        (
            "[integration.transactions]\n[integration.deals]\nquote = true\n",
            MASTERS,
            "integration.deals.quote",
            'must be "created" or a CRM deal stage',
        ),
        (
            '[integration.transactions]\n[integration.deals]\nquote = " "\n',
            MASTERS,
            "integration.deals.quote",
            'must be "created" or a CRM deal stage',
        ),
        (
            '[integration.transactions]\n[integration.deals]\ninvoice = "yes"\n',
            MASTERS,
            "integration.deals.invoice",
            "must be true or false",
        ),
        (
            "[integration.transactions]\n[integration.deals]\n",
            MASTERS,
            "integration.deals",
            "turns on no trigger",
        ),
        (
            "[integration.transactions]\n[integration.deals]\ninvoice = false\n",
            MASTERS,
            "integration.deals",
            "turns on no trigger",
        ),
        (
            '[integration.deals]\nquote = "created"\n',
            MASTERS,
            "integration.deals.quote",
            "the quote trigger makes Books estimates: sync them under [integration.transactions]",
        ),
        (
            '[integration.transactions.invoices]\n[integration.deals]\nquote = "created"\n',
            MASTERS,
            "integration.deals.quote",
            "[integration.transactions.estimates]",
        ),
        (
            "[integration.transactions.estimates]\n[integration.deals]\ninvoice = true\n",
            MASTERS,
            "integration.deals.invoice",
            "the invoice trigger makes Books invoices",
        ),
        (
            '[integration.transactions.invoices]\nsync = "to_crm"\n'
            "[integration.deals]\ninvoice = true\n",
            MASTERS,
            "integration.deals.invoice",
            "sync to_crm only",
        ),
        (
            '[integration.transactions]\nsync = "to_crm"\n[integration.deals]\nquote = "created"\n',
            MASTERS,
            "integration.deals.quote",
            "sync to_crm only",
        ),
        (
            "[integration.transactions.invoices]\n"
            "[integration.transactions.invoices.fields]\n"
            'deal = { crm = "Deal", books = "cf_deal" }\n'
            "[integration.deals]\ninvoice = true\n",
            MASTERS,
            "integration.transactions.invoices.fields.deal",
            "is a field [integration.deals] sets on invoices",
        ),
        (
            BOTH + '[modules.deals]\ncrm = { table = "Deals" }\nledger = { table = "x" }\n',
            MASTERS,
            "modules.deals",
            "is made by [integration]",
        ),
        (
            "[integration.transactions.deals]\n",
            MASTERS,
            "integration.transactions.deals",
            "[integration.deals]",
        ),
        (
            "[integration.orgs.books_eu.deals]\n",
            MASTERS,
            "integration.orgs.books_eu.deals",
            "gets no transaction modules",
        ),
    ],
)
def test_each_wrong_deals_table_is_refused_with_one_line(text, masters, key, words):
    """Every refusal names the key, says why in one line, and nothing else."""
    error = refused(text, masters)
    assert error.key == key
    assert words in error.reason
    assert "\n" not in str(error)


def test_a_deals_field_the_user_adds_to_another_document_is_theirs():
    """A user field named deal on a document no trigger makes is left as the user's."""
    modules = expanded(
        "[integration.transactions.salesorders]\n"
        '[integration.transactions.salesorders.fields]\ndeal = { crm = "Deal_Name" }\n'
        "[integration.transactions.invoices]\n"
        "[integration.deals]\ninvoice = true\n"
    )
    assert modules["salesorders"]["fields"]["deal"] == {"crm": "Deal_Name"}


# -- the loaded config --------------------------------------------------------------------------


def loaded(text: str, masters: str = MASTERS) -> Config:
    return parse_config(tomllib.loads(SIDES + masters + text), PATH)


def test_the_loaded_deals_module_is_a_watch_module_of_crm_with_both_triggers():
    """The engine reads the preset: one side (CRM Deals), one way from it to none, the
    customer lookup fetched on the spot, the triggers on estimates and invoices."""
    config = loaded(BOTH)
    deals = config.modules["deals"]
    assert deals.watch
    assert list(deals.sides) == ["crm"]
    assert deals.policy.direction.targets(deals.order) == ()
    assert deals.side_module("crm").table == "Deals"
    assert set(deals.side_module("crm").columns) == {
        "Deal_Name",
        "Stage",
        "Account_Name",
        "Amount",
        "Description",
        "Owner",
    }
    assert deals.lookups == {"customer": "customers"} and deals.lookup_missing == "fetch"
    assert {n: (t.module, t.on) for n, t in deals.triggers.items()} == {
        "quote": ("estimates", "created"),
        "invoice": ("invoices", "won"),
    }
    assert list(config.modules)[-1] == "deals"


def test_the_loaded_documents_map_the_deal_fields_on_books_only():
    """deal, deal_name and salesperson are Books columns of the trigger's documents."""
    config = loaded('[integration.transactions]\n[integration.deals]\nquote = "Negotiation"\n')
    fields = config.modules["estimates"].fields
    assert fields.fields["deal"] == ("text", {"ledger": "zcrm_potential_id"})
    assert fields.fields["deal_name"] == ("text", {"ledger": "zcrm_potential_name"})
    assert fields.fields["salesperson"] == ("text", {"ledger": "salesperson"})
    assert "salesperson" in config.modules["estimates"].side_module("ledger").columns
    assert "deal" not in config.modules["invoices"].fields.fields
    assert config.modules["deals"].triggers["quote"].on == "Negotiation"


def test_a_contacts_integration_loads_with_deals_naming_contacts():
    """Customers from CRM Contacts: the deal's Contact_Name is read, and the lookup holds."""
    masters = '[integration.customers]\ncrm_module = "contacts"\n[integration.items]\n'
    config = loaded(
        "[integration.transactions.invoices]\n[integration.deals]\ninvoice = true\n", masters
    )
    assert "Contact_Name" in config.modules["deals"].side_module("crm").columns
    assert config.modules["customers"].side_module("crm").table == "Contacts"
