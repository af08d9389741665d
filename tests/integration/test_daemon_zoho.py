"""End to end: ``replicator daemon`` as a real process against the Zoho sandbox (issue 5).

The sandbox and the daemon are real processes, both started with the CLI entry point:
``replicator sandbox --port 0`` (CRM v8, Books v3 and OAuth on 127.0.0.1; this module's
own, so revoking its credentials or switching its callbacks off touches no other test),
stopped by SIGTERM when the module ends, and ``replicator daemon`` on 127.0.0.1 and a free
port, stopped by SIGTERM (or SIGKILL) at the end of each test.

The config pairs two modules:

- ``customers``: CRM Accounts <-> Books customers, both ways (a master: on a schedule);
- ``deals``: CRM Deals -> Books sales orders, one way from CRM (a transaction: instant,
  through CRM notification callbacks, with polling as the fallback).  Zoho's own
  integration fetches only CRM-made transactions into Books and associates sales orders
  with deals (``zcrm_potential_name``); a sales order needs no line items, so a deal maps
  to one without inventing items: name -> ``zcrm_potential_name``, account ->
  ``customer_id`` (a lookup through ``customers``), closing date -> ``shipment_date``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from replicator.config.load import load_config
from replicator.daemon.state import state_path, token_path
from replicator.sandbox import AdminClient
from replicator.sandbox.api_client import ZohoApi
from tests.integration.conftest import SESSION

CONFIG = """\
[journal]
path = "journal.db"

[sides.crm]
connector = "zoho_crm"
credentials = "{credentials}"

[sides.books]
connector = "zoho_books"
credentials = "{credentials}"
requests_per_minute = 100000

[modules.customers]
sync = "both_ways"
crm = {{ table = "Accounts", match = "Account_Name", modified = "Modified_Time" }}
books = {{ table = "customers", match = "contact_name", modified = "last_modified_time" }}

[modules.customers.fields]
name = {{ crm = "Account_Name", books = "contact_name" }}

[modules.deals]
sync = "one_way"
source = "crm"
crm = {{ table = "Deals", modified = "Modified_Time" }}
books = {{ table = "salesorders", modified = "last_modified_time" }}
lookups = {{ customer = "customers" }}

[modules.deals.fields]
name = {{ crm = "Deal_Name", books = "zcrm_potential_name" }}
customer = {{ crm = "Account_Name", books = "customer_id" }}
closing = {{ crm = "Closing_Date", books = "shipment_date", type = "date" }}

[daemon]
bind = "127.0.0.1:0"
stop_timeout = "20s"
{daemon}
"""
ENTRY = "import sys; from replicator.cli.main import main; sys.exit(main())"


def wait_for(check: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    """Poll until ``check`` gives something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(every)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


class DaemonProcess:
    """``replicator daemon`` in its own process; its stderr (JSON logs) goes to a file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.journal = load_config(config).journal_path
        self.log = config.parent / "daemon.log"
        with open(self.log, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    ENTRY,
                    "daemon",
                    "--config",
                    str(config),
                    "--bind",
                    "127.0.0.1:0",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        self.url = wait_for(self._published_url, timeout=30)

    def _published_url(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"the daemon exited {self.process.returncode}: {self.logs()}")
        try:
            state = json.loads(state_path(self.journal).read_text())
        except (OSError, ValueError):
            return None
        if state.get("pid") != self.process.pid or state.get("stopped"):
            return None
        return state.get("local_url")

    def state(self) -> dict[str, Any]:
        return dict(json.loads(state_path(self.journal).read_text()))

    def status(self, module: str) -> str | None:
        return self.state()["modules"][module]["status"]

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(timeout=10)


# the session's raised limits (tests/integration/conftest.py), set on the sandbox process
LIMITS = {
    "tokens_per_window": SESSION.tokens_per_window,
    "books_per_minute": SESSION.books_per_minute,
    "books_per_day": SESSION.books_per_day,
    "crm_credits_per_day": SESSION.crm_credits_per_day,
}


class SandboxProcess:
    """`replicator sandbox --port 0` as a process of its own, as a user runs it."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "sandbox", "--port", "0", "--data", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()  # "Zoho sandbox listening on URL"
        if not first.startswith("Zoho sandbox listening on"):
            self.close()
            raise RuntimeError(f"the sandbox did not start: {first!r}")
        self.url = first.split()[-1]
        # read the rest as it comes, so a full pipe never blocks the sandbox
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        self.credentials_path = folder / "credentials.json"
        self.admin = AdminClient(self.url)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """This module's own sandbox, a real process (callbacks and credentials get switched
    off here)."""
    box = SandboxProcess(tmp_path_factory.mktemp("daemon-sandbox"))
    try:
        yield box
    finally:
        box.admin.close()
        box.close()


