"""The dry run over two SQLite sides: its plan is what the real sync after it does, entry
by entry, and it changes no byte of either side or of the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicator.config.load import load_config
from replicator.connectors.base import Write
from replicator.connectors.memory import MemoryConnector
from replicator.sync.app import open_app
from replicator.sync.dryrun import DRY_ID, Capturing, dry_run, plan_of_run
from replicator.sync.plan_report import GROUPS, build_plan, compare
from tests.sqlite_folder import SQLiteFolder


class Folder(SQLiteFolder):
    """books.db and crm.db written by plain sqlite3, a journal and a config."""

    def __init__(self, path: Path, *, duplicates: str = "link", conflicts: str = "newest"):
        super().__init__(path, duplicates=duplicates, conflicts=conflicts)
        self.config = load_config(self.config_path)

    def sync(self):
        """The real sync; its plan, from the entries it appended."""
        with open_app(self.config) as app:
            report = app.engine.run()
            return plan_of_run(app.journal, report.entries_before + 1)


def seed(folder: Folder) -> None:
    folder.sql(
        folder.books,
        "INSERT INTO customers (name, email, credit_limit, updated_at) VALUES "
        "('Acme', 'ap@acme.example', 1500.50, '2024-01-01T10:00:00Z'), "
        "('Beta', 'beta@beta.example', NULL, '2024-01-01T10:00:00Z'), "
        "('Poison', 'p@p.example', '1,5', '2024-01-01T10:00:00Z')",
    )
    folder.sql(
        folder.crm,
        "INSERT INTO accounts (account_name, email, credit_limit, modified_time) VALUES "
        "('Acme', 'crm@acme.example', 1500.5, '2024-01-02T10:00:00Z'), "
        "('Gamma', 'g@gamma.example', '200', '2024-01-01T10:00:00Z')",
    )


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path)


def test_a_dry_run_of_a_first_sync_changes_no_byte_of_the_sides_or_journal(folder):
    """Hashes of both side files (and of every other file beside them) are the same after a
    dry run; no journal, key or anchors file is made."""
    seed(folder)
    before = folder.hashes()
    plan = dry_run(folder.config).plan
    assert plan.total("creates") > 0
    assert folder.hashes() == before
    assert not (folder.path / "journal.db").exists()


def test_a_first_sync_does_what_its_dry_run_said_entry_by_entry(folder):
    """Creates, the link of the duplicate and the poison refused: the same rows in the plan
    and in what the real sync then journaled."""
    seed(folder)
    plan = dry_run(folder.config).plan
    done = folder.sync()
    assert compare(plan, done) == []
    assert {(r["side"], r["values"]["name"]) for r in plan.rows("creates")} == {
        ("crm", "Beta"),
        ("crm", "Poison"),  # the rest of a record goes without its poisoned field
        ("books", "Gamma"),
    }
    (link,) = plan.rows("links")
    assert link["side"] == "books" and link["policy"] == "link"
    assert "the same match key" in link["rule"]
    assert [r["field"] for r in plan.rows("refused")] == ["credit_limit"]
    assert plan.counts()["customers"]["crm"]["creates"] == 2


def test_a_later_sync_shows_overwrites_old_to_new_and_conflicts_with_their_winner(tmp_path):
    """After a first sync, an edit on one side is an overwrite of the other (old -> new),
    concurrent edits of one field a conflict whose winner and reason the plan names; the
    journal and both sides keep every byte through the dry run."""
    folder = Folder(tmp_path)
    seed(folder)
    folder.sync()
    folder.sql(folder.books, "UPDATE customers SET email = 'new@beta.example' WHERE name = 'Beta'")
    folder.sql(
        folder.books,
        "UPDATE customers SET credit_limit = 10, updated_at = '2024-02-01T00:00:00Z' "
        "WHERE name = 'Acme'",
    )
    folder.sql(
        folder.crm,
        "UPDATE accounts SET credit_limit = 20, modified_time = '2024-03-01T00:00:00Z' "
        "WHERE account_name = 'Acme'",
    )
    before = folder.hashes()
    plan = dry_run(folder.config).plan
    assert folder.hashes() == before
    beta = next(r for r in plan.rows("overwrites") if r["changes"].get("email"))
    assert beta["side"] == "crm"
    assert beta["changes"]["email"] == {"old": "beta@beta.example", "new": "new@beta.example"}
    (conflict,) = plan.rows("conflicts")
    assert conflict["field"] == "credit_limit" and conflict["winner"]["side"] == "crm"
    assert conflict["reason"]
    assert compare(plan, folder.sync()) == []


def test_a_dry_run_of_nothing_to_do_is_an_empty_plan(folder):
    """Both sides in sync: every group is empty."""
    seed(folder)
    folder.sync()
    plan = dry_run(folder.config).plan
    assert plan.empty and all(plan.rows(g) == () for g in GROUPS)


def test_skip_and_held_duplicates_are_in_the_plan(tmp_path):
    """duplicates = "skip": each of the pair is a skip with its reason; two records of one
    key on a side against one on the other are held for a person."""
    folder = Folder(tmp_path, duplicates="skip")
    folder.sql(folder.books, "INSERT INTO customers (name) VALUES ('Acme'), ('Zed'), ('Zed')")
    folder.sql(folder.crm, "INSERT INTO accounts (account_name) VALUES ('Acme'), ('Zed')")
    plan = dry_run(folder.config).plan
    assert {r["side"] for r in plan.rows("skips")} == {"books", "crm"}
    assert all(r["reason"] for r in plan.rows("skips"))
    assert plan.total("held") == 3
    assert compare(plan, folder.sync()) == []


def test_sides_given_are_wrapped_so_their_writes_are_captured(tmp_path):
    """A side that is no SQLite file (here two memory sides) is read through and its
    writes are held back, each create answered with a dry id."""
    config = load_config(SQLiteFolder(tmp_path).config_path)
    books, crm = MemoryConnector("books"), MemoryConnector("crm")
    books.insert("customers", {"name": "Acme", "email": "a@x"})
    run = dry_run(config, connectors={"books": books, "crm": crm})
    assert run.captured == {"books": 0, "crm": 1}
    assert crm.rows("accounts") == {}
    (create,) = run.plan.rows("creates")
    assert create["side"] == "crm" and create["values"]["name"] == "Acme"
    capturing = Capturing(crm)
    (outcome,) = capturing.push(
        config.modules["customers"].side_module("crm"),
        [Write("r", None, {})],
    )
    assert outcome.id == DRY_ID.format(1)


def test_compare_names_each_row_found_in_one_plan_only():
    """Two plans that differ by a row say which and where."""
    a = build_plan([], first=1)
    assert compare(a, a) == []
