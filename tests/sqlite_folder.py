"""A folder of two SQLite sides (books.db, crm.db written by plain sqlite3), a customers
module between them and a journal: what the dry-run tests of the engine and of the CLI share."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path

CONFIG = """\
[journal]
path = "journal.db"
{guard}
[sides.books]
connector = "sqlite"
path = "books.db"

[sides.crm]
connector = "sqlite"
path = "crm.db"

[modules.customers]
sync = "both_ways"
first = "crm"
duplicates = "{duplicates}"
conflicts = "{conflicts}"
books = {{ table = "customers", id = "id", match = "name", modified = "updated_at" }}
crm = {{ table = "accounts", id = "id", match = "account_name", modified = "modified_time" }}

[modules.customers.fields]
name = {{ books = "name", crm = "account_name" }}
email = {{ books = "email", crm = "email" }}
credit_limit = {{ books = "credit_limit", crm = "credit_limit", type = "decimal" }}
"""


class SQLiteFolder:
    """The folder, its config file (``config_path``) and the two sides' empty tables."""

    def __init__(
        self, path: Path, *, guard: str = "", duplicates: str = "link", conflicts: str = "newest"
    ) -> None:
        self.path = path
        self.config_path = path / "replicator.toml"
        self.write_config(guard=guard, duplicates=duplicates, conflicts=conflicts)
        self.books, self.crm = path / "books.db", path / "crm.db"
        self.sql(
            self.books,
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
            "credit_limit NUMERIC, updated_at TEXT)",
        )
        self.sql(
            self.crm,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, email TEXT, "
            "credit_limit NUMERIC, modified_time TEXT)",
        )

    def write_config(
        self, *, guard: str = "", duplicates: str = "link", conflicts: str = "newest"
    ) -> None:
        """``guard``: TOML text put after the journal's table (a ``[guard]`` table)."""
        text = CONFIG.format(guard=guard, duplicates=duplicates, conflicts=conflicts)
        self.config_path.write_text(text, encoding="utf-8")

    @staticmethod
    def sql(db: Path, statement: str, *params: object) -> None:
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute(statement, params)

    def hashes(self) -> dict[str, str]:
        """Every file of the folder (sides, journal, its key and anchors) by its sha256."""
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.path.iterdir())
            if p.is_file()
        }
