"""A documents world for the tests of lines, the lock and totals: items and invoices between
a ``books`` and a ``crm`` side (memory, or Books as a SQLite file holding lines as JSON)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from conflicts import RecordReducer
from journal import Journal, JournalStorage, Kind
from journal.payloads import Failure, payload_of
from replicator.config.load import Config, parse_config
from replicator.connectors.base import Outcome, SideModule, Write
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.sqlite import SQLiteConnector
from replicator.sync.engine import Engine
from tests.sync.backends import BACKENDS, Journals, journals_for

STATUS = {"Draft": "draft", "Sent": "sent", "Overdue": "overdue", "Void": "void"}


def documents_config(
    tmp_path: Path,
    *,
    books: str = "memory",
    lock: bool = True,
    totals: bool = True,
    lookup_missing: str = "error",
    first: str = "books",
) -> Config:
    invoices: dict[str, Any] = {
        "conflicts": "prefer:books",
        "first": first,
        "lookup_missing": lookup_missing,
        "books": {"table": "invoices"},
        "crm": {"table": "crm_invoices"},
        "fields": {
            "subject": {"books": "reference", "crm": "subject"},
            "notes": {"books": "notes", "crm": "description"},
            "status": {
                "books": "status",
                "crm": "stage",
                "type": "picklist",
                "values": {"crm": STATUS},
            },
            "lines": {"books": "line_items", "crm": "items", "type": "lines"},
            "total_books": {"books": "total", "type": "decimal"},
            "total_crm": {"crm": "grand_total", "type": "decimal"},
        },
        "lookups": {"lines.item": "items"},
    }
    if totals:
        invoices["totals"] = ["total_books", "total_crm"]
    if lock:
        invoices["lock"] = {
            "side": "books",
            "field": "status",
            "open": ["draft"],
            "passes": ["void"],
        }
    items = {
        "first": "books",
        "books": {"table": "items"},
        "crm": {"table": "products"},
        "fields": {"name": {"books": "name", "crm": "product_name"}},
    }
    books_side = (
        {"connector": "memory"}
        if books == "memory"
        else {"connector": "sqlite", "path": str(tmp_path / "books.db")}
    )
    data = {
        "sides": {"books": books_side, "crm": {"connector": "memory"}},
        "modules": {"items": items, "invoices": invoices},
    }
    return parse_config(data, tmp_path / "replicator.toml")


class SQLiteBooks:
    """Books as a SQLite file another program edits with plain sqlite3 (lines as JSON text)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)")
        self.db.execute(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY AUTOINCREMENT, reference TEXT, "
            "notes TEXT, status TEXT, line_items TEXT, total TEXT)"
        )
        self.connector = SQLiteConnector("books", path)

    def insert(self, table: str, values: dict[str, Any]) -> str:
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cur = self.db.execute(
            f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values())
        )
        return str(cur.lastrowid)

    def update(self, table: str, id: str, values: dict[str, Any]) -> None:
        sets = ", ".join(f"{c} = ?" for c in values)
        self.db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), int(id)])

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        cur = self.db.execute(f"SELECT * FROM {table} ORDER BY id")
        names = [d[0] for d in cur.description]
        return {str(r[0]): dict(zip(names[1:], r[1:], strict=True)) for r in cur}

    def close(self) -> None:
        self.connector.close()
        self.db.close()


class Documents:
    """Two sides, a journal and an engine over the documents config (the journal on the
    backend ``journals`` names when a test sets it: tests/sync/backends.py)."""

    journals: Journals | None = None

    def __init__(self, tmp_path: Path, *, books: str = "memory", **options: Any) -> None:
        self.config = documents_config(tmp_path, books=books, **options)
        self.books: Any = (
            MemoryConnector("books") if books == "memory" else SQLiteBooks(tmp_path / "books.db")
        )
        self.crm = MemoryConnector("crm")
        books_connector = (
            self.books.connector if isinstance(self.books, SQLiteBooks) else self.books
        )
        connectors = {"books": books_connector, "crm": self.crm}
        self.pushed: dict[str, list[tuple[str, Write]]] = {"books": [], "crm": []}
        for side, connector in connectors.items():
            connector.push = self._noting(side, connector.push)  # type: ignore[method-assign]
        self.later = dt.timedelta()  # how far the journal's clock was moved on (skip)
        self.journal: JournalStorage
        if self.journals is None:
            self.journal = Journal(tmp_path / "journal.db", RecordReducer(), now=self._now)
        else:
            self.journal = self.journals.open(RecordReducer(), now=self._now)
        self.engine = Engine(self.config, self.journal, connectors)

    def _noting(
        self, side: str, push: Callable[..., list[Outcome]]
    ) -> Callable[..., list[Outcome]]:
        """The side's push, each write noted in ``pushed`` as (table, write)."""

        def noted(module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
            self.pushed[side].extend((module.table, w) for w in writes)
            return push(module, writes)

        return noted

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.later

    def skip(self, **delta: float) -> None:
        """Move the journal's clock on (past a refused write's backoff, say)."""
        self.later += dt.timedelta(**delta)

    def writes(self, side: str, table: str) -> list[Write]:
        """The writes sent to ``side``'s ``table`` so far."""
        return [w for t, w in self.pushed[side] if t == table]

    def sync(self, *modules: str) -> Any:
        return self.engine.run(list(modules) or None)

    def rid(self, module: str, side: str, id: str) -> str:
        rid = self.journal.rid_for(module, side, id)
        assert rid is not None, f"{side} {module} {id} is not linked"
        return rid

    def side_id(self, module: str, rid: str, side: str) -> str:
        state = self.journal.record(module, rid)
        held = state.held_wire(side) if state is not None else None
        assert held is not None and held.id is not None, f"{rid} is not on {side}"
        return held.id

    def other_id(self, module: str, side: str, id: str, other: str) -> str:
        """The id on ``other`` of the record that is row ``id`` on ``side``."""
        return self.side_id(module, self.rid(module, side, id), other)

    def failures(self, *, stage: str | None = None, since: int = 0) -> list[tuple[Any, Failure]]:
        """(entry, payload) of the error entries after ``since`` (of ``stage``)."""
        found = []
        for entry in self.journal.read(since=since, kinds=[Kind.ERROR]):
            payload = payload_of(entry)
            assert isinstance(payload, Failure)
            if stage is None or payload.stage == stage:
                found.append((entry, payload))
        return found

    def close(self) -> None:
        self.journal.close()
        if isinstance(self.books, SQLiteBooks):
            self.books.close()


@pytest.fixture(autouse=True, params=BACKENDS)
def over_both_backends(request, tmp_path, monkeypatch):
    """Imported by a test module, runs each of its tests over SQLite and PostgreSQL
    journals (the :class:`Documents` it makes open theirs there)."""
    made = journals_for(request, tmp_path)
    monkeypatch.setattr(Documents, "journals", made)
    yield made
    made.close()
