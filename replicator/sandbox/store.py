"""The sandbox's SQLite file: records of both APIs, their deleted feed, and small state.

One file (``DATA_DIR/sandbox.db``) holds everything that must survive a restart: CRM and
Books records, the CRM recycle bin, OAuth clients and tokens, notification channels, page
tokens, custom fields and views.  Faults, counters and limit windows live in memory and
start clean on every start, as a restarted server's would.

Records are stored as JSON documents keyed by ``(api, scope, module, id)``: ``scope`` is the
Books organisation id (the CRM has one organisation and uses ``""``).  ``version`` is a
global counter bumped on every write; it orders records that share a modification second.

All access goes through one connection guarded by a re-entrant lock, so the event loop,
the admin API and tests calling in from other threads never interleave a transaction.
sqlite3 errors are translated to :class:`StoreError` in exactly one place,
:meth:`Store.transaction`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .errors import StoreError

_JSON_PATH = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_]*)+")  # $.a.b: safe inside SQL text
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    api TEXT NOT NULL, scope TEXT NOT NULL, module TEXT NOT NULL, id TEXT NOT NULL,
    data TEXT NOT NULL, created REAL NOT NULL, modified REAL NOT NULL,
    created_by TEXT NOT NULL, modified_by TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (api, scope, module, id));
CREATE INDEX IF NOT EXISTS records_modified ON records (api, scope, module, modified);
CREATE INDEX IF NOT EXISTS records_order_id ON records (api, scope, module, CAST(id AS INTEGER));
CREATE INDEX IF NOT EXISTS records_order_created
    ON records (api, scope, module, CAST(created AS INTEGER), CAST(id AS INTEGER));
CREATE INDEX IF NOT EXISTS records_order_modified
    ON records (api, scope, module, CAST(modified AS INTEGER), CAST(id AS INTEGER));
CREATE TABLE IF NOT EXISTS deleted (
    api TEXT NOT NULL, scope TEXT NOT NULL, module TEXT NOT NULL, id TEXT NOT NULL,
    display_name TEXT, kind TEXT NOT NULL, deleted REAL NOT NULL, deleted_by TEXT NOT NULL,
    created_by TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (api, scope, module, id));
CREATE INDEX IF NOT EXISTS deleted_order ON deleted (api, scope, module, deleted, id);
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id TEXT PRIMARY KEY, client_secret TEXT NOT NULL, revoked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_refresh (
    token TEXT PRIMARY KEY, client_id TEXT NOT NULL, revoked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_codes (
    code TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_access (
    token TEXT PRIMARY KEY, client_id TEXT NOT NULL, refresh TEXT NOT NULL,
    issued REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS oauth_access_refresh ON oauth_access (refresh, issued);
"""


# The orders a list page can be served in from an index (``records_order_*``): the sort
# columns, as the APIs compare them (whole seconds, then the numeric id).
ORDERS = {
    "id": ("CAST(id AS INTEGER)",),
    "created": ("CAST(created AS INTEGER)", "CAST(id AS INTEGER)"),
    "modified": ("CAST(modified AS INTEGER)", "CAST(id AS INTEGER)"),
}
_POSITIONS = 64  # queries whose last page ends the store remembers
_COLUMNS = "id, data, created, modified, created_by, modified_by, version"


@attrs.frozen
class Row:
    """One stored record: its fields as a JSON document plus system columns."""

    id: str
    data: dict[str, Any]
    created: float
    modified: float
    created_by: str
    modified_by: str
    version: int

    def order_key(self, order: str) -> tuple[int, ...]:
        """The row's place in ``order`` (a key of :data:`ORDERS`), as the index holds it."""
        if order == "id":
            return (int(self.id),)
        return (int(self.created if order == "created" else self.modified), int(self.id))


@attrs.frozen
class DeletedRow:
    id: str
    display_name: str | None
    kind: str  # "recycle" or "permanent"
    deleted: float
    deleted_by: str
    created_by: str
    data: dict[str, Any]


