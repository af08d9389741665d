"""``duplicates = "clone"`` against sides that refuse a second record of a name (issue 9,
class 7): the clone gets a name by the module's ``clone_name`` rule, journaled; both
records stay on both sides; nothing doubles on a re-run and no conflict opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from conflicts import RecordReducer
from conflicts.duplicates import DEFAULT_CLONE_NAME, clone_name, clone_name_problem
from journal import Journal, Kind, verify
from replicator.config.load import load_config, parse_config
from replicator.errors import ConfigError
from replicator.sync.app import open_journal
from tests.cli.test_cli import CONFIG, Folder


def unique_folder(path: Path, rule: str | None = None) -> Folder:
    """Two SQLite sides whose name columns are UNIQUE, with the clone policy."""
    folder = Folder(path)
    for db, table, column in (
        (folder.books, "customers", "name"),
        (folder.crm, "accounts", "account_name"),
    ):
        folder.sql(db, f"CREATE UNIQUE INDEX {table}_{column} ON {table} ({column})")
    text = CONFIG.format(conflicts="newest").replace(
        'duplicates = "overwrite"',
        'duplicates = "clone"' + (f"\nclone_name = {rule!r}" if rule is not None else ""),
    )
    folder.config.write_text(text, encoding="utf-8")
    return folder


def seed_twins(folder: Folder) -> None:
    """Acme Ltd on both sides (two different companies), one record each side alone."""
    folder.sql(
        folder.books,
        "INSERT INTO customers (name, email) VALUES ('Acme Ltd', 'books@acme.example'), "
        "('Beta Inc', 'beta@beta.example')",
    )
    folder.sql(
        folder.crm,
        "INSERT INTO accounts (account_name, email) VALUES ('Acme Ltd', 'crm@acme.example')",
    )


def names(folder: Folder) -> tuple[list[tuple], list[tuple]]:
    books = folder.rows(folder.books, "SELECT name, email FROM customers ORDER BY name")
    crm = folder.rows(folder.crm, "SELECT account_name, email FROM accounts ORDER BY 1")
    return books, crm


def test_a_clone_gets_the_default_rule_name_where_its_side_holds_the_name(tmp_path):
    """Each side keeps its own Acme Ltd and holds the other's as "Acme Ltd (<side> <id>)";
    a re-run writes nothing and the journal is intact."""
    folder = unique_folder(tmp_path)
    seed_twins(folder)
    report = folder.json("sync")
    counts = report["modules"]["customers"]
    assert counts["books"]["renamed"] == 1 and counts["crm"]["renamed"] == 1
    assert "rejected" not in counts["books"] and "rejected" not in counts["crm"]
    books, crm = names(folder)
    assert books == [
        ("Acme Ltd", "books@acme.example"),
        ("Acme Ltd (crm 1)", "crm@acme.example"),
        ("Beta Inc", "beta@beta.example"),
    ]
    assert crm == [
        ("Acme Ltd", "crm@acme.example"),
        ("Acme Ltd (books 1)", "books@acme.example"),
        ("Beta Inc", "beta@beta.example"),
    ]
    again = folder.json("sync")
    assert again["entries"]["after"] == again["entries"]["before"]
    assert names(folder) == (books, crm)
    assert folder.json("conflicts", "list") == []
    with open_journal(load_config(folder.config)) as journal:  # with its key
        assert verify(journal).ok


def test_the_rename_is_journaled_with_the_name_sent_the_rule_and_why(tmp_path):
    """The applied entry of a renamed clone says which name was sent, by which rule and
    why; `journal log` shows it."""
    folder = unique_folder(tmp_path)
    seed_twins(folder)
    folder.ok("sync")
    with Journal(folder.journal, RecordReducer()) as journal:
        applied = [e for e in journal.read(kinds=[Kind.APPLIED]) if "renamed" in e.meta]
    by_side = {e.side: e for e in applied}
    (renamed,) = by_side["books"].meta["renamed"]
    assert renamed["field"] == "name" and renamed["from"] == "Acme Ltd"
    assert renamed["to"] == "Acme Ltd (crm 1)" and renamed["rule"] == DEFAULT_CLONE_NAME
    assert "books holds name 'Acme Ltd' for record books:1 too" in renamed["reason"]
    assert by_side["books"].fields["name"] == "Acme Ltd (crm 1)"
    log = folder.json("journal", "log")
    (shown,) = [e["summary"] for e in log if e["seq"] == by_side["books"].seq]
    assert "renamed by clone_name" in shown and "books holds name 'Acme Ltd'" in shown


def test_edits_flow_both_ways_and_the_clone_keeps_its_name(tmp_path):
    """An edit of a renamed clone's other fields flows both ways; its name is never sent
    back to the side it came from, and no conflict opens."""
    folder = unique_folder(tmp_path)
    seed_twins(folder)
    folder.ok("sync")
    folder.sql(
        folder.books,
        "UPDATE customers SET email = 'new@acme.example' WHERE name = 'Acme Ltd (crm 1)'",
    )
    folder.sql(folder.crm, "UPDATE accounts SET credit_limit = 99 WHERE account_name = 'Acme Ltd'")
    folder.ok("sync")
    books, crm = names(folder)
    assert ("Acme Ltd (crm 1)", "new@acme.example") in books
    assert ("Acme Ltd", "new@acme.example") in crm
    assert ("Acme Ltd (books 1)", "books@acme.example") in crm
    assert folder.books_rows()["Acme Ltd (crm 1)"][1] == 99
    assert folder.json("conflicts", "list") == []
    again = folder.json("sync")
    assert again["entries"]["after"] == again["entries"]["before"]


def test_a_rule_of_the_config_with_a_counter_and_status_counts_the_renames(tmp_path):
    """clone_name = "{name} ({n})" numbers clones from 2, skipping names taken; `status`
    says per module and side how many records hold another name."""
    folder = unique_folder(tmp_path, "{name} ({n})")
    seed_twins(folder)
    folder.sql(folder.books, "INSERT INTO customers (name) VALUES ('Acme Ltd (2)')")
    assert "renamed: 3 clone(s)" in folder.ok("sync").stdout
    books, crm = names(folder)
    assert [n for n, _ in books] == ["Acme Ltd", "Acme Ltd (2)", "Acme Ltd (3)", "Beta Inc"]
    # Books' own "Acme Ltd (2)" meets the name its Acme Ltd took in CRM first (rid order)
    assert [n for n, _ in crm] == ["Acme Ltd", "Acme Ltd (2)", "Acme Ltd (2) (2)", "Beta Inc"]
    (module,) = folder.json("status")["modules"]
    assert module["renamed"] == {"books": 1, "crm": 2}
    assert "renamed" in folder.ok("status").stdout


def test_a_bad_clone_name_rule_is_refused_naming_the_key(tmp_path):
    """A rule naming an unknown placeholder, or without {name}, is a config error."""
    for rule in ("{name} ({nope})", "Copy", "{name"):
        text = CONFIG.format(conflicts="newest").replace(
            'duplicates = "overwrite"', f'duplicates = "clone"\nclone_name = {rule!r}'
        )
        import tomllib

        with pytest.raises(ConfigError, match="modules.customers.clone_name"):
            parse_config(tomllib.loads(text), tmp_path / "replicator.toml")


def test_clone_name_is_unique_and_a_function_of_the_names_taken():
    """The rule's name, then a counter while it is taken; the same names give the same."""
    taken = {"Acme (crm 7)", "Acme (crm 7) (2)"}
    first = clone_name(
        DEFAULT_CLONE_NAME, name="Acme", side="crm", id="7", taken=taken.__contains__
    )
    assert first == "Acme (crm 7) (3)"
    assert (
        clone_name("{name} #{n}", name="Acme", side="crm", id="7", taken={"Acme #2"}.__contains__)
        == "Acme #3"
    )
    assert clone_name_problem(DEFAULT_CLONE_NAME) is None
    assert "{name}" in (clone_name_problem("{side} {id}") or "")


