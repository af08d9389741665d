"""End to end: deal automation under a running daemon against the Zoho sandbox (issue 13).

The sandbox and ``replicator daemon`` are real processes (the helpers of
``test_daemon_zoho``).  The config turns on ``[integration.deals]`` with both triggers: a
quote (a Books estimate) made when a deal is created, accepted when the deal is won and
declined when it is lost; an invoice made when the deal is won and voided when it is lost.
Won and lost are what CRM's stage metadata says (probability 100 and 0).  With polling
hourly, every change here can only travel by the CRM's watch callback, within 5 s; with
callbacks off, by the next poll.
"""

# ruff: noqa: F811 - the sandbox fixtures are test_daemon_zoho's, imported by name
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from replicator.sandbox import AdminClient
from replicator.sandbox.api_client import ZohoApi
from tests.integration.test_daemon_zoho import (  # noqa: F401 - fixtures used by name
    TRANSACTIONS,
    DaemonProcess,
    SandboxProcess,
    admin,
    api,
    cli,
    sandbox,
    wait_for,
)

# test_daemon_zoho's transactions config, with estimates and invoices only, both deal
# triggers, and the poll interval each test picks
CONFIG = TRANSACTIONS.replace(
    "[integration.transactions]\n",
    "[integration.transactions.estimates]\n[integration.transactions.invoices]\n"
    '[integration.deals]\nquote = "created"\ninvoice = true\n',
).replace('poll_every = "1h"', 'poll_every = "{poll}"')

WON, LOST, OPEN = "Closed Won", "Closed Lost", "Negotiation/Review"


@pytest.fixture
def start(
    tmp_path: Path, sandbox: SandboxProcess, admin: AdminClient
) -> Iterator[Callable[..., DaemonProcess]]:
    """Write the config (polling every ``poll``), run `replicator setup`, start a daemon
    and wait for its first cycles and its watch channel."""
    running: list[DaemonProcess] = []
    path = tmp_path / "replicator.toml"

    def start_daemon(poll: str = "1h", *, channel: bool = True) -> DaemonProcess:
        path.write_text(
            CONFIG.format(credentials=sandbox.credentials_path, poll=poll), encoding="utf-8"
        )
        done = cli(path, "setup")
        assert done.returncode == 0, done.stdout + done.stderr
        daemon = DaemonProcess(path)
        running.append(daemon)
        wait_for(
            lambda: (
                all(daemon.status(m) == "ok" for m in ("customers", "invoices", "deals"))
                and (not channel or daemon.state()["channels"].get("crm", {}).get("expiry"))
            ),
            timeout=20,
        )
        return daemon

    yield start_daemon
    for daemon in running:
        daemon.close()
    secrets = json.loads(sandbox.credentials_path.read_text())
    for daemon in running:  # no secret in any log line, whatever happened
        text = daemon.logs()
        assert secrets["client_secret"] not in text and secrets["refresh_token"] not in text


def account(api: ZohoApi, name: str = "Acme Ltd") -> str:
    return api.crm_create("Accounts", {"Account_Name": name})[0]


def new_deal(api: ZohoApi, account_id: str | None, name: str, stage: str = "Qualification") -> str:
    body: dict[str, Any] = {
        "Deal_Name": name,
        "Stage": stage,
        "Amount": 1234.5,
        "Description": f"{name}: 12 seats",
        "Closing_Date": "2026-12-31",
    }
    if account_id is not None:
        body["Account_Name"] = {"id": account_id}
    return api.crm_create("Deals", body)[0]


def documents(admin: AdminClient, kind: str, deal_id: str) -> list[dict[str, Any]]:
    """The Books documents of ``kind`` (invoices, estimates) associated with the deal."""
    return [d for d in admin.books_records(kind) if d.get("zcrm_potential_id") == deal_id]


def one(admin: AdminClient, kind: str, deal_id: str, status: str) -> dict[str, Any] | None:
    """The deal's one document of ``kind`` once it has ``status`` (never two of them)."""
    found = documents(admin, kind, deal_id)
    assert len(found) <= 1, f"{len(found)} {kind} for deal {deal_id}"
    return found[0] if found and found[0]["status"] == status else None


def within_5_s(check: Callable[[], Any]) -> Any:
    made = time.monotonic()
    got = wait_for(check, timeout=5)
    assert time.monotonic() - made < 5
    return got


def journal(config: Path, *args: str) -> list[dict[str, Any]]:
    done = cli(config, "journal", "log", "--json", "--limit", "500", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout))


