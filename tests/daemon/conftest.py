"""Daemon tests over two SQLite sides (files, so a daemon in another process sees them too).

:func:`make_world` builds ``books.db`` and ``crm.db`` as another program would, and a
``replicator.toml`` syncing customers <-> accounts both ways with a ``[daemon]`` table the
test chooses (schedules shortened, bind 127.0.0.1 on a free port).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from replicator.config.load import Config, load_config

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
page_size = {page_size}
books = {{ table = "customers", id = "id", match = "name", modified = "updated_at" }}
crm = {{ table = "accounts", id = "id", match = "account_name", modified = "modified_time" }}

[modules.customers.fields]
name = {{ books = "name", crm = "account_name" }}
email = {{ books = "email", crm = "email" }}

[daemon]
bind = "127.0.0.1:0"
{daemon}
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@attrs.define
class World:
    folder: Path
    config_path: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def add(self, side: str, *names: str) -> None:
        """Rows made by the side's own app."""
        table, column, modified = TABLES[side]
        with contextlib.closing(sqlite3.connect(self.folder / f"{side}.db")) as db, db:
            db.executemany(
                f"INSERT INTO {table} ({column}, email, {modified}) VALUES (?, ?, ?)",
                [(n, f"{n.lower().replace(' ', '.')}@example.com", _now()) for n in names],
            )

    def names(self, side: str) -> list[str]:
        table, column, _ = TABLES[side]
        with contextlib.closing(sqlite3.connect(self.folder / f"{side}.db")) as db:
            return sorted(r[0] for r in db.execute(f"SELECT {column} FROM {table}"))


TABLES = {
    "books": ("customers", "name", "updated_at"),
    "crm": ("accounts", "account_name", "modified_time"),
}


def make_world(folder: Path, *, daemon: str = "", page_size: int = 1000) -> World:
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(folder / "books.db")) as db, db:
        db.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
            "updated_at TEXT)"
        )
    with contextlib.closing(sqlite3.connect(folder / "crm.db")) as db, db:
        db.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, email TEXT, "
            "modified_time TEXT)"
        )
    path = folder / "replicator.toml"
    path.write_text(CONFIG.format(daemon=daemon, page_size=page_size), encoding="utf-8")
    return World(folder, path)


def wait_for(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something true or ``timeout`` passes (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(every)
