"""The command line, end to end: two SQLite databases that plain sqlite3 writes, one journal."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from conflicts import ResolutionError
from journal import StorageError
from replicator.cli import common
from replicator.cli.main import main
from replicator.errors import EngineError
from tests.journal.tamper import nul_in_time
from tests.sqlite_folder import CONFIG as FOLDER_CONFIG

# the shared two-SQLite-sides config with duplicates overwritten, ``{conflicts}`` left to fill
CONFIG = FOLDER_CONFIG.replace("{guard}\n", "").replace("{duplicates}", "overwrite")


class Folder:
    """A folder with books.db, crm.db (made by plain sqlite3) and a replicator.toml."""

    def __init__(self, path: Path, conflicts: str = "newest") -> None:
        self.path = path
        self.config = path / "replicator.toml"
        self.config.write_text(CONFIG.format(conflicts=conflicts), encoding="utf-8")
        self.books = path / "books.db"
        self.crm = path / "crm.db"
        self.journal = path / "journal.db"
        self.sql(
            self.books,
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, "
            "email TEXT, credit_limit NUMERIC, updated_at TEXT)",
        )
        self.sql(
            self.crm,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, "
            "email TEXT, credit_limit NUMERIC, modified_time TEXT)",
        )

    @staticmethod
    def sql(db: Path, statement: str, *params: object) -> int | None:
        """Run one statement as another program would; returns the new row id."""
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            return conn.execute(statement, params).lastrowid

    @staticmethod
    def rows(db: Path, query: str) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute(query).fetchall()

    def books_rows(self) -> dict[str, tuple]:
        return {
            r[0]: r[1:]
            for r in self.rows(
                self.books, "SELECT name, email, credit_limit FROM customers ORDER BY name"
            )
        }

    def crm_rows(self) -> dict[str, tuple]:
        return {
            r[0]: r[1:]
            for r in self.rows(
                self.crm, "SELECT account_name, email, credit_limit FROM accounts ORDER BY 1"
            )
        }

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["--config", str(self.config), *args])

    def ok(self, *args: str) -> Result:
        result = self.cli(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path)


def _seed(folder: Folder) -> None:
    folder.sql(
        folder.books,
        "INSERT INTO customers (name, email, credit_limit) VALUES "
        "('Acme Ltd', 'ap@acme.example', 1500.50), "
        "('Beta Inc', 'beta@beta.example', NULL)",
    )
    folder.sql(
        folder.crm,
        "INSERT INTO accounts (account_name, email, credit_limit) VALUES "
        "('Gamma LLC', 'g@gamma.example', '200')",
    )


# -- sync -------------------------------------------------------------------------------------


def test_sync_copies_records_both_ways(folder):
    """`replicator sync` copies each database's rows to the other, money as exact decimals."""
    _seed(folder)
    result = folder.ok("sync")
    assert "customers" in result.stdout and "created" in result.stdout
    books, crm = folder.books_rows(), folder.crm_rows()
    assert sorted(books) == sorted(crm) == ["Acme Ltd", "Beta Inc", "Gamma LLC"]
    assert Decimal(str(crm["Acme Ltd"][1])) == Decimal("1500.50")
    assert books["Gamma LLC"][0] == "g@gamma.example"
    assert crm["Beta Inc"][1] is None


def test_sync_json_reports_counts_per_module_and_side(folder):
    """`sync --json` gives the cycle's counts per module and side, and the entries it added."""
    _seed(folder)
    data = folder.json("sync")
    assert data["modules"]["customers"]["crm"]["created"] == 2
    assert data["modules"]["customers"]["books"]["created"] == 1
    assert data["entries"]["after"] > data["entries"]["before"] == 0
    again = folder.json("sync")
    assert again["entries"]["after"] == again["entries"]["before"]


