"""``replicator undo RUN [--module M] [--dry-run] [--json]`` and the run ids ``history``
lists, end to end over two SQLite databases plain sqlite3 writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import Folder


def _all_rows(folder: Folder) -> tuple[list[tuple], list[tuple]]:
    return (
        folder.rows(folder.books, "SELECT * FROM customers ORDER BY id"),
        folder.rows(folder.crm, "SELECT * FROM accounts ORDER BY id"),
    )


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    f = Folder(tmp_path)
    f.sql(f.books, "INSERT INTO customers (name, email) VALUES ('Books only', 'b@x')")
    f.sql(f.crm, "INSERT INTO accounts (account_name, email) VALUES ('CRM only', 'c@x')")
    f.sql(f.books, "INSERT INTO customers (name, credit_limit) VALUES ('Acme', 500)")
    f.sql(f.crm, "INSERT INTO accounts (account_name, email) VALUES ('Acme', 'a@crm')")
    return f


def _runs(folder: Folder) -> list[dict]:
    items = folder.json("history")
    assert isinstance(items, list)
    return [i for i in items if i["type"] == "run"]


def test_history_lists_each_run_with_its_id(folder: Folder):
    """The run column: the id `replicator undo` takes (its marker's seq)."""
    folder.ok("sync")
    (run,) = _runs(folder)
    assert run["run"] == run["seq"]
    table = folder.ok("history").output
    header = next(line for line in table.splitlines() if "time (UTC)" in line)
    assert [w for w in header.split() if w.isalpha()][:2] == ["run", "seq"]


def test_dry_run_shows_the_plan_and_writes_nothing(folder: Folder):
    """--dry-run: the plan (counts, then rows), no byte of either side or the journal."""
    folder.ok("sync")
    (run,) = _runs(folder)
    before = (*_all_rows(folder), folder.journal.read_bytes())
    plan = folder.json("undo", str(run["run"]), "--dry-run")
    assert plan["run"] == run["run"]
    assert sorted(r["side"] for r in plan["removes"]) == ["books", "crm"]
    assert len(plan["removes"]) == 2 and len(plan["unlinks"]) == 1
    text = folder.ok("undo", str(run["run"]), "--dry-run").output
    assert f"undo plan of run {run['run']}" in text and "remove (created by the run): 2" in text
    assert (*_all_rows(folder), folder.journal.read_bytes()) == before


def test_undo_puts_both_databases_back_and_journal_verify_passes(folder: Folder):
    """After an undo of the first sync both tables hold what they held before it; the
    undo is a run in history, and `journal log` says what it did in words."""
    before = _all_rows(folder)
    folder.ok("sync")
    (run,) = _runs(folder)
    out = folder.ok("undo", str(run["run"])).output
    assert "undo plan of run" in out
    assert _all_rows(folder) == before
    folder.ok("journal", "verify")
    runs = _runs(folder)
    assert runs[-1]["trigger"] == "undo" and runs[-1]["undoes"] == run["run"]
    assert f"undo of run {run['run']}" in runs[-1]["summary"]
    log = folder.ok("journal", "log").output
    assert "unlinked from" in log and f"undo of run {run['run']}" in log
    assert '"unlinked"' not in log  # said in words, not as raw JSON


def test_undo_of_the_undo_redoes_the_run(folder: Folder):
    folder.ok("sync")
    (run,) = _runs(folder)
    synced = [sorted(r[1:] for r in rows) for rows in _all_rows(folder)]
    folder.ok("undo", str(run["run"]))
    undo_run = _runs(folder)[-1]["run"]
    data = folder.json("undo", str(undo_run))
    assert data["report"] is not None
    assert [sorted(r[1:] for r in rows) for rows in _all_rows(folder)] == synced
    folder.ok("journal", "verify")


def test_undo_refuses_an_id_that_is_no_run(folder: Folder):
    folder.ok("sync")
    result = folder.cli("undo", "1")
    assert result.exit_code != 0
    assert "no run 1" in result.output


def test_undo_of_a_module_not_configured_is_refused(folder: Folder):
    folder.ok("sync")
    (run,) = _runs(folder)
    result = folder.cli("undo", str(run["run"]), "--module", "vendors")
    assert result.exit_code != 0


def test_an_edit_made_after_the_run_is_held_for_a_person(folder: Folder):
    """Undo of a later run whose field was edited since (not yet synced): the undo reads
    the side first, leaves the edit and lists the conflict; --take undo settles it."""
    folder.ok("sync")
    folder.sql(folder.crm, "UPDATE accounts SET email = 'typo@crm' WHERE account_name = 'Acme'")
    folder.ok("sync")
    run = _runs(folder)[-1]["run"]
    folder.sql(folder.books, "UPDATE customers SET email = 'fixed@books' WHERE name = 'Acme'")
    out = folder.ok("undo", str(run)).output
    assert "conflicts: `replicator conflicts list --open`" in out
    assert folder.books_rows()["Acme"][0] == "fixed@books"
    (held,) = [c for c in folder.json("conflicts", "list", "--open") if c["field"] == "email"]
    assert held["values"]["undo"] == "a@crm"
    folder.ok("conflicts", "resolve", str(held["id"]), "--take", "undo")
    folder.ok("sync")
    assert folder.books_rows()["Acme"][0] == folder.crm_rows()["Acme"][0] == "a@crm"


def test_undo_of_one_module_leaves_the_others(folder: Folder):
    """--module names the part of the run to undo; a run's other modules stay."""
    folder.ok("sync")
    (run,) = _runs(folder)
    plan = folder.json("undo", str(run["run"]), "--dry-run", "--module", "customers")
    assert set(plan["counts"]) == {"customers"}