@pytest.fixture
def admin(sandbox: SandboxProcess) -> Iterator[AdminClient]:
    admin = sandbox.admin
    admin.reset()
    admin.settings(**LIMITS)
    admin.seed("keys")
    yield admin
    admin.restore()
    admin.clear_faults()


@pytest.fixture
def api(sandbox: SandboxProcess, admin: AdminClient) -> Iterator[ZohoApi]:
    with ZohoApi(sandbox.credentials_path) as client:
        yield client


@pytest.fixture
def start(tmp_path: Path, sandbox: SandboxProcess) -> Iterator[Callable[..., DaemonProcess]]:
    """Write the config with these [daemon] lines and start a daemon on it."""
    running: list[DaemonProcess] = []
    path = tmp_path / "replicator.toml"

    def start_daemon(daemon: str = "") -> DaemonProcess:
        if not path.exists() or daemon:
            text = CONFIG.format(credentials=sandbox.credentials_path, daemon=daemon)
            path.write_text(text, encoding="utf-8")
        process = DaemonProcess(path)
        running.append(process)
        return process

    yield start_daemon
    for process in running:
        process.close()
    for process in running:  # no secret in any log line, whatever happened
        secrets = json.loads(sandbox.credentials_path.read_text())
        text = process.logs()
        assert secrets["client_secret"] not in text and secrets["refresh_token"] not in text
        assert "Zoho-oauthtoken" not in text


def sales_orders(admin: AdminClient) -> dict[str, dict[str, Any]]:
    return {so["zcrm_potential_name"]: so for so in admin.books_records("salesorders")}


def books_names(admin: AdminClient) -> list[str]:
    return sorted(c["contact_name"] for c in admin.books_records("contacts"))


def crm_names(admin: AdminClient) -> list[str]:
    return sorted(r["Account_Name"] for r in admin.crm_records("Accounts"))


def next_run_in(daemon: DaemonProcess, module: str) -> float:
    """Seconds until the module's next scheduled run, as the daemon published it."""
    text = daemon.state()["modules"][module]["next_run"]
    if not text:
        return 0.0
    return (dt.datetime.fromisoformat(text) - dt.datetime.now(dt.UTC)).total_seconds()


def idle(daemon: DaemonProcess, module: str) -> bool:
    """The module has no cycle in hand, as the daemon published it (it publishes ``running``
    when a cycle starts and again when it ends)."""
    return daemon.state()["modules"][module].get("running") is False


def an_account(api: ZohoApi) -> str:
    """An account made in CRM before the daemon starts: its first cycle copies it."""
    return api.crm_create("Accounts", {"Account_Name": "Acme Ltd"})[0]


def in_books(admin: AdminClient, name: str = "Acme Ltd") -> None:
    wait_for(lambda: name in books_names(admin), timeout=10)


def settled(daemon: DaemonProcess) -> None:
    """Each module's first cycle is done and the watch channel registered: a change made
    now can only travel by callback (or the next poll)."""
    wait_for(
        lambda: (
            all(daemon.status(m) == "ok" for m in ("customers", "deals"))
            and daemon.state()["channels"].get("crm", {}).get("expiry")
        ),
        timeout=10,
    )