def test_direct_edits_inserts_and_deletes_behave_as_designed(folder):
    """Edits and inserts made with sqlite3 flow both ways; a delete is journaled, not sent."""
    _seed(folder)
    folder.ok("sync")
    folder.sql(
        folder.books, "UPDATE customers SET email = 'new@acme.example' WHERE name = 'Acme Ltd'"
    )
    folder.sql(
        folder.crm,
        "INSERT INTO accounts (account_name, email) VALUES ('Delta GmbH', 'd@delta.example')",
    )
    folder.sql(folder.books, "DELETE FROM customers WHERE name = 'Beta Inc'")
    data = folder.json("sync")
    assert data["modules"]["customers"]["books"]["deleted"] == 1

    books, crm = folder.books_rows(), folder.crm_rows()
    assert crm["Acme Ltd"][0] == "new@acme.example"
    assert books["Delta GmbH"][0] == "d@delta.example"
    assert "Beta Inc" not in books and "Beta Inc" in crm  # the delete stays on its side

    folder.sql(
        folder.crm, "UPDATE accounts SET email = 'b2@beta.example' WHERE account_name = 'Beta Inc'"
    )
    folder.ok("sync")
    assert "Beta Inc" not in folder.books_rows()  # never re-created where it was deleted
    status = folder.json("status")["modules"][0]
    assert status["links"]["books"]["deleted"] == 1
    tombstones = [e for e in folder.json("journal", "log") if e["kind"] == "tombstone"]
    assert [e["side"] for e in tombstones] == ["books"]


def test_concurrent_edit_is_listed_and_settled_by_resolve(tmp_path):
    """One field changed on both sides is an open conflict; `resolve --take` settles both DBs."""
    folder = Folder(tmp_path, conflicts="manual")
    _seed(folder)
    folder.ok("sync")
    folder.sql(
        folder.books, "UPDATE customers SET email = 'books@acme.example' WHERE name = 'Acme Ltd'"
    )
    folder.sql(
        folder.crm, "UPDATE accounts SET email = 'crm@acme.example' WHERE account_name = 'Acme Ltd'"
    )
    folder.ok("sync")

    (conflict,) = folder.json("conflicts", "list", "--open")
    assert conflict["module"] == "customers" and conflict["field"] == "email"
    assert conflict["status"] == "open" and conflict["policy"] == "manual"
    assert conflict["values"] == {"books": "books@acme.example", "crm": "crm@acme.example"}
    assert conflict["winner"] is None and "manual" in conflict["reason"]
    assert folder.books_rows()["Acme Ltd"][0] == "books@acme.example"  # held on both sides
    assert folder.crm_rows()["Acme Ltd"][0] == "crm@acme.example"

    result = folder.ok("conflicts", "resolve", str(conflict["id"]), "--take", "crm")
    assert "crm@acme.example" in result.stdout
    folder.ok("sync")
    assert folder.books_rows()["Acme Ltd"][0] == "crm@acme.example"
    assert folder.crm_rows()["Acme Ltd"][0] == "crm@acme.example"
    assert folder.json("conflicts", "list", "--open") == []
    (settled,) = folder.json("conflicts", "list")
    assert settled["status"] == "resolved"
    assert settled["winner"] == {"side": "crm", "value": "crm@acme.example"}


def test_a_sync_after_resolve_writes_the_resolution_without_a_rejection(tmp_path):
    """The first write of a resolved value (a new process, before its pull) is applied, not
    refused as "changed since it was last read" by a side whose change was read already."""
    folder = Folder(tmp_path, conflicts="manual")
    _seed(folder)
    folder.ok("sync")
    folder.sql(
        folder.books, "UPDATE customers SET email = 'b@acme.example' WHERE name = 'Acme Ltd'"
    )
    folder.sql(
        folder.crm, "UPDATE accounts SET email = 'c@acme.example' WHERE account_name = 'Acme Ltd'"
    )
    folder.ok("sync")
    (conflict,) = folder.json("conflicts", "list", "--open")
    folder.ok("conflicts", "resolve", str(conflict["id"]), "--take", "crm")
    report = folder.json("sync")
    assert report["modules"]["customers"]["books"] == {"updated": 1}
    assert "changed since it was last read" not in folder.ok("journal", "log").stdout
    assert folder.books_rows()["Acme Ltd"][0] == "c@acme.example"


