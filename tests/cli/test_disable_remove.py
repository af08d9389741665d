"""`replicator disable --remove-crm-copies` end to end over two SQLite databases: the dry
listing, the confirmation, --json, history, another writer holding the journal, and plain
`disable` deleting nothing."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from replicator.cli.main import main
from replicator.daemon.state import journal_writer

CONFIG = """\
[journal]
path = "journal.db"

[sides.books]
connector = "sqlite"
path = "books.db"

[sides.crm]
connector = "sqlite"
path = "crm.db"

[modules.customers]
first = "crm"
duplicates = "overwrite"
books = { table = "customers", id = "id", match = "name" }
crm = { table = "Accounts", id = "id", match = "Account_Name" }

[modules.customers.fields]
name = { books = "name", crm = "Account_Name" }

[modules.invoices]
sync = "one_way"
source = "books"
books = { table = "invoices", id = "id" }
crm = { table = "Invoices", id = "id" }

[modules.invoices.fields]
subject = { books = "reference_number", crm = "Subject" }
"""


class Folder:
    """Books and CRM as SQLite files, a config, and the CLI run on them."""

    def __init__(self, path: Path) -> None:
        self.config = path / "replicator.toml"
        self.config.write_text(CONFIG, encoding="utf-8")
        self.books, self.crm = path / "books.db", path / "crm.db"
        self.journal = path / "journal.db"
        self.sql(self.books, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        self.sql(
            self.books, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, reference_number TEXT)"
        )
        self.sql(self.crm, 'CREATE TABLE "Accounts" (id INTEGER PRIMARY KEY, "Account_Name" TEXT)')
        self.sql(self.crm, 'CREATE TABLE "Invoices" (id INTEGER PRIMARY KEY, "Subject" TEXT)')

    @staticmethod
    def sql(db: Path, statement: str, *params: object) -> None:
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute(statement, params)

    @staticmethod
    def column(db: Path, query: str) -> list[Any]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return sorted(r[0] for r in conn.execute(query).fetchall())

    def crm_invoices(self) -> list[str]:
        return self.column(self.crm, 'SELECT "Subject" FROM "Invoices"')

    def books_invoices(self) -> list[str]:
        return self.column(self.books, "SELECT reference_number FROM invoices")

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, ["--config", str(self.config), *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.cli(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", input=input).stdout)


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    """Two Books invoices synced to CRM, a CRM-only invoice, a customer on both sides."""
    f = Folder(tmp_path)
    f.sql(f.crm, """INSERT INTO "Accounts" ("Account_Name") VALUES ('Acme')""")
    for subject in ("INV-1", "INV-2"):
        f.sql(f.books, "INSERT INTO invoices (reference_number) VALUES (?)", subject)
    f.sql(f.crm, """INSERT INTO "Invoices" ("Subject") VALUES ('CRM only')""")
    f.ok("sync")
    assert f.crm_invoices() == ["CRM only", "INV-1", "INV-2"]
    return f


def test_without_confirmation_nothing_is_deleted_after_the_dry_listing(folder):
    """Answering no: the listing named the two copies (and kept the CRM-only one), nothing
    is deleted or journaled as removed, and sync stays disabled."""
    result = folder.ok("disable", "--remove-crm-copies", input="n\n")
    out = result.output
    assert "invoices: 2 CRM copies of Books documents on side crm would be removed" in out
    assert "(CRM-only documents, kept: 1)" in out
    assert "'INV-1'" in out and "'INV-2'" in out and "CRM only" not in out.split("kept")[1]
    assert "Delete these 2 records from the CRM?" in out and "nothing removed" in out
    assert folder.crm_invoices() == ["CRM only", "INV-1", "INV-2"]
    assert "sync is disabled" in folder.cli("sync").output
    events = [i["event"] for i in folder.json("history") if i["type"] == "event"]
    assert events == ["disable"]


def test_confirmed_it_removes_the_copies_only_and_json_lists_them(folder):
    """--yes --json: the two CRM copies go, the CRM-only invoice, the account and all of
    Books stay; the JSON lists what was removed with who asked and why."""
    data = folder.json(
        "disable", "--remove-crm-copies", "--yes", "--by", "bob", "--reason", "leaving Zoho"
    )
    assert folder.crm_invoices() == ["CRM only"]
    assert folder.books_invoices() == ["INV-1", "INV-2"]
    assert folder.column(folder.crm, 'SELECT "Account_Name" FROM "Accounts"') == ["Acme"]
    assert (data["by"], data["reason"], data["changed"]) == ("bob", "leaving Zoho", True)
    assert sorted(r["label"] for r in data["removed"]) == ["INV-1", "INV-2"]
    assert all(r["module"] == "invoices" and not r["gone"] for r in data["removed"])
    assert data["failed"] == [] and data["counts"] == {
        "invoices": {"removed": 2, "gone": 0, "failed": 0}
    }
    assert [r["record"] for r in data["listed"]] == [r["record"] for r in data["removed"]]
    history = [i for i in folder.json("history") if i["type"] == "event"]
    assert [i["event"] for i in history] == ["disable", "remove-crm-copies", "removed-crm-copies"]
    assert "asked by bob: leaving Zoho" in history[1]["summary"]
    assert folder.json("journal", "verify")["ok"] is True
    (invoices,) = [m for m in folder.json("status")["modules"] if m["module"] == "invoices"]
    assert invoices["links"]["crm"] == {"active": 1, "deleted": 2}  # the CRM-only one stays


def test_confirmed_by_prompt_it_removes_and_says_what_it_did(folder):
    """Answering yes at the prompt removes the copies and prints the counts."""
    out = folder.ok("disable", "--remove-crm-copies", input="y\n").output
    assert "removed 2 CRM copies of Books documents (0 were gone already" in out
    assert "0 failed; Books untouched" in out
    assert folder.crm_invoices() == ["CRM only"]


def test_a_blank_name_or_reason_is_journaled_as_the_defaults(folder):
    """`--by ""` journals the login name (or "person"), `--reason " "` the default reason."""
    data = folder.json("disable", "--remove-crm-copies", "--yes", "--by", "", "--reason", " ")
    assert data["by"].strip() and data["reason"].startswith("the integration was disabled")


def test_a_second_run_finds_nothing_to_remove(folder):
    """Once the copies are removed, running it again lists nothing and journals nothing."""
    folder.ok("disable", "--remove-crm-copies", "--yes")
    again = folder.json("disable", "--remove-crm-copies", "--yes")
    assert again["listed"] == [] and again["removed"] == [] and again["request"] is None
    assert again["changed"] is False
    assert folder.crm_invoices() == ["CRM only"]


def test_a_copy_deleted_in_crm_meanwhile_counts_as_removed(folder):
    """A copy someone deleted in CRM after the last sync is reported gone, not failed."""
    folder.sql(folder.crm, """DELETE FROM "Invoices" WHERE "Subject" = 'INV-1'""")
    data = folder.json("disable", "--remove-crm-copies", "--yes")
    assert sorted((r["label"], r["gone"]) for r in data["removed"]) == [
        ("INV-1", True),
        ("INV-2", False),
    ]


def test_plain_disable_deletes_nothing(folder):
    """Without the option, disable touches no side."""
    assert folder.json("disable") == {"disabled": True, "changed": True}
    assert folder.crm_invoices() == ["CRM only", "INV-1", "INV-2"]


def test_it_waits_for_no_other_writer_of_the_journal(folder):
    """While another command writes to the journal, it deletes nothing and names it."""
    with journal_writer(folder.journal, "replicator sync", wait=0):
        result = folder.cli("disable", "--remove-crm-copies", "--yes", "--wait", "0.1")
    assert result.exit_code == 1 and "`replicator sync`" in result.output
    assert folder.crm_invoices() == ["CRM only", "INV-1", "INV-2"]


def test_a_config_without_transaction_modules_has_nothing_to_remove(folder):
    """With no module on a CRM document table, it says so and removes nothing."""
    text = folder.config.read_text().replace('table = "Invoices"', 'table = "Deals"')
    folder.config.write_text(text)
    folder.sql(folder.crm, 'CREATE TABLE "Deals" (id INTEGER PRIMARY KEY, "Subject" TEXT)')
    out = folder.ok("disable", "--remove-crm-copies", "--yes").output
    assert "no transaction module: nothing to remove" in out
    assert folder.crm_invoices() == ["CRM only", "INV-1", "INV-2"]
