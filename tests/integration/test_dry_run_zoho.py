"""The dry run and the first sync's guard against Zoho CRM and Books (the sandbox): reads
go to the APIs, no write request is sent, the journal is not made, and the plan is what
the real sync then does, row by row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.config.load import Config, load_config
from replicator.sandbox import AdminClient, Sandbox
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_app
from replicator.sync.dryrun import dry_run, plan_of_run
from replicator.sync.plan_report import compare
from tests.integration.conftest import fresh


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[ZohoApi]:
    with ZohoApi(sandbox.credentials_path) as client:
        yield client


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)


def write_config(folder: Path, credentials: Path, extra: str = "") -> Config:
    path = folder / "replicator.toml"
    path.write_text(zoho_config(credentials) + extra, encoding="utf-8")
    return load_config(path)


def seed(api: ZohoApi, admin: AdminClient) -> None:
    """Three CRM accounts, three Books customers, Acme Ltd on both."""
    api.crm_create(
        "Accounts",
        {"Account_Name": "Acme Ltd", "Phone": "+44 20 1", "Website": "acme.example"},
        {"Account_Name": "Globex", "Phone": "+1 415 2"},
        {"Account_Name": "Initech", "Website": "initech.example"},
    )
    api.books_create_contact("Acme Ltd", phone="+44 20 9")
    api.books_create_contact("Duff", phone="+1 555 1", website="duff.example")
    api.books_create_contact("Krusty", website="krusty.example")
    admin.advance_clock(1)


def writes_sent(admin: AdminClient) -> list[tuple[str, str]]:
    """Requests to the CRM and Books APIs other than reads."""
    return [
        (c["method"], c["path"])
        for api in ("crm", "books")
        for c in admin.counters(api)
        if c["method"] != "GET"
    ]


def state(api: ZohoApi) -> tuple[list[str], list[str]]:
    crm = sorted(r["Account_Name"] for r in api.crm_records("Accounts", ["Account_Name"]))
    return crm, sorted(c["contact_name"] for c in api.books_contacts())


def test_a_dry_run_reads_zoho_and_sends_no_write(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi
) -> None:
    """The plan names the four creates and the link of Acme Ltd; the sandbox answered
    reads only, and no journal was made."""
    seed(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path)
    before = state(api)
    admin.reset_counters()
    run = dry_run(config)
    assert admin.counters("crm") and admin.counters("books")  # it did read both
    assert writes_sent(admin) == []
    assert state(api) == before
    assert not config.journal_path.exists()
    plan = run.plan
    assert sorted((r["side"], r["values"]["name"]) for r in plan.rows("creates")) == [
        ("books", "Globex"),
        ("books", "Initech"),
        ("crm", "Duff"),
        ("crm", "Krusty"),
    ]
    (link,) = plan.rows("links")
    assert link["side"] == "books" and link["policy"] == "overwrite"
    assert run.captured["crm"] == 2 and run.captured["books"] >= 2


def test_the_real_sync_does_what_the_dry_run_planned(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi
) -> None:
    """Compared row by row (the ids Zoho gives the creates are in no row)."""
    seed(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path)
    plan = dry_run(config).plan
    with open_app(config) as app:
        report = app.engine.run()
        done = plan_of_run(app.journal, report.entries_before + 1)
    assert compare(plan, done) == []
    assert state(api)[0] == state(api)[1]


def test_the_guard_stops_a_first_sync_over_the_limit_until_yes(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi
) -> None:
    """`[guard] first_sync_creates = 1`: `sync` sends no write, shows the plan and asks
    for --yes; `sync --yes` syncs."""
    seed(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path, "\n[guard]\nfirst_sync_creates = 1\n")
    before = state(api)
    admin.reset_counters()
    args = ["--config", str(config.path), "sync"]
    stopped = CliRunner().invoke(main, args)
    assert stopped.exit_code == 1
    assert "would create 2 on books, 2 on crm" in stopped.output and "--yes" in stopped.output
    assert "the first sync stopped before pushing" in stopped.stdout
    assert writes_sent(admin) == [] and state(api) == before
    done = CliRunner().invoke(main, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert state(api)[0] == state(api)[1] == ["Acme Ltd", "Duff", "Globex", "Initech", "Krusty"]