def test_a_field_mapped_after_a_first_sync_fills_the_side_lacking_it_without_conflict(folder):
    """A field added to the map later: a side that never held it reads empty, which is no
    value, so the other side's value fills it there; no null is written, no conflict."""
    full = folder.config.read_text(encoding="utf-8")
    line = 'credit_limit = { books = "credit_limit", crm = "credit_limit", type = "decimal" }\n'
    folder.config.write_text(full.replace(line, ""), encoding="utf-8")
    _seed(folder)
    folder.ok("sync")
    folder.config.write_text(full, encoding="utf-8")
    # both rows of Gamma LLC change (CRM an unmapped column): both are read with the new field
    folder.sql(folder.crm, "UPDATE accounts SET modified_time = '2024-01-01T00:00:00Z'")
    folder.sql(folder.books, "UPDATE customers SET email = 'new@gamma.example' WHERE id = 3")
    folder.sql(folder.books, "UPDATE customers SET email = 'new@acme.example' WHERE id = 1")
    folder.ok("sync")
    books, crm = folder.books_rows(), folder.crm_rows()
    assert crm["Gamma LLC"] == ("new@gamma.example", 200)
    assert books["Gamma LLC"] == ("new@gamma.example", 200)
    assert crm["Acme Ltd"] == ("new@acme.example", 1500.5)
    assert folder.json("conflicts", "list") == []


def test_sync_summary_shows_conflicts_in_their_module_row_not_only_the_total(folder):
    """A conflict found by a sync is counted in a row of its module (side "both"), so the
    module's rows add up to its total."""
    _seed(folder)
    folder.ok("sync")
    folder.sql(
        folder.books, "UPDATE customers SET email = 'b@acme.example' WHERE name = 'Acme Ltd'"
    )
    folder.sql(
        folder.crm, "UPDATE accounts SET email = 'c@acme.example' WHERE account_name = 'Acme Ltd'"
    )
    out = folder.ok("sync").stdout
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    header = [c.strip() for c in next(li for li in out.splitlines() if "┃" in li).split("┃")[1:-1]]
    column = header.index("conflicts")
    by_side = {row[1]: row[column] for row in rows if row[0] == "customers"}
    assert by_side["both"] == "1" and by_side["total"] == "1"


def test_resolve_with_a_value_overrides_the_policy_choice(folder):
    """`resolve --value` replaces the newest policy's winner on both sides at the next sync."""
    _seed(folder)
    folder.ok("sync")
    folder.sql(
        folder.books,
        "UPDATE customers SET credit_limit = 10, updated_at = "
        "'2024-05-01T10:00:00Z' WHERE name = 'Acme Ltd'",
    )
    folder.sql(
        folder.crm,
        "UPDATE accounts SET credit_limit = 20, modified_time = "
        "'2024-05-01T11:00:00Z' WHERE account_name = 'Acme Ltd'",
    )
    folder.ok("sync")
    (conflict,) = folder.json("conflicts", "list")
    assert conflict["status"] == "resolved"
    assert conflict["winner"] == {"side": "crm", "value": "20"}
    assert conflict["values"] == {"books": "10", "crm": "20"}
    assert conflict["siblings"][0]["at"] == "2024-05-01T10:00:00+00:00"

    shown = folder.json("conflicts", "show", str(conflict["id"]))
    assert shown["base"]["value"] == "1500.5"

    folder.ok("conflicts", "resolve", str(conflict["id"]), "--value", "15.25")
    folder.ok("sync")
    assert Decimal(str(folder.books_rows()["Acme Ltd"][1])) == Decimal("15.25")
    assert Decimal(str(folder.crm_rows()["Acme Ltd"][1])) == Decimal("15.25")


