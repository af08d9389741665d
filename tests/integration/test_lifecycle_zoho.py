"""The lifecycle commands against the Zoho sandbox: history, status, records list, pause /
resume, save / edit, disable / enable / delete (then `journal replay` and `verify`),
update-credentials, fetch, search and import, each on a config a user would write
(:func:`replicator.cli.demo.zoho.zoho_config`) through the command line."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.connectors.zoho.credentials import exchange_grant_code, read_credentials_file
from replicator.sandbox import AdminClient, Sandbox
from replicator.sandbox.api_client import ZohoApi
from tests.integration.conftest import fresh


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[ZohoApi]:
    with ZohoApi(sandbox.credentials_path) as client:
        yield client


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)


class Zoho:
    """A folder with a replicator.toml for the sandbox, and the CLI run on it."""

    def __init__(self, folder: Path, credentials: Path) -> None:
        self.folder = folder
        self.credentials = credentials
        self.config = folder / "replicator.toml"
        self.config.write_text(zoho_config(credentials), encoding="utf-8")

    def cli(self, *args: str, input: str | None = None, env: dict[str, str] | None = None):
        runner = CliRunner(env={"COLUMNS": "200", **(env or {})})
        return runner.invoke(main, ["--config", str(self.config), *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.cli(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def zoho(tmp_path: Path, sandbox: Sandbox, admin: AdminClient) -> Zoho:
    return Zoho(tmp_path, sandbox.credentials_path)


def crm_accounts(api: ZohoApi) -> dict[str, str]:
    return {r["Account_Name"]: r["id"] for r in api.crm_records("Accounts", ["Account_Name"])}


def books_customers(api: ZohoApi) -> dict[str, str]:
    return {c["contact_name"]: c["contact_id"] for c in api.books_contacts()}


def test_history_status_and_records_list_over_zoho(zoho, api, admin):
    """history names the record, side and reason of a write CRM refused; status counts the
    last run's errors and the records deleted in CRM that stay in Books; records list
    filters those that came from CRM."""
    (acme,) = api.crm_create("Accounts", {"Account_Name": "Lc Acme", "Phone": "+1 1"})
    api.books_create_contact("Lc Books", website="books.example")
    admin.advance_clock(1)
    zoho.ok("sync")
    admin.add_fault(
        "partial",
        api="crm",
        path="/crm/v8/Accounts/upsert",
        record_every=1,
        record_code="INVALID_DATA",
        times=1,
    )
    api.books_create_contact("Lc Refused", website="refused.example")
    admin.advance_clock(1)
    zoho.ok("sync")
    admin.clear_faults()
    runs = [i for i in zoho.json("history") if i["type"] == "run"]
    assert runs[0]["totals"]["added"] == 2
    (failure,) = runs[1]["failures"]
    assert failure["side"] == "crm" and failure["record"].startswith("books:")
    assert "INVALID_DATA" in failure["reason"]
    assert runs[1]["totals"]["failed"] == 1
    status = zoho.json("status")
    assert status["modules"][0]["last_run_errors"] == 1
    assert "Lc Refused" not in crm_accounts(api)

    admin.crm_delete("Accounts", acme)
    admin.advance_clock(1)
    zoho.ok("sync")
    assert "Lc Acme" in books_customers(api)  # a delete in CRM stays in Books
    status = zoho.json("status")["modules"][0]
    assert status["deleted_kept"]["crm"] == 1
    (from_crm,) = zoho.json("records", "list", "--from", "crm")
    assert from_crm["name"] == "Lc Acme" and from_crm["deleted_on"] == ["crm"]
    assert from_crm["sides"]["books"]["id"] == books_customers(api)["Lc Acme"]
    assert zoho.json("history")[-1]["totals"]["deleted"] == 1


def test_pause_resume_save_and_edit_over_zoho(zoho, api, admin, monkeypatch):
    """A paused module is skipped until resumed; save and edit journal the config, which
    the next sync finds unchanged; an invalid edit keeps the old file."""
    zoho.ok("save")
    zoho.ok("pause", "customers")
    api.crm_create("Accounts", {"Account_Name": "Lc Paused"})
    admin.advance_clock(1)
    assert "paused, not synced: customers" in zoho.ok("sync").stdout
    assert "Lc Paused" not in books_customers(api)
    zoho.ok("resume")
    zoho.ok("sync")
    assert "Lc Paused" in books_customers(api)

    edited = zoho.config.read_text().replace('conflicts = "newest"', 'conflicts = "prefer:crm"')
    monkeypatch.setattr(click, "edit", lambda text, **kw: edited)
    assert "applies from the next" in zoho.ok("edit").stdout
    monkeypatch.setattr(click, "edit", lambda text, **kw: text.replace("zoho_crm", "zoho_erp"))
    result = zoho.cli("edit", input="n\n")
    assert result.exit_code == 1 and "sides.crm.connector" in result.output
    assert zoho.config.read_text() == edited
    zoho.ok("sync")
    events = [(i["type"], i.get("event")) for i in zoho.json("history", "--limit", "50")]
    assert events[:2] == [("config", "save"), ("event", "pause")]
    assert ("event", "resume") in events and ("config", "edit") in events
    assert ("config", "sync") not in events  # the saved settings were in force already


def test_disable_delete_replay_and_enable_over_zoho(zoho, api, admin):
    """Disabled, sync refuses; delete drops links and states but no entry; verify and
    replay agree; enabled again, a sync pairs the records afresh without a duplicate."""
    api.crm_create("Accounts", {"Account_Name": "Lc One"}, {"Account_Name": "Lc Two"})
    api.books_create_contact("Lc Three")
    admin.advance_clock(1)
    zoho.ok("sync")
    zoho.ok("disable")
    result = zoho.cli("sync")
    assert result.exit_code == 1 and "sync is disabled" in result.output
    before = zoho.json("status")["entries"]
    assert "3 records and 6 links dropped" in zoho.ok("delete", "--yes").stdout
    status = zoho.json("status")
    assert status["entries"] == before + 1 and status["modules"][0]["records"] == 0
    zoho.ok("journal", "verify")
    zoho.ok("journal", "replay")
    assert zoho.ok("journal", "verify").stdout.startswith("intact:")
    zoho.ok("enable")
    zoho.ok("sync")
    crm, books = crm_accounts(api), books_customers(api)
    assert sorted(crm) == sorted(books) == ["Lc One", "Lc Three", "Lc Two"]
    assert zoho.json("status")["modules"][0]["links"]["crm"]["active"] == 3
    zoho.ok("journal", "replay")
    zoho.ok("journal", "verify")


def test_fetch_search_and_import_over_zoho(zoho, api, admin):
    """search crm lists accounts by name with their contacts and whether synced; import
    fetches one on the spot; fetch re-syncs a CRM edit now, without a sync."""
    zoho.ok("sync")
    (account,) = api.crm_create("Accounts", {"Account_Name": "Lc Fetch Co", "Phone": "+1 2"})
    api.crm_create(
        "Contacts",
        {
            "First_Name": "Jane",
            "Last_Name": "Roe",
            "Email": "jane@fetch.example",
            "Account_Name": {"id": account},
        },
    )
    admin.advance_clock(1)
    (item,) = zoho.json("search", "crm", "Lc Fetch")
    assert item["id"] == account and item["synced"] == {}
    assert [(c["name"], c["email"]) for c in item["contacts"]] == [
        ("Jane Roe", "jane@fetch.example")
    ]
    out = zoho.ok("search", "crm", "Lc Fetch").stdout
    assert f"replicator import crm customers {account}" in out and "Jane Roe" in out

    data = zoho.json("import", "crm", "customers", account)
    assert data["rid"] == f"crm:{account}"
    books_id = books_customers(api)["Lc Fetch Co"]
    assert data["record"]["sides"]["books"]["id"] == books_id
    (item,) = zoho.json("search", "crm", "Lc Fetch")
    assert item["synced"]["rid"] == f"crm:{account}" and item["synced"]["books"] == books_id

    api.crm_update("Accounts", account, Phone="+1 999")
    admin.advance_clock(1)
    data = zoho.json("fetch", "customers", account)
    assert data["report"]["modules"]["customers"]["books"]["updated"] == 1
    contact = api.books("GET", f"/contacts/{books_id}")["contact"]
    assert "+1 999" in json.dumps(contact)
    result = zoho.cli("fetch", "customers", "999999")
    assert result.exit_code == 1 and "side crm has no Accounts record 999999" in result.output
    fetches = [i for i in zoho.json("history") if i.get("trigger") == "fetch"]
    assert [f["record"]["id"] for f in fetches] == [account, account]


def test_update_credentials_checks_writes_0600_and_journals_no_secret(zoho, sandbox, tmp_path):
    """update-credentials takes a token with the new credentials before writing them
    (0600); refused ones leave the file as it was; the journal, history and output name
    the side, never a secret."""
    private = tmp_path / "private" / "zoho.json"
    private.parent.mkdir()
    shutil.copy(sandbox.credentials_path, private)
    private.chmod(0o600)
    zoho.config.write_text(zoho_config(private), encoding="utf-8")
    old = read_credentials_file(private)
    refresh = exchange_grant_code(
        old["accounts_url"], old["client_id"], old["client_secret"], sandbox.admin.grant_code()
    ).reveal()
    assert refresh != old["refresh_token"]

    result = zoho.cli("update-credentials", "crm", input=f"\n{old['client_secret']}\n{refresh}\n")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert read_credentials_file(private)["refresh_token"] == refresh
    assert "checked" in result.output

    bogus = "1000.not-a-refresh-token-at-all"
    result = zoho.cli("update-credentials", "crm", input=f"\n\n{bogus}\n")
    assert result.exit_code == 1 and "refused" in result.output and "unchanged" in result.output
    assert read_credentials_file(private)["refresh_token"] == refresh
    assert not list(private.parent.glob(".*.new"))

    env = {
        "REPLICATOR_BOOKS_CLIENT_ID": old["client_id"],
        "REPLICATOR_BOOKS_CLIENT_SECRET": old["client_secret"],
        "REPLICATOR_BOOKS_REFRESH_TOKEN": old["refresh_token"],
    }
    result = zoho.cli("update-credentials", "books", "--from-env", env=env)
    assert result.exit_code == 0, result.output
    assert read_credentials_file(private)["refresh_token"] == old["refresh_token"]
    zoho.ok("sync")  # the file written works for both sides

    events = [i for i in zoho.json("history") if i.get("event") == "credentials"]
    assert [e["side"] for e in events] == ["crm", "books"]
    exported = zoho.ok("journal", "export").stdout
    printed = exported + json.dumps(zoho.json("history")) + result.output
    for secret in (old["client_secret"], old["refresh_token"], refresh, bogus):
        assert secret not in printed
    assert os.environ.get("REPLICATOR_BOOKS_CLIENT_ID") is None
