"""Removing records from a side: what ``replicator disable --remove-crm-copies`` deletes the
CRM-side copies of Books documents with, and nothing else.

The sync itself never deletes anything (deletes are never propagated, DESIGN section 5), so
removal is not part of the connector protocol: a :class:`Remover` of one side is made for
the connectors that can remove (memory and SQLite here, Zoho CRM in
:mod:`.zoho.crm_remove`; :func:`replicator.sync.copies.remover` picks one).  A Zoho Books
side has none: Books data is never touched.

``remove(module, ids)`` answers one :class:`Removal` per id, in input order.  A record that
is not there any more (deleted by someone else, or by an earlier removal whose outcome was
lost) is ``gone``: it counts as removed, so running a removal again after a crash finishes
the job without a second delete of anything.  A refusal of one record is its ``error``; a
failure of the side as a whole (an outage) raises :class:`ConnectorError` and leaves the
records not answered for to the next run.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import attrs

from replicator.connectors.base import SideModule
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.sqlite_plan import quote
from replicator.errors import ConnectorError


@attrs.frozen
class Removal:
    """What became of one record a remover was asked to delete: removed now, ``gone``
    already (counts as removed), or refused with ``error`` (the side's reason)."""

    id: str
    gone: bool = False
    error: str | None = None
    note: str | None = None  # removed another way, and how (a Books record marked inactive)

    @property
    def ok(self) -> bool:
        return self.error is None


class Remover(Protocol):
    """Deletes records of one side (see the module docstring)."""

    def remove(self, module: SideModule, ids: Sequence[str]) -> list[Removal]: ...


class MemoryRemover:
    """Deletes rows of a :class:`MemoryConnector`'s tables (its next pull sees the deletes)."""

    def __init__(self, connector: MemoryConnector) -> None:
        self.connector = connector

    def remove(self, module: SideModule, ids: Sequence[str]) -> list[Removal]:
        present = self.connector.rows(module.table)
        removals = []
        for id in ids:
            if id in present:
                self.connector.delete(module.table, id)
                del present[id]
                removals.append(Removal(id))
            else:
                removals.append(Removal(id, gone=True))
        return removals


class SQLiteRemover:
    """Deletes rows of a SQLite side's table by its id column, in one transaction per call,
    through a connection of its own (the side's change log records each delete, so the
    side's next pull sees it as a known delete)."""

    def __init__(self, side: str, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.side = side
        self.path = path
        self.busy_timeout = busy_timeout

    def remove(self, module: SideModule, ids: Sequence[str]) -> list[Removal]:
        sql = f"DELETE FROM {quote(module.table)} WHERE {quote(module.id)} = ?"
        removals = []
        try:
            with contextlib.closing(
                sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            ) as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    for id in ids:
                        deleted = db.execute(sql, (id,)).rowcount
                        removals.append(Removal(id, gone=deleted == 0))
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.Error as exc:  # the one place this module's sqlite3 errors translate
            raise ConnectorError(
                f"side {self.side}: remove records in {self.path}, table {module.table}: {exc}"
            ) from None
        return removals


__all__ = ["MemoryRemover", "Removal", "Remover", "SQLiteRemover"]
