"""Bad values and bad rows, end to end over two SQLite databases (issue 9, classes 3 to 5).

One poisoned row in one module: every other row and module syncs in the same cycle, the
error names record, field, value and reason, and fixing the row heals it on the next
cycle.  Numbers never pass through float: integers past 64 bits and decimals past a
double's precision round-trip exactly, or are refused where a side cannot hold them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from conflicts import RecordReducer
from journal import Entry, Journal, Kind, rebuild, verify
from replicator.cli.main import main
from replicator.connectors.base import Outcome, SideModule, Write
from replicator.connectors.memory import MemoryConnector
from replicator.sync.app import App, open_app
from replicator.sync.engine import Engine
from replicator.sync.record import CycleReport

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
sync = "both_ways"
first = "crm"
duplicates = "overwrite"
conflicts = "newest"
books = {{ table = "customers", id = "id", match = "name" }}
crm = {{ table = "accounts", id = "id", match = "account_name" }}

[modules.customers.fields]
name = {{ books = "name", crm = "account_name" }}
email = {{ books = "email", crm = "email" }}
credit_limit = {{ books = "credit_limit", crm = "credit_limit", type = "decimal" }}
visits = {{ books = "visits", crm = "visits", type = "integer" }}

[modules.items]
sync = "both_ways"
first = "books"
duplicates = "overwrite"
conflicts = "newest"
books = {{ table = "items", id = "id", match = "name" }}
crm = {{ table = "products", id = "id", match = "product_name" }}

[modules.items.fields]
name = {{ books = "name", crm = "product_name" }}
"""

BOOKS_CUSTOMERS = (
    "CREATE TABLE customers ({id}, name TEXT, email TEXT, credit_limit {limit}, visits {visits})"
)
CRM_ACCOUNTS = (
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, email TEXT,"
    " credit_limit {limit}, visits {visits})"
)


class Sides:
    """books.db and crm.db written by plain sqlite3, a config, and syncs through the engine."""

    def __init__(
        self,
        path: Path,
        *,
        books_id: str = "id INTEGER PRIMARY KEY",
        books_limit: str = "NUMERIC",
        crm_limit: str = "NUMERIC",
        books_visits: str = "INTEGER",
        crm_visits: str = "INTEGER",
    ) -> None:
        self.path = path
        self.config = path / "replicator.toml"
        self.config.write_text(CONFIG.format(), encoding="utf-8")
        self.books = path / "books.db"
        self.crm = path / "crm.db"
        self.sql(
            self.books,
            BOOKS_CUSTOMERS.format(id=books_id, limit=books_limit, visits=books_visits),
        )
        self.sql(self.books, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        self.sql(self.crm, CRM_ACCOUNTS.format(limit=crm_limit, visits=crm_visits))
        self.sql(self.crm, "CREATE TABLE products (id INTEGER PRIMARY KEY, product_name TEXT)")

    @staticmethod
    def sql(db: Path, statement: str, *params: object) -> None:
        """One statement, as another program would run it."""
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute(statement, params)

    @staticmethod
    def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.text_factory = bytes
            return [
                tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in row)
                for row in conn.execute(query)
            ]

    def crm_accounts(self) -> dict[str, tuple[Any, ...]]:
        rows = self.rows(self.crm, "SELECT account_name, email, credit_limit, visits FROM accounts")
        return {row[0]: row[1:] for row in rows}

    @contextlib.contextmanager
    def app(self) -> Iterator[App]:
        app = open_app(self.config)
        try:
            yield app
        finally:
            app.close()

    def sync(self) -> CycleReport:
        with self.app() as app:
            return app.engine.run()

    def entries(self, since: int = 0, kinds: tuple[Kind, ...] = ()) -> list[Entry]:
        with self.app() as app:
            return list(app.journal.read(since=since, kinds=list(kinds) or None))

    def errors(self, since: int = 0) -> list[Entry]:
        return self.entries(since, (Kind.ERROR,))


@pytest.fixture
def sides(tmp_path: Path) -> Sides:
    return Sides(tmp_path)


