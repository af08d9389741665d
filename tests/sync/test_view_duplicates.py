"""A view or local criteria limit what syncs, never what duplicate matching sees (issue 9)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from conflicts import RecordReducer
from journal import Journal, Kind, verify
from replicator.config.load import parse_config
from replicator.connectors.sqlite import SQLiteConnector
from replicator.sync.engine import Engine


def _sql(db: Path, statement: str, *params: object) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(statement, params)


def _names(db: Path, table: str, column: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return sorted(r[0] for r in conn.execute(f"SELECT {column} FROM {table}"))


class Place:
    """Books customers and CRM accounts in two SQLite files; CRM syncs only one region."""

    def __init__(self, tmp_path: Path, duplicates: str = "overwrite") -> None:
        self.books, self.crm = tmp_path / "books.db", tmp_path / "crm.db"
        _sql(self.books, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
        _sql(
            self.crm,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, email TEXT, "
            "region TEXT)",
        )
        data = {
            "journal": {"path": "journal.db"},
            "sides": {
                "books": {"connector": "sqlite", "path": str(self.books)},
                "crm": {"connector": "sqlite", "path": str(self.crm)},
            },
            "modules": {
                "customers": {
                    "sync": "both_ways",
                    "duplicates": duplicates,
                    "books": {"table": "customers", "id": "id", "match": "name"},
                    "crm": {
                        "table": "accounts",
                        "id": "id",
                        "match": "account_name",
                        "where": {"region": "EU"},
                    },
                    "fields": {
                        "name": {"books": "name", "crm": "account_name"},
                        "email": {"books": "email", "crm": "email"},
                    },
                }
            },
        }
        self.config = parse_config(data, tmp_path / "replicator.toml")
        self.journal = Journal(tmp_path / "journal.db", RecordReducer())
        self.sides = {
            "books": SQLiteConnector("books", self.books),
            "crm": SQLiteConnector("crm", self.crm),
        }
        self.engine = Engine(self.config, self.journal, self.sides)

    def close(self) -> None:
        for side in self.sides.values():
            side.close()
        self.journal.close()


@pytest.fixture
def place(tmp_path: Path):
    p = Place(tmp_path)
    yield p
    p.close()


def _seed(place: Place) -> None:
    for name in ("Acme Ltd", "Initech", "Sirius Cybernetics"):
        _sql(place.books, "INSERT INTO customers (name) VALUES (?)", name)
    _sql(place.crm, "INSERT INTO accounts (account_name, region) VALUES ('Acme Ltd', 'US')")
    _sql(place.crm, "INSERT INTO accounts (account_name, region) VALUES ('Initech', 'US')")
    _sql(
        place.crm, "INSERT INTO accounts (account_name, region) VALUES ('Sirius Cybernetics', 'EU')"
    )


def test_a_books_record_whose_crm_twin_is_outside_the_criteria_is_not_created_again(place):
    """overwrite + CRM criteria: twins outside them are found, not created a second time."""
    _seed(place)
    for _ in range(3):  # and never on a later cycle either
        report = place.engine.run()
    assert _names(place.crm, "accounts", "account_name") == [
        "Acme Ltd",
        "Initech",
        "Sirius Cybernetics",
    ]
    assert _names(place.books, "customers", "name") == ["Acme Ltd", "Initech", "Sirius Cybernetics"]
    waiting = [
        e
        for e in place.journal.read(kinds=[Kind.ERROR])
        if "outside the criteria" in e.meta.get("reason", "")
    ]
    assert {e.rid for e in waiting} == {"books:1", "books:2"}
    assert "crm accounts record 1 has the same name (Acme Ltd)" in waiting[0].meta["reason"]
    assert report.total("outside view") == 2
    assert verify(place.journal).ok


def test_a_twin_entering_the_criteria_pairs_with_the_waiting_record(place):
    """When the CRM twin enters the criteria, the two pair up: nothing doubled anywhere."""
    _seed(place)
    place.engine.run()
    _sql(place.books, "UPDATE customers SET email = 'ap@acme.example' WHERE name = 'Acme Ltd'")
    _sql(place.crm, "UPDATE accounts SET region = 'EU' WHERE account_name = 'Acme Ltd'")
    report = place.engine.run()
    assert report.total("linked") == 1
    place.engine.run()
    assert _names(place.crm, "accounts", "account_name") == [
        "Acme Ltd",
        "Initech",
        "Sirius Cybernetics",
    ]
    assert _names(place.books, "customers", "name") == ["Acme Ltd", "Initech", "Sirius Cybernetics"]
    assert place.journal.rid_for("customers", "crm", "1") is not None


def test_clone_still_creates_beside_a_twin_outside_the_criteria(tmp_path):
    """clone means both records exist: the twin outside the criteria does not stop it."""
    p = Place(tmp_path, duplicates="clone")
    try:
        _sql(p.books, "INSERT INTO customers (name) VALUES ('Acme Ltd')")
        _sql(p.crm, "INSERT INTO accounts (account_name, region) VALUES ('Acme Ltd', 'US')")
        p.engine.run()
        assert _names(p.crm, "accounts", "account_name") == ["Acme Ltd", "Acme Ltd"]
    finally:
        p.close()
