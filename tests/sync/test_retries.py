"""Writes a side refused are retried with backoff, then held until `retry` (issue 9, class 6)."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from conflicts import RecordReducer
from conflicts.reducer import RETRY_LIMIT, retry_delay
from journal import Journal, Kind, verify
from replicator.cli.main import main
from replicator.config.load import parse_config
from replicator.connectors.sqlite import SQLiteConnector
from replicator.sync.engine import Engine
from replicator.sync.resolve import retry

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _sql(db: Path, statement: str, *params: object) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(statement, params)


def _names(db: Path, table: str, column: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return sorted(r[0] for r in conn.execute(f"SELECT {column} FROM {table}"))


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at


CONFIG = """
[journal]
path = "journal.db"
[sides.books]
connector = "sqlite"
path = "books.db"
[sides.crm]
connector = "sqlite"
path = "crm.db"
[modules.customers]
sync = "both_ways"
duplicates = "overwrite"
books = { table = "customers", id = "id", match = "name" }
crm = { table = "accounts", id = "id", match = "account_name" }
[modules.customers.fields]
name = { books = "name", crm = "account_name" }
email = { books = "email", crm = "email" }
"""


class Place:
    """CRM accounts, and a Books table that refuses rows without an email (a CHECK)."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path
        self.books, self.crm = tmp_path / "books.db", tmp_path / "crm.db"
        _sql(
            self.books,
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, "
            "email TEXT CHECK (email IS NOT NULL))",
        )
        _sql(
            self.crm,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, email TEXT)",
        )
        self.config_path = tmp_path / "replicator.toml"
        self.config_path.write_text(CONFIG)
        self.clock = Clock()
        self.open()

    def open(self) -> None:
        import tomllib

        config = parse_config(tomllib.loads(CONFIG), self.config_path)
        self.journal = Journal(self.path / "journal.db", RecordReducer(), now=self.clock)
        self.sides = {
            "books": SQLiteConnector("books", self.books, now=self.clock),
            "crm": SQLiteConnector("crm", self.crm, now=self.clock),
        }
        self.engine = Engine(config, self.journal, self.sides)

    def close(self) -> None:
        for side in self.sides.values():
            side.close()
        self.journal.close()

    def refused(self) -> list:
        return [e for e in self.journal.read(kinds=[Kind.ERROR]) if e.meta.get("stage") == "write"]


@pytest.fixture
def place(tmp_path: Path):
    p = Place(tmp_path)
    yield p
    p.close()


def test_a_refused_create_is_retried_after_its_backoff_once_the_cause_is_fixed(place):
    """Refused, it waits its backoff (no attempt before), then goes once the side takes it."""
    _sql(place.crm, "INSERT INTO accounts (account_name) VALUES ('Acme Ltd')")
    place.engine.run()
    assert len(place.refused()) == 1 and place.refused()[0].meta["attempt"] == 1
    _sql(place.books, "DROP TABLE customers")  # the cause is fixed: the CHECK is gone
    _sql(place.books, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    place.close()
    place.open()
    report = place.engine.run()  # within the backoff: not tried
    assert report.total("waiting") == 1 and _names(place.books, "customers", "name") == []
    place.clock.at = T0 + retry_delay(1) + dt.timedelta(seconds=1)
    report = place.engine.run()
    assert report.total("created") == 1
    assert _names(place.books, "customers", "name") == ["Acme Ltd"]
    state = place.journal.record("customers", "crm:1")
    assert state.retries == {} and not state.attention
    assert verify(place.journal).ok


def test_after_the_limit_a_record_is_held_until_retry(place):
    """RETRY_LIMIT refusals hold the record (no more attempts); `retry` sends it at once."""
    _sql(place.crm, "INSERT INTO accounts (account_name) VALUES ('Acme Ltd')")
    for attempt in range(1, RETRY_LIMIT + 3):
        place.engine.run()
        place.clock.at += retry_delay(attempt) + dt.timedelta(seconds=1)
    assert [e.meta["attempt"] for e in place.refused()] == list(range(1, RETRY_LIMIT + 1))
    state = place.journal.record("customers", "crm:1")
    assert state.retries == {"books": (RETRY_LIMIT, None)} and not state.attention
    assert "CHECK constraint failed" in state.errors["books"]
    _sql(place.books, "DROP TABLE customers")
    _sql(place.books, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    place.close()
    place.open()
    assert place.engine.run().total("created") == 0  # held: the fix alone does not send it
    assert retry(place.journal, "customers", ["crm:1"]) == 1
    assert place.engine.run().total("created") == 1
    assert _names(place.books, "customers", "name") == ["Acme Ltd"]
    assert verify(place.journal).ok


def test_an_edit_of_a_held_record_starts_a_new_round_of_attempts(place):
    """A change on a side is worth trying again: the held record is planned at once."""
    _sql(place.crm, "INSERT INTO accounts (account_name) VALUES ('Acme Ltd')")
    for attempt in range(1, RETRY_LIMIT + 1):
        place.engine.run()
        place.clock.at += retry_delay(attempt) + dt.timedelta(seconds=1)
    _sql(place.crm, "UPDATE accounts SET email = 'ap@acme.example'")
    assert place.engine.run().total("created") == 1
    assert _names(place.books, "customers", "email") == ["ap@acme.example"]


def test_status_lists_held_records_and_retry_all_rearms_them(place):
    """`status --json` lists records held after their retries; `retry --all` re-arms them."""
    _sql(place.crm, "INSERT INTO accounts (account_name) VALUES ('Acme Ltd')")
    for attempt in range(1, RETRY_LIMIT + 1):
        place.engine.run()
        place.clock.at += retry_delay(attempt) + dt.timedelta(seconds=1)
    place.close()
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(place.config_path), "status"])
    assert result.exit_code == 0, result.output
    assert "record crm:1 held on books after 6 attempts" in " ".join(result.output.split())
    result = runner.invoke(main, ["--config", str(place.config_path), "retry", "--all"])
    assert result.exit_code == 0 and "customers: 1 record(s) retried" in result.output
    place.open()
    assert place.journal.record("customers", "crm:1").attention