def _seed(sides: Sides) -> None:
    sides.sql(sides.books, "INSERT INTO items (name) VALUES ('Widget'), ('Gadget')")
    sides.sql(
        sides.books,
        "INSERT INTO customers (id, name, email, visits) VALUES "
        "(1, 'Good', 'good@x', 1), (2, 'Bad', CAST(x'ff41' AS TEXT), 2), (3, 'Fine', 'fine@x', 3)",
    )


# -- class 3: one bad value never stops the rest --------------------------------------------


def test_one_undecodable_text_value_is_one_field_error_and_everything_else_syncs(sides):
    """Bytes that are not UTF-8 in one TEXT column: that field is an error entry naming
    record, field, value and reason; the rest of the row, its module and the other module
    sync in the same cycle."""
    _seed(sides)
    report = sides.sync()
    crm = sides.crm_accounts()
    assert sorted(crm) == ["Bad", "Fine", "Good"]
    assert crm["Bad"][0] is None and crm["Bad"][2] == 2  # the rest of the record synced
    assert crm["Good"] == ("good@x", None, 1)
    products = sides.rows(sides.crm, "SELECT product_name FROM products ORDER BY 1")
    assert products == [("Gadget",), ("Widget",)]
    (error,) = sides.errors()
    assert (error.module, error.rid, error.side) == ("customers", "books:2", "books")
    assert error.meta["field"] == "email" and error.meta["value"] == "x'ff41'"
    assert "not valid UTF-8" in error.meta["reason"]
    assert report.total("errors") == 1


def test_fixing_an_undecodable_value_heals_the_record_on_the_next_cycle(sides):
    """The fixed row is read again (its UPDATE is captured) and syncs with no manual step;
    the cycle after that has nothing to do."""
    _seed(sides)
    sides.sync()
    sides.sql(sides.books, "UPDATE customers SET email = 'bad@fixed' WHERE id = 2")
    report = sides.sync()
    assert sides.crm_accounts()["Bad"][0] == "bad@fixed"
    assert report.total("errors") == 0
    again = sides.sync()
    assert again.entries_after == again.entries_before
    with sides.app() as app:  # no error is left on the healed record (status counts none)
        assert all(not state.errors for _m, _rid, state in app.journal.records())


def test_a_value_still_unreadable_after_a_change_keeps_its_error(sides):
    """A change of another column that leaves the bad value bad keeps the record's read
    error: only a change that reads clean clears it."""
    _seed(sides)
    sides.sync()
    sides.sql(sides.books, "UPDATE customers SET name = 'Bad 2' WHERE id = 2")
    sides.sync()
    with sides.app() as app:
        errors = {rid: state.errors for _m, rid, state in app.journal.records() if state.errors}
    assert list(errors) == ["books:2"] and "UTF-8" in errors["books:2"]["books"]


def test_a_journal_after_a_poisoned_value_still_verifies_and_replays(sides):
    """The error entries are ordinary entries: verify says intact, replay equals live."""
    _seed(sides)
    sides.sync()
    with sides.app() as app:
        assert verify(app.journal).ok
        before = {rid: s.raw for _m, rid, s in app.journal.records()}
        rebuild(app.journal)
        assert {rid: s.raw for _m, rid, s in app.journal.records()} == before


def test_an_integer_past_64_bits_held_as_text_round_trips_exactly_cycle_after_cycle(tmp_path):
    """A 30-digit integer in a TEXT column reaches the other side's TEXT column digit for
    digit, and later cycles (which read the stored state back) run clean, before and after
    a journal replay: no float anywhere."""
    sides = Sides(tmp_path, books_visits="TEXT", crm_visits="TEXT")
    big = "123456789012345678901234567890"
    sides.sql(sides.books, f"INSERT INTO customers (id, name, visits) VALUES (1, 'Big', '{big}')")
    sides.sync()
    assert sides.crm_accounts()["Big"][2] == big
    sides.sql(sides.books, "UPDATE customers SET email = 'big@x' WHERE id = 1")
    sides.sync()
    assert sides.crm_accounts()["Big"] == ("big@x", None, big)
    with sides.app() as app:
        state = app.journal.record("customers", "books:1")
        assert state is not None and state.sides["crm"].values["visits"] == int(big)
        rebuild(app.journal)
    sides.sql(sides.crm, f"UPDATE accounts SET visits = '{big}1' WHERE account_name = 'Big'")
    report = sides.sync()
    assert report.total("errors") == 0
    assert sides.rows(sides.books, "SELECT visits FROM customers") == [(f"{big}1",)]
    again = sides.sync()
    assert again.entries_after == again.entries_before


