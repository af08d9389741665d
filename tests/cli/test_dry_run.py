"""`replicator plan`, `sync --dry-run` (tables, --json, --show) and the first sync's guard
rail (`--yes`, the limit, 0 turning it off), over two SQLite databases.

The guard watches Zoho sides only; these tests let it watch SQLite sides too
(``dryrun.GUARDED``) so that the command's behaviour is tested without a sandbox
(tests/integration/test_dry_run_zoho.py runs it against Zoho sides)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from replicator.cli.main import main
from replicator.sync import dryrun
from tests.sqlite_folder import SQLiteFolder


class Folder(SQLiteFolder):
    def __init__(self, path: Path, guard: str = "") -> None:
        super().__init__(path, guard=guard)
        self.config = self.config_path
        names = ", ".join(f"('Customer {n:02}', 'c{n}@example.com')" for n in range(8))
        self.sql(self.books, f"INSERT INTO customers (name, email) VALUES {names}")
        self.sql(
            self.crm,
            "INSERT INTO accounts (account_name, email, credit_limit) VALUES "
            "('Customer 00', 'crm0@example.com', NULL), ('Gamma', 'g@x', '1,5')",
        )

    def count(self, db: Path, table: str) -> int:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["--config", str(self.config), *args])


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path)


def test_plan_prints_the_summary_and_the_first_rows_of_each_group(folder):
    """The summary per module and side, then each group with rows, cut at five rows with
    the command that shows the rest; no byte of the folder changes."""
    before = folder.hashes()
    result = folder.cli("plan")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "nothing was written" in out
    for group in ("creates", "links", "refused"):
        assert group in out
    assert "creates (8)" in out  # 7 to crm, 1 (Gamma) to books
    assert "... and 3 more: `replicator plan --show creates`" in out
    assert "duplicates = link" in out  # the rule that paired Customer 00
    assert folder.hashes() == before


def test_sync_dry_run_json_is_the_whole_plan(folder):
    """`sync --dry-run --json`: every row of every group, and the summary's counts."""
    before = folder.hashes()
    result = folder.cli("sync", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True
    assert len(data["creates"]) == 8
    assert data["summary"]["customers"]["crm"]["creates"] == 7
    assert data["summary"]["customers"]["books"]["links"] == 1
    (refused,) = data["refused"]
    assert refused["field"] == "credit_limit" and refused["side"] == "crm"
    assert folder.hashes() == before


def test_show_prints_every_row_of_one_group_only(folder):
    """`--show creates`: all eight creates, no other group's table."""
    result = folder.cli("sync", "--dry-run", "--show", "creates")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert all(f"Customer {n:02}" in out for n in range(1, 8))
    assert "more:" not in out and "refused (" not in out and "links (" not in out


def test_show_without_dry_run_is_a_usage_error(folder):
    """`sync --show` alone would sync: it is refused, and nothing is written."""
    result = folder.cli("sync", "--show", "creates")
    assert result.exit_code == 2 and "--dry-run" in result.output
    assert folder.count(folder.crm, "accounts") == 2


def test_show_with_json_gives_that_group_and_the_summary(folder):
    data = json.loads(folder.cli("plan", "--json", "--show", "links").stdout)
    assert set(data) == {"dry_run", "summary", "links", "captured"}


def test_the_guard_stops_a_first_sync_over_the_limit_until_yes(folder, monkeypatch):
    """Over `[guard] first_sync_creates`, a first sync pushes nothing, shows the plan and
    asks for --yes; `sync --yes` then runs it."""
    monkeypatch.setattr(dryrun, "GUARDED", frozenset({"sqlite"}))
    folder.write_config(guard="\n[guard]\nfirst_sync_creates = 5\n")
    result = folder.cli("sync")
    assert result.exit_code == 1
    assert "the first sync stopped before pushing" in result.stdout
    assert "would create 7 on crm" in result.output and "--yes" in result.output
    # nothing pushed (the sides' files got their change logs: the sync opened them)
    assert folder.count(folder.crm, "accounts") == 2
    assert folder.count(folder.books, "customers") == 8
    result = folder.cli("sync", "--yes")
    assert result.exit_code == 0, result.output
    assert folder.count(folder.crm, "accounts") == 9
    again = folder.cli("sync")  # no longer a first sync: no guard
    assert again.exit_code == 0, again.output


def test_the_guard_lets_a_first_sync_under_the_limit_go(folder, monkeypatch):
    monkeypatch.setattr(dryrun, "GUARDED", frozenset({"sqlite"}))
    result = folder.cli("sync")  # the default limit, 500
    assert result.exit_code == 0, result.output
    assert folder.count(folder.crm, "accounts") == 9


def test_a_limit_of_zero_turns_the_guard_off(folder, monkeypatch):
    monkeypatch.setattr(dryrun, "GUARDED", frozenset({"sqlite"}))
    folder.write_config(guard="\n[guard]\nfirst_sync_creates = 0\n")
    result = folder.cli("sync")
    assert result.exit_code == 0, result.output
    assert folder.count(folder.crm, "accounts") == 9


def test_the_guard_json_names_the_sides_over_the_limit(folder, monkeypatch):
    monkeypatch.setattr(dryrun, "GUARDED", frozenset({"sqlite"}))
    folder.write_config(guard="\n[guard]\nfirst_sync_creates = 1\n")
    result = folder.cli("sync", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["guard"] == {"crm": 7}
    assert len(data["creates"]) == 8


def test_a_guard_limit_that_is_not_a_whole_number_is_refused(folder):
    folder.write_config(guard='\n[guard]\nfirst_sync_creates = "many"\n')
    result = folder.cli("plan")
    assert result.exit_code == 1
    assert "guard.first_sync_creates" in result.output