def test_a_crash_after_a_renamed_create_gives_the_same_name_again_and_no_duplicate(tmp_path):
    """The side made the renamed clone but the engine died before journaling it: the re-run
    decides the same name from the same journal and finds the record it made."""
    from tests.sync.test_engine import World

    world = World(tmp_path, duplicates="clone")
    world.books.insert("customers", {"name": "Acme", "email": "books@acme"})
    crm_id = world.crm.insert("accounts", {"account_name": "Acme", "email": "crm@acme"})
    real_push = world.books.push

    def push_then_crash(module, writes):
        real_push(module, writes)
        raise RuntimeError("engine killed after the push")

    world.books.push = push_then_crash
    with pytest.raises(RuntimeError):
        world.sync()
    world.books.push = real_push
    world.sync()
    names = sorted(r["name"] for r in world.books_rows().values())
    assert names == ["Acme", f"Acme (crm {crm_id})"]
    assert sorted(r["account_name"] for r in world.crm_rows().values())[0] == "Acme"
    assert len(world.crm_rows()) == 2
    assert verify(world.journal).ok
    assert world.sync().entries_after == world.journal.last_seq
    world.journal.close()


def test_a_rename_on_the_side_of_a_renamed_clone_flows_back_and_ends_its_other_name(tmp_path):
    """A person renaming the clone on the side that holds it under another name renames
    the record: the new name reaches its own side, and the clone keeps no rule name."""
    folder = unique_folder(tmp_path)
    seed_twins(folder)
    folder.ok("sync")
    folder.sql(
        folder.books, "UPDATE customers SET name = 'Acme North' WHERE name = 'Acme Ltd (crm 1)'"
    )
    folder.ok("sync")
    books, crm = names(folder)
    assert ("Acme North", "crm@acme.example") in books and ("Acme North", "crm@acme.example") in crm
    (module,) = folder.json("status")["modules"]
    assert module["renamed"] == {"books": 0, "crm": 1}
    assert folder.json("conflicts", "list") == []


