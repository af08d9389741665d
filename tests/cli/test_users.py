"""`replicator users add|remove|list|link|set-password` against the Zoho sandbox over real
HTTP: integration users are active CRM users, at most 1000, only while every transaction
module syncs; every refusal is one line, every change journaled and in `history`."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from journal.payloads import IntegrationUsers, payload_of
from replicator.cli.main import main
from replicator.config.load import load_config
from replicator.console.auth import check_sign_in, read_store, store_path, update_store, use_link
from replicator.sandbox import Sandbox, Settings
from replicator.sandbox.crm_users import DEACTIVATED
from replicator.sync.app import open_journal
from tests.integration.test_integration_zoho import write_config

SETTINGS = Settings(
    tokens_per_window=100_000,
    books_per_minute=100_000,
    books_per_day=10_000_000,
    crm_credits_per_day=10_000_000,
)
MASTERS: dict[str, dict[str, Any]] = {
    "customers": {"crm_module": "accounts"},
    "vendors": {},
    "items": {},
    "transactions": {},
}
SAM = "sam.seller@sandbox.example"  # an active CRM user of the sandbox
ADMIN = "admin@sandbox.example"  # the other one


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox serving CRM v8, Books v3 and OAuth on 127.0.0.1:<free port>."""
    folder = tmp_path_factory.mktemp("users-sandbox")
    with Sandbox(folder, host="127.0.0.1", port=0, settings=SETTINGS) as box:
        yield box


def make(tmp_path: Path, sandbox: Sandbox, *, extra: str = "") -> Path:
    """An integration config over the sandbox, every transaction module on (unless
    ``extra`` names some), and its journal."""
    path = write_config(tmp_path, sandbox.credentials_path, MASTERS)
    if extra:
        path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    open_journal(load_config(path)).close()
    return path


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox) -> Path:
    return make(tmp_path, sandbox)


def run(config: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), "users", *args], input=input)