def test_an_integer_past_64_bits_that_sqlite_stored_as_real_is_an_error_and_heals(sides):
    """SQLite keeps a 30-digit integer in an INTEGER column as a rounded double: read back,
    it is an error naming the field (never the rounded number), and a fix heals it."""
    sides.sql(
        sides.books,
        "INSERT INTO customers (id, name, visits) VALUES "
        "(1, 'Big', 123456789012345678901234567890), (2, 'Small', 7)",
    )
    sides.sync()
    crm = sides.crm_accounts()
    assert crm["Big"][2] is None and crm["Small"][2] == 7
    (error,) = sides.errors()
    assert error.meta["field"] == "visits" and "already rounded" in error.meta["reason"]
    sides.sql(sides.books, "UPDATE customers SET visits = 8 WHERE id = 1")
    sides.sync()
    assert sides.crm_accounts()["Big"][2] == 8


def test_an_integer_past_64_bits_is_refused_by_an_integer_column_and_the_rest_syncs(tmp_path):
    """CRM holds a 30-digit integer as text; Books' INTEGER column cannot hold it: that write
    is an error naming column and reason (never a crash, never a rounded value); the other
    records and modules sync, and later cycles are quiet."""
    sides = Sides(tmp_path, crm_visits="TEXT")
    big = "123456789012345678901234567890"
    sides.sql(
        sides.crm,
        f"INSERT INTO accounts (account_name, visits) VALUES ('Big', '{big}'), ('Small', '5')",
    )
    sides.sql(sides.books, "INSERT INTO items (name) VALUES ('Widget')")
    report = sides.sync()
    books = sides.rows(sides.books, "SELECT name, visits FROM customers ORDER BY name")
    assert books == [("Small", 5)]
    assert sides.rows(sides.crm, "SELECT product_name FROM products") == [("Widget",)]
    (error,) = sides.errors()
    assert error.side == "books" and "column visits (INTEGER)" in error.meta["reason"]
    assert "cannot hold" in error.meta["reason"] and big in error.meta["reason"]
    assert report.total("rejected") == 1
    again = sides.sync()
    assert again.entries_after == again.entries_before
    assert sides.crm_accounts()["Big"][2] == big


# -- class 4: nothing silently changed ------------------------------------------------------


def test_a_locale_comma_is_an_error_not_a_hundredfold_amount(tmp_path):
    """Books '1,50' does not arrive in CRM as 150: it is an error naming the field, value
    and why, with no Python internals and the record named once."""
    sides = Sides(tmp_path, books_limit="TEXT")
    sides.sql(
        sides.books, "INSERT INTO customers (id, name, credit_limit) VALUES (1, 'Acme', '1,50')"
    )
    sides.sync()
    assert sides.crm_accounts()["Acme"][1] is None
    (error,) = sides.errors()
    assert error.meta["field"] == "credit_limit" and error.meta["value"] == "1,50"
    assert "comma" in error.meta["reason"]
    assert "<class" not in error.meta["reason"] and "books:1" not in error.meta["reason"]


def test_history_shows_a_conversion_error_as_one_clean_sentence(tmp_path):
    """`replicator history` names the record, field, value and reason once each."""
    sides = Sides(tmp_path, books_limit="TEXT")
    sides.sql(
        sides.books, "INSERT INTO customers (id, name, credit_limit) VALUES (1, 'Acme', 'ten')"
    )
    sides.sync()
    result = CliRunner().invoke(main, ["--config", str(sides.config), "history"])
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.output.splitlines() if "credit_limit" in ln]
    assert line.count("books:1") == 1 and "'ten'" in line and "does not convert" in line
    assert "<class" not in result.output and "ConversionSyntax" not in result.output


DIGITS19 = "1234567890.123456789"