def test_a_person_cloning_a_held_duplicate_group_gets_the_rule_names_under_overwrite(tmp_path):
    """Under overwrite, a group of several records with one name waits for a person; the
    person's `--value clone` is sent like a clone: renamed where a UNIQUE name is taken,
    nothing refused, each record once a side."""
    folder = Folder(tmp_path)
    folder.sql(folder.crm, "CREATE UNIQUE INDEX accounts_name ON accounts (account_name)")
    folder.sql(
        folder.books,
        "INSERT INTO customers (name, email) VALUES ('Acme', 'a1@x'), ('Acme', 'a2@x')",
    )
    folder.sql(folder.crm, "INSERT INTO accounts (account_name, email) VALUES ('Acme', 'c@x')")
    folder.ok("sync")
    for conflict in folder.json("conflicts", "list", "--open"):
        folder.ok("conflicts", "resolve", str(conflict["id"]), "--value", "clone")
    report = folder.json("sync")
    assert "rejected" not in report["modules"]["customers"].get("crm", {})
    crm = folder.rows(folder.crm, "SELECT account_name, email FROM accounts ORDER BY email")
    assert crm == [("Acme (books 1)", "a1@x"), ("Acme (books 2)", "a2@x"), ("Acme", "c@x")]
    books = folder.rows(folder.books, "SELECT name, email FROM customers ORDER BY email")
    assert books == [("Acme", "a1@x"), ("Acme", "a2@x"), ("Acme (crm 1)", "c@x")]
    again = folder.json("sync")
    assert again["entries"]["after"] == again["entries"]["before"]
