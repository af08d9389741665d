"""A deals world for the tests of deal triggers: a CRM (``crm.db``: accounts, deals and
their stage metadata, the CRM's quotes and invoices) and Books (``books.db``: customers,
estimates and invoices holding ``status`` and ``lines`` as JSON text), two SQLite files
edited with plain sqlite3 as people would, synced by an engine over the SQLite connector.

Modules, in the order the engine runs them: ``customers`` (accounts <-> customers),
``estimates`` and ``invoices`` (the documents, Books-locked past draft), and ``deals``
(``sync = "watch"`` from the CRM, with a quote trigger and an invoice trigger).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from conflicts import RecordReducer
from journal import Journal, JournalStorage, Kind
from journal.payloads import Triggered, TriggerSkipped, payload_of
from replicator.config.load import Config, parse_config
from replicator.connectors.base import Outcome, SideModule, Write
from replicator.connectors.sqlite import SQLiteConnector
from replicator.sync.engine import Engine
from replicator.sync.record import CycleReport
from tests.sync.backends import Journals, verify

STAGES = {
    "Qualification": 10,
    "Proposal": 50,
    "Negotiation": 75,
    "Closed Won": 100,
    "Closed Lost": 0,
}
WON, LOST, OPEN = "Closed Won", "Closed Lost", "Qualification"

CRM_TABLES = (
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, account_name TEXT, "
    "modified TEXT)",
    "CREATE TABLE deals (id INTEGER PRIMARY KEY AUTOINCREMENT, deal_name TEXT, stage TEXT, "
    "account_id TEXT, amount TEXT, description TEXT, owner TEXT, modified TEXT)",
    "CREATE TABLE deals_stages (stage TEXT PRIMARY KEY, probability INTEGER)",
    "CREATE TABLE crm_quotes (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT, "
    "subject TEXT, status TEXT, items TEXT)",
    "CREATE TABLE crm_invoices (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT, "
    "subject TEXT, status TEXT, items TEXT)",
)
DOCUMENT_COLUMNS = (
    "id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id TEXT, reference TEXT, status TEXT, "
    "line_items TEXT, deal_id TEXT, deal_name TEXT, salesperson TEXT"
)
BOOKS_TABLES = (
    "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)",
    f"CREATE TABLE estimates ({DOCUMENT_COLUMNS})",
    f"CREATE TABLE invoices ({DOCUMENT_COLUMNS})",
)


def document(crm_table: str, books_table: str) -> dict[str, Any]:
    """A document module (estimates, invoices) between Books and the CRM."""
    return {
        "conflicts": "prefer:books",
        "books": {"table": books_table},
        "crm": {"table": crm_table},
        "lookups": {"customer": "customers"},
        "lock": {"side": "books", "field": "status", "open": ["draft"], "passes": ["void"]},
        "fields": {
            "customer": {"books": "customer_id", "crm": "account_id"},
            "subject": {"books": "reference", "crm": "subject"},
            "status": {"books": "status", "crm": "status"},
            "lines": {"books": "line_items", "crm": "items", "type": "lines"},
            "deal": {"books": "deal_id"},
            "deal_name": {"books": "deal_name"},
            "salesperson": {"books": "salesperson"},
        },
    }


def deals_data(
    folder: Path, *, quote: str | None = "created", invoice: bool = True
) -> dict[str, Any]:
    """The settings (as parsed TOML) of the deals world."""
    triggers: dict[str, Any] = {}
    if quote is not None:
        triggers["quote"] = {"module": "estimates", "on": quote}
    if invoice:
        triggers["invoice"] = {"module": "invoices"}
    return {
        "journal": {"path": str(folder / "journal.db")},
        "sides": {
            "books": {"connector": "sqlite", "path": str(folder / "books.db")},
            "crm": {"connector": "sqlite", "path": str(folder / "crm.db")},
        },
        "modules": {
            "customers": {
                "books": {"table": "customers"},
                "crm": {"table": "accounts", "modified": "modified"},
                "fields": {"name": {"books": "name", "crm": "account_name"}},
            },
            "estimates": document("crm_quotes", "estimates"),
            "invoices": document("crm_invoices", "invoices"),
            "deals": {
                "sync": "watch",
                "crm": {"table": "deals", "modified": "modified"},
                "lookups": {"customer": "customers"},
                "lookup_missing": "fetch",
                "fields": {
                    "name": {"crm": "deal_name"},
                    "stage": {"crm": "stage"},
                    "customer": {"crm": "account_id"},
                    "amount": {"crm": "amount", "type": "decimal"},
                    "description": {"crm": "description"},
                    "owner": {"crm": "owner"},
                },
                **({"triggers": triggers} if triggers else {}),
            },
        },
    }


def deals_config(folder: Path, **options: Any) -> Config:
    return parse_config(deals_data(folder, **options), folder / "replicator.toml")


class Database:
    """One side's file as people edit it: plain sqlite3, autocommit."""

    def __init__(self, path: Path, tables: Sequence[str]) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        for table in tables:
            self.db.execute(table)

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
        self.db.close()


class Crash(Exception):
    """A crash injected into a side's push (the process dies there)."""