def test_a_won_deal_makes_one_invoice_within_5_s_and_a_lost_one_voids_it(api, admin, start):
    """Callback path: a deal moved to a won stage is one Books invoice within 5 s, holding
    the deal's account, amount, name and description and associated with the deal; moved
    to a lost stage, that invoice is void within 5 s; its quote follows (accepted, then
    declined); no second document appears on the way."""
    acme = account(api)
    daemon = start()
    deal = new_deal(api, acme, "Big order")
    quote = within_5_s(lambda: one(admin, "estimates", deal, "draft"))
    assert quote["customer_name"] == "Acme Ltd"
    api.crm_update("Deals", deal, Stage=WON)
    invoice = within_5_s(lambda: one(admin, "invoices", deal, "draft"))
    whole = admin.call("GET", f"/books/invoices/{invoice['invoice_id']}")
    assert whole["customer_name"] == "Acme Ltd"
    assert whole["zcrm_potential_name"] == "Big order"
    [line] = whole["line_items"]
    assert line["name"] == "Big order" and line["description"] == "Big order: 12 seats"
    assert Decimal(str(line["rate"])) == Decimal("1234.5")
    assert Decimal(str(line["quantity"])) == 1
    assert whole.get("salesperson_name")  # the deal owner, by email
    within_5_s(lambda: one(admin, "estimates", deal, "accepted"))
    api.crm_update("Deals", deal, Stage=LOST)
    within_5_s(lambda: one(admin, "invoices", deal, "void"))
    within_5_s(lambda: one(admin, "estimates", deal, "declined"))
    assert daemon.status("deals") == "ok"
    assert len(documents(admin, "invoices", deal)) == 1
    assert len(documents(admin, "estimates", deal)) == 1


def test_a_sent_invoice_is_left_alone_and_the_journal_says_why(api, admin, sandbox, tmp_path):
    """`replicator sync` by hand: once the invoice is marked sent in Books, a later stage
    change does nothing to it and a skip entry (in `history` too) names the reason; even
    when the stage change is read before the Books change, the document is read again
    before a trigger touches it."""
    config = tmp_path / "replicator.toml"
    config.write_text(
        CONFIG.format(credentials=sandbox.credentials_path, poll="1h"), encoding="utf-8"
    )
    for args in (["setup"], ["sync"]):
        done = cli(config, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    deal = new_deal(api, account(api), "Sent order", stage=WON)
    done = cli(config, "sync")
    assert done.returncode == 0, done.stdout + done.stderr
    invoice = one(admin, "invoices", deal, "draft")
    assert invoice is not None
    admin.books_update("invoices", invoice["invoice_id"], {"status": "sent"})
    api.crm_update("Deals", deal, Stage=LOST)
    done = cli(config, "sync", "--module", "deals")  # the deal first: the invoice re-read
    assert done.returncode == 0, done.stdout + done.stderr
    assert one(admin, "invoices", deal, "sent") is not None
    skips = [
        e
        for e in journal(config, "--module", "deals")
        if e["kind"] == "trigger" and "no longer" in json.dumps(e)
    ]
    assert len(skips) == 1 and "sent" in json.dumps(skips[0])
    done = cli(config, "sync")  # nothing new: the skip is not journaled again
    assert done.returncode == 0, done.stdout + done.stderr
    assert one(admin, "invoices", deal, "sent") is not None
    history = cli(config, "history", "--module", "deals")
    assert "no longer touch" in history.stdout


def test_a_deal_with_no_account_makes_nothing_and_history_says_why(api, admin, start, tmp_path):
    """A deal with no account (customers sync Accounts) makes no document; the skip is in
    history with its reason."""
    start()
    deal = new_deal(api, None, "Orphan deal", stage=WON)
    config = tmp_path / "replicator.toml"

    def said() -> bool:
        history = cli(config, "history", "--module", "deals")
        return "has no account" in history.stdout

    wait_for(said, timeout=15, every=0.5)
    assert documents(admin, "invoices", deal) == []
    assert documents(admin, "estimates", deal) == []


def test_with_callbacks_off_a_won_deal_is_invoiced_by_the_next_poll(api, admin, start):
    """No callback at all: polling every second brings the won deal's invoice."""
    admin.settings(callbacks=False)
    acme = account(api)
    start("1s", channel=False)
    deal = new_deal(api, acme, "Quiet order", stage=WON)
    wait_for(lambda: one(admin, "invoices", deal, "draft"), timeout=10)
    assert admin.notifications()["deliveries"] == 0


def test_an_account_not_synced_yet_is_fetched_for_the_deal(api, admin, start):
    """The deal's account was made after the last customers cycle: it is fetched on the
    spot, and the invoice names it."""
    start()
    late = account(api, "Late Ltd")
    deal = new_deal(api, late, "Late order", stage=WON)
    invoice = within_5_s(lambda: one(admin, "invoices", deal, "draft"))
    assert invoice["customer_name"] == "Late Ltd"
