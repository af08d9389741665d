"""A sync after ``conflicts resolve`` against the sandbox (issue 9, class 8): the resolved
value is written once, not first refused as "changed since it was last read"."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from replicator.cli.main import main
from replicator.sandbox import AdminClient, Sandbox
from tests.integration.conftest import fresh
from tests.integration.test_integration_zoho import journal_errors, sync, write_config


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)


def test_a_sync_after_resolve_writes_the_resolution_to_books_without_a_rejection(
    admin, credentials, tmp_path
):
    """A manual conflict resolved by a person: the next sync (a new process) updates Books
    once, with no error entry and no rejection in its report."""
    [acme] = admin.crm_create("Accounts", {"Account_Name": "Acme", "Website": "a.test"})
    config = write_config(tmp_path, credentials, {"customers": {"conflicts": "manual"}})
    sync(config)
    (contact,) = admin.books_records("contacts")
    admin.crm_update("Accounts", acme, Website="crm.test")
    admin.books_update("contacts", contact["contact_id"], {"website": "books.test"})
    sync(config)
    runner = CliRunner()
    listed = runner.invoke(main, ["--config", str(config), "conflicts", "list", "--json"])
    (conflict,) = json.loads(listed.stdout)
    resolved = runner.invoke(
        main,
        ["--config", str(config), "conflicts", "resolve", str(conflict["id"]), "--take", "crm"],
    )
    assert resolved.exit_code == 0, resolved.output
    report = sync(config)
    assert report["modules"]["customers"]["books"].get("rejected", 0) == 0
    assert [e.meta["reason"] for e in journal_errors(config)] == []
    (contact,) = admin.books_records("contacts")
    assert contact["website"] == "crm.test"
