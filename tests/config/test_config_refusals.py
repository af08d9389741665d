"""Configs that could hurt are refused by the CLI with one line naming file, key and reason."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from replicator.cli.main import main
from replicator.config.load import Config, load_config

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
duplicates = "overwrite"
books = { table = "customers", id = "id", match = "name" }
crm = { table = "accounts", id = "id", match = "account_name" }

[modules.customers.fields]
name = { books = "name", crm = "account_name" }
"""

INTEGRATION = """\
[sides.crm]
connector = "zoho_crm"
[sides.books]
connector = "zoho_books"
organization_id = "111"
[sides.books_eu]
connector = "zoho_books"
organization_id = "222"

[integration]
books = ["books", "books_eu"]
[integration.customers]
sync = "both_ways"
[integration.customers.fields]
region = { crm = "Region", books = "cf_region" }
[integration.orgs.books_eu]
sync = "from_crm"

[daemon]
bind = "127.0.0.1:8780"
[daemon.modules.customers]
every = "5m"
"""


def refusal(tmp_path: Path, text: str, command: str = "sync") -> tuple[Result, str]:
    """Run ``replicator COMMAND`` on ``text``; the result and its one output line."""
    path = tmp_path / "replicator.toml"
    path.write_text(text, encoding="utf-8")
    for name in ("books.db", "crm.db"):
        (tmp_path / name).touch()
    result = CliRunner().invoke(main, [command, "--config", str(path)])
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a clean exit
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert str(path) in lines[0]
    return result, lines[0]