def test_resolve_refuses_what_does_not_fit(folder):
    """An unknown conflict, an unknown side or a value that does not convert: clean errors."""
    _seed(folder)
    folder.ok("sync")
    folder.sql(folder.books, "UPDATE customers SET credit_limit = 10 WHERE name = 'Acme Ltd'")
    folder.sql(folder.crm, "UPDATE accounts SET credit_limit = 20 WHERE account_name = 'Acme Ltd'")
    folder.ok("sync")
    (conflict,) = folder.json("conflicts", "list")
    cid = str(conflict["id"])
    for args, words in [
        (("999", "--take", "crm"), "no conflict 999"),
        ((cid, "--take", "sales"), "no value from side 'sales'"),
        ((cid, "--value", "lots"), "does not convert to decimal"),
    ]:
        result = folder.cli("conflicts", "resolve", *args)
        assert result.exit_code == 1
        assert words in result.output and "Traceback" not in result.output
    assert folder.cli("conflicts", "resolve", cid).exit_code == 2  # neither --take nor --value


def test_ambiguous_duplicates_wait_for_a_person_and_clone_settles_them(folder):
    """Several records sharing a match key are held as conflicts; `--value clone` syncs them."""
    folder.sql(
        folder.books,
        "INSERT INTO customers (name, email) VALUES ('Acme', 'a1@x'), ('Acme', 'a2@x')",
    )
    folder.sql(folder.crm, "INSERT INTO accounts (account_name, email) VALUES ('Acme', 'c@x')")
    data = folder.json("sync")
    assert data["modules"]["customers"]["books"]["held"] == 2
    held = folder.json("conflicts", "list", "--open")
    assert len(held) == 3 and {c["field"] for c in held} == {"(duplicate)"}
    assert {c["rid"] for c in held[0]["duplicate"]["candidates"]} == {"books:1", "books:2", "crm:1"}
    assert len(folder.rows(folder.crm, "SELECT * FROM accounts")) == 1  # nothing copied yet
    assert len(folder.rows(folder.books, "SELECT * FROM customers")) == 2
    assert "--value clone" in folder.ok("conflicts", "show", str(held[0]["id"])).stdout
    table = folder.ok("conflicts", "list", "--open").stdout  # one row for the group
    assert table.count("(duplicate)") == 1
    assert all(str(c["id"]) in table for c in held)
    for conflict in held:
        folder.ok("conflicts", "resolve", str(conflict["id"]), "--value", "clone")
    folder.ok("sync")
    assert folder.json("conflicts", "list", "--open") == []
    emails = sorted(r[0] for r in folder.rows(folder.crm, "SELECT email FROM accounts"))
    assert emails == ["a1@x", "a2@x", "c@x"]
    assert sorted(r[0] for r in folder.rows(folder.books, "SELECT email FROM customers")) == emails


# -- journal ---------------------------------------------------------------------------------


def test_verify_reports_an_intact_journal(folder):
    """`journal verify` on an untouched journal exits 0 and counts the entries."""
    _seed(folder)
    folder.ok("sync")
    entries = folder.json("status")["entries"]
    lines = folder.ok("journal", "verify").stdout.splitlines()
    assert lines[0] == f"intact: {entries} entries"


def test_verify_names_an_entry_edited_behind_the_journals_back(folder):
    """Editing a row after dropping `entries_no_update` fails verify, naming the entry."""
    _seed(folder)
    folder.ok("sync")
    with contextlib.closing(sqlite3.connect(folder.journal)) as conn, conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE entries SET fields = fields WHERE seq = 4")
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute(
            "UPDATE entries SET fields = replace(fields, 'Acme', 'Acne') "
            "WHERE seq = (SELECT min(seq) FROM entries WHERE fields LIKE '%Acme%')"
        )
        (seq,) = conn.execute("SELECT min(seq) FROM entries WHERE fields LIKE '%Acne%'").fetchone()
    result = folder.cli("journal", "verify")
    assert result.exit_code == 1
    assert f"entry {seq}" in result.output and "Traceback" not in result.output
    data = json.loads(folder.cli("journal", "verify", "--json").stdout)
    assert data["ok"] is False and data["first_bad_seq"] == seq


