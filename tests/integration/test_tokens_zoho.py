"""Access tokens across `replicator sync` processes, against a sandbox at Zoho's token limit.

Each test starts its own sandbox (127.0.0.1, a free port) with Zoho's OAuth allowance, 10
access tokens per refresh token per 10 minutes, not the session sandbox's raised one, and
runs the command line as separate processes, as cron or a restart loop would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from replicator.cli.demo.zoho import zoho_config
from replicator.config.load import load_config
from replicator.sandbox import Sandbox, Settings
from replicator.sync.app import open_journal
from replicator.sync.lifecycle import last_run

ROOT = Path(__file__).resolve().parents[2]

# Zoho's OAuth numbers (the defaults); Books' per-minute limit is raised so that a dozen
# syncs inside a minute are not slowed by it: this is a test of tokens, not of Books.
ZOHO_TOKENS = Settings(books_per_minute=10_000, books_per_day=1_000_000)


@pytest.fixture
def zoho(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox of the test's own, at Zoho's token limit."""
    assert (ZOHO_TOKENS.tokens_per_window, ZOHO_TOKENS.token_window) == (10, 600)
    with Sandbox(tmp_path / "zoho", host="127.0.0.1", port=0, settings=ZOHO_TOKENS) as box:
        box.admin.seed("keys")
        yield box


def write_config(tmp_path: Path, sandbox: Sandbox) -> Path:
    config = tmp_path / "replicator.toml"
    config.write_text(zoho_config(sandbox.credentials_path), encoding="utf-8")
    return config


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`replicator ARGS` as a process of its own, running this checkout's code."""
    env = {k: v for k, v in os.environ.items() if k != "REPLICATOR_TOKEN_CACHE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "replicator", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_twelve_back_to_back_syncs_at_zohos_token_limit_all_succeed(
    tmp_path: Path, zoho: Sandbox
) -> None:
    """12 `replicator sync` processes in a row (one more than Zoho's 10 tokens per 10
    minutes would let each take its own) all exit 0; the sandbox issued one token."""
    zoho.admin.crm_create("Accounts", {"Account_Name": "Token Co"})
    config = write_config(tmp_path, zoho)
    for run in range(12):
        result = run_cli("--config", str(config), "sync", "--json")
        assert result.returncode == 0, f"run {run + 1}: {result.stderr}"
    assert zoho.admin.count("POST", "/oauth/v2/token", 200) == 1
    assert zoho.admin.count("POST", "/oauth/v2/token", 400) == 0
    assert [r["contact_name"] for r in zoho.admin.books_records("contacts")] == ["Token Co"]


def test_a_429_from_the_token_endpoint_is_one_line_and_the_runs_journaled_error(
    tmp_path: Path, zoho: Sandbox
) -> None:
    """When the token endpoint answers 429 with a long Retry-After, `sync` exits 1 with
    one line saying when to retry (no traceback, no secret) and the run marker in the
    journal carries that error."""
    config = write_config(tmp_path, zoho)
    assert run_cli("--config", str(config), "sync").returncode == 0
    zoho.admin.expire_tokens()  # the cached token stops working: the next call needs one
    zoho.admin.add_fault("status", api="oauth", status=429, retry_after=3600)
    result = run_cli("--config", str(config), "sync")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert "no new access token before" in line and "UTC (in 3600 s)" in line
    assert "HTTP 429" in line
    secrets = zoho.credentials
    for key in ("client_secret", "refresh_token"):
        assert secrets[key] not in result.stderr + result.stdout
    journal = open_journal(load_config(config))
    try:
        run = last_run(journal)
    finally:
        journal.close()
    assert run is not None and run.error is not None
    assert "ZohoRefreshLimitError" in run.error and "no new access token before" in run.error
    assert secrets["refresh_token"] not in run.error


def test_a_429_from_the_token_endpoint_on_a_first_sync_is_journaled_too(
    tmp_path: Path, zoho: Sandbox
) -> None:
    """On a very first sync the first token is asked for while the sides are checked,
    before the cycle: its refusal is journaled as the run's error all the same."""
    config = write_config(tmp_path, zoho)
    zoho.admin.add_fault("status", api="oauth", status=429, retry_after=3600)
    result = run_cli("--config", str(config), "sync")
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    journal = open_journal(load_config(config))
    try:
        run = last_run(journal)
    finally:
        journal.close()
    assert run is not None and run.error is not None
    assert "ZohoRefreshLimitError" in run.error and "no new access token before" in run.error
