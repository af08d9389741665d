"""Big numbers against the Zoho sandbox over real HTTP (issue 9, classes 3 and 4).

CRM Accounts (the sandbox) <-> a SQLite table whose amount and count columns are TEXT, so
the SQLite side holds any number exactly.  CRM's ``Annual_Revenue`` is a currency field
of two decimal places (CRM rounds what it is given); ``Employees`` an integer field that
refuses a value past 2^31.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journal import Kind, verify
from replicator.sandbox import Sandbox
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_app
from replicator.sync.record import CycleReport
from tests.integration.conftest import fresh

DIGITS19 = "1234567890.123456789"
BIG = "123456789012345678901234567890"


class Scene:
    """A config syncing CRM Accounts with books.db's ``customers`` (TEXT numbers)."""

    def __init__(self, folder: Path, credentials: Path) -> None:
        self.books = folder / "books.db"
        self.sql(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, revenue TEXT,"
            " employees TEXT)"
        )
        self.config = folder / "replicator.toml"
        self.config.write_text(
            f"""\
[journal]
path = "journal.db"

[sides.crm]
connector = "zoho_crm"
credentials = {json.dumps(str(credentials))}

[sides.books]
connector = "sqlite"
path = "books.db"

[modules.customers]
sync = "both_ways"
first = "crm"
duplicates = "overwrite"
conflicts = "newest"
crm = {{ table = "Accounts", match = "Account_Name", modified = "Modified_Time" }}
books = {{ table = "customers", id = "id", match = "name" }}

[modules.customers.fields]
name = {{ crm = "Account_Name", books = "name" }}
revenue = {{ crm = "Annual_Revenue", books = "revenue", type = "decimal" }}
employees = {{ crm = "Employees", books = "employees", type = "integer" }}
""",
            encoding="utf-8",
        )

    def sql(self, statement: str, *params: object) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.books)) as conn, conn:
            return conn.execute(statement, params).fetchall()

    def sync(self) -> CycleReport:
        with open_app(self.config) as app:
            return app.engine.run()

    def errors(self, since: int = 0) -> list[Any]:
        with open_app(self.config) as app:
            return list(app.journal.read(since=since, kinds=[Kind.ERROR]))

    def verified(self) -> bool:
        with open_app(self.config) as app:
            return verify(app.journal).ok


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[ZohoApi]:
    fresh(sandbox)
    with ZohoApi(sandbox.credentials_path) as client:
        yield client


@pytest.fixture
def scene(tmp_path: Path, credentials: Path, api: ZohoApi) -> Scene:
    return Scene(tmp_path, credentials)


def accounts(api: ZohoApi) -> dict[str, tuple[Any, Any]]:
    rows = api.crm_records("Accounts", ["Account_Name", "Annual_Revenue", "Employees"])
    return {r["Account_Name"]: (r.get("Annual_Revenue"), r.get("Employees")) for r in rows}


def test_crm_rounding_an_amount_never_writes_it_back_over_the_exact_one(scene, api):
    """CRM keeps two places of a 19-digit amount; read back, the rounded amount is an error
    compared at CRM's precision, and books.db keeps the exact amount cycle after cycle."""
    scene.sql("INSERT INTO customers (name, revenue) VALUES ('Acme', ?)", DIGITS19)
    scene.sync()
    assert str(accounts(api)["Acme"][0]) == "1234567890.12"
    after_read = scene.sync()  # reads CRM's record as our write left it
    assert scene.sql("SELECT revenue FROM customers") == [(DIGITS19,)]
    (error,) = scene.errors(after_read.entries_before)
    assert error.side == "crm" and error.meta["field"] == "revenue"
    assert "rounded" in error.meta["reason"]
    quiet = scene.sync()  # CRM's overlap window reads the record again: still no change
    assert all(quiet.total(w) == 0 for w in ("observed", "updated", "rejected", "errors"))
    assert scene.sql("SELECT revenue FROM customers") == [(DIGITS19,)]
    assert scene.verified()


def test_a_30_digit_integer_crm_cannot_hold_is_one_refused_write_and_the_rest_syncs(scene, api):
    """CRM refuses an Employees value past 2^31: that record's write is an error, the
    other record syncs, and later cycles run (nothing read back through a float)."""
    scene.sql("INSERT INTO customers (name, employees) VALUES ('Huge', ?), ('Small', '12')", BIG)
    report = scene.sync()
    crm = accounts(api)
    assert "Huge" not in crm and crm["Small"][1] == 12
    (error,) = scene.errors()
    assert error.side == "crm" and error.meta.get("stage") == "write"
    assert report.total("rejected") == 1
    scene.sql("UPDATE customers SET employees = '40' WHERE name = 'Huge'")
    scene.sync()
    assert accounts(api)["Huge"][1] == 40
    assert scene.verified()
