"""Issue 9, class 1, end to end against the Zoho sandbox: an interrupted first sync doubles
nothing.

CRM Accounts and Books customers hold the same names before their first sync (Books'
organisation allows two contacts with one name, so a duplicate would show on both sides;
``duplicates = "overwrite"`` must pair every one of them).  The first sync is interrupted,
then normal runs follow; after them every name is exactly once on each side and
``replicator journal verify`` says intact:

- the Books list endpoint answers 503 during the whole first sync (the CRM side is read);
- ``replicator daemon`` (a real process, with the sandbox a real process too) gets a clean
  SIGTERM while its first cycle reads Books (each Books page is held a little, so the cycle
  is long enough to be stopped in), then it is started again.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.sandbox import AdminClient, Sandbox
from tests.integration.conftest import fresh
from tests.integration.test_daemon_zoho import (
    LIMITS,
    DaemonProcess,
    SandboxProcess,
    books_names,
    cli,
    crm_names,
    wait_for,
)


def seed(admin: AdminClient, shared: int) -> list[str]:
    """``shared`` names on both sides, one more on each side alone; the names expected
    on each side after the sync."""
    names = [f"Shared {i:04d} Ltd" for i in range(shared)]
    accounts = [{"Account_Name": n} for n in [*names, "Crm Only Ltd"]]
    for start in range(0, len(accounts), 100):
        admin.crm_create("Accounts", *accounts[start : start + 100], notify=False)
    for name in [*names, "Books Only Ltd"]:
        admin.books_create("contacts", {"contact_name": name, "contact_type": "customer"})
    admin.advance_clock(1)
    return sorted([*names, "Crm Only Ltd", "Books Only Ltd"])


def assert_each_name_once(admin: AdminClient, expected: list[str]) -> None:
    for side, names in (("crm", crm_names(admin)), ("books", books_names(admin))):
        twice = sorted(n for n, k in Counter(names).items() if k > 1)
        assert not twice, f"{side} holds {len(twice)} names twice, e.g. {twice[:3]}"
        assert names == expected, f"{side} lacks {sorted(set(expected) - set(names))[:5]}"


def journal_entries(journal: Path, where: str) -> int:
    """Entries of the journal matching ``where`` (0 while it is not there yet)."""
    if not journal.exists():
        return 0
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
        ) as conn:
            return int(conn.execute(f"SELECT count(*) FROM entries WHERE {where}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


# -- the Books list answering 503 for the whole first sync -----------------------------------


def test_a_first_sync_while_the_books_list_answers_503_doubles_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Books' contact list answers 503 for the whole first sync: it exits 1 naming the
    side, nothing is created; the fault cleared, normal runs leave every name once on each
    side and the journal intact."""
    admin = fresh(sandbox, unique_contact_names=False)
    expected = seed(admin, 40)
    config = tmp_path / "replicator.toml"
    text = zoho_config(sandbox.credentials_path, books_per_minute=100_000)
    config.write_text(text.replace("requests_per_minute", "max_retries = 1\nrequests_per_minute"))
    admin.add_fault("status", api="books", method="GET", path="/books/v3/contacts", status=503)
    first = CliRunner().invoke(main, ["sync", "--config", str(config)])
    assert first.exit_code == 1, first.output
    assert "books" in first.output and "503" in first.output, first.output
    assert len(crm_names(admin)) == len(books_names(admin)) == len(expected) - 1
    admin.clear_faults()
    for _ in range(2):
        again = CliRunner().invoke(main, ["sync", "--config", str(config)])
        assert again.exit_code == 0, again.output
    assert_each_name_once(admin, expected)
    verify = CliRunner().invoke(main, ["journal", "verify", "--config", str(config)])
    assert verify.exit_code == 0 and "intact" in verify.output, verify.output


# -- the daemon stopped by SIGTERM during its first cycle ------------------------------------

DAEMON_CONFIG = """\
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
duplicates = "overwrite"
page_size = 20
crm = {{ table = "Accounts", match = "Account_Name", modified = "Modified_Time" }}
books = {{ table = "customers", match = "contact_name", modified = "last_modified_time" }}

[modules.customers.fields]
name = {{ crm = "Account_Name", books = "contact_name" }}

[daemon]
bind = "127.0.0.1:0"
stop_timeout = "20s"
masters_every = "1h"
poll_every = "1h"
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """This module's own sandbox process (the daemon's tests hold theirs)."""
    process = SandboxProcess(tmp_path_factory.mktemp("interruptions-sandbox"))
    try:
        yield process
    finally:
        process.admin.close()
        process.close()


@pytest.mark.parametrize("shared", [60, pytest.param(600, marks=pytest.mark.slow, id="600-slow")])
def test_a_daemon_stopped_by_sigterm_in_its_first_cycle_doubles_nothing_after_a_restart(
    tmp_path: Path, box: SandboxProcess, shared: int
) -> None:
    """The daemon's first cycle has read CRM and is reading Books (each Books page held
    0.3 s) when SIGTERM comes: it exits 0 within its stop timeout; started again, its first
    cycle leaves every name once on each side, and the journal is intact."""
    admin = box.admin
    admin.reset()
    admin.settings(**LIMITS, unique_contact_names=False)
    admin.seed("keys")
    try:
        expected = seed(admin, shared)
        config = tmp_path / "replicator.toml"
        config.write_text(DAEMON_CONFIG.format(credentials=box.credentials_path))
        admin.add_fault("delay", api="books", method="GET", path="/books/v3/contacts", delay=0.3)
        daemon = DaemonProcess(config)
        try:
            wait_for(lambda: journal_entries(daemon.journal, "side = 'books'") > 0, timeout=60)
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=60) == 0, daemon.logs()
        finally:
            daemon.close()
        admin.clear_faults()
        again = DaemonProcess(config)
        try:
            wait_for(lambda: again.status("customers") == "ok", timeout=120)
            assert_each_name_once(admin, expected)
        finally:
            again.close()
        verify = cli(config, "journal", "verify")
        assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr
    finally:
        admin.clear_faults()