def loads(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "replicator.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_the_base_configs_load(tmp_path):
    """The configs the refusals below alter are valid as they stand."""
    assert loads(tmp_path, CONFIG).modules
    assert loads(tmp_path, INTEGRATION).integration is not None


UNKNOWN_KEYS = [  # (config, text, replacement, the key refused, the hint given)
    (CONFIG, 'path = "journal.db"', 'path = "journal.db"\nkey = 1', "journal.key", "path"),
    (CONFIG, 'path = "crm.db"', 'path = "crm.db"\npth = "x"', "sides.crm.pth", "'path'"),
    (
        CONFIG,
        "[sides.crm]",
        "[sides.mem]\nconnector = 'memory'\npath = 'x'\n[sides.crm]",
        "sides.mem.path",
        "connector",
    ),
    (
        CONFIG,
        'duplicates = "overwrite"',
        'duplicate = "skip"',
        "modules.customers.duplicate",
        "'duplicates'",
    ),
    (
        CONFIG,
        'match = "name" }',
        'match = "name", modifed = "t" }',
        "modules.customers.books.modifed",
        "'modified'",
    ),
    (
        CONFIG,
        'crm = "account_name" }',
        'crm = "account_name", typ = "text" }',
        "modules.customers.fields.name.typ",
        "'type'",
    ),
    (CONFIG, "[journal]", "[jounral]\n[journal]", "jounral", "'journal'"),
    (CONFIG, "[journal]", "[daemon]\nbnd = '127.0.0.1:1'\n[journal]", "daemon.bnd", "'bind'"),
    (INTEGRATION, 'every = "5m"', 'evry = "5m"', "daemon.modules.customers.evry", "'every'"),
    (
        INTEGRATION,
        'sync = "both_ways"',
        'sunc = "both_ways"',
        "integration.customers.sunc",
        "'sync'",
    ),
    (
        INTEGRATION,
        'books = "cf_region" }',
        'books = "cf_region", tpye = "text" }',
        "integration.customers.fields.region.tpye",
        "'type'",
    ),
    (
        INTEGRATION,
        'sync = "from_crm"',
        'sync = "from_crm"\nmodule = ["items"]',
        "integration.orgs.books_eu.module",
        "'modules'",
    ),
    (INTEGRATION, "[integration]", "[integration]\ncrn = 'crm'", "integration.crn", "'crm'"),
]


@pytest.mark.parametrize(
    "base, old, new, key, hint", UNKNOWN_KEYS, ids=[row[3] for row in UNKNOWN_KEYS]
)
def test_an_unknown_key_in_any_table_is_refused_with_the_nearest_known_one(
    tmp_path, base, old, new, key, hint
):
    """A typo in any table is refused (never silently a default), naming table, key, hint."""
    assert old in base
    _, line = refusal(tmp_path, base.replace(old, new, 1))
    assert f": {key}: unknown " in line
    assert hint in line


def test_the_clone_name_option_is_a_known_key(tmp_path):
    """`clone_name` (the clone naming rule's option) is accepted in both module tables."""
    rule = 'clone_name = "{name} (copy)"'
    for text in (
        CONFIG.replace('duplicates = "overwrite"', f'duplicates = "clone"\n{rule}'),
        INTEGRATION.replace('sync = "both_ways"', f'sync = "both_ways"\n{rule}'),
    ):
        assert loads(tmp_path, text).modules["customers"]


@pytest.mark.parametrize(
    "crm_path, crm_table",
    [
        ("books.db", "customers"),
        ("./books.db", "CUSTOMERS"),  # SQLite names are case-insensitive
        ("sub/../books.db", "customers"),
        ("link.db", "customers"),  # a symbolic link to books.db
    ],
)
def test_a_module_with_both_sides_on_one_table_is_refused(tmp_path, crm_path, crm_table):
    """Two sides of a module on the same database file and table would sync it into itself."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.db").symlink_to(tmp_path / "books.db")
    text = CONFIG.replace('path = "crm.db"', f'path = "{crm_path}"').replace(
        'table = "accounts"', f'table = "{crm_table}"'
    )
    _, line = refusal(tmp_path, text)
    assert ": modules.customers.crm.table: " in line
    assert "also the table of side 'books'" in line


def test_two_tables_of_one_database_file_are_a_valid_module(tmp_path):
    """One database file may hold both sides of a module, as two tables."""
    config = loads(tmp_path, CONFIG.replace('path = "crm.db"', 'path = "books.db"'))
    assert config.sides["books"].path == config.sides["crm"].path


@pytest.mark.parametrize(
    "books, books_eu",
    [('organization_id = "111"', 'organization_id = "111"'), ("", "")],
    ids=["same-organisation", "same-defaults"],
)
def test_a_module_on_one_table_of_one_zoho_organisation_is_refused(tmp_path, books, books_eu):
    """Two Zoho sides reaching one organisation (same options, or the same defaults) and
    naming one table are one table, too."""
    text = textwrap.dedent(
        f"""\
        [sides.books]
        connector = "zoho_books"
        {books}
        [sides.books_eu]
        connector = "zoho_books"
        {books_eu}
        [modules.people]
        books = {{ table = "customers" }}
        books_eu = {{ table = "customers" }}
        [modules.people.fields]
        name = {{ books = "contact_name", books_eu = "contact_name" }}
        """
    )
    _, line = refusal(tmp_path, text)
    assert ": modules.people.books_eu.table: " in line
    assert "also the table of side 'books'" in line
    other = (
        text.replace('"111"', '"222"', 1)
        if books
        else text.replace("[sides.books_eu]", '[sides.books_eu]\norganization_id = "222"')
    )
    assert loads(tmp_path, other).modules["people"]  # another organisation: a valid pair


@pytest.mark.parametrize("journal", ["crm.db", "./books.db", "hard.db"])
def test_a_journal_inside_a_side_database_is_refused(tmp_path, journal):
    """The journal path may not be a side's database (resolved, a hard link included)."""
    (tmp_path / "crm.db").touch()
    os.link(tmp_path / "crm.db", tmp_path / "hard.db")
    text = CONFIG.replace('path = "journal.db"', f'path = "{journal}"')
    _, line = refusal(tmp_path, text, "status")
    assert ": journal.path: " in line
    assert "is the database of side" in line
    assert not (tmp_path / "journal.db").exists()


@pytest.mark.parametrize(
    "extra, key",
    [
        ("[" + ".".join(["a"] * 10_000) + "]\n", "a.a.a"),  # 10,000 nested tables
        ("x = " + "[" * 10_000 + "]" * 10_000 + "\n", "x (line"),  # arrays: tomllib recurses
        ("y = " + "{a = " * 10_000 + "1" + "}" * 10_000 + "\n", "y (line"),
        ("z = " + "[" * 40 + "]" * 40 + "\n", "z[0][0][0]"),  # parsed, then refused
    ],
    ids=["tables", "arrays", "inline-tables", "shallower-arrays"],
)
def test_absurdly_nested_values_are_refused_in_one_line(tmp_path, extra, key):
    """Values nested thousands deep are a one-line refusal, never a RecursionError."""
    _, line = refusal(tmp_path, CONFIG.replace("[sides.books]", extra + "[sides.books]"))
    assert key in line
    assert "nest" in line


def test_a_deep_config_is_refused_by_the_installed_command_without_a_traceback(tmp_path):
    """The real process (its own stack depth) prints one line and exits 1 on a deep file."""
    path = tmp_path / "replicator.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n" + CONFIG, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "replicator", "sync", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: {path}: x (line 1): values nest too deeply to read (no setting needs that)"
    ]


def test_an_unknown_key_far_from_every_known_one_gets_no_guess(tmp_path):
    """With no close known key the message lists the known ones and guesses nothing."""
    _, line = refusal(tmp_path, CONFIG.replace('path = "journal.db"', 'path = "j.db"\nxyz = 1'))
    assert line.endswith(": journal.xyz: unknown key 'xyz' in [journal] (known: path)")
