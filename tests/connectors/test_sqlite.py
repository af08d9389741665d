"""The SQLite connector: the contract, plus change capture, quoting and failure handling."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from replicator.connectors.base import Connector, SideModule, Write
from replicator.connectors.sqlite import SQLiteConnector
from replicator.errors import ConnectorError
from tests.connectors.contract import (
    MODULE,
    REFUSED,
    ConnectorContract,
    Harness,
    by_id,
    changes_of,
    create,
    person,
    pull_all,
)

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
CUSTOMERS = (
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT,"
    " city TEXT, updated_at TEXT)"
)


def other_program(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as another program writing the database would hold."""
    return sqlite3.connect(path, isolation_level=None, timeout=10)


class SQLiteHarness(Harness):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = other_program(path)
        self.db.execute(CUSTOMERS)
        self.connector = SQLiteConnector("books", path)

    def insert(self, values: Mapping[str, Any]) -> str:
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        cursor = self.db.execute(
            f"INSERT INTO customers ({columns}) VALUES ({marks})", tuple(values.values())
        )
        return str(cursor.lastrowid)

    def update(self, id: str, values: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{column} = ?" for column in values)
        self.db.execute(f"UPDATE customers SET {sets} WHERE id = ?", (*values.values(), id))

    def delete(self, id: str) -> None:
        self.db.execute("DELETE FROM customers WHERE id = ?", (id,))

    def rows(self) -> dict[str, dict[str, Any]]:
        return {
            str(id): {"name": name, "email": email, "city": city}
            for id, name, email, city in self.db.execute(
                "SELECT id, name, email, city FROM customers"
            )
        }

    def close(self) -> None:
        self.connector.close()
        self.db.close()


class TestSQLiteContract(ConnectorContract):
    def make_harness(self, directory: Path) -> Harness:
        return SQLiteHarness(directory / "books.db")


@pytest.fixture
def side(tmp_path: Path) -> Iterator[SQLiteHarness]:
    harness = SQLiteHarness(tmp_path / "books.db")
    yield harness
    harness.close()


def log_of(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return db.execute("SELECT tbl, row_id, op FROM _replicator_changes ORDER BY seq").fetchall()


def test_sqlite_connector_satisfies_the_protocol(side: SQLiteHarness) -> None:
    """SQLiteConnector is a Connector."""
    assert isinstance(side.connector, Connector)


def test_triggers_capture_changes_made_by_another_connection(side: SQLiteHarness) -> None:
    """After the first pull, another connection's writes land in the change log."""
    pull_all(side.connector, None)
    side.db.execute("DELETE FROM _replicator_changes")
    other = other_program(side.path)
    other.execute("BEGIN")
    other.execute("INSERT INTO customers (id, name) VALUES (7, 'x')")
    other.execute("UPDATE customers SET city = 'y' WHERE id = 7")
    other.execute("UPDATE customers SET id = 8 WHERE id = 7")
    other.execute("DELETE FROM customers WHERE id = 8")
    other.execute("COMMIT")
    other.close()
    assert log_of(side.db) == [
        ("customers", "7", "I"),
        ("customers", "7", "U"),
        ("customers", "7", "D"),
        ("customers", "8", "I"),
        ("customers", "8", "D"),
    ]


def test_an_update_that_changes_the_id_is_a_delete_and_an_insert(side: SQLiteHarness) -> None:
    """Renumbering a row reports the old id deleted and the new id with its values."""
    old = side.insert(person(1))
    _, cursor = pull_all(side.connector, None)
    side.db.execute("UPDATE customers SET id = 100 WHERE id = ?", (old,))
    seen = by_id(pull_all(side.connector, cursor)[0])
    assert seen[old].deleted
    assert dict(seen["100"].values) == person(1)


def test_the_mute_is_never_left_set(side: SQLiteHarness) -> None:
    """Other connections read mute = 0 after pushes, whether writes succeeded or not."""
    side.connector.push(MODULE, [create("a", person(1)), create("b", REFUSED)])
    assert side.db.execute("SELECT mute FROM _replicator_mute").fetchall() == [(0,)]


def test_a_pull_forgets_the_log_up_to_its_cursor(side: SQLiteHarness) -> None:
    """pull(since=N) deletes the log rows N covers; other tables' rows stay."""
    side.db.execute("CREATE TABLE vendors (id INTEGER PRIMARY KEY, name TEXT)")
    vendors = SideModule("vendors", "vendors", columns=("name",))
    pull_all(side.connector, None, module=vendors)
    side.db.execute("INSERT INTO vendors (name) VALUES ('v')")
    for n in range(3):
        side.insert(person(n))
    _, cursor = pull_all(side.connector, None)
    pull_all(side.connector, cursor)
    assert log_of(side.db) == [("vendors", "1", "I")]


def test_installing_twice_captures_each_change_once(side: SQLiteHarness) -> None:
    """A second connector on the same database adds no second set of triggers."""
    _, cursor = pull_all(side.connector, None)
    second = SQLiteConnector("books", side.path)
    pull_all(second, None)
    second.close()
    side.db.execute("DELETE FROM _replicator_changes")
    side.insert(person(1))
    assert len(log_of(side.db)) == 1
    triggers = side.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
    assert triggers.fetchone() == (3,)


def test_triggers_follow_a_change_of_id_column(side: SQLiteHarness) -> None:
    """Pulling with another id column replaces the triggers rather than adding to them."""
    pull_all(side.connector, None)
    by_email = SideModule("customers", "customers", id="email", columns=("name",))
    pull_all(side.connector, None, module=by_email)
    side.db.execute("DELETE FROM _replicator_changes")
    side.insert(person(1))
    assert log_of(side.db) == [("customers", "p1@example.com", "I")]


def test_modified_column_is_parsed_as_utc(tmp_path: Path) -> None:
    """ISO text in the modified column is the change time; naive means UTC; junk falls back."""
    db = other_program(tmp_path / "s.db")
    db.execute(CUSTOMERS)
    rows = [
        (1, "2024-01-02T03:04:05+02:00"),
        (2, "2024-01-02 03:04:05"),
        (3, "2024-01-02T03:04:05.250Z"),
        (4, "soon"),
        (5, None),
    ]
    db.executemany("INSERT INTO customers (id, name, updated_at) VALUES (?, 'n', ?)", rows)
    module = SideModule("customers", "customers", columns=("name",), modified="updated_at")
    connector = SQLiteConnector("books", tmp_path / "s.db", now=lambda: T0)
    [page] = connector.pull(module, None)
    modified = {c.id: c.modified for c in page.changes}
    assert modified == {
        "1": dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=dt.UTC),
        "2": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "3": dt.datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=dt.UTC),
        "4": T0,
        "5": T0,
    }
    assert all(set(c.values) == {"name"} for c in page.changes)
    change = connector.get(module, "1")
    assert change is not None and change.modified == modified["1"]
    connector.close()