def test_an_edited_journal_whose_state_must_be_rebuilt_is_refused_and_still_verifies(folder):
    """A journal whose state a reducer of another version folded (rebuilt on open) with an
    entry's time edited: commands exit 1 naming the entry and `journal verify`, with no
    traceback and nothing written; `journal verify` itself runs and names the entry."""
    _seed(folder)
    folder.ok("sync")
    with contextlib.closing(sqlite3.connect(folder.journal)) as conn, conn:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        conn.execute(f"PRAGMA user_version = {int(version) - 1}")
        conn.execute("DROP TRIGGER entries_no_update")
        nul_in_time(conn, 2)  # the time of any entries format
    count = "SELECT count(*), max(seq) FROM entries"
    before = folder.rows(folder.journal, count)
    status = folder.cli("status")
    assert status.exit_code == 1 and isinstance(status.exception, SystemExit)
    assert "entry 2" in status.output and "replicator journal verify" in status.output
    result = folder.cli("journal", "verify")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "entry 2" in result.output
    data = json.loads(folder.cli("journal", "verify", "--json").stdout)
    assert data["ok"] is False and data["first_bad_seq"] == 2
    assert folder.rows(folder.journal, count) == before


def test_export_prints_one_json_object_per_entry(folder, tmp_path):
    """`journal export --format jsonl` writes every entry, in order, one JSON object a line."""
    _seed(folder)
    folder.ok("sync")
    total = folder.json("status")["entries"]
    lines = folder.ok("journal", "export", "--format", "jsonl").stdout.splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, total + 1))
    assert all(e["prev_hash"] == p["hash"] for p, e in zip(entries, entries[1:], strict=False))
    out = tmp_path / "export.jsonl"
    folder.ok("journal", "export", "--output", str(out))
    assert out.read_text(encoding="utf-8").splitlines() == lines


def test_log_shows_field_history_writes_and_conflicts(folder):
    """`journal log --record` shows what each side held, what was written where, and conflicts."""
    _seed(folder)
    folder.ok("sync")
    folder.sql(
        folder.books, "UPDATE customers SET email = 'b@acme.example' WHERE name = 'Acme Ltd'"
    )
    folder.sql(
        folder.crm, "UPDATE accounts SET email = 'c@acme.example' WHERE account_name = 'Acme Ltd'"
    )
    folder.ok("sync")
    entries = folder.json("journal", "log", "--record", "books:1")
    kinds = [e["kind"] for e in entries]
    assert kinds[:3] == ["observed", "intent", "applied"] and "conflict" in kinds
    assert entries[0]["fields"]["credit_limit"] == "1500.5"
    assert entries[1]["side"] == "crm" and entries[1]["meta"]["writes"]["books:1"] is None
    assert entries[2]["side"] == "crm" and entries[2]["fields"]["name"] == "Acme Ltd"
    assert entries[2]["side"] == "crm"
    conflict = next(e for e in entries if e["kind"] == "conflict")
    assert {s["side"] for s in conflict["meta"]["siblings"]} == {"books", "crm"}
    assert conflict["meta"]["winner"] is not None and conflict["meta"]["reason"]
    assert len(folder.json("journal", "log", "--limit", "2")) == 2
    table = folder.ok("journal", "log", "--record", "books:1").stdout
    assert "winner:" in table and "about to write" in table


def test_replay_rebuilds_the_state_from_the_entries(folder):
    """`journal replay` rebuilds records, links and conflicts; verify still passes after."""
    _seed(folder)
    folder.ok("sync")
    before = folder.json("status")
    result = folder.ok("journal", "replay")
    assert f"replayed {before['entries']} entries: 3 records" in result.stdout
    assert folder.json("status") == before
    folder.ok("journal", "verify")


def test_status_counts_records_links_and_cursors(folder):
    """`status` shows per module the records, links per side, conflicts, errors and cursors."""
    _seed(folder)
    folder.ok("sync")
    (module,) = folder.json("status")["modules"]
    assert module["records"] == 3
    assert module["links"] == {
        "crm": {"active": 3, "deleted": 0},
        "books": {"active": 3, "deleted": 0},
    }
    assert module["open_conflicts"] == 0 and module["records_with_errors"] == 0
    assert set(module["cursors"]) == {"books", "crm"} and module["last_sync"]
    assert "customers" in folder.ok("status").stdout


# -- errors ----------------------------------------------------------------------------------


