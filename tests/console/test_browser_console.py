"""The console in a real browser (issue 14 item 4): Debian's chromium driven by Playwright.

The demo's Zoho sandbox and config (duplicates held as near matches for a person,
transactions syncing), synced once; `replicator console add-admin`, `replicator users add`
and `set-password` as a person runs them; `replicator console serve` as a process of its
own on 127.0.0.1 and a free port.  An admin signs in, sees every page, resolves a near
match and pauses a module; an integration user sees a customer's invoice and gets 403 on
the conflicts page.  A screenshot of each page is saved under test-artifacts/screenshots.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journal import Kind
from replicator.cli.demo.zoho import _demo_config
from replicator.cli.sync import run_sync
from replicator.config.load import load_config
from replicator.sandbox import Sandbox
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_journal
from tests.console import pages
from tests.console.browser import screenshot

ENTRY = "import sys; from replicator.cli.main import main; sys.exit(main())"
ADMIN, ADMIN_PASSWORD = "admin", "correct horse battery staple"
USER_PASSWORD = "a long password for a sales rep"


def run(config: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sandbox seeded as the demo's, synced once, an admin and an integration user,
    and the console served by its own process."""
    folder = tmp_path_factory.mktemp("console")
    with Sandbox(folder / "sandbox", seed="demo") as box:
        config_path = folder / "replicator.toml"
        text = _demo_config(box.credentials_path) + "\n[console]\nenabled = true\n"
        config_path.write_text(text, encoding="utf-8")
        run(config_path, "setup")
        run_sync(load_config(config_path))
        run(config_path, "console", "add-admin", ADMIN, "--password-stdin", stdin=ADMIN_PASSWORD)
        with ZohoApi(box.credentials_path) as api:
            users = api.crm("GET", "/users", params={"type": "ActiveUsers"})["users"]
        email = users[0]["email"]
        run(config_path, "users", "add", email)
        run(config_path, "users", "set-password", email, "--password-stdin", stdin=USER_PASSWORD)
        process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "console", "serve", "--bind", "127.0.0.1:0"]
            + ["--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # "console: http://127.0.0.1:PORT/console/"
            assert line.startswith("console: "), line
            base = line.split()[-1].removesuffix("/").removesuffix("/console")
            threading.Thread(target=process.stdout.read, daemon=True).start()
            yield {"base": base, "config": config_path, "email": email, "box": box}
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def open_suggestion(config: Path) -> int:
    """The id of an open near-match suggestion (the demo holds some for a person)."""
    with open_journal(load_config(config)) as journal:
        rows = journal.conflicts(status="open")
    suggestions = [r for r in rows if r["module"] == "customers"]
    assert suggestions, "the demo seed holds near matches open"
    return int(suggestions[0]["id"])


def test_an_admin_signs_in_sees_every_page_resolves_a_near_match_and_pauses(world, page):
    """Sign in, each page answers 200 (a screenshot each), a near match skipped from its
    page is journaled by console:admin, and a module paused from the overview is paused."""
    base, config = world["base"], world["config"]
    landed = pages.sign_in(page, base, ADMIN, ADMIN_PASSWORD)
    assert landed.status == 200 and "signin" not in page.url
    screenshot(page, "overview")
    conflict_id = open_suggestion(config)
    for name, path in (
        ("conflicts", "/conflicts"),
        ("conflict", f"/conflicts/{conflict_id}"),
        ("history", "/history"),
        ("journal", "/journal"),
    ):
        assert pages.goto(page, base, path).status == 200, path
        assert pages.forms_without_csrf(page) == []
        screenshot(page, name)
    with open_journal(load_config(config)) as journal:
        before = journal.last_seq
    pages.goto(page, base, f"/conflicts/{conflict_id}")
    with page.expect_navigation():
        page.get_by_role("button", name="Skip (leave it unsynced)").click()
    screenshot(page, "resolved")
    with open_journal(load_config(config)) as journal:
        said = [e for e in journal.read(since=before, kinds=[Kind.RESOLUTION])]
        assert said and said[-1].meta.get("by") == f"console:{ADMIN}"
        resolved = {r["id"] for r in journal.conflicts(status="resolved")}
    assert conflict_id in resolved
    pages.control(page, base, "pause", module="items")
    screenshot(page, "paused")
    shown = json.loads(run(config, "status", "--json"))
    assert shown["sync"]["paused"] == ["items"]


def test_an_integration_user_sees_a_customers_invoice_and_gets_403_on_conflicts(world, page):
    """Signed in as an integration user: the customers page lists the customer of a Books
    invoice, its page shows the invoice; the conflicts page answers 403."""
    base, box = world["base"], world["box"]
    pages.sign_in(page, base, world["email"], USER_PASSWORD)
    invoice = box.admin.books_records("invoices")[0]
    assert pages.goto(page, base, "/customers").status == 200
    screenshot(page, "customers")
    page.get_by_role("link", name=invoice["customer_name"]).first.click()
    page.wait_for_load_state()
    assert invoice["invoice_number"] in page.content()
    screenshot(page, "customer")
    assert pages.goto(page, base, "/conflicts").status == 403
    screenshot(page, "refused")