def test_capture_time_without_a_modified_column(side: SQLiteHarness) -> None:
    """Without a modified column, a trigger-captured change carries its capture time."""
    _, cursor = pull_all(side.connector, None)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    side.insert(person(1))
    [change] = changes_of(pull_all(side.connector, cursor)[0])
    assert change.modified is not None
    assert before <= change.modified <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)


def test_not_null_violation_is_one_error_outcome_naming_the_table(side: SQLiteHarness) -> None:
    """A NOT NULL failure is that write's error, naming table, key and SQLite's reason."""
    outcomes = side.connector.push(MODULE, [create("good", person(1)), create("k9", REFUSED)])
    assert outcomes[0].ok
    error = outcomes[1].error
    assert error is not None
    assert "customers" in error and "k9" in error and "NOT NULL" in error
    assert outcomes[1].id is None


def test_a_failed_write_in_a_large_batch_keeps_the_rest(side: SQLiteHarness) -> None:
    """The batch falls back to write-by-write: only the bad write is lost, ids stay unique."""
    writes = [create(f"k{n}", person(n)) for n in range(50)]
    writes[17] = create("k17", REFUSED)
    outcomes = side.connector.push(MODULE, writes)
    assert [o.ok for o in outcomes].count(False) == 1 and not outcomes[17].ok
    ids = [o.id for o in outcomes if o.ok]
    assert len(set(ids)) == 49
    assert set(side.rows()) == set(ids)