def test_a_bad_config_names_file_and_key_and_writes_nothing(folder):
    """A config that does not validate exits non-zero naming file and key; nothing is written."""
    folder.config.write_text(CONFIG.format(conflicts="sometimes"), encoding="utf-8")
    books_before = folder.books.read_bytes()
    result = folder.cli("sync")
    assert result.exit_code == 1
    assert str(folder.config) in result.output
    assert "modules.customers.conflicts" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not folder.journal.exists()
    assert folder.books.read_bytes() == books_before


def test_a_missing_database_or_table_is_a_clean_error(folder):
    """A side's missing file or table stops the sync with one line, and no new database file."""
    folder.crm.unlink()
    result = folder.cli("sync")
    assert result.exit_code == 1 and "sides.crm.path" in result.output
    assert not folder.crm.exists() and not folder.journal.exists()

    Folder.sql(folder.crm, "CREATE TABLE other (id INTEGER PRIMARY KEY)")
    result = folder.cli("sync")
    assert result.exit_code == 1
    assert "no table 'accounts'" in result.output and "Traceback" not in result.output


def test_an_unknown_module_is_refused_before_anything_runs(folder):
    """`sync --module` with a module the config lacks exits non-zero and writes nothing."""
    result = folder.cli("sync", "--module", "vendors")
    assert result.exit_code == 1 and "modules.vendors" in result.output
    assert not folder.journal.exists()


def test_reading_commands_need_a_journal(folder):
    """Reading commands do not create a journal: they say to sync first."""
    result = folder.cli("status")
    assert result.exit_code == 1 and "run `replicator sync` first" in result.output
    assert not folder.journal.exists()


def test_config_defaults_to_the_working_directory_and_is_accepted_per_command(folder, monkeypatch):
    """Without --config the file is ./replicator.toml; --config also works after a command."""
    _seed(folder)
    monkeypatch.chdir(folder.path)
    assert CliRunner().invoke(main, ["sync"]).exit_code == 0
    elsewhere = folder.path / "sub"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(main, ["journal", "verify", "--config", str(folder.config)])
    assert result.exit_code == 0 and result.stdout.startswith("intact:")
    assert "replicator.toml" in CliRunner().invoke(main, ["status"]).output


@pytest.mark.parametrize(
    "error",
    [
        EngineError("engine says no"),
        StorageError("disk says no"),
        ResolutionError("person says no"),
    ],
)
def test_every_domain_error_becomes_a_one_line_message(folder, monkeypatch, error):
    """Errors of each package (replicator, journal, conflicts) exit 1 with one line."""

    def fail(path):
        raise error

    monkeypatch.setattr(common, "load_config", fail)
    result = folder.cli("status")
    assert result.exit_code == 1
    assert result.output == f"Error: {error}\n"


def test_every_command_and_option_has_help():
    """Each command and each of its options explains itself in --help."""

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        assert command.help, f"{' '.join(path)} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{' '.join(path)} {param.opts} has no help"
        result = CliRunner().invoke(main, [*path[1:], "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(main, ("replicator",))


# -- the real console script ------------------------------------------------------------------


def _console_script() -> str:
    script = Path(sys.executable).with_name("replicator")
    found = str(script) if script.exists() else shutil.which("replicator")
    if found is None:
        pytest.skip("the replicator console script is not installed (pip install -e .)")
    return found


def test_the_installed_console_script_syncs_and_verifies(folder):
    """The real `replicator` executable syncs, verifies, and fails cleanly on a bad config."""
    _seed(folder)
    script = _console_script()
    env = {**os.environ, "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, "--config", str(folder.config), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    synced = run("sync", "--json")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["modules"]["customers"]["crm"]["created"] == 2
    assert sorted(folder.crm_rows()) == ["Acme Ltd", "Beta Inc", "Gamma LLC"]
    verified = run("journal", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("intact: ")

    folder.config.write_text(CONFIG.format(conflicts="prefer:sales"), encoding="utf-8")
    failed = run("sync")
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: ") and "modules.customers.conflicts" in failed.stderr
    assert "Traceback" not in failed.stderr