class Pushes:
    """A connector's push, wrapped: every write noted per table, and a crash on demand in
    the next push to a table, before it writes (``before``) or after (``after``: the
    side holds the rows, the engine never hears of them)."""

    def __init__(self, connector: SQLiteConnector) -> None:
        self.push: Callable[[SideModule, Sequence[Write]], list[Outcome]] = connector.push
        self.writes: list[tuple[str, Write]] = []
        self.crash: tuple[str, str] | None = None  # (table, "before" | "after")

    def __call__(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        self.writes.extend((module.table, w) for w in writes)
        crash, self.crash = self.crash, None
        if crash is not None and crash[0] != module.table:
            self.crash = crash  # another table's push: the crash waits for its own
            crash = None
        if crash is not None and crash[1] == "before":
            raise Crash(f"crashed before pushing to {module.table}")
        outcomes = self.push(module, writes)
        if crash is not None:
            raise Crash(f"crashed after pushing to {module.table}")
        return outcomes


class Deals:
    """The two files, a journal and an engine over the deals config (the journal on the
    backend ``journals`` names when a test sets it: tests/sync/backends.py)."""

    journals: Journals | None = None

    def __init__(self, folder: Path, *, first: bool = True, **options: Any) -> None:
        self.folder = folder
        self.crm = Database(folder / "crm.db", CRM_TABLES)
        self.books = Database(folder / "books.db", BOOKS_TABLES)
        for stage, probability in STAGES.items():
            self.crm.insert("deals_stages", {"stage": stage, "probability": probability})
        self.config = deals_config(folder, **options)
        self.later = dt.timedelta()  # how far the journal's clock was moved on (skip)
        self.journal = self._open()
        self.engine: Engine
        self.connectors: dict[str, SQLiteConnector] = {}
        self.pushes: dict[str, Pushes] = {}
        self.restart()
        # the integration runs before a test's deals are made: deals read in the first
        # read are a baseline (no document for what they already were), as a test of
        # that makes them before this first sync through ``Deals(..., first=False)``
        if first:
            self.engine.run()

    def restart(self) -> None:
        """A new process: new connectors, journal and engine over the same files."""
        for connector in self.connectors.values():
            connector.close()
        if hasattr(self, "engine"):
            self.journal.close()
            self.journal = self._open()
        self.connectors = {
            side: SQLiteConnector(side, self.folder / f"{side}.db") for side in ("books", "crm")
        }
        self.pushes = {side: Pushes(c) for side, c in self.connectors.items()}
        for side, connector in self.connectors.items():
            connector.push = self.pushes[side]  # type: ignore[method-assign]
        self.engine = Engine(self.config, self.journal, self.connectors)

    def _open(self) -> JournalStorage:
        if self.journals is not None:
            return self.journals.open(RecordReducer(), now=self._now)
        return Journal(self.folder / "journal.db", RecordReducer(), now=self._now)

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.later

    def skip(self, **delta: float) -> None:
        """Move the journal's clock on (past a refused write's backoff, say)."""
        self.later += dt.timedelta(**delta)

    def close(self) -> None:
        self.journal.close()
        for connector in self.connectors.values():
            connector.close()
        self.crm.close()
        self.books.close()

    # -- people's edits --------------------------------------------------------------------

    def account(self, name: str) -> str:
        return self.crm.insert("accounts", {"account_name": name, "modified": _now()})

    def deal(
        self,
        name: str,
        stage: str,
        *,
        account: str | None,
        amount: str | None = "1500.50",
        description: str | None = "Twelve widgets",
        owner: str | None = "sam@example.com",
    ) -> str:
        return self.crm.insert(
            "deals",
            {
                "deal_name": name,
                "stage": stage,
                "account_id": account,
                "amount": amount,
                "description": description,
                "owner": owner,
                "modified": _now(),
            },
        )

    def move(self, deal: str, stage: str) -> None:
        """A person moves the deal to another stage in the CRM."""
        self.crm.update("deals", deal, {"stage": stage, "modified": _now()})

    def mark(self, table: str, id: str, status: str) -> None:
        """A person sets a Books document's status (marks it sent, say)."""
        self.books.update(table, id, {"status": status})

    # -- syncing ---------------------------------------------------------------------------

    def sync(self) -> CycleReport:
        return self.engine.run()

    def callback(self, *deals: str, times: int = 1) -> list[CycleReport]:
        """The CRM's notification naming these deals, delivered ``times`` times."""
        return [self.engine.sync_ids("deals", "crm", list(deals)) for _ in range(times)]

    # -- what the world holds --------------------------------------------------------------

    def documents(self, table: str, deal: str | None = None) -> list[dict[str, Any]]:
        """Books' rows of ``table`` (of one CRM deal id), lines parsed."""
        found = []
        for id, row in self.books.rows(table).items():
            if deal is not None and row["deal_id"] != deal:
                continue
            lines = json.loads(row["line_items"], parse_float=Decimal) if row["line_items"] else []
            found.append({**row, "id": id, "line_items": lines})
        return found

    def only(self, table: str, deal: str) -> dict[str, Any]:
        """The one document of ``table`` the deal made (fails unless there is exactly one)."""
        found = self.documents(table, deal)
        assert len(found) == 1, f"{len(found)} {table} rows for deal {deal}: {found}"
        return found[0]

    def skips(self, since: int = 0) -> list[TriggerSkipped]:
        return [p for p in self._triggers(since) if isinstance(p, TriggerSkipped)]

    def triggered(self, since: int = 0) -> list[Triggered]:
        return [p for p in self._triggers(since) if isinstance(p, Triggered)]

    def _triggers(self, since: int) -> list[Any]:
        return [payload_of(e) for e in self.journal.read(since=since, kinds=[Kind.TRIGGER])]

    def verifies(self) -> None:
        """The chain holds and a replay of the entries gives the live state."""
        result = verify(self.journal)
        assert result.ok, result.problem


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


__all__ = ["LOST", "OPEN", "STAGES", "WON", "Crash", "Deals", "deals_config", "deals_data"]