def refused(result: Result) -> str:
    """The one-line refusal of a command that failed cleanly."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def journaled(config: Path) -> list[IntegrationUsers]:
    journal = open_journal(load_config(config))
    try:
        found = [payload_of(e) for e in journal.read()]
    finally:
        journal.close()
    return [p for p in found if isinstance(p, IntegrationUsers)]


def store(config: Path) -> dict[str, Any]:
    return read_store(store_path(load_config(config).journal_path))


def test_an_active_crm_user_is_added_journaled_kept_in_a_0600_store_and_shown_in_history(
    config,
):
    """`users add` of an active CRM user: one IntegrationUsers entry by person, the store
    (mode 0600) holds the email without a password, `history` says it in words."""
    added = run(config, "add", "Sam.Seller@Sandbox.example")
    assert added.exit_code == 0, added.output
    assert journaled(config) == [IntegrationUsers(action="add", emails=(SAM,), by="person")]
    path = store_path(load_config(config).journal_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store(config)["users"] == {SAM: {"hash": None}}
    history = CliRunner().invoke(main, ["--config", str(config), "history", "--json"])
    assert history.exit_code == 0, history.output
    (item,) = [i for i in json.loads(history.stdout) if i.get("event") == "integration-users"]
    assert item["summary"] == f"integration users added by person: {SAM}"
    again = run(config, "add", SAM)
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert len(journaled(config)) == 1


def test_an_email_no_crm_user_has_is_refused_in_one_line_and_nothing_is_kept(config):
    """An email CRM does not know is refused naming it; the active one beside it is not
    added either (all or nothing), and nothing is journaled."""
    line = refused(run(config, "add", SAM, "stranger@example.com"))
    assert line == ("Error: stranger@example.com is not a CRM user: no active CRM user has it")
    assert journaled(config) == [] and store(config)["users"] == {}


def test_a_deactivated_crm_user_is_refused_in_one_line(config):
    """A CRM user who is not active (the sandbox's deactivated user) is refused, saying so."""
    line = refused(run(config, "add", DEACTIVATED.email))
    assert line.startswith(f"Error: {DEACTIVATED.email} is a CRM user who is not active")
    assert "only active CRM users" in line
    assert journaled(config) == []


def test_the_1001st_integration_user_is_refused_in_one_line(config):
    """With 1000 integration users kept, adding one more active CRM user is refused,
    naming the bound; removing one lets it in."""
    fill = {f"user{i}@example.com": {"hash": None} for i in range(999)} | {ADMIN: {"hash": None}}
    with update_store(store_path(load_config(config).journal_path)) as data:
        data["users"].update(fill)
    line = refused(run(config, "add", SAM))
    assert line == (
        "Error: at most 1000 integration users: 1000 already, adding 1 would make 1001 "
        "(remove some first)"
    )
    assert journaled(config) == []
    assert run(config, "remove", ADMIN).exit_code == 0
    assert run(config, "add", SAM).exit_code == 0
    assert len(store(config)["users"]) == 1000


def test_users_are_refused_unless_every_transaction_module_syncs(tmp_path, sandbox):
    """With invoices alone under [integration.transactions], `users add` is refused in one
    line naming the modules that do not sync, before CRM is asked."""
    config = make(tmp_path, sandbox, extra="[integration.transactions.invoices]\n")
    line = refused(run(config, "add", SAM))
    assert line == (
        "Error: integration users need every transaction module to sync (estimates, "
        "salesorders, invoices, purchaseorders under [integration.transactions]); not "
        "syncing: estimates, salesorders, purchaseorders"
    )
    assert journaled(config) == []


def test_remove_journals_and_drops_the_users_password_and_links(config):
    """`users remove` journals the removal, and the user's password and links go; removing
    one who is not a user is refused in one line."""
    assert run(config, "add", SAM, ADMIN).exit_code == 0
    assert (
        run(config, "set-password", SAM, "--password-stdin", input="s3cret pass\n").exit_code == 0
    )
    assert run(config, "link", SAM).exit_code == 0
    removed = run(config, "remove", SAM)
    assert removed.exit_code == 0, removed.output
    assert journaled(config)[-1] == IntegrationUsers(action="remove", emails=(SAM,), by="person")
    data = store(config)
    assert list(data["users"]) == [ADMIN] and data["links"] == {}
    assert check_sign_in(data, SAM, "s3cret pass") is None
    assert refused(run(config, "remove", SAM)) == (
        f"Error: {SAM} is not an integration user (`replicator users list`)"
    )


def test_list_json_shows_each_user_with_password_and_links_but_no_secret(config):
    """`users list --json`: email, whether a password is set, live links; never a hash or
    a token."""
    assert run(config, "add", SAM, ADMIN).exit_code == 0
    assert (
        run(config, "set-password", ADMIN, "--password-stdin", input="pw one two\n").exit_code == 0
    )
    link = run(config, "link", SAM).output.strip()
    listed = run(config, "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [
        {"email": ADMIN, "password": True, "links": 0},
        {"email": SAM, "password": False, "links": 1},
    ]
    assert "scrypt" not in listed.stdout and link.rsplit("/", 1)[1] not in listed.stdout


def test_a_link_signs_in_once_and_a_password_set_from_stdin_signs_in(config):
    """`users link` prints a console URL whose token signs the user in once; the store
    keeps only its sha256.  `set-password --password-stdin` makes the password work."""
    assert run(config, "add", SAM).exit_code == 0
    url = run(config, "link", SAM, "--url", "https://console.example/").output.strip()
    assert url.startswith("https://console.example/console/link/")
    token = url.rsplit("/", 1)[1]
    path = store_path(load_config(config).journal_path)
    assert token not in path.read_text(encoding="utf-8")
    now = dt.datetime.now(dt.UTC)
    assert use_link(path, token, now) == SAM
    assert use_link(path, token, now) is None
    done = run(config, "set-password", SAM, "--password-stdin", input="correct horse\n")
    assert done.exit_code == 0, done.output
    assert check_sign_in(store(config), SAM, "correct horse") == (SAM, "integration")
    assert check_sign_in(store(config), SAM, "wrong") is None


def test_link_and_set_password_of_a_stranger_are_refused_in_one_line(config):
    """Neither a link nor a password is made for an email that is not an integration
    user."""
    expected = f"Error: {SAM} is not an integration user: add it first (`replicator users add`)"
    assert refused(run(config, "link", SAM)) == expected
    assert refused(run(config, "set-password", SAM, "--password-stdin", input="x\n")) == expected