def deal(account: str, name: str) -> dict[str, Any]:
    return {
        "Deal_Name": name,
        "Stage": "Qualification",
        "Account_Name": {"id": account},
        "Closing_Date": "2026-12-31",
    }


def test_a_deal_change_reaches_books_within_5_seconds_through_a_callback(api, admin, start):
    """With polling hourly, a deal made and then renamed through the CRM API is a Books
    sales order within 5 s each time: the daemon's watch channel called it back."""
    account = an_account(api)
    daemon = start('poll_every = "1h"\nmasters_every = "1h"')
    in_books(admin)
    settled(daemon)
    made = time.monotonic()
    deal_id = api.crm_create("Deals", deal(account, "Big deal"))[0]
    order = wait_for(lambda: sales_orders(admin).get("Big deal"), timeout=5)
    assert time.monotonic() - made < 5
    assert order["customer_name"] == "Acme Ltd" and order["shipment_date"] == "2026-12-31"
    made = time.monotonic()
    api.crm_update("Deals", deal_id, Deal_Name="Bigger deal")
    wait_for(lambda: "Bigger deal" in sales_orders(admin), timeout=5)
    assert time.monotonic() - made < 5
    delivered = admin.notifications(wait=2)
    assert delivered["deliveries"] >= 2 and delivered["failures"] == 0
    assert {entry["status"] for entry in delivered["log"]} == {202}
    assert daemon.status("deals") == "ok"


def test_with_callbacks_off_a_deal_arrives_by_polling(api, admin, start):
    """The sandbox sends no callback: the polling fallback brings the deal over."""
    admin.settings(callbacks=False)
    account = an_account(api)
    start('poll_every = "1s"\nmasters_every = "1h"')
    in_books(admin)
    api.crm_create("Deals", deal(account, "Quiet deal"))
    wait_for(lambda: sales_orders(admin).get("Quiet deal"), timeout=10)
    counts = admin.notifications()
    assert counts["deliveries"] == 0 and counts["suppressed"] >= 1


def test_pause_and_resume_from_the_cli_reach_the_running_daemon(api, admin, start):
    """`replicator pause deals` (another process) stops the daemon syncing deals, callbacks
    included, with no restart; `replicator resume deals` brings the held deal over."""
    account = an_account(api)
    daemon = start('poll_every = "1s"\nmasters_every = "1h"')
    in_books(admin)
    settled(daemon)
    paused = cli(daemon.config, "pause", "deals")
    assert paused.returncode == 0, paused.stderr
    wait_for(lambda: daemon.status("deals") == "paused", timeout=10)
    api.crm_create("Deals", deal(account, "Held deal"))
    time.sleep(3)  # callbacks and three polls come and go
    assert "Held deal" not in sales_orders(admin)
    resumed = cli(daemon.config, "resume", "deals")
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: sales_orders(admin).get("Held deal"), timeout=10)


def test_a_master_change_waits_for_its_schedule_or_replicator_sync(api, admin, start, tmp_path):
    """Customers sync on their schedule (shortened to 2 s here) or on `replicator sync`;
    with the schedule at an hour, a new account waits for `replicator sync`."""
    daemon = start('masters_every = "2s"\npoll_every = "1h"')
    wait_for(lambda: daemon.status("customers") == "ok", timeout=10)
    api.crm_create("Accounts", {"Account_Name": "Scheduled Ltd"})
    wait_for(lambda: "Scheduled Ltd" in books_names(admin), timeout=10)
    daemon.close()

    daemon = start('masters_every = "1h"\npoll_every = "1h"')
    # none due now, and none running: a start after a cycle cut short (the first daemon
    # closed mid-cycle) runs the module at once, and that cycle would carry the account
    wait_for(lambda: next_run_in(daemon, "customers") > 1800 and idle(daemon, "customers"), 30)
    api.crm_create("Accounts", {"Account_Name": "Waiting Ltd"})
    time.sleep(2)
    assert "Waiting Ltd" not in books_names(admin)  # its next run is an hour away
    done = cli(tmp_path / "replicator.toml", "sync", "--module", "customers", "--json")
    assert done.returncode == 0, done.stderr
    assert "the running daemon ran this cycle" in done.stderr  # one engine per journal
    assert json.loads(done.stdout)["modules"]["customers"]["books"]["created"] == 1
    assert "Waiting Ltd" in books_names(admin)
    assert daemon.state()["modules"]["customers"]["trigger"] == "request"


