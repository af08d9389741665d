"""The backends the storage contract runs over, each with the raw access only a test has:
statements that go around the journal's API to try what the database must refuse, and to
tamper with a journal the way an attacker with the database's password could."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
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

    def drop(self, location: str) -> None:
        """Throw a (closed) journal away whole, as an attacker or a bad restore would: its
        location then opens as a new, empty journal."""
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

    def drop(self, location: str) -> None:
        Path(location).unlink()

    def close(self) -> None:
        pass


class PostgresHarness:
    """Each journal in a new schema of the session's cluster, dropped at the end."""

    def __init__(self, cluster: Any) -> None:
        # imported here: psycopg is the optional extra `fleet`, and only this harness needs it
        import psycopg

        from journal.postgres import POSTGRES

        self.backend: JournalBackend = POSTGRES
        self.refused = (psycopg.errors.RaiseException,)
        self.conninfo = cluster.conninfo
        self.schemas: list[str] = []

    def location(self) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        self.schemas.append(schema)
        return f"{self.conninfo}#{schema}"

    def _run(self, journal: JournalStorage, text: str, *params: Any) -> None:
        from psycopg import sql  # as above: only this harness needs psycopg

        conn = getattr(journal, "conn")  # noqa: B009  # raw access is this harness's job
        schema = getattr(journal, "schema")  # noqa: B009
        conn.execute(sql.SQL(text).format(s=sql.Identifier(schema)), params)

    def update_entry(self, journal: JournalStorage, seq: int) -> None:
        self._run(journal, "UPDATE {s}.entries SET fields = '{{}}' WHERE seq = %s", seq)

    def delete_entry(self, journal: JournalStorage, seq: int) -> None:
        self._run(journal, "DELETE FROM {s}.entries WHERE seq = %s", seq)

    def tamper_entry(self, journal: JournalStorage, seq: int, fields: str) -> None:
        self._run(journal, "ALTER TABLE {s}.entries DISABLE TRIGGER USER")
        self._run(journal, "UPDATE {s}.entries SET fields = %s WHERE seq = %s", fields, seq)

    def tamper_state(self, journal: JournalStorage, module: str, rid: str, state: str) -> None:
        self._run(
            journal,
            "UPDATE {s}.records SET state = %s WHERE module = %s AND rid = %s",
            state,
            module,
            rid,
        )

    def drop(self, location: str) -> None:
        import psycopg  # as above

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP SCHEMA {s} CASCADE").format(
                    s=psycopg.sql.Identifier(location.rpartition("#")[2])
                )
            )

    def close(self) -> None:
        import psycopg  # as above

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(
                    psycopg.sql.SQL("DROP SCHEMA IF EXISTS {s} CASCADE").format(
                        s=psycopg.sql.Identifier(schema)
                    )
                )


def harness(name: str, tmp_path: Path, cluster: Any = None) -> Any:
    if name == "sqlite":
        return SQLiteHarness(tmp_path)
    if name == "postgres":
        return PostgresHarness(cluster)
    raise LookupError(name)
