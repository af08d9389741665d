"""A journal with conflicts for the console's pages: the engine over two SQLite sides.

``customers`` between ``books`` (table ``customers``) and ``crm`` (table ``accounts``) under
the manual conflict policy, with suggestions on: value conflicts held for a person, an
ambiguous duplicate group (two CRM records and one Books record with one name) and a
suggested near match (``Acme Ltd`` / ``ACME Limited``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conflicts import RecordReducer
from journal import Journal
from replicator.config.load import Config, parse_config
from replicator.connectors.sqlite import SQLiteConnector
from replicator.sync.engine import Engine

TABLES = {"books": "customers", "crm": "accounts"}
NAMES = {"books": "name", "crm": "account_name"}
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class Ticker:
    """A deterministic clock: one second later at every call."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> dt.datetime:
        self.n += 1
        return T0 + dt.timedelta(seconds=self.n)


def make_config(tmp_path: Path) -> Config:
    module = {
        "sync": "both_ways",
        "first": "crm",
        "duplicates": "overwrite",
        "conflicts": "manual",
        "suggest": True,
        "books": {"table": "customers", "id": "id", "match": "name", "modified": "updated_at"},
        "crm": {"table": "accounts", "id": "id", "match": "account_name", "modified": "updated_at"},
        "fields": {
            "name": {"books": "name", "crm": "account_name"},
            "email": {"books": "email", "crm": "email"},
            "credit_limit": {"books": "credit_limit", "crm": "credit_limit", "type": "decimal"},
        },
    }
    data = {
        "journal": {"path": "journal.db"},
        "sides": {
            side: {"connector": "sqlite", "path": str(tmp_path / f"{side}.db")} for side in TABLES
        },
        "modules": {"customers": module},
    }
    return parse_config(data, tmp_path / "replicator.toml")


class Side:
    """A SQLite side edited with plain sqlite3, as another program would."""

    def __init__(self, side: str, path: Path, now: Ticker) -> None:
        self.table = TABLES[side]
        self.name = NAMES[side]
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            f"{self.name} TEXT, email TEXT, credit_limit TEXT, updated_at TEXT)"
        )
        self.connector = SQLiteConnector(side, path, now=now)

    def insert(self, row: Mapping[str, Any]) -> str:
        cur = self.db.execute(
            f"INSERT INTO {self.table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        return str(cur.lastrowid)

    def update(self, id: str, row: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{c} = ?" for c in row)
        self.db.execute(f"UPDATE {self.table} SET {sets} WHERE id = ?", [*row.values(), int(id)])

    def close(self) -> None:
        self.connector.close()
        self.db.close()


class World:
    """Two SQLite sides, a journal and an engine over them."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = make_config(tmp_path)
        now = Ticker()
        self.books = Side("books", tmp_path / "books.db", now)
        self.crm = Side("crm", tmp_path / "crm.db", now)
        self.journal = Journal(tmp_path / "journal.db", RecordReducer())
        sides = {"books": self.books.connector, "crm": self.crm.connector}
        self.engine = Engine(self.config, self.journal, sides)

    def sync(self) -> Any:
        return self.engine.run()

    def close(self) -> None:
        self.journal.close()
        self.books.close()
        self.crm.close()


def conflicted(tmp_path: Path, *, values: int = 3) -> World:
    """A world whose journal holds ``values`` open value conflicts (field email; the first
    one's CRM value is ``<script>alert(1)</script>``), a duplicate group and a suggestion."""
    w = World(tmp_path)
    ids = [
        w.crm.insert({"account_name": f"Customer {i}", "email": f"c{i}@x"}) for i in range(values)
    ]
    w.sync()
    books_ids = dict(w.books.db.execute("SELECT name, id FROM customers"))
    for i, crm_id in enumerate(ids):
        crm_value = "<script>alert(1)</script>" if i == 0 else f"crm{i}@x"
        w.crm.update(crm_id, {"email": crm_value, "updated_at": "2024-02-01T00:00:00Z"})
        w.books.update(
            str(books_ids[f"Customer {i}"]),
            {"email": f"books{i}@x", "updated_at": "2024-02-01T00:00:01Z"},
        )
    w.crm.insert({"account_name": "Dup", "email": "1@x"})
    w.crm.insert({"account_name": "Dup", "email": "2@x"})
    w.books.insert({"name": "Dup", "email": "b@x"})
    w.crm.insert({"account_name": "Acme Ltd", "email": "crm@acme"})
    w.books.insert({"name": "ACME Limited", "email": "books@acme"})
    w.sync()
    return w