def test_a_19_digit_decimal_is_never_rounded_into_a_float_column_nor_written_back(tmp_path):
    """CRM holds a 19-digit amount as text; Books' NUMERIC column would round it to a
    double: the write is refused with the reason, CRM keeps the exact value, and no later
    cycle (even after Books edits the row) journals a change or writes anything back."""
    sides = Sides(tmp_path, crm_limit="TEXT")
    sides.sql(sides.crm, "INSERT INTO accounts (account_name, credit_limit) VALUES ('Acme', '5')")
    sides.sync()
    assert sides.rows(sides.books, "SELECT credit_limit FROM customers") == [(5,)]
    sides.sql(sides.crm, f"UPDATE accounts SET credit_limit = '{DIGITS19}'")
    first = sides.sync()
    assert first.total("rejected") == 1
    (error,) = sides.errors(first.entries_before)
    assert "column credit_limit (NUMERIC)" in error.meta["reason"]
    assert DIGITS19 in error.meta["reason"]
    assert sides.rows(sides.books, "SELECT credit_limit FROM customers") == [(5,)]
    quiet = sides.sync()
    assert quiet.entries_after == quiet.entries_before
    sides.sql(sides.books, "UPDATE customers SET email = 'acme@x'")
    edited = sides.sync()
    assert sides.crm_accounts()["Acme"] == ("acme@x", DIGITS19, None)
    observed = [e for e in sides.entries(edited.entries_before, (Kind.OBSERVED,))]
    assert [e.fields for e in observed] == [{"email": "acme@x"}]
    last = sides.sync()
    assert last.entries_after == last.entries_before
    assert sides.crm_accounts()["Acme"][1] == DIGITS19


def test_a_19_digit_decimal_typed_into_a_float_column_syncs_as_the_value_it_holds(tmp_path):
    """The other way: SQLite itself stores a 19-digit amount typed into Books' NUMERIC
    column as a double; that double's exact decimal reaches CRM, and re-reads are quiet."""
    sides = Sides(tmp_path, crm_limit="TEXT")
    sides.sql(
        sides.books,
        f"INSERT INTO customers (id, name, credit_limit) VALUES (1, 'Acme', '{DIGITS19}')",
    )
    sides.sync()
    (held,) = sides.rows(sides.books, "SELECT credit_limit FROM customers")
    assert sides.crm_accounts()["Acme"][1] == repr(held[0])
    assert Decimal(sides.crm_accounts()["Acme"][1]) == Decimal(repr(held[0]))
    sides.sql(sides.books, "UPDATE customers SET email = 'acme@x'")
    edited = sides.sync()
    observed = sides.entries(edited.entries_before, (Kind.OBSERVED,))
    assert [e.fields for e in observed] == [{"email": "acme@x"}]
    assert sides.errors() == []


def test_an_amount_a_float_column_holds_exactly_is_written(tmp_path):
    """1500.50 and 0.1 survive a double: they are written to a NUMERIC column as before."""
    sides = Sides(tmp_path, crm_limit="TEXT")
    sides.sql(
        sides.crm,
        "INSERT INTO accounts (account_name, credit_limit) VALUES ('A', '1500.50'), ('B', '0.1')",
    )
    sides.sync()
    books = sides.rows(sides.books, "SELECT name, credit_limit FROM customers ORDER BY name")
    assert books == [("A", 1500.5), ("B", 0.1)]
    assert sides.errors() == []


# -- class 5: bad ids -------------------------------------------------------------------------

TEXT_IDS = "id TEXT"  # no primary key: SQLite lets a row have no id, or another row's id