def test_constraint_errors_on_update_name_the_id(side: SQLiteHarness) -> None:
    """A refused update names the table and the row id."""
    side.db.execute("CREATE UNIQUE INDEX customers_email ON customers(email)")
    a, b = side.insert(person(1)), side.insert(person(2))
    [outcome] = side.connector.push(MODULE, [Write("r", b, {"email": "p1@example.com"})])
    assert not outcome.ok and outcome.error is not None
    assert f"id {b}" in outcome.error and "UNIQUE" in outcome.error
    assert side.rows()[a]["email"] == "p1@example.com"


def test_unsupported_value_type_is_one_error_outcome(side: SQLiteHarness) -> None:
    """A value SQLite cannot bind is that write's error, not the batch's."""
    outcomes = side.connector.push(
        MODULE, [create("a", person(1, city=object())), create("b", person(2))]
    )
    assert [o.ok for o in outcomes] == [False, True]


def test_unknown_column_is_one_error_outcome(side: SQLiteHarness) -> None:
    """Writing a column the table lacks is that write's error."""
    outcomes = side.connector.push(
        MODULE, [create("a", person(1, colour="red")), create("b", person(2))]
    )
    assert [o.ok for o in outcomes] == [False, True]
    assert "colour" in (outcomes[0].error or "")


def test_identifiers_with_spaces_and_quotes_are_quoted(tmp_path: Path) -> None:
    """A table, id and columns named with spaces and quotes work throughout."""
    path = tmp_path / "odd.db"
    db = other_program(path)
    db.execute(
        'CREATE TABLE "my ""best"" customers" ("customer id" TEXT PRIMARY KEY,'
        ' "full name" TEXT NOT NULL, "order" INTEGER)'
    )
    db.execute('INSERT INTO "my ""best"" customers" VALUES (\'c1\', \'Ann\', 1)')
    module = SideModule(
        "customers",
        'my "best" customers',
        id="customer id",
        columns=("full name", "order"),
        match=("full name",),
    )
    connector = SQLiteConnector("books", path)
    pages, cursor = pull_all(connector, None, module=module)
    assert [(c.id, dict(c.values)) for c in changes_of(pages)] == [
        ("c1", {"full name": "Ann", "order": 1})
    ]
    [made] = connector.push(module, [create("k", {"full name": "Bo", "order": 2})])
    assert made.ok and made.id is not None and len(made.id) == 32  # uuid4 hex
    db.execute('UPDATE "my ""best"" customers" SET "order" = 5 WHERE "customer id" = \'c1\'')
    seen = by_id(pull_all(connector, cursor, module=module)[0])
    assert list(seen) == ["c1"] and seen["c1"].values["order"] == 5
    assert [c.id for c in connector.search(module, "bo")] == [made.id]
    assert connector.schema(module) == {
        "customer id": "TEXT",
        "full name": "TEXT",
        "order": "INTEGER",
    }
    connector.close()


def test_autoincrement_ids_are_never_reused(tmp_path: Path) -> None:
    """On an AUTOINCREMENT table, pushed creates take ids beyond any ever used."""
    path = tmp_path / "a.db"
    db = other_program(path)
    db.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " email TEXT, city TEXT)"
    )
    db.execute("INSERT INTO customers (id, name) VALUES (41, 'x')")
    db.execute("DELETE FROM customers")
    connector = SQLiteConnector("books", path)
    outcomes = connector.push(MODULE, [create("a", person(1)), create("b", person(2))])
    assert [o.id for o in outcomes] == ["42", "43"]
    db.execute("INSERT INTO customers (name) VALUES ('y')")
    assert db.execute("SELECT max(id) FROM customers").fetchone() == (44,)
    connector.close()


