"""The SQLite connector's compiled SQL: a module whose table, view or id column is missing
is refused with a message naming it, before anything is read or written."""

from __future__ import annotations

import sqlite3

import pytest

from replicator.connectors.base import SideModule
from replicator.connectors.sqlite import SQLiteConnector
from replicator.connectors.sqlite_plan import quote, read_plan
from replicator.errors import ConnectorError


@pytest.fixture
def connector(tmp_path):
    with sqlite3.connect(tmp_path / "side.db") as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.close()
    with SQLiteConnector("lite", tmp_path / "side.db") as connector:
        yield connector


@pytest.mark.parametrize(
    ("module", "reason"),
    [
        (SideModule(name="c", table="clients"), "no table 'clients'"),
        (SideModule(name="c", table="customers", view="recent"), "no view 'recent'"),
        (SideModule(name="c", table="customers", id="key"), "no id column 'key'"),
    ],
)
def test_a_module_whose_schema_is_missing_is_refused_naming_what_is_missing(
    connector, tmp_path, module, reason
):
    """The side, the file, the table and the missing name are in the one error."""
    with pytest.raises(ConnectorError) as refused:
        list(connector.pull(module, None))
    assert str(refused.value) == (
        f"side lite: read the schema in {tmp_path / 'side.db'}, table {module.table}: {reason}"
    )


def test_an_id_column_named_rowid_reads_the_tables_rowid():
    """A table without such a column is read by its rowid, and new ids are max + 1."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE notes (body TEXT)")
    plan = read_plan(db, SideModule(name="n", table="notes", id="rowid"))
    assert plan.integer_ids and plan.columns == ("body",)


def test_any_name_is_quoted_as_one_identifier():
    """Quotes inside a name are doubled, so a name cannot end the identifier early."""
    assert quote('we"ird name') == '"we""ird name"'
