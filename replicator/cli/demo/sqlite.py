"""``replicator demo --sqlite``: the two-way sync story over two local SQLite databases (no
network): seed both as their own apps would, sync, edit both directly (one field on both:
a conflict), sync again, and show the conflicts and ``journal verify``."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from replicator.cli.conflicts import conflict_data
from replicator.cli.demo.dry_run import show_dry_run
from replicator.cli.demo.story import conflicts_and_verify
from replicator.cli.demo.undo import show_undo
from replicator.cli.sync import print_report, run_sync
from replicator.config.load import load_config
from replicator.sync.app import open_journal

SQLITE_CONFIG = """\
# Written by `replicator demo`: two local SQLite databases kept in sync both ways.
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
books = { table = "customers", id = "id", match = "name", modified = "updated_at" }
crm = { table = "accounts", id = "id", match = "account_name", modified = "modified_time" }

[modules.customers.fields]
name = { books = "name", crm = "account_name" }
email = { books = "email", crm = "email" }
phone = { books = "phone", crm = "phone" }
credit_limit = { books = "credit_limit", crm = "credit_limit", type = "decimal" }
"""

_FIRST = (
    "Northwind",
    "Blue Harbor",
    "Cedar",
    "Summit",
    "Riverside",
    "Golden Gate",
    "Ironwood",
    "Maple",
    "Pioneer",
    "Silverline",
    "Evergreen",
    "Redwood",
    "Lakeshore",
    "Granite",
    "Horizon",
    "Oakridge",
    "Bright Path",
    "Copperfield",
    "Westbrook",
    "Harborview",
)
_SECOND = (
    "Traders",
    "Logistics",
    "Bakery",
    "Dental",
    "Builders",
    "Analytics",
    "Outfitters",
    "Foods",
    "Consulting",
    "Print Works",
    "Motors",
    "Farms",
    "Studios",
    "Pharmacy",
    "Electric",
    "Textiles",
    "Hardware",
    "Coffee",
    "Labs",
    "Marine",
)
_SUFFIX = ("Ltd", "Inc", "LLC", "Co", "GmbH", "Pvt Ltd")


def _companies(rng: random.Random, n: int) -> list[str]:
    names = [f"{a} {b} {c}" for a in _FIRST for b in _SECOND for c in _SUFFIX]
    return rng.sample(names, n)


def _customer(rng: random.Random, name: str) -> tuple[str, str, str, str]:
    domain = "".join(ch for ch in name.split()[0].lower() if ch.isalnum())
    email = f"{rng.choice(['accounts', 'billing', 'info', 'finance'])}@{domain}.example"
    phone = f"+1 555 {rng.randrange(100, 1000)} {rng.randrange(1000, 10000)}"
    limit = str(Decimal(rng.randrange(10, 500) * 100) + Decimal(rng.choice([0, 50])) / 100)
    return name, email, phone, limit


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _seed(folder: Path, records: int, rng: random.Random) -> list[str]:
    """Both databases, as another program would make them; returns the shared names."""
    shared = min(5, records)
    names = _companies(rng, 2 * records - shared)
    books_names = names[:records]
    crm_names = names[records - shared : 2 * records - shared]
    with contextlib.closing(sqlite3.connect(folder / "books.db")) as db, db:
        db.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
            "phone TEXT, credit_limit NUMERIC, updated_at TEXT)"
        )
        db.executemany(
            "INSERT INTO customers (name, email, phone, credit_limit, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(*_customer(rng, n), _now()) for n in books_names],
        )
    with contextlib.closing(sqlite3.connect(folder / "crm.db")) as db, db:
        db.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, email TEXT, "
            "phone TEXT, credit_limit NUMERIC, modified_time TEXT)"
        )
        db.executemany(
            "INSERT INTO accounts (account_name, email, phone, credit_limit, "
            "modified_time) VALUES (?, ?, ?, ?, ?)",
            [(*_customer(rng, n), _now()) for n in crm_names],
        )
    return books_names[records - shared :]


def _edit(folder: Path, rng: random.Random) -> list[str]:
    """Edit both databases directly, as their own apps would; returns what was done."""
    done = []
    with (
        contextlib.closing(sqlite3.connect(folder / "books.db")) as books,
        books,
        contextlib.closing(sqlite3.connect(folder / "crm.db")) as crm,
        crm,
    ):
        name, email, phone, limit = _customer(rng, "Quayside Ferries Ltd")
        books.execute(
            "INSERT INTO customers (name, email, phone, credit_limit, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, email, phone, limit, _now()),
        )
        done.append(f"books: inserted customer {name!r}")
        name, email, phone, limit = _customer(rng, "Juniper Yoga Studios")
        crm.execute(
            "INSERT INTO accounts (account_name, email, phone, credit_limit, "
            "modified_time) VALUES (?, ?, ?, ?, ?)",
            (name, email, phone, limit, _now()),
        )
        done.append(f"crm: inserted account {name!r}")
        bid, bname = books.execute("SELECT id, name FROM customers ORDER BY id LIMIT 1").fetchone()
        books.execute(
            "UPDATE customers SET credit_limit = ?, updated_at = ? WHERE id = ?",
            ("12500.00", _now(), bid),
        )
        done.append(f"books: raised the credit limit of {bname!r} to 12500.00")
        cid, cname = crm.execute(
            "SELECT id, account_name FROM accounts ORDER BY id LIMIT 1"
        ).fetchone()
        crm.execute(
            "UPDATE accounts SET phone = ?, modified_time = ? WHERE id = ?",
            ("+1 555 010 2030", _now(), cid),
        )
        done.append(f"crm: changed the phone of {cname!r}")
        did, dname = crm.execute(
            "SELECT id, account_name FROM accounts ORDER BY id DESC LIMIT 1 OFFSET 1"
        ).fetchone()
        crm.execute("DELETE FROM accounts WHERE id = ?", (did,))
        done.append(f"crm: deleted {dname!r} (it stays in books: deletes are not propagated)")
        # the same field of the same customer, changed on both sides between two syncs
        kid, kname = books.execute(
            "SELECT id, name FROM customers ORDER BY id LIMIT 1 OFFSET 2"
        ).fetchone()
        books.execute(
            "UPDATE customers SET email = ?, updated_at = ? WHERE id = ?",
            ("ap@books-edit.example", _now(), kid),
        )
        crm.execute(
            "UPDATE accounts SET email = ?, modified_time = ? WHERE account_name = ?",
            ("sales@crm-edit.example", _now(), kname),
        )
        done.append(f"both: changed the email of {kname!r} (books first, then crm)")
    return done


def run_sqlite_demo(folder: Path, console: Console, *, records: int, seed: int) -> None:
    """Sync two SQLite databases end to end: seed, sync, edit both, sync, show the journal."""
    rng = random.Random(seed)
    console.print(f"[b]demo folder:[/b] {folder}")
    shared = _seed(folder, records, rng)
    config_path = folder / "replicator.toml"
    config_path.write_text(SQLITE_CONFIG, encoding="utf-8")
    console.print(
        f"seeded {records} customers in books.db and {records} accounts in crm.db; "
        f"{len(shared)} names are on both sides: {', '.join(shared)}"
    )
    config = load_config(config_path)

    show_dry_run(console, config)  # the plan first (issue 15)
    console.rule("first sync")
    report = run_sync(config, yes=True)
    print_report(console, config, report)
    console.print(
        f"{report.total('linked')} customers on both sides were linked, not copied "
        "(duplicates = overwrite: the CRM values replaced the Books ones)"
    )

    console.rule("edits made directly in both databases")
    for line in _edit(folder, rng):
        console.print(f"- {line}")

    console.rule("second sync")
    print_report(console, config, run_sync(config))
    show_undo(console, config)
    conflicts_and_verify(console, config)
    with open_journal(config) as journal:
        items = [conflict_data(r) for r in journal.conflicts()]
    cfg = f"replicator --config {config_path}"
    tries = [f"{cfg} status", f"{cfg} conflicts list"]
    if items:
        first = items[0]
        loser = next(
            (s for s in first["values"] if first["winner"] is None or s != first["winner"]["side"]),
            "books",
        )
        tries += [
            f"{cfg} conflicts show {first['id']}",
            f"{cfg} conflicts resolve {first['id']} --take {loser}   # then sync",
            f"{cfg} journal log --record {first['rid']}",
        ]
    tries += [f"{cfg} sync", f"{cfg} journal verify"]
    console.print(f"\nThe demo is in {folder}. Try:")
    for line in tries:
        console.print(f"  {line}", soft_wrap=True)


__all__ = ["SQLITE_CONFIG", "run_sqlite_demo"]