def test_a_row_with_no_id_is_an_error_naming_the_row_and_the_rest_syncs(tmp_path):
    """A NULL id is journaled (module, side, table and the row), not dropped in silence;
    giving the row an id syncs it on the next cycle."""
    sides = Sides(tmp_path, books_id=TEXT_IDS)
    sides.sql(
        sides.books,
        "INSERT INTO customers (id, name) VALUES ('A1', 'Acme'), (NULL, 'Nobody')",
    )
    report = sides.sync()
    assert sorted(sides.crm_accounts()) == ["Acme"]
    (error,) = sides.errors()
    assert (error.module, error.side, error.rid) == ("customers", "books", None)
    reason = error.meta["reason"]
    assert "table customers" in reason and "no id" in reason
    assert "rowid 2" in reason and "'Nobody'" in reason
    assert report.total("errors") == 1
    history = CliRunner().invoke(main, ["--config", str(sides.config), "history"])
    assert "customers on books" in history.output and "record None" not in history.output
    sides.sql(sides.books, "UPDATE customers SET id = 'N1' WHERE name = 'Nobody'")
    sides.sync()
    assert sorted(sides.crm_accounts()) == ["Acme", "Nobody"]


def test_two_rows_sharing_an_id_are_an_error_naming_both_and_heal_once_unique(tmp_path):
    """Neither row of a shared id syncs; the error names both rows; once one row gets its
    own id, both sync on the next cycle."""
    sides = Sides(tmp_path, books_id=TEXT_IDS)
    sides.sql(
        sides.books,
        "INSERT INTO customers (id, name) VALUES ('A1', 'Acme'), ('D1', 'One'), ('D1', 'Two')",
    )
    sides.sync()
    assert sorted(sides.crm_accounts()) == ["Acme"]
    (error,) = sides.errors()
    reason = error.meta["reason"]
    assert "2 rows share the id 'D1'" in reason and "'One'" in reason and "'Two'" in reason
    assert error.meta["id"] == "D1"
    sides.sql(sides.books, "UPDATE customers SET id = 'D2' WHERE name = 'Two'")
    sides.sync()
    assert sorted(sides.crm_accounts()) == ["Acme", "One", "Two"]


def test_an_edit_is_never_written_to_two_rows_that_share_an_id(tmp_path):
    """A second row takes a synced record's id, then CRM edits the record: the update that
    would change both rows is rolled back and journaled as an error for that record."""
    sides = Sides(tmp_path, books_id=TEXT_IDS)
    sides.sql(sides.books, "INSERT INTO customers (id, name, email) VALUES ('A1', 'Acme', 'a@x')")
    sides.sync()
    sides.sql(sides.books, "INSERT INTO customers (id, name, email) VALUES ('A1', 'Copy', 'c@x')")
    sides.sql(sides.crm, "UPDATE accounts SET email = 'new@x' WHERE account_name = 'Acme'")
    report = sides.sync()
    books = sides.rows(sides.books, "SELECT id, name, email FROM customers ORDER BY rowid")
    assert books == [("A1", "Acme", "a@x"), ("A1", "Copy", "c@x")]
    errors = sides.errors(report.entries_before)
    assert {e.rid for e in errors} == {"books:A1"}
    assert any(
        e.meta.get("stage") == "write" and "share the id" in e.meta["reason"] for e in errors
    )
    assert any(e.meta.get("stage") == "read" and "share the id" in e.meta["reason"] for e in errors)


def test_a_json_integer_of_30_digits_from_a_side_syncs_exactly_cycle_after_cycle(tmp_path):
    """A Zoho side's JSON integer past 64 bits (json.loads gives an int) reaches the other
    side exactly; later runs read the stored state back from the file as the same integer
    (at a5dca57, as a float: the cause of "float ... is not a canonical value") and are quiet."""
    from tests.sync.test_engine import World

    world = World(
        tmp_path,
        fields={
            "name": {"books": "name", "crm": "account_name"},
            "visits": {"books": "visits", "crm": "visits", "type": "integer"},
            "credit_limit": {"books": "credit_limit", "crm": "credit_limit", "type": "decimal"},
        },
    )
    sides = {"books": world.books, "crm": world.crm}

    def run() -> CycleReport:
        """One run as `replicator sync` makes it: the journal opened afresh."""
        world.journal.close()
        world.journal = Journal(tmp_path / "journal.db", RecordReducer())
        return Engine(world.config, world.journal, sides).run()

    big = 123456789012345678901234567890
    amount = Decimal("0.1234567890123456789012345")
    try:
        world.crm.insert("accounts", {"account_name": "Big", "visits": big, "credit_limit": amount})
        run()
        (row,) = world.books_rows().values()
        assert row["visits"] == big and Decimal(row["credit_limit"]) == amount
        quiet = run()
        assert quiet.entries_after == quiet.entries_before
        (state,) = [s for _m, _rid, s in world.journal.records("customers")]
        assert {side: held.values["visits"] for side, held in state.sides.items()} == {
            "books": big,
            "crm": big,
        }
        assert all(type(held.values["visits"]) is int for held in state.sides.values())
        (bid,) = world.books_rows()
        world.books.update("customers", bid, {"visits": big + 1})
        run()
        (crm_row,) = world.crm_rows().values()
        assert crm_row["visits"] == big + 1 and type(crm_row["visits"]) is int
        assert verify(world.journal).ok
    finally:
        world.journal.close()