def test_a_rowid_table_without_an_id_column(tmp_path: Path) -> None:
    """A table with no id column can be synced by its rowid."""
    path = tmp_path / "r.db"
    db = other_program(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('hello')")
    module = SideModule("notes", "notes", id="rowid", columns=("body",), match=("body",))
    connector = SQLiteConnector("books", path)
    pages, cursor = pull_all(connector, None, module=module)
    assert [(c.id, dict(c.values)) for c in changes_of(pages)] == [("1", {"body": "hello"})]
    [made] = connector.push(module, [create("k", {"body": "bye"})])
    assert made.id == "2"
    db.execute("UPDATE notes SET body = 'hi' WHERE rowid = 1")
    assert [c.id for c in changes_of(pull_all(connector, cursor, module=module)[0])] == ["1"]
    connector.close()


def test_columns_default_to_every_column_but_the_id(side: SQLiteHarness) -> None:
    """A module with no columns listed reads all of the table's columns."""
    id = side.insert(person(1))
    change = side.connector.get(SideModule("customers", "customers"), id)
    assert change is not None
    assert dict(change.values) == {**person(1), "updated_at": None}


def test_a_view_limits_what_is_pulled(side: SQLiteHarness) -> None:
    """With module.view, only rows of that SQLite view are pulled; views() lists it."""
    side.db.execute("CREATE VIEW oslo AS SELECT * FROM customers WHERE city = 'Oslo'")
    module = SideModule("customers", "customers", columns=("name",), view="oslo")
    oslo, lima = side.insert(person(1)), side.insert(person(2, city="Lima"))
    pages, cursor = pull_all(side.connector, None, module=module)
    assert [c.id for c in changes_of(pages)] == [oslo]
    side.update(oslo, {"city": "Lima"})
    side.update(lima, {"city": "Oslo"})
    assert [c.id for c in changes_of(pull_all(side.connector, cursor, module=module)[0])] == [lima]
    assert side.connector.views(module) == ["oslo"]


def test_schema_gives_declared_types(side: SQLiteHarness) -> None:
    """schema maps every column to its declared type."""
    assert side.connector.schema(MODULE) == {
        "id": "INTEGER",
        "name": "TEXT",
        "email": "TEXT",
        "city": "TEXT",
        "updated_at": "TEXT",
    }


def test_the_database_is_in_wal_mode(side: SQLiteHarness) -> None:
    """The connector puts the database in WAL mode so readers never block writers."""
    fresh = other_program(side.path)
    assert fresh.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    fresh.close()


def test_a_missing_table_is_a_connector_error(side: SQLiteHarness) -> None:
    """Pulling a table that does not exist fails the call, naming side, file and table."""
    module = SideModule("ghosts", "ghosts", columns=("name",))
    with pytest.raises(ConnectorError) as caught:
        pull_all(side.connector, None, module=module)
    message = str(caught.value)
    assert "books" in message and str(side.path) in message and "ghosts" in message


def test_a_locked_database_fails_the_push_and_leaves_nothing(tmp_path: Path) -> None:
    """If the database stays locked, push raises ConnectorError and writes nothing."""
    path = tmp_path / "l.db"
    db = other_program(path)
    db.execute(CUSTOMERS)
    connector = SQLiteConnector("books", path, busy_timeout=0.05)
    db.execute("BEGIN IMMEDIATE")
    with pytest.raises(ConnectorError, match="customers"):
        connector.push(MODULE, [create("a", person(1))])
    db.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    assert db.execute("SELECT mute FROM _replicator_mute").fetchone() == (0,)
    [outcome] = connector.push(MODULE, [create("a", person(1))])
    assert outcome.ok
    connector.close()


def test_a_cursor_must_be_an_int(side: SQLiteHarness) -> None:
    """A cursor of the wrong type is refused before anything is read."""
    with pytest.raises(TypeError):
        pull_all(side.connector, "12")


def test_pushes_leave_no_trace_in_the_change_log(side: SQLiteHarness) -> None:
    """Our own creates and updates write nothing to the change log."""
    id = side.insert(person(1))
    _, cursor = pull_all(side.connector, None)
    pull_all(side.connector, cursor)
    side.connector.push(MODULE, [create("a", person(2)), Write("u", id, {"city": "Rome"})])
    assert log_of(side.db) == []


def test_changes_are_captured_even_if_the_mute_row_is_lost(side: SQLiteHarness) -> None:
    """Without its mute row the log still captures others' writes, and a pull restores it."""
    _, cursor = pull_all(side.connector, None)
    side.db.execute("DELETE FROM _replicator_mute")
    id = side.insert(person(1))
    assert [c.id for c in changes_of(pull_all(side.connector, cursor)[0])] == [id]
    assert side.db.execute("SELECT mute FROM _replicator_mute").fetchall() == [(0,)]


def test_snapshot_rows_carry_the_injected_capture_time(tmp_path: Path) -> None:
    """Without a modified column, snapshot changes are stamped with the now hook's time."""
    db = other_program(tmp_path / "s.db")
    db.execute(CUSTOMERS)
    db.execute("INSERT INTO customers (name) VALUES ('a')")
    connector = SQLiteConnector("books", tmp_path / "s.db", now=lambda: T0)
    [page] = connector.pull(MODULE, None)
    assert [c.modified for c in page.changes] == [T0]
    connector.close()


# -- poison values and bad ids (issue 9, classes 3 to 5) --------------------------------------


def test_text_that_is_not_utf8_comes_as_bytes_and_the_page_goes_on(side: SQLiteHarness) -> None:
    """One undecodable value is that field's bytes, not an error for the whole page; pull
    and get read the other rows and fields as usual."""
    good = side.insert(person(1))
    bad = side.insert(person(2))
    side.db.execute("UPDATE customers SET city = CAST(x'ff41' AS TEXT) WHERE id = ?", (bad,))
    seen = by_id(pull_all(side.connector, None)[0])
    assert seen[bad].values["city"] == b"\xffA"
    assert seen[bad].values["name"] == person(2)["name"]
    assert dict(seen[good].values) == person(1)
    change = side.connector.get(MODULE, bad)
    assert change is not None and change.values["city"] == b"\xffA"
    # the usual decoding is back for the next read
    assert side.connector.get(MODULE, good).values["city"] == person(1)["city"]


def text_ids(tmp_path: Path) -> tuple[sqlite3.Connection, SQLiteConnector, SideModule]:
    """A table whose id column is plain TEXT: SQLite lets it be NULL or shared."""
    db = other_program(tmp_path / "t.db")
    db.execute("CREATE TABLE customers (id TEXT, name TEXT, email TEXT)")
    module = SideModule("customers", "customers", columns=("name", "email"))
    return db, SQLiteConnector("books", tmp_path / "t.db"), module


def test_a_row_with_a_null_id_is_a_change_with_a_problem_naming_it(tmp_path: Path) -> None:
    """A NULL id is never dropped in silence: a problem names the table and the row."""
    db, connector, module = text_ids(tmp_path)
    db.execute("INSERT INTO customers VALUES ('a', 'Acme', NULL), (NULL, 'Nobody', 'n@x')")
    (page,) = connector.pull(module, None)
    (ok,) = [c for c in page.changes if c.problem is None]
    (nameless,) = [c for c in page.changes if c.problem is not None]
    assert ok.id == "a"
    assert nameless.id == "" and dict(nameless.values) == {"name": "Nobody", "email": "n@x"}
    assert nameless.problem is not None
    assert "table customers" in nameless.problem and "rowid 2" in nameless.problem
    assert "'Nobody'" in nameless.problem and "no id" in nameless.problem
    connector.close()


def test_two_rows_sharing_an_id_are_one_change_with_a_problem_naming_both(tmp_path: Path) -> None:
    """Neither row of a shared id is given as the record; get says the same."""
    db, connector, module = text_ids(tmp_path)
    db.execute("INSERT INTO customers VALUES ('d', 'One', NULL), ('d', 'Two', NULL)")
    (page,) = connector.pull(module, None)
    (change,) = page.changes
    assert change.id == "d" and change.problem is not None
    assert "2 rows share the id 'd'" in change.problem
    assert "rowid 1" in change.problem and "rowid 2" in change.problem
    got = connector.get(module, "d")
    assert got is not None and got.problem == change.problem
    connector.close()


def test_when_one_of_two_rows_sharing_an_id_goes_the_other_is_read_not_deleted(
    tmp_path: Path,
) -> None:
    """The delete logged for the shared id is no delete: a row still has the id."""
    db, connector, module = text_ids(tmp_path)
    db.execute("INSERT INTO customers VALUES ('d', 'One', NULL), ('d', 'Two', NULL)")
    _, cursor = pull_all(connector, None, module=module)
    db.execute("DELETE FROM customers WHERE name = 'Two'")
    (change,) = changes_of(pull_all(connector, cursor, module=module)[0])
    assert not change.deleted and change.problem is None
    assert dict(change.values) == {"name": "One", "email": None}
    connector.close()


def test_an_update_of_an_id_two_rows_share_is_rolled_back_and_refused(tmp_path: Path) -> None:
    """One record's values never go to two rows; the other writes of the batch go on."""
    db, connector, module = text_ids(tmp_path)
    db.execute("INSERT INTO customers VALUES ('d', 'One', NULL), ('d', 'Two', NULL)")
    db.execute("INSERT INTO customers VALUES ('e', 'Else', NULL)")
    pull_all(connector, None, module=module)
    outcomes = connector.push(
        module,
        [
            Write("r1", "d", {"email": "new@x"}),
            Write("r2", "e", {"email": "else@x"}),
        ],
    )
    assert not outcomes[0].ok and "2 rows share the id 'd'" in (outcomes[0].error or "")
    assert outcomes[1].ok
    rows = db.execute("SELECT id, name, email FROM customers ORDER BY rowid").fetchall()
    assert rows == [("d", "One", None), ("d", "Two", None), ("e", "Else", "else@x")]
    connector.close()


def numbers(tmp_path: Path) -> tuple[sqlite3.Connection, SQLiteConnector, SideModule]:
    db = other_program(tmp_path / "n.db")
    db.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, amount NUMERIC, ratio REAL, n INTEGER,"
        " note TEXT, raw)"
    )
    module = SideModule("t", "t", columns=("amount", "ratio", "n", "note", "raw"))
    return db, SQLiteConnector("books", tmp_path / "n.db"), module


