"""`replicator disable --remove-crm-copies` against the Zoho sandbox: the CRM copies of
Books invoices go through ``DELETE /crm/v8/Invoices?ids=`` (one call for the batch), a
CRM-only invoice and the accounts stay, Books sees no write at all, and an outage halfway
is finished by running the command again."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.sandbox import AdminClient, AdminError, Sandbox
from tests.integration.conftest import fresh

INVOICES = """
[modules.invoices]
sync = "one_way"
source = "books"
crm = { table = "Invoices", modified = "Modified_Time" }
books = { table = "invoices", modified = "last_modified_time" }

[modules.invoices.fields]
subject = { crm = "Subject", books = "reference_number" }
"""


class Zoho:
    """A replicator.toml for the sandbox (customers, and Books invoices to CRM one way)."""

    def __init__(self, folder: Path, credentials: Path) -> None:
        self.config = folder / "replicator.toml"
        text = zoho_config(credentials, books_per_minute=100_000)
        # one retry on the CRM side, so an outage stops the removal soon
        text = text.replace('connector = "zoho_crm"', 'connector = "zoho_crm"\nmax_retries = 1')
        self.config.write_text(text + INVOICES, encoding="utf-8")

    def cli(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner(env={"COLUMNS": "200"})
        return runner.invoke(main, ["--config", str(self.config), *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.cli(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    admin = fresh(sandbox)
    # CRM Invoices need replicator's unique key field (`replicator setup` makes it); fields
    # stay across the session's tests, so an earlier test may have made it already
    with contextlib.suppress(AdminError):
        admin.add_crm_field(
            "Invoices", "Replicator Id", "text", api_name="Replicator_Id", unique=True
        )
    return admin


@pytest.fixture
def zoho(tmp_path: Path, sandbox: Sandbox, admin: AdminClient) -> Zoho:
    return Zoho(tmp_path, sandbox.credentials_path)


def _crm_subjects(admin: AdminClient) -> list[str]:
    return sorted(r["Subject"] for r in admin.crm_records("Invoices"))


def _seed(admin: AdminClient) -> dict[str, str]:
    """Three Books invoices, an account on both sides (after the sync), a CRM-only invoice."""
    admin.crm_create("Accounts", {"Account_Name": "Rm Acme"})
    customer = admin.books_create(
        "contacts", {"contact_name": "Rm Books", "contact_type": "customer"}
    )
    made = {}
    for n in (1, 2, 3):
        invoice = admin.books_create(
            "invoices",
            {
                "customer_id": customer["contact_id"],
                "reference_number": f"RM-{n}",
                "line_items": [{"name": "Widget", "rate": 10, "quantity": n}],
            },
        )
        made[f"RM-{n}"] = invoice["invoice_id"]
    admin.crm_create("Invoices", {"Subject": "CRM only"})
    return made


def test_the_crm_copies_of_books_invoices_are_deleted_and_nothing_else(zoho, admin):
    """One DELETE call removes the three copies; the CRM-only invoice, the accounts and
    every Books record stay, Books receives no write; the journal verifies."""
    _seed(admin)
    admin.advance_clock(1)
    zoho.ok("sync")
    assert _crm_subjects(admin) == ["CRM only", "RM-1", "RM-2", "RM-3"]
    books_before = admin.books_records("invoices"), admin.books_records("contacts")
    accounts = sorted(r["Account_Name"] for r in admin.crm_records("Accounts"))
    admin.reset_counters()
    data = zoho.json("disable", "--remove-crm-copies", "--yes", "--by", "carol")
    assert sorted(r["label"] for r in data["removed"]) == ["RM-1", "RM-2", "RM-3"]
    assert data["failed"] == [] and data["by"] == "carol"
    assert _crm_subjects(admin) == ["CRM only"]
    assert sorted(r["Account_Name"] for r in admin.crm_records("Accounts")) == accounts
    assert (admin.books_records("invoices"), admin.books_records("contacts")) == books_before
    assert admin.count("DELETE", "/crm/v8/{module}", 200) == 1
    writes = [
        c for c in admin.counters("books") if c["method"] in ("POST", "PUT", "PATCH", "DELETE")
    ]
    assert writes == []
    assert zoho.json("journal", "verify")["ok"] is True


def test_an_outage_halfway_then_a_rerun_finishes_the_job(zoho, admin):
    """The CRM fails the DELETE: the command stops saying to run it again, nothing was
    removed; meanwhile someone deletes one copy in CRM; the re-run says the earlier removal
    did not finish, removes the rest and counts the deleted one as gone, not failed."""
    _seed(admin)
    admin.advance_clock(1)
    zoho.ok("sync")
    admin.add_fault("status", api="crm", method="DELETE", path="/crm/v8/Invoices*", status=500)
    failed = zoho.cli("disable", "--remove-crm-copies", "--yes")
    assert failed.exit_code == 1
    assert "the removal stopped" in failed.output and "again to finish it" in failed.output
    assert _crm_subjects(admin) == ["CRM only", "RM-1", "RM-2", "RM-3"]
    admin.clear_faults()
    (rm1,) = [r for r in admin.crm_records("Invoices") if r["Subject"] == "RM-1"]
    admin.crm_delete("Invoices", rm1["id"])
    rerun = zoho.ok("disable", "--remove-crm-copies", "--yes")
    assert "an earlier removal (entry" in rerun.output and "did not finish" in rerun.output
    assert "removed 3 CRM copies of Books documents (1 were gone already" in rerun.output
    assert _crm_subjects(admin) == ["CRM only"]
    assert len(admin.books_records("invoices")) == 3


def test_the_copies_are_not_made_again_after_enable(zoho, admin):
    """After the removal, `enable` and a sync (with a Books invoice edited) create no CRM
    invoice again and write nothing to Books: deletes never propagate."""
    made = _seed(admin)
    admin.advance_clock(1)
    zoho.ok("sync")
    zoho.ok("disable", "--remove-crm-copies", "--yes")
    zoho.ok("enable")
    admin.books_update("invoices", made["RM-2"], {"reference_number": "RM-2b"})
    admin.advance_clock(1)
    admin.reset_counters()
    zoho.ok("sync")
    assert _crm_subjects(admin) == ["CRM only"]
    writes = [
        c for c in admin.counters("books") if c["method"] in ("POST", "PUT", "PATCH", "DELETE")
    ]
    assert writes == []
