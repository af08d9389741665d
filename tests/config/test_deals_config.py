"""Watch modules and their triggers in the config: what loads, and every refusal in one
line naming the key (the deal automation's section 1)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from conflicts.policy import Sync
from replicator.config.load import Trigger, parse_config
from replicator.config.mapping import LINE_KEYS, FieldMap, to_canonical, to_side
from replicator.errors import ConfigError
from tests.sync.deals_world import deals_data


def _refused(tmp_path, change: Callable[[dict[str, Any]], None]) -> ConfigError:
    data = copy.deepcopy(deals_data(tmp_path))
    change(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, tmp_path / "replicator.toml")
    assert "\n" not in str(caught.value)
    return caught.value


def test_a_watch_module_reads_one_side_and_writes_none(tmp_path):
    """sync = "watch": one side, a policy one way from it with no target, no match, its
    triggers as Trigger values (the quote's ``on`` defaults to created)."""
    data = deals_data(tmp_path)
    del data["modules"]["deals"]["triggers"]["quote"]["on"]
    config = parse_config(data, tmp_path / "replicator.toml")
    deals = config.modules["deals"]
    assert deals.watch and list(deals.sides) == ["crm"] and deals.order == ("crm",)
    assert deals.policy.direction.sync is Sync.ONE_WAY
    assert deals.policy.targets == ()
    assert deals.match_fields == ()
    assert deals.triggers == {
        "quote": Trigger("quote", "estimates", "created"),
        "invoice": Trigger("invoice", "invoices", "won"),
    }
    assert not config.modules["invoices"].watch and config.modules["invoices"].triggers == {}


def test_a_watch_module_with_two_sides_is_refused(tmp_path):
    """A watch module names exactly one side."""

    def change(data):
        data["modules"]["deals"]["books"] = {"table": "deals"}

    error = _refused(tmp_path, change)
    assert error.key == "modules.deals.sync"
    assert "exactly one side" in str(error)


@pytest.mark.parametrize("key", ["lock", "totals", "duplicates", "first", "source"])
def test_a_watch_module_takes_nothing_that_writes_or_pairs(tmp_path, key):
    """lock, totals, duplicates, first and source mean nothing on a module never written."""
    values = {
        "lock": {"side": "crm", "field": "stage", "open": ["x"]},
        "totals": ["amount", "amount"],
        "duplicates": "skip",
        "first": "crm",
        "source": "crm",
    }

    def change(data):
        data["modules"]["deals"][key] = values[key]

    error = _refused(tmp_path, change)
    assert error.key == f"modules.deals.{key}"


def test_a_watch_module_with_a_match_is_refused(tmp_path):
    """A watch module pairs nothing, so it has no match key."""

    def change(data):
        data["modules"]["deals"]["crm"]["match"] = "deal_name"

    assert _refused(tmp_path, change).key == "modules.deals.crm.match"


def test_triggers_on_a_module_that_is_not_watched_are_refused(tmp_path):
    """Only a watch module has triggers."""

    def change(data):
        data["modules"]["invoices"]["triggers"] = {"invoice": {"module": "invoices"}}

    error = _refused(tmp_path, change)
    assert error.key == "modules.invoices.triggers"
    assert "watch" in str(error)


def test_an_unknown_trigger_name_is_refused(tmp_path):
    """Triggers are quote and invoice."""

    def change(data):
        data["modules"]["deals"]["triggers"]["order"] = {"module": "invoices"}

    error = _refused(tmp_path, change)
    assert error.key == "modules.deals.triggers.order"
    assert "quote, invoice" in str(error)


def test_an_invoice_trigger_takes_no_on(tmp_path):
    """An invoice is made when the deal is won: ``on`` is the quote's only."""

    def change(data):
        data["modules"]["deals"]["triggers"]["invoice"]["on"] = "created"

    assert _refused(tmp_path, change).key == "modules.deals.triggers.invoice.on"


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("orders", "no module 'orders'"),
        ("deals", "is a watch module"),
        ("customers", "maps no customer, lines, status"),
    ],
)
def test_a_trigger_module_missing_watched_or_lacking_fields_is_refused(tmp_path, target, says):
    """The trigger's module exists, is not a watch module, and maps customer, lines and
    status."""

    def change(data):
        data["modules"]["deals"]["triggers"]["invoice"]["module"] = target

    error = _refused(tmp_path, change)
    assert error.key == "modules.deals.triggers.invoice.module"
    assert says in str(error)


def test_two_triggers_on_one_document_module_are_refused(tmp_path):
    """A quote and an invoice in one module would be two documents of one record."""

    def change(data):
        data["modules"]["deals"]["triggers"]["quote"]["module"] = "invoices"

    error = _refused(tmp_path, change)
    assert error.key.startswith("modules.deals.triggers.")
    assert "one trigger per document module" in str(error)


@pytest.mark.parametrize("field", ["name", "stage", "customer"])
def test_a_deals_module_lacking_a_deal_field_is_refused(tmp_path, field):
    """A module with triggers maps the deal's name, stage and customer."""

    def change(data):
        del data["modules"]["deals"]["fields"][field]
        data["modules"]["deals"]["lookups"].pop(field, None)

    error = _refused(tmp_path, change)
    assert error.key == "modules.deals.fields"
    assert f"missing: {field}" in str(error)


def test_a_watch_modules_lookup_must_name_a_module_of_its_side(tmp_path):
    """A watch module's lookup target must hold its side."""

    def change(data):
        data["sides"]["erp"] = {"connector": "memory"}
        data["modules"]["deals"]["erp"] = data["modules"]["deals"].pop("crm")
        data["modules"]["deals"]["fields"] = {
            k: {"erp": v["crm"], **{x: y for x, y in v.items() if x != "crm"}}
            for k, v in data["modules"]["deals"]["fields"].items()
        }

    error = _refused(tmp_path, change)
    assert error.key == "modules.deals.lookups.customer"


def test_a_line_may_carry_a_name_kept_only_when_it_holds_text():
    """A line's ``name`` is read and written when set; a line without one has the keys it
    always had, on the side and in canonical form."""
    named, plain = to_canonical(
        "lines",
        '[{"name": "Big order", "quantity": "1", "rate": "10"}, {"quantity": 2, "rate": 5}]',
    )
    assert named["name"] == "Big order" and tuple(plain) == LINE_KEYS
    assert to_canonical("lines", [{"name": None, "quantity": 1, "rate": 1}])[0].keys() == set(
        LINE_KEYS
    )
    side_named, side_plain = to_side("lines", [named, plain])
    assert side_named["name"] == "Big order" and "name" not in side_plain
    assert side_named["rate"] == "10" and plain["rate"] == Decimal(5)


def test_a_lines_name_that_is_not_text_is_one_error_naming_the_line():
    """A bad name is refused like any bad line key."""
    fields = FieldMap({"lines": ("lines", {"books": "line_items"})})
    _, errors = fields.to_canonical(
        "books", {"line_items": [{"name": 5, "quantity": 1, "rate": 1}]}
    )
    (error,) = errors
    assert "line 1: name 5 is not text" in error.reason
