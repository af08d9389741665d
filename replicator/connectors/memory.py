"""An in-memory side for tests: tables as dicts, a change log, and fault hooks.

Tests play "another program" through :meth:`MemoryConnector.insert`, ``update`` and
``delete``; each appends to the change log that :meth:`MemoryConnector.pull` reads.  Writes
made through :meth:`MemoryConnector.push` are the connector's own and are not logged, so
they never come back as changes (no echo).  The behaviour mirrors the SQLite connector:
``pull(since=None)`` logs a snapshot entry for every current row and reads the log from
there; cursors are the log's sequence numbers.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from replicator.connectors.base import (
    SEARCH_LIMIT,
    BaseConnector,
    Change,
    Cursor,
    Outcome,
    Page,
    SideModule,
    Write,
    as_utc,
    utc_now,
)

Reject = Callable[[SideModule, Write], str | None]
Now = Callable[[], dt.datetime]


@attrs.frozen
class Logged:
    """One external change as the log holds it (``op``: S snapshot, I, U, D)."""

    seq: int
    table: str
    id: str
    op: str
    at: dt.datetime


class MemoryConnector(BaseConnector):
    """A side whose tables live in dicts; see the module docstring."""

    def __init__(
        self,
        side: str,
        *,
        reject: Reject | None = None,
        now: Now = utc_now,
        probabilities: Mapping[str, int] | None = None,
    ) -> None:
        self.side = side
        # the stage metadata every module's stage field answers (None: the side has none)
        self._probabilities = dict(probabilities) if probabilities is not None else None
        self.reject = reject
        self.now = now
        self._tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._log: list[Logged] = []
        self._seqs: list[int] = []  # parallel to _log, for bisect
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._keys: dict[tuple[str, str], str] = {}
        self._read_upto: dict[str, int] = {}
        self.closed = False

    # -- "another program" -------------------------------------------------------------

    def insert(self, table: str, values: Mapping[str, Any]) -> str:
        """Create a row as another program would; returns its new id."""
        id = self._new_id()
        self._table(table)[id] = dict(values)
        self._append(table, id, "I")
        return id

    def update(self, table: str, id: str, values: Mapping[str, Any]) -> None:
        """Change some columns of a row as another program would."""
        self._table(table)[id].update(values)
        self._append(table, id, "U")

    def delete(self, table: str, id: str) -> None:
        """Remove a row as another program would."""
        del self._table(table)[id]
        self._append(table, id, "D")

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        """A copy of every current row of ``table``, by id."""
        return {id: dict(row) for id, row in self._table(table).items()}

    # -- the protocol ------------------------------------------------------------------

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        if since is None:
            start = self._seqs[-1] if self._seqs else 0
            table = self._table(module.table)
            for id in list(table):
                self._append(module.table, id, "S")
            # rows we created before this first pull and someone deleted since
            for (name, _key), id in list(self._keys.items()):
                if name == module.table and id not in table:
                    self._append(module.table, id, "D")
        elif isinstance(since, int):
            start = since
        else:
            raise TypeError(f"{self.side}: a memory cursor is an int, not {since!r}")
        yielded = False
        cursor = start
        while True:
            batch = self._read_log(module.table, cursor, page_size)
            if not batch:
                break
            cursor = batch[-1].seq
            self._read_upto[module.table] = cursor
            yield Page(self._collapse(module, batch), cursor)
            yielded = True
        if not yielded:
            self._read_upto[module.table] = max(start, self._read_upto.get(module.table, 0))
        if since is None and not yielded:
            # An empty snapshot still gives the caller a cursor to start from.
            yield Page((), start)

    def get(self, module: SideModule, id: str) -> Change | None:
        row = self._table(module.table).get(id)
        if row is None:
            return None
        return self._change(module, id, row, self.now())

    def search(self, module: SideModule, text: str) -> list[Change]:
        needle = text.casefold()
        at = self.now()
        found = []
        for id, row in self._table(module.table).items():
            if any(needle in str(row.get(column) or "").casefold() for column in module.match):
                found.append(self._change(module, id, row, at))
                if len(found) == SEARCH_LIMIT:
                    break
        return found

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        return [self._push_one(module, write) for write in writes]

    def schema(self, module: SideModule) -> dict[str, str]:
        """Column -> the Python type name of its first non-null value ("" if unknown)."""
        types: dict[str, str] = {column: "" for column in module.columns}
        for row in self._table(module.table).values():
            for column, value in row.items():
                if value is not None and not types.get(column):
                    types[column] = type(value).__name__
                else:
                    types.setdefault(column, "")
        return types

    def views(self, module: SideModule) -> list[str]:
        return []

    def probabilities(self, module: SideModule, field: str) -> Mapping[str, int] | None:
        return dict(self._probabilities) if self._probabilities is not None else None

    def close(self) -> None:
        self.closed = True

    # -- internals ---------------------------------------------------------------------

    def _push_one(self, module: SideModule, write: Write) -> Outcome:
        if self.reject is not None:
            reason = self.reject(module, write)
            if reason is not None:
                return Outcome(write.key, write.id, error=reason)
        table = self._table(module.table)
        known = write.id if write.id is not None else self._keys.get((module.table, write.key))
        if known is not None and known in table and self._unread(module.table, known):
            if write.id is None:  # a retried create whose row was edited since: leave the edit
                return Outcome(write.key, known)
            return Outcome(
                write.key,
                write.id,
                retry=True,
                error=f"row {write.id} of table {module.table} on {self.side} changed since it "
                "was last read; not overwritten (it is read and merged on the next cycle)",
            )
        if write.id is None:
            id = self._keys.get((module.table, write.key))
            if id is None or id not in table:
                id = self._new_id()
                self._keys[module.table, write.key] = id
                table[id] = dict.fromkeys(module.columns)  # a new row has every column
            table[id].update(write.values)
            return Outcome(write.key, id)
        row = table.get(write.id)
        if row is None:
            return Outcome(
                write.key,
                write.id,
                error=f"no row with id {write.id} in table {module.table} (deleted?)",
            )
        row.update(write.values)
        return Outcome(write.key, write.id)

    def _unread(self, table: str, id: str) -> bool:
        """Whether another program changed ``id`` after our last read of the table."""
        after = self._read_upto.get(table, 0)
        start = bisect.bisect_right(self._seqs, after)
        return any(lg.table == table and lg.id == id for lg in self._log[start:])

    def _read_log(self, table: str, after: int, limit: int) -> list[Logged]:
        batch = []
        for i in range(bisect.bisect_right(self._seqs, after), len(self._log)):
            logged = self._log[i]
            if logged.table == table:
                batch.append(logged)
                if len(batch) == limit:
                    break
        return batch

    def _collapse(self, module: SideModule, batch: list[Logged]) -> tuple[Change, ...]:
        last: dict[str, Logged] = {}
        for logged in batch:
            last[logged.id] = logged
        table = self._table(module.table)
        changes = []
        for id, logged in last.items():
            row = table.get(id)
            if logged.op == "D":
                changes.append(Change(id, {}, modified=logged.at, deleted=True))
            elif row is not None:  # gone since: its D is later in the log
                changes.append(self._change(module, id, row, logged.at))
        return tuple(changes)

    def _change(
        self, module: SideModule, id: str, row: Mapping[str, Any], at: dt.datetime
    ) -> Change:
        columns = module.columns or tuple(row)
        values = {column: row.get(column) for column in columns}
        modified = as_utc(row.get(module.modified)) if module.modified else None
        return Change(id, values, modified=modified or at)

    def _append(self, table: str, id: str, op: str) -> None:
        seq = next(self._seq)
        self._log.append(Logged(seq, table, id, op, self.now()))
        self._seqs.append(seq)

    def _new_id(self) -> str:
        return f"m{next(self._ids)}"

    def _table(self, table: str) -> dict[str, dict[str, Any]]:
        return self._tables.setdefault(table, {})


__all__ = ["Logged", "MemoryConnector"]
