"""`replicator fleet new-key|add|remove|list|status`: tenants in the fleet's store, from
the command line; no output ever holds a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from replicator.cli.main import main
from replicator.fleet import KEY_ENV, STORE_ENV, Sealer, Tenants, new_key, open_store
from tests.fleet.conftest import SECRETS, Files
from tests.fleet.test_tenants import make_journal


def fleet(store: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["fleet", "--store", str(store), *args], env=env)


def no_secret_in(result: Result) -> None:
    for secret in SECRETS:
        assert secret not in result.output


def test_new_key_prints_a_key_the_fleet_takes():
    result = CliRunner().invoke(main, ["fleet", "new-key"])
    assert result.exit_code == 0
    Sealer([result.output.strip()])


def test_add_then_list_shows_the_tenant_and_no_secret(files: Files, tmp_path: Path, fleet_key):
    store = tmp_path / "fleet.db"
    added = fleet(store, "add", "acme", "--config", str(files.config))
    assert added.exit_code == 0, added.output
    assert added.output.startswith("added tenant acme (journal ")
    listed = fleet(store, "list", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["id"] == "acme" and sorted(row["sides"]) == ["books", "crm"]
    assert row["journal"] == str(files.folder / "journal.db")
    table = fleet(store, "list")
    assert "acme" in table.output
    for result in (added, listed, table):
        no_secret_in(result)


def test_the_store_comes_from_the_environment_too(files: Files, tmp_path: Path, fleet_key):
    env = {STORE_ENV: str(tmp_path / "env.db")}
    runner = CliRunner()
    result = runner.invoke(main, ["fleet", "add", "acme", "--config", str(files.config)], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").is_file()


def test_no_store_named_is_a_usage_error():
    result = CliRunner().invoke(main, ["fleet", "list"], env={STORE_ENV: ""})
    assert result.exit_code == 2
    assert STORE_ENV in result.output


def test_status_shows_the_journals_and_exits_1_when_the_key_is_wrong(
    files: Files, tmp_path: Path, fleet_key: str
):
    """With the fleet key: each journal's entries.  With another key: every tenant says
    its secrets do not open, by name, exit 1, and still no secret is printed."""
    store = tmp_path / "fleet.db"
    assert fleet(store, "add", "acme", "--config", str(files.config)).exit_code == 0
    with Tenants(open_store(str(store)), Sealer([fleet_key])) as tenants:
        make_journal(files.folder / "journal.db", tenants.get("acme").secrets.journal_key)
    good = fleet(store, "status", "--json")
    assert good.exit_code == 0, good.output
    (row,) = json.loads(good.output)
    assert (row["ok"], row["secrets"], row["entries"], row["last_seq"]) == (True, "ok", 1, 1)

    bad = fleet(store, "status", env={KEY_ENV: new_key()})
    assert bad.exit_code == 1
    assert "acme" in bad.output and "do not open" in bad.output
    one = fleet(store, "status", "acme", "--json", env={KEY_ENV: new_key()})
    assert one.exit_code == 1
    assert "tenant acme: its secrets do not open" in json.loads(one.output)[0]["secrets"]
    for result in (good, bad, one):
        no_secret_in(result)


@pytest.mark.parametrize("command", [["add", "acme", "--config", "CONFIG"], ["status"]])
def test_commands_that_seal_or_open_need_the_key(files: Files, tmp_path: Path, command):
    """Without REPLICATOR_FLEET_KEY, add and status stop with one line saying how."""
    args = [str(files.config) if a == "CONFIG" else a for a in command]
    store = tmp_path / "fleet.db"
    if command[0] == "status":
        assert (
            fleet(
                store, "add", "x", "--config", str(files.config), env={KEY_ENV: new_key()}
            ).exit_code
            == 0
        )
    result = fleet(store, *args, env={KEY_ENV: ""})
    assert result.exit_code == 1
    assert "no fleet key: set REPLICATOR_FLEET_KEY" in result.output


def test_remove_forgets_the_tenant_and_leaves_its_journal(files: Files, tmp_path: Path, fleet_key):
    store = tmp_path / "fleet.db"
    assert fleet(store, "add", "acme", "--config", str(files.config)).exit_code == 0
    removed = fleet(store, "remove", "acme", env={KEY_ENV: ""})
    assert removed.exit_code == 0, removed.output
    assert "removed tenant acme (its journal stays at" in removed.output
    assert fleet(store, "list").output.strip() == "no tenants"
    again = fleet(store, "remove", "acme")
    assert again.exit_code == 1
    assert "no tenant acme in the fleet" in again.output


def test_a_second_add_of_one_id_and_a_bad_id_are_one_line_each(
    files: Files, tmp_path: Path, fleet_key
):
    store = tmp_path / "fleet.db"
    assert fleet(store, "add", "acme", "--config", str(files.config)).exit_code == 0
    twice = fleet(store, "add", "acme", "--config", str(files.config))
    assert twice.exit_code == 1 and "tenant acme exists already" in twice.output
    bad = fleet(store, "add", "Ac-me", "--config", str(files.config))
    assert bad.exit_code == 1 and "an id is 1 to 48" in bad.output


def test_a_key_rotation_reseals_every_tenant_with_the_new_key(
    files: Files, tmp_path: Path, fleet_key: str
):
    """NEW,OLD opens the old seals; rekey seals with NEW; then NEW alone opens them and
    OLD alone no longer does."""
    store = tmp_path / "fleet.db"
    for name in ("acme", "beta"):
        journal = str(tmp_path / f"{name}.db")
        added = fleet(store, "add", name, "--config", str(files.config), "--journal", journal)
        assert added.exit_code == 0, added.output
    new = new_key()
    rekeyed = fleet(store, "rekey", env={KEY_ENV: f"{new},{fleet_key}"})
    assert rekeyed.exit_code == 0, rekeyed.output
    assert "resealed 2 tenant(s)" in rekeyed.output
    assert fleet(store, "status", env={KEY_ENV: new}).exit_code == 0
    old_only = fleet(store, "status", env={KEY_ENV: fleet_key})
    assert old_only.exit_code == 1 and "acme" in old_only.output
    no_secret_in(rekeyed)


def test_a_rekey_with_a_key_that_opens_nothing_stops_naming_the_tenant(
    files: Files, tmp_path: Path, fleet_key: str
):
    store = tmp_path / "fleet.db"
    assert fleet(store, "add", "acme", "--config", str(files.config)).exit_code == 0
    wrong = fleet(store, "rekey", env={KEY_ENV: new_key()})
    assert wrong.exit_code == 1
    assert "tenant acme: its secrets do not open" in wrong.output
    assert fleet(store, "status").exit_code == 0  # untouched: the old key still opens it