def test_a_lone_surrogate_from_a_json_side_is_a_field_error_not_a_failed_cycle(tmp_path):
    """JSON can carry "\\ud800", which no UTF-8 journal can hold: that field is an error
    entry (the value escaped), and the other records and fields sync in the same cycle."""
    from tests.sync.test_engine import World

    world = World(tmp_path)
    try:
        world.crm.insert("accounts", {"account_name": "Odd", "email": "x\ud800y"})
        world.crm.insert("accounts", {"account_name": "Even", "email": "e@x"})
        world.sync()
        books = {row["name"]: row.get("email") for row in world.books_rows().values()}
        assert books == {"Odd": None, "Even": "e@x"}
        (error,) = world.journal.read(kinds=[Kind.ERROR])
        assert error.meta["field"] == "email" and error.meta["value"] == "'x\\ud800y'"
        assert "lone surrogate" in error.meta["reason"]
        assert verify(world.journal).ok
    finally:
        world.journal.close()


class TwoPlaces(MemoryConnector):
    """A side whose amounts keep two decimal places, as a Zoho currency field does: it
    rounds what it is given (half up) and gives back the rounded amount."""

    rounds_amounts = True  # declared, as the Zoho connectors declare it

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        rounded = [attrs.evolve(w, values={**w.values, **self._round(w.values)}) for w in writes]
        return super().push(module, rounded)

    @staticmethod
    def _round(values: Mapping[str, Any]) -> dict[str, Any]:
        amount = values.get("credit_limit")
        if amount is None:
            return {}
        return {"credit_limit": float(Decimal(amount).quantize(Decimal("0.01"), ROUND_HALF_UP))}


def test_a_side_that_rounds_an_amount_never_gets_it_written_back_over_the_exact_one(tmp_path):
    """Books holds a 19-digit amount; CRM keeps two places and rounds our write.  Read back,
    the rounded amount is compared at CRM's precision: an error says CRM rounded it, Books
    keeps the exact amount, and no later cycle (even one where CRM's row changes) writes
    anything back.  An amount a person types in CRM is still a change."""
    from tests.sync.test_engine import World

    world = World(tmp_path)
    world.crm = TwoPlaces("crm")
    world.engine = Engine(world.config, world.journal, {"books": world.books, "crm": world.crm})
    try:
        bid = world.books.insert("customers", {"name": "Acme", "credit_limit": DIGITS19})
        world.sync()
        (cid, crm_row), *_ = world.crm_rows().items()
        assert crm_row["credit_limit"] == 1234567890.12
        world.crm.update("accounts", cid, {"email": "acme@x"})  # the row is read again
        report = world.sync()
        assert world.books_rows()[bid]["credit_limit"] == DIGITS19
        assert world.books_rows()[bid]["email"] == "acme@x"
        (error,) = world.journal.read(since=report.entries_before, kinds=[Kind.ERROR])
        assert error.side == "crm" and error.meta["field"] == "credit_limit"
        assert "1234567890.12" in error.meta["reason"] and "rounded" in error.meta["reason"]
        quiet = world.sync()
        assert quiet.entries_after == quiet.entries_before
        world.crm.update("accounts", cid, {"credit_limit": 99.5})  # typed in CRM: a change
        world.sync()
        assert Decimal(world.books_rows()[bid]["credit_limit"]) == Decimal("99.5")
    finally:
        world.journal.close()