@pytest.mark.parametrize(
    "column, value",
    [
        ("amount", "1234567890.123456789"),
        ("ratio", "0.12345678901234567891"),
        ("amount", "12345678901234567.5"),
        ("n", 2**64),
        ("amount", "9223372036854775808"),
    ],
)
def test_a_value_a_numeric_column_would_round_is_refused_not_written(
    tmp_path: Path, column: str, value: Any
) -> None:
    """SQLite would store a double that reads back as another number: refused, naming the
    column, its type and the value; nothing is written, the rest of the batch is."""
    db, connector, module = numbers(tmp_path)
    outcomes = connector.push(
        module, [Write("r1", None, {column: value}), Write("r2", None, {"amount": "2.5"})]
    )
    assert not outcomes[0].ok and outcomes[1].ok
    error = outcomes[0].error or ""
    assert f"column {column}" in error and "cannot hold" in error and str(value) in error
    assert db.execute("SELECT amount FROM t").fetchall() == [(2.5,)]
    connector.close()


@pytest.mark.parametrize(
    "column, value, stored",
    [
        ("amount", "1500.5", 1500.5),
        ("amount", "0.1", 0.1),
        ("amount", "9223372036854775807", 9223372036854775807),
        ("ratio", "0.30000000000000004", 0.30000000000000004),
        ("note", "1234567890.123456789", "1234567890.123456789"),
        ("note", 2**100, str(2**100)),
        ("raw", -(2**80), str(-(2**80))),
    ],
)
def test_a_value_a_column_holds_exactly_is_written(
    tmp_path: Path, column: str, value: Any, stored: Any
) -> None:
    """Amounts a double keeps, and any number into a TEXT or untyped column (an integer
    past 64 bits as its digits), are written and read back as they were."""
    db, connector, module = numbers(tmp_path)
    (outcome,) = connector.push(module, [Write("r1", None, {column: value})])
    assert outcome.ok
    assert db.execute(f"SELECT {column} FROM t").fetchall() == [(stored,)]
    connector.close()


def test_an_id_deleted_and_given_again_on_a_later_page_is_still_a_delete(tmp_path: Path) -> None:
    """The delete is no shared-id leftover when the log inserts the id again later: the
    delete comes first, the new row after it, as when both are on one page."""
    db, connector, module = text_ids(tmp_path)
    db.execute("INSERT INTO customers VALUES ('a', 'Old', NULL)")
    _, cursor = pull_all(connector, None, module=module)
    db.execute("DELETE FROM customers WHERE id = 'a'")
    db.execute("INSERT INTO customers VALUES ('b', 'Other', NULL)")
    db.execute("INSERT INTO customers VALUES ('a', 'New', NULL)")
    changes = changes_of(pull_all(connector, cursor, module=module, page_size=1)[0])
    assert [(c.id, c.deleted, c.values.get("name")) for c in changes] == [
        ("a", True, None),
        ("b", False, "Other"),
        ("a", False, "New"),
    ]
    connector.close()
