"""The engine's tests over every journal backend: a journal opened where the parametrised
backend keeps it (a SQLite file in the test's folder, or a new schema of the session's
PostgreSQL cluster, dropped at the end) and verified by that backend, as the storage
contract suite runs over both (tests/journal/contract)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from journal import JournalStorage, Reducer, Verification
from tests.journal.contract.backends import Harness, harness

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


class Journals:
    """Opens the test's journals on one backend; the first one opened is the test's
    ``journal.db`` (opened again, it is the same journal)."""

    def __init__(self, name: str, tmp_path: Path, cluster: Any = None) -> None:
        self.name = name
        self.harness: Harness = harness(name, tmp_path, cluster)
        self.tmp_path = tmp_path
        self._main: str | None = None

    @property
    def main(self) -> str:
        """The location of the test's journal."""
        if self._main is None:
            self._main = (
                str(self.tmp_path / "journal.db")
                if self.name == "sqlite"
                else self.harness.location()
            )
        return self._main

    def open(
        self, reducer: Reducer, *, now: Callable[[], dt.datetime] | None = None
    ) -> JournalStorage:
        return self.harness.backend.open(self.main, reducer, now=now)

    def close(self) -> None:
        self.harness.close()


def verify(journal: JournalStorage) -> Verification:
    """The full verification of ``journal`` by its own backend."""
    if type(journal).__name__ == "PostgresJournal":
        from journal.postgres import POSTGRES  # psycopg: only for a PostgreSQL journal

        return POSTGRES.verify(journal)
    from journal.sqlite import SQLITE

    return SQLITE.verify(journal)


def journals_for(request: pytest.FixtureRequest, tmp_path: Path) -> Journals:
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgres" else None
    return Journals(request.param, tmp_path, cluster)


__all__ = ["BACKENDS", "Journals", "journals_for", "verify"]
