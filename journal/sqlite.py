"""The SQLite backend of the journal (the embedded default): :class:`journal.Journal` in one
file, verified and replayed by :mod:`journal.replay`.  A
:class:`~journal.storage.JournalBackend`, so the storage contract suite runs over it as
over every other backend.
"""

from __future__ import annotations

from journal.entry import ChainKey
from journal.protocols import Reducer
from journal.replay import Verification, rebuild, verify
from journal.storage import JournalBackend, JournalStorage, Now
from journal.store import Journal


class SQLiteBackend:
    """Journals in SQLite files; a location is a file's path (or ``:memory:``)."""

    name = "sqlite"

    def open(
        self,
        location: str,
        reducer: Reducer,
        *,
        key: ChainKey | None = None,
        now: Now | None = None,
    ) -> Journal:
        if now is None:
            return Journal(location, reducer, key=key)
        return Journal(location, reducer, key=key, now=now)

    def verify(self, journal: JournalStorage) -> Verification:
        return verify(_own(journal))

    def rebuild(self, journal: JournalStorage) -> int:
        return rebuild(_own(journal))


def _own(journal: JournalStorage) -> Journal:
    if not isinstance(journal, Journal):
        raise TypeError(f"not a SQLite journal: {journal!r}")
    return journal


# typed as the protocol: mypy checks the backend (and the Journal it opens) conform
SQLITE: JournalBackend = SQLiteBackend()

__all__ = ["SQLITE", "SQLiteBackend"]