def test_a_forged_callback_is_refused_and_journaled_nowhere(api, admin, start, tmp_path):
    """A callback with the right channel id and a wrong (or no) token gets 401; the deal
    it names is not fetched and the journal gains no entry."""
    account = an_account(api)
    daemon = start('poll_every = "1h"\nmasters_every = "1h"')
    in_books(admin)
    settled(daemon)
    channel = daemon.state()["channels"]["crm"]["channel_id"]
    admin.settings(callbacks=False)  # the real callback must not beat the forged one
    deal_id = api.crm_create("Deals", deal(account, "Forged deal"))[0]
    time.sleep(0.5)
    before = journal_entries(tmp_path)
    forged = {"channel_id": channel, "module": "Deals", "operation": "insert", "ids": [deal_id]}
    for token in ({"token": "not-the-token"}, {}, {"token": None}):
        answer = httpx.post(f"{daemon.url}/callbacks/crm", json={**forged, **token})
        assert answer.status_code == 401
    time.sleep(1)
    assert journal_entries(tmp_path) == before
    assert "Forged deal" not in sales_orders(admin)
    assert "callback refused" in daemon.logs()


def journal_entries(folder: Path) -> int:
    done = cli(folder / "replicator.toml", "journal", "verify", "--json")
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["entries"])


