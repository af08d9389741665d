"""The backends the storage contract runs over, each with the raw access only a test has:
statements that go around the journal's API to try what the database must refuse, and to
tamper with a journal the way an attacker with the database's password could."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from journal import JournalBackend, JournalStorage
from journal.sqlite import SQLITE


class Harness(Protocol):
    backend: JournalBackend
    refused: tuple[type[BaseException], ...]  # what the database raises on UPDATE/DELETE

    def location(self) -> str:
        """A new, empty journal's location."""
        ...

    def update_entry(self, journal: JournalStorage, seq: int) -> None: ...

    def delete_entry(self, journal: JournalStorage, seq: int) -> None: ...

    def tamper_entry(self, journal: JournalStorage, seq: int, fields: str) -> None:
        """Take the append-only guard away and rewrite an entry's fields."""
        ...

    def tamper_state(self, journal: JournalStorage, module: str, rid: str, state: str) -> None:
        """Rewrite a record's materialised state behind the reducer's back."""
        ...

    def close(self) -> None: ...


def _conn(journal: JournalStorage) -> sqlite3.Connection:
    conn = getattr(journal, "conn", None)
    assert isinstance(conn, sqlite3.Connection)
    return conn


class SQLiteHarness:
    backend: JournalBackend = SQLITE
    refused = (sqlite3.DatabaseError,)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._n = itertools.count(1)

    def location(self) -> str:
        return str(self.folder / f"journal-{next(self._n)}.db")

    def update_entry(self, journal: JournalStorage, seq: int) -> None:
        _conn(journal).execute("UPDATE entries SET fields = '{}' WHERE seq = ?", (seq,))

    def delete_entry(self, journal: JournalStorage, seq: int) -> None:
        _conn(journal).execute("DELETE FROM entries WHERE seq = ?", (seq,))

    def tamper_entry(self, journal: JournalStorage, seq: int, fields: str) -> None:
        conn = _conn(journal)
        for name in ("entries_no_update", "entries_no_delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.execute("UPDATE entries SET fields = ? WHERE seq = ?", (fields, seq))

    def tamper_state(self, journal: JournalStorage, module: str, rid: str, state: str) -> None:
        _conn(journal).execute(
            "UPDATE records SET state = ? WHERE module = ? AND rid = ?", (state, module, rid)
        )

    def close(self) -> None:
        pass


def harness(name: str, tmp_path: Path) -> Any:
    if name == "sqlite":
        return SQLiteHarness(tmp_path)
    raise LookupError(name)
