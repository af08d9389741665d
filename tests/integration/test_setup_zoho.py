"""``replicator setup [--check]`` against the Zoho sandbox: a CRM module without the key field
is refused by sync, reported by ``setup --check`` and made by ``setup``.

The test runs a sandbox of its own (its CRM fields are changed for good; the session's
sandbox keeps the fields other tests expect), without the ``keys`` seed, so CRM Quotes
start with no ``Replicator_Id``.  Creating fields (``POST /settings/fields``) is served by
the sandbox today; adding picklist values takes ``PATCH /settings/fields/{id}``, which the
sandbox may not serve yet: that part skips when the route answers 404 or 405.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from replicator.cli.main import main
from replicator.config import load, mapping
from replicator.sandbox import Sandbox
from replicator.sandbox.crm_describe import describe_field
from tests.integration.conftest import SESSION

SIDES = """\
[journal]
path = "journal.db"

[sides.crm]
connector = "zoho_crm"
credentials = {credentials}

[sides.books]
connector = "zoho_books"
credentials = {credentials}
requests_per_minute = 100000
"""
CONFIG = (
    SIDES
    + """
[modules.quotes]
crm = {{ table = "Quotes", modified = "Modified_Time" }}
books = {{ table = "estimates", modified = "last_modified_time" }}

[modules.quotes.fields]
subject = {{ crm = "Subject", books = "reference_number" }}
region = {{ crm = "Region", books = "cf_region" }}

[modules.quotes.fields.status]
crm = "Quote_Stage"
books = "status"
type = "picklist"
values.crm = {{ Draft = "draft", Sent = "sent", Accepted = "accepted" }}
"""
)
KEY_LINE = (
    "module quotes: side crm (Zoho CRM Quotes) has no key field 'Replicator_Id' (unique "
    "text, holds replicator's record ids): run `replicator setup` to create it"
)


@pytest.fixture
def own_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox for this test alone, with no key fields seeded."""
    with Sandbox(
        tmp_path_factory.mktemp("setup-sandbox"), host="127.0.0.1", port=0, settings=SESSION
    ) as box:
        yield box


def invoke(config: Path, *args: str) -> Result:
    env = {**os.environ, "COLUMNS": "200"}
    return CliRunner(env=env).invoke(main, ["--config", str(config), *args])


def crm_field(sandbox: Sandbox, module: str, name: str) -> dict[str, Any] | None:
    schema = sandbox.state.crm_schema.module(module)
    assert schema is not None
    found = [(i, f) for i, f in enumerate(schema.fields) if f.api_name == name]
    return describe_field(schema, found[0][1], found[0][0]) if found else None


def test_a_missing_key_field_is_refused_by_sync_reported_by_check_and_made_by_setup(
    own_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Sync refuses Quotes without Replicator_Id in one line; setup --check reports it and
    exits 1; setup creates it (unique text) and the Region field; then sync passes the
    check and setup --check finds nothing missing on CRM."""
    config = tmp_path / "replicator.toml"
    credentials = json.dumps(str(own_sandbox.credentials_path))
    config.write_text(CONFIG.format(credentials=credentials), encoding="utf-8")
    assert crm_field(own_sandbox, "Quotes", "Replicator_Id") is None

    refused = invoke(config, "sync")
    assert refused.exit_code == 1
    assert KEY_LINE in refused.output

    check = invoke(config, "setup", "--check", "--json")
    assert check.exit_code == 1, check.output
    report = json.loads(check.output)
    crm = {(lack["what"], lack["name"]): lack for lack in report["lacks"] if lack["side"] == "crm"}
    assert crm[("key field", "Replicator_Id")]["state"] == "missing"
    assert crm[("field", "Region")]["state"] == "missing"
    values = crm[("picklist values", "Quote_Stage")]
    assert "Sent, Accepted" in values["detail"] and "Draft," not in values["detail"]
    books = {lack["name"]: lack for lack in report["lacks"] if lack["side"] == "books"}
    assert books["cf_replicator_id"]["state"] == "to check"
    assert "Settings > Preferences > Quotes > Field Customization" in books["cf_region"]["detail"]
    assert crm_field(own_sandbox, "Quotes", "Replicator_Id") is None  # --check changes nothing

    made = invoke(config, "setup")
    assert "created   key field Replicator_Id" in made.output, made.output
    assert "created   field Region" in made.output
    key = crm_field(own_sandbox, "Quotes", "Replicator_Id")
    assert key is not None and key["unique"] and key["data_type"] == "text"
    assert crm_field(own_sandbox, "Quotes", "Region") is not None

    synced = invoke(config, "sync")
    assert "has no key field" not in synced.output
    assert synced.exit_code == 0, synced.output

    again = json.loads(invoke(config, "setup", "--check", "--json").output)
    left = {(lack["what"], lack["name"]) for lack in again["lacks"] if lack["state"] == "missing"}
    assert ("key field", "Replicator_Id") not in left and ("field", "Region") not in left
    if "failed   " in made.output and ("HTTP 405" in made.output or "HTTP 404" in made.output):
        pytest.skip(
            "the sandbox does not serve PATCH /settings/fields/{id} yet: picklist values "
            "are not added (the rest of this test passed)"
        )
    assert made.exit_code == 0, made.output
    stage = crm_field(own_sandbox, "Quotes", "Quote_Stage")
    assert stage is not None
    actual = [v["actual_value"] for v in stage["pick_list_values"]]
    assert {"Draft", "Sent", "Accepted"} <= set(actual)
    assert ("picklist values", "Quote_Stage") not in left


INTEGRATION = (
    SIDES
    + """
[integration.customers]
[integration.vendors]
[integration.items]
[integration.transactions]
"""
)
DOCUMENTS = {
    "estimates": ("Quotes", "Quote_Stage", "Sent"),
    "salesorders": ("Sales_Orders", "Status", "Void"),
    "invoices": ("Invoices", "Status", "Partially Paid"),
    "purchaseorders": ("Purchase_Orders", "Status", "Billed"),
}


@pytest.mark.skipif(
    "lines" not in mapping.TYPES or "lock" not in load.MODULE_KEYS,
    reason="the engine does not know type lines / lock / totals yet (another part of issue 12)",
)
def test_setup_makes_the_key_fields_the_transaction_modules_need(
    own_sandbox: Sandbox, tmp_path: Path
) -> None:
    """With [integration.transactions], setup --check lists Replicator_Id and the status
    values each CRM document module lacks; setup creates the key fields."""
    config = tmp_path / "replicator.toml"
    credentials = json.dumps(str(own_sandbox.credentials_path))
    config.write_text(INTEGRATION.format(credentials=credentials), encoding="utf-8")
    check = invoke(config, "setup", "--check", "--json")
    assert check.exit_code == 1, check.output
    lacks = json.loads(check.output)["lacks"]
    for name, (table, status, value) in DOCUMENTS.items():
        mine = {(x["what"], x["name"]): x for x in lacks if x["module"] == name}
        assert mine[("key field", "Replicator_Id")]["place"] == f"Zoho CRM {table}"
        assert value in mine[("picklist values", status)]["detail"]
        assert mine[("key field", "cf_replicator_id")]["state"] == "to check"
    made = invoke(config, "setup")
    for table, _, _ in DOCUMENTS.values():
        key = crm_field(own_sandbox, table, "Replicator_Id")
        assert key is not None and key["unique"], made.output