def test_metrics_parse_and_healthz_turns_unhealthy_when_credentials_are_revoked(api, admin, start):
    """/metrics parses with prometheus_client and counts API requests per side; after
    the sandbox revokes the credentials the next cycle fails and /healthz answers 503."""
    an_account(api)
    daemon = start('poll_every = "1s"\nmasters_every = "1s"')
    in_books(admin)
    assert httpx.get(f"{daemon.url}/healthz").status_code == 200
    text = httpx.get(f"{daemon.url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    sides = {s.labels["side"] for s in families["replicator_api_requests"].samples}
    assert sides == {"crm", "books"}
    assert any(s.value >= 1 for s in families["replicator_cycles"].samples)
    admin.revoke()
    answer = wait_for(
        lambda: (r := httpx.get(f"{daemon.url}/healthz")).status_code == 503 and r, timeout=15
    )
    body = answer.json()
    assert body["status"] == "unhealthy" and body["problems"]
    assert any(
        "401" in (m["error"] or "") or "invalid" in (m["error"] or "").lower()
        for m in body["modules"].values()
    )
    admin.restore()
    wait_for(lambda: httpx.get(f"{daemon.url}/healthz").status_code == 200, timeout=15)


def test_sigterm_mid_cycle_then_sigkill_mid_push_lose_and_duplicate_nothing(
    api, admin, start, tmp_path
):
    """SIGTERM during a long first cycle: exit 0, `journal verify` intact.  A restart goes
    on; SIGKILL in the middle of its pushes; another restart finishes: every record of
    either side is on both sides exactly once."""
    names = [f"Customer {i:03d}" for i in range(120)]  # CRM's, pushed to Books one by one
    admin.crm_create("Accounts", *[{"Account_Name": n} for n in names], notify=False)
    theirs = [f"Client {i:03d}" for i in range(40)]  # Books', pushed to CRM in batches
    for name in theirs:
        admin.books_create("contacts", {"contact_name": name, "contact_type": "customer"})
    admin.add_fault("delay", api="books", method="PUT", path="/books/v3/contacts", delay=0.05)
    admin.add_fault("delay", api="crm", method="POST", path="/crm/v8/Accounts/upsert", delay=0.2)

    def copied() -> int:
        return sum(n.startswith("Customer") for n in books_names(admin))

    daemon = start('masters_every = "1h"\npoll_every = "1h"\nbatch_size = 10')
    wait_for(lambda: copied() >= 10, timeout=30)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=25) == 0
    assert 10 <= copied() < 120  # it stopped mid-cycle
    verified = cli(tmp_path / "replicator.toml", "journal", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    daemon = start()
    reached = copied()
    wait_for(lambda: copied() >= reached + 20, timeout=30)
    daemon.signal(signal.SIGKILL)
    daemon.wait(timeout=10)
    assert copied() < 120  # killed mid-push

    admin.clear_faults()
    daemon = start()  # the kernel dropped the dead daemon's lock: this one may start
    wait_for(lambda: copied() >= 120 and daemon.status("customers") == "ok", 60)
    everyone = sorted(names + theirs)
    assert books_names(admin) == everyone
    assert crm_names(admin) == everyone
    verified = cli(tmp_path / "replicator.toml", "journal", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_second_daemon_on_the_journal_exits_with_a_message(admin, start, tmp_path):
    """One daemon per journal: the second exits non-zero and says which process holds it."""
    daemon = start('masters_every = "1h"\npoll_every = "1h"')
    second = subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRY,
            "daemon",
            "--config",
            str(tmp_path / "replicator.toml"),
            "--bind",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "another daemon is running on journal" in second.stderr
    assert f"pid {daemon.process.pid}" in second.stderr
    assert token_path(daemon.journal).stat().st_mode & 0o777 == 0o600
    with contextlib.suppress(Exception):
        daemon.close()


def test_the_channel_is_renewed_before_it_expires_and_removed_on_stop(api, admin, start):
    """With a 4 s channel life the daemon renews it every 2 s: 6 s later it is still the
    one live channel and a deal still arrives by callback; a stop removes it."""
    account = an_account(api)
    daemon = start('poll_every = "1h"\nmasters_every = "1h"\nchannel_expiry = "4s"')
    in_books(admin)
    first = wait_for(lambda: daemon.state()["channels"].get("crm", {}).get("expiry"), 10)
    time.sleep(6)
    channel = daemon.state()["channels"]["crm"]
    assert channel["expiry"] > first
    live = api.crm("GET", "/actions/watch")["watch"]
    assert [c["channel_id"] for c in live] == [channel["channel_id"]]
    assert live[0]["events"] == ["Deals.all"]
    assert live[0]["notify_url"] == f"{daemon.url}/callbacks/crm"
    assert live[0]["token"] and live[0]["token"] not in daemon.logs()  # the channel's secret
    api.crm_create("Deals", deal(account, "Late deal"))
    wait_for(lambda: sales_orders(admin).get("Late deal"), timeout=5)
    daemon.close()
    assert daemon.process.returncode == 0
    assert api.crm("GET", "/actions/watch") == {}


def test_a_refused_channel_is_a_warning_and_polling_carries_the_deals(api, admin, start):
    """When the CRM refuses the watch channel the daemon stays healthy, says why in
    /healthz warnings, and its polling brings the deal over."""
    admin.add_fault("status", api="crm", method="POST", path="/crm/v8/actions/watch", status=403)
    account = an_account(api)
    daemon = start('poll_every = "1s"\nmasters_every = "1h"')
    in_books(admin)
    health = wait_for(
        lambda: (h := httpx.get(f"{daemon.url}/healthz").json())["warnings"] and h, 10
    )
    assert health["status"] == "ok" and "side crm" in health["warnings"][0]
    api.crm_create("Deals", deal(account, "Polled deal"))
    wait_for(lambda: sales_orders(admin).get("Polled deal"), timeout=10)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(api, admin, start, tmp_path):
    """Eight SIGKILLs at random moments of a long two-way first sync, then a clean run:
    every record of either side is on both sides exactly once, the journal intact."""
    import random

    rng = random.Random(5)
    names = [f"Customer {i:03d}" for i in range(150)]
    admin.crm_create("Accounts", *[{"Account_Name": n} for n in names], notify=False)
    theirs = [f"Client {i:03d}" for i in range(60)]
    for name in theirs:
        admin.books_create("contacts", {"contact_name": name, "contact_type": "customer"})
    admin.add_fault("delay", api="books", method="PUT", path="/books/v3/contacts", delay=0.02)
    admin.add_fault("delay", api="crm", method="POST", path="/crm/v8/Accounts/upsert", delay=0.1)
    settings = 'masters_every = "1h"\npoll_every = "1h"\nbatch_size = 7'
    for kill in range(8):
        daemon = start(settings if kill == 0 else "")
        time.sleep(rng.uniform(0.05, 1.5))
        daemon.signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    admin.clear_faults()
    start()  # it finishes an interrupted cycle first; `replicator sync` runs one more
    done = cli(tmp_path / "replicator.toml", "sync", "--json")
    assert done.returncode == 0, done.stderr
    everyone = sorted(names + theirs)
    assert books_names(admin) == everyone
    assert crm_names(admin) == everyone
    verified = cli(tmp_path / "replicator.toml", "journal", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


TRANSACTIONS = """\
[journal]
path = "journal.db"

[sides.crm]
connector = "zoho_crm"
credentials = "{credentials}"

[sides.books]
connector = "zoho_books"
credentials = "{credentials}"
requests_per_minute = 100000

[integration]
[integration.customers]
crm_module = "accounts"
[integration.items]
[integration.vendors]
[integration.transactions]

[daemon]
bind = "127.0.0.1:0"
stop_timeout = "20s"
poll_every = "1h"
masters_every = "1h"
"""


def test_a_crm_quote_with_three_lines_reaches_books_within_5_seconds(api, admin, sandbox, tmp_path):
    """[integration.transactions] under a running daemon: a quote made in CRM, naming an
    account and three products, is a Books estimate within 5 s (the callback path), with
    its three lines' exact amounts and the same total in both apps."""
    config = tmp_path / "replicator.toml"
    config.write_text(TRANSACTIONS.format(credentials=sandbox.credentials_path), encoding="utf-8")
    done = cli(config, "setup")
    assert done.returncode == 0, done.stdout + done.stderr
    account = an_account(api)
    products = [
        api.crm_create("Products", {"Product_Name": name, "Unit_Price": price})[0]
        for name, price in (("Widget", 10), ("Gadget", 20), ("Gizmo", 30))
    ]
    daemon = DaemonProcess(config)
    try:
        in_books(admin)
        wait_for(
            lambda: (
                daemon.status("estimates") == "ok"
                and daemon.state()["channels"].get("crm", {}).get("expiry")
            ),
            timeout=10,
        )
        lines = [
            {"Product_Name": {"id": products[0]}, "Quantity": 3, "List_Price": 10.25},
            {"Product_Name": {"id": products[1]}, "Quantity": 1.5, "List_Price": 19.99},
            {"Product_Name": {"id": products[2]}, "Quantity": 2, "List_Price": 30, "Discount": 5},
        ]
        made = time.monotonic()
        api.crm_create(
            "Quotes",
            {"Subject": "Quick quote", "Account_Name": {"id": account}, "Quoted_Items": lines},
        )

        def estimate() -> dict[str, Any] | None:
            found = [
                e
                for e in admin.books_records("estimates")
                if e.get("reference_number") == "Quick quote"
            ]
            if not found:
                return None
            return dict(admin.call("GET", f"/books/estimates/{found[0]['estimate_id']}"))

        got = wait_for(estimate, timeout=5)
        assert time.monotonic() - made < 5
        assert [
            (Decimal(str(li["quantity"])), Decimal(str(li["rate"])), Decimal(str(li["discount"])))
            for li in got["line_items"]
        ] == [
            (Decimal(3), Decimal("10.25"), Decimal(0)),
            (Decimal("1.5"), Decimal("19.99"), Decimal(0)),
            (Decimal(2), Decimal(30), Decimal(5)),
        ]
        (quote,) = [q for q in admin.crm_records("Quotes") if q["Subject"] == "Quick quote"]
        assert Decimal(str(got["total"])) == Decimal(str(quote["Grand_Total"]))
    finally:
        daemon.close()