class Store:
    """The SQLite file behind one sandbox."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._indexed: set[str] = set()
        self._record_writes = 0  # bumped by every write to ``records`` (see :meth:`page`)
        self._positions: dict[tuple[Any, ...], tuple[tuple[int, int], dict[int, Any]]] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    # -- transactions -------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested calls join the outer one."""
        with self._lock:
            outer = self._depth == 0
            self._depth += 1
            try:
                if outer:
                    self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                if outer:
                    self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if outer:
                    self._rollback()
                raise StoreError(f"{self.path}: {exc}") from exc
            except BaseException:
                if outer:
                    self._rollback()
                raise
            finally:
                self._depth -= 1

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.transaction() as db:
            return db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self.transaction() as db:
            return db.execute(sql, params).rowcount

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass

    # -- small state --------------------------------------------------------------------

    def kv_get(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def kv_set(self, key: str, value: Any) -> None:
        self.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def next_value(self, name: str, start: int = 1) -> int:
        """The next value of a named sequence (persisted, so ids never repeat)."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM seq WHERE name = ?", (name,)).fetchone()
            value = start if row is None else row[0] + 1
            db.execute(
                "INSERT INTO seq (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
            return value

    # -- records ------------------------------------------------------------------------

    def rows(self, api: str, scope: str, module: str) -> list[Row]:
        found = self.query(
            "SELECT id, data, created, modified, created_by, modified_by, version "
            "FROM records WHERE api = ? AND scope = ? AND module = ? ORDER BY version",
            (api, scope, module),
        )
        return [_row(r) for r in found]

    def page(
        self,
        api: str,
        scope: str,
        module: str,
        order: str,
        *,
        limit: int,
        descending: bool = False,
        offset: int = 0,
        after: Sequence[int] | None = None,
        modified_after: float | None = None,
        ids: Collection[str] | None = None,
        equal: Mapping[str, str] | None = None,
    ) -> list[Row]:
        """One page of a module's records in ``order`` (a key of :data:`ORDERS`), read from
        its index: the cost is the page's, not the module's.

        ``offset``: that many records skipped first (page numbers).  The store remembers
        where the last pages of a query ended, so the next page number, asked with nothing
        written in between, starts from there instead of skipping ``offset`` index entries
        again (the same records either way).  ``after``: the :meth:`Row.order_key` of the
        last record of the previous page (keyset paging: the page starts just past it, in
        the direction of the order).  ``modified_after``: records modified strictly after
        that second only; ``ids``: those records only; ``equal``: records whose JSON value
        at each path (``$.contact_type``) is that text (from an index of those values and
        the order, made the first time it is asked for: a page of the few vendors among
        100,000 customers costs the page too).
        """
        columns = ORDERS[order]
        if after is not None and len(after) != len(columns):
            raise StoreError(f"a position in order {order!r} has {len(columns)} values")
        wanted = None if ids is None else tuple(sorted(set(ids)))
        matches = tuple(sorted((equal or {}).items()))
        for path, _ in matches:
            if not _JSON_PATH.fullmatch(path):
                raise StoreError(f"not a JSON path this store can filter on: {path!r}")
        if matches:
            values = [f"json_extract(data, '{path}')" for path, _ in matches]
            self._index(", ".join((*values, *columns)))
        query = (api, scope, module, order, descending, modified_after, wanted, matches)
        with self._lock:
            stamp = self._stamp()
            base: int | None = None  # how many records of the query precede the page
            if after is None:
                base = max(int(offset), 0)
                known = self._positions.get(query)
                if base and known is not None and known[0] == stamp and base in known[1]:
                    after, offset = known[1][base], 0
            rows = self._page(columns, query, limit, offset, after)
            if rows and base is not None:
                self._remember(query, stamp, base, rows, order)
            return rows

    def _stamp(self) -> tuple[int, int]:
        """Changes when records may have changed: a write through this store, or a commit
        by another connection to the file."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        return self._record_writes, int(version)

    def _remember(
        self, query: tuple[Any, ...], stamp: tuple[int, int], base: int, rows: list[Row], order: str
    ) -> None:
        # where the next page starts after the last record and after the one before it (a
        # caller reads one record more than a page to know whether more follow)
        positions = {base + len(rows): rows[-1].order_key(order)}
        if len(rows) > 1:
            positions[base + len(rows) - 1] = rows[-2].order_key(order)
        self._positions.pop(query, None)
        self._positions[query] = (stamp, positions)
        while len(self._positions) > _POSITIONS:
            self._positions.pop(next(iter(self._positions)))

    def _page(
        self,
        columns: tuple[str, ...],
        query: tuple[Any, ...],
        limit: int,
        offset: int,
        after: Sequence[int] | None,
    ) -> list[Row]:
        api, scope, module, _, descending, modified_after, wanted, matches = query
        where = ["api = ?", "scope = ?", "module = ?"]
        params: list[Any] = [api, scope, module]
        for path, value in matches:
            where.append(f"json_extract(data, '{path}') = ?")
            params.append(value)
        if modified_after is not None:
            where.append("CAST(modified AS INTEGER) > ?")
            params.append(modified_after)
        if wanted is not None:
            where.append(f"id IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        if after is not None:
            # (k1, k2) past (a1, a2), written so that the index range is on k1
            past, reach = ("<", "<=") if descending else (">", ">=")
            first, *rest = columns
            if rest:
                where.append(f"{first} {reach} ? AND ({first} {past} ? OR {rest[0]} {past} ?)")
                params.extend((after[0], after[0], after[1]))
            else:
                where.append(f"{first} {past} ?")
                params.append(after[0])
        direction = " DESC" if descending else ""
        ordering = ", ".join(c + direction for c in columns)
        # the page's rowids from the index alone (an offset skips index entries, not rows),
        # then those rows
        sql = (
            f"SELECT {_COLUMNS} FROM records WHERE rowid IN (SELECT rowid FROM records "
            f"WHERE {' AND '.join(where)} ORDER BY {ordering} LIMIT ? OFFSET ?) "
            f"ORDER BY {ordering}"
        )
        params.extend((int(limit), max(int(offset), 0)))
        return [_row(r) for r in self.query(sql, tuple(params))]

    def get(self, api: str, scope: str, module: str, record_id: str) -> Row | None:
        found = self.query(
            "SELECT id, data, created, modified, created_by, modified_by, version "
            "FROM records WHERE api = ? AND scope = ? AND module = ? AND id = ?",
            (api, scope, module, record_id),
        )
        return _row(found[0]) if found else None

    def find(self, api: str, scope: str, module: str, path: str, value: Any) -> list[Row]:
        """Records whose JSON value at ``path`` (``$.Email``, ``$.Account_Name.id``) equals
        ``value``: strings compare trimmed and case-insensitively.  Oldest first.

        Each (path, kind of value) gets an index on its expression the first time it is
        asked for, so uniqueness checks stay fast as a module grows to thousands of records.
        """
        if not _JSON_PATH.fullmatch(path):
            raise StoreError(f"not a JSON path this store can index: {path!r}")
        expression = f"json_extract(data, '{path}')"
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            # SQLite's integers are 64-bit (binding a larger one raises OverflowError):
            # compare it as the text a text field stores it as
            value = str(value)
        if isinstance(value, str):
            expression = f"lower(trim({expression}))"
            test = f"{expression} = lower(trim(?))"
        else:
            test = f"{expression} = ?"
        self._index(expression)
        found = self.query(
            "SELECT id, data, created, modified, created_by, modified_by, version FROM records "
            f"WHERE api = ? AND scope = ? AND module = ? AND {test} ORDER BY created, version",
            (api, scope, module, value),
        )
        return [_row(r) for r in found]

    def find_any(
        self, api: str, scope: str, module: str, path: str, values: Collection[str]
    ) -> list[Row]:
        """Records whose JSON value at ``path`` is one of the texts ``values`` (exactly), from
        an index of that value made the first time it is asked for: a page's documents of
        the page's contacts cost those, not every document."""
        if not _JSON_PATH.fullmatch(path):
            raise StoreError(f"not a JSON path this store can index: {path!r}")
        expression = f"json_extract(data, '{path}')"
        self._index(expression)
        found: list[Row] = []
        wanted = sorted(set(values))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found += map(
                _row,
                self.query(
                    f"SELECT {_COLUMNS} FROM records WHERE api = ? AND scope = ? AND module = ? "
                    f"AND {expression} IN ({','.join('?' * len(chunk))}) ORDER BY version",
                    (api, scope, module, *chunk),
                ),
            )
        return found

    def _index(self, expression: str) -> None:
        """An index of each module's records on ``expression`` (one or more, separated by
        commas), made once."""
        if expression in self._indexed:
            return
        name = "records_find_" + hashlib.sha1(expression.encode()).hexdigest()[:12]
        self.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON records (api, scope, module, {expression})"
        )
        self._indexed.add(expression)

    def put(self, api: str, scope: str, module: str, row: Row) -> Row:
        """Insert or replace a record; returns it with its new version."""
        with self.transaction() as db:
            self._record_writes += 1
            version = self.next_value("version")
            db.execute(
                "INSERT OR REPLACE INTO records (api, scope, module, id, data, created, "
                "modified, created_by, modified_by, version) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    api,
                    scope,
                    module,
                    row.id,
                    json.dumps(row.data),
                    row.created,
                    row.modified,
                    row.created_by,
                    row.modified_by,
                    version,
                ),
            )
        return attrs.evolve(row, version=version)

    def remove(self, api: str, scope: str, module: str, record_id: str) -> bool:
        with self._lock:
            self._record_writes += 1
        return bool(
            self.execute(
                "DELETE FROM records WHERE api = ? AND scope = ? AND module = ? AND id = ?",
                (api, scope, module, record_id),
            )
        )

    def count(self, api: str, scope: str | None = None) -> dict[str, int]:
        sql = "SELECT module, count(*) FROM records WHERE api = ?"
        params: tuple[Any, ...] = (api,)
        if scope is not None:
            sql, params = sql + " AND scope = ?", (api, scope)
        return dict(self.query(sql + " GROUP BY module", params))  # type: ignore[arg-type]

    # -- the deleted feed -----------------------------------------------------------------

    def add_deleted(self, api: str, scope: str, module: str, row: DeletedRow) -> None:
        self.execute(
            "INSERT OR REPLACE INTO deleted (api, scope, module, id, display_name, kind, "
            "deleted, deleted_by, created_by, data) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                api,
                scope,
                module,
                row.id,
                row.display_name,
                row.kind,
                row.deleted,
                row.deleted_by,
                row.created_by,
                json.dumps(row.data),
            ),
        )

    def deleted_rows(self, api: str, scope: str, module: str) -> list[DeletedRow]:
        found = self.query(
            "SELECT id, display_name, kind, deleted, deleted_by, created_by, data FROM deleted "
            "WHERE api = ? AND scope = ? AND module = ? ORDER BY deleted DESC, id DESC",
            (api, scope, module),
        )
        return [DeletedRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in found]

    def deleted_page(
        self,
        api: str,
        scope: str,
        module: str,
        *,
        limit: int,
        offset: int = 0,
        kind: str | None = None,
        since: float | None = None,
    ) -> list[DeletedRow]:
        """One page of the deleted feed, newest first (as :meth:`deleted_rows` orders it),
        of one ``kind`` and deleted in a second after ``since`` if given, from its index."""
        where = "api = ? AND scope = ? AND module = ?"
        params: list[Any] = [api, scope, module]
        if kind is not None:
            where += " AND kind = ?"
            params.append(kind)
        if since is not None:  # a whole second after since's
            where += " AND deleted >= ?"
            params.append(math.floor(since) + 1)
        found = self.query(
            "SELECT id, display_name, kind, deleted, deleted_by, created_by, data FROM deleted "
            f"WHERE {where} ORDER BY deleted DESC, id DESC LIMIT ? OFFSET ?",
            (*params, int(limit), max(int(offset), 0)),
        )
        return [DeletedRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in found]

    def purge_recycle_bin(self, api: str) -> int:
        return self.execute(
            "UPDATE deleted SET kind = 'permanent' WHERE api = ? AND kind = 'recycle'", (api,)
        )

    def wipe(self) -> None:
        """Drop every record and deleted entry (credentials, fields and views stay)."""
        with self.transaction() as db:
            self._record_writes += 1
            db.execute("DELETE FROM records")
            db.execute("DELETE FROM deleted")


def _row(r: tuple[Any, ...]) -> Row:
    return Row(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5], r[6])


__all__ = ["ORDERS", "DeletedRow", "Row", "Store"]
