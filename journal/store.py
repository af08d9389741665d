"""The journal: an append-only, hash-chained SQLite table plus the state it materialises.

Entries are the truth.  The materialised tables (``records``, ``links``, ``cursors``,
``conflicts``) are caches that a :class:`Reducer` folds from the entries, in the same
transaction as the entries they come from; :mod:`journal.replay` rebuilds them from the
entries alone and checks that they match.

The journal knows nothing of sides or policies: the reducer is passed in by the layer that
does (``conflicts.reducer``), so imports go one way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from journal.entry import (
    GENESIS,
    ChainKey,
    Entry,
    Kind,
    NewEntry,
    chain_hash,
    dumps,
    entry_from_row,
    fast_dumps,
    loads,
    row_hash,
    utc_text,
)
from journal.errors import ChainKeyError, CursorError, StorageError
from journal.payloads import (
    ChainKeyed,
    SettledIntent,
    TriggersRepaired,
    WriteIntent,
    new_entry,
    payload_of,
)

ENTRY_COLUMNS = "seq, at, module, rid, side, kind, dot, context, fields, meta, prev_hash, hash"

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    module TEXT NOT NULL,
    rid TEXT,
    side TEXT,
    kind TEXT NOT NULL,
    dot TEXT,
    context TEXT,
    fields TEXT NOT NULL,
    meta TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_record ON entries (module, rid);
"""

# The append-only triggers, created with the entries table and never again on open: a
# journal whose triggers were dropped is reported by ``verify`` and repaired only by
# :meth:`Journal.repair_triggers`, which journals the repair.
TRIGGERS = {
    "entries_no_update": "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries\n"
    "BEGIN SELECT RAISE(ABORT, 'journal entries are append-only: UPDATE refused'); END",
    "entries_no_delete": "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries\n"
    "BEGIN SELECT RAISE(ABORT, 'journal entries are append-only: DELETE refused'); END",
}

# The journal's own entries (``config`` kind): the upgrade to a keyed chain, a trigger
# repair, a forced write.  Reducers ignore config entries of modules they do not know.
JOURNAL_MODULE = "@journal"
CHAIN_RID = "@chain"  # meta: {"chain": "hmac-sha256", "keyed_from": seq, "unkeyed": [1, n]}
CHAIN = "hmac-sha256"


def _normal_sql(sql: str | None) -> str:
    """Trigger text compared without case, spacing or ``IF NOT EXISTS`` differences."""
    text = " ".join((sql or "").replace("IF NOT EXISTS ", "").split()).rstrip(";")
    return text.lower()


STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    module TEXT NOT NULL,
    rid TEXT NOT NULL,
    key TEXT,
    attention INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    near TEXT,
    UNIQUE (module, rid)
);
CREATE INDEX IF NOT EXISTS records_key ON records (module, key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_near ON records (module, near) WHERE near IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_attention ON records (module, rid) WHERE attention = 1;
CREATE TABLE IF NOT EXISTS links (
    module TEXT NOT NULL,
    side TEXT NOT NULL,
    side_id TEXT NOT NULL,
    rid TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (module, side, side_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_rid ON links (module, rid);
CREATE TABLE IF NOT EXISTS cursors (
    side TEXT NOT NULL,
    module TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (side, module)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY,
    module TEXT NOT NULL,
    rid TEXT NOT NULL,
    field TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_status ON conflicts (status, module);
"""

STATE_TABLES = ("records", "links", "cursors", "conflicts")


class View(Protocol):
    """What a reducer may read and write of the materialised state."""

    def record(self, module: str, rid: str) -> Any | None: ...
    def put_record(self, module: str, rid: str, state: Any) -> None: ...
    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None: ...
    def cursor(self, side: str, module: str) -> Any | None: ...
    def set_cursor(self, side: str, module: str, value: Any) -> None: ...
    def conflict(self, conflict_id: int) -> dict[str, Any] | None: ...
    def put_conflict(
        self, conflict_id: int, module: str, rid: str, field: str, status: str, data: Any
    ) -> None: ...
    def drop_module(self, module: str) -> None: ...


class Reducer(Protocol):
    """Folds entries into materialised state.  Must depend on the entries alone."""

    def apply(self, view: View, entry: Entry) -> None: ...
    def encode(
        self, state: Any
    ) -> tuple[str, str | None, bool] | tuple[str, str | None, bool, str | None]:
        """``(state JSON, match key or None, needs attention)``, optionally followed by a
        *near key* (a looser second match key, indexed like the first) or None."""
        ...

    def decode(self, text: str) -> Any: ...


def cursor_order(value: Any) -> tuple[int, Any]:
    """Cursors compare within their type: numbers by value, text lexicographically."""
    if isinstance(value, bool):
        raise CursorError(f"not a cursor: {value!r}")
    if isinstance(value, int):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (2, tuple(cursor_order(v) for v in value))
    raise CursorError(f"not a cursor: {value!r}")


class SQLiteView:
    """A :class:`View` over the materialised tables of one SQLite connection.

    Record states are cached decoded and written back in one ``executemany`` at
    :meth:`flush`, so a batch that touches a record several times encodes it once.
    """

    def __init__(self, conn: sqlite3.Connection, reducer: Reducer, cache_size: int = 20_000):
        self.conn = conn
        self.reducer = reducer
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._dirty: dict[tuple[str, str], Any] = {}
        self._links: list[tuple[str, str, str, str, str]] = []
        # records known not to exist (a preload found no row): spares one query each
        self._absent: set[tuple[str, str]] = set()

    # records
    def record(self, module: str, rid: str) -> Any | None:
        key = (module, rid)
        if key in self._dirty:
            return self._dirty[key]
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if key in self._absent:
            return None
        row = self.conn.execute(
            "SELECT state FROM records WHERE module = ? AND rid = ?", key
        ).fetchone()
        if row is None:
            return None
        state = self.reducer.decode(row[0])
        self._remember(key, state)
        return state

    def preload(self, module: str, rids: Sequence[str]) -> None:
        """Decode many records in one query (the planner reads a batch at a time)."""
        missing = [
            r for r in rids if (module, r) not in self._dirty and (module, r) not in self._cache
        ]
        self._absent.update((module, r) for r in missing)
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT rid, state FROM records WHERE module = ? AND rid IN ({marks})",
                (module, *chunk),
            )
            for rid, text in rows:
                self._absent.discard((module, rid))
                self._remember((module, rid), self.reducer.decode(text))

    def _remember(self, key: tuple[str, str], state: Any) -> None:
        self._cache[key] = state
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def put_record(self, module: str, rid: str, state: Any) -> None:
        self._dirty[(module, rid)] = state
        self._absent.discard((module, rid))

    def flush(self) -> None:
        self.flush_links()
        if not self._dirty:
            return
        encode = self.reducer.encode
        rows = []
        for (module, rid), state in self._dirty.items():
            text, key, attention, *near = encode(state)
            rows.append((module, rid, key, 1 if attention else 0, text, near[0] if near else None))
            self._remember((module, rid), state)
        self._dirty.clear()
        self.conn.executemany(
            "INSERT INTO records (module, rid, key, attention, state, near) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (module, rid) DO UPDATE SET key = excluded.key, "
            "attention = excluded.attention, state = excluded.state, near = excluded.near",
            rows,
        )

    def forget(self) -> None:
        self._cache.clear()
        self._dirty.clear()
        self._absent.clear()
        self._links.clear()

    # links
    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None:
        self._links.append((module, side, str(side_id), rid, status))

    def flush_links(self) -> None:
        if self._links:
            self.conn.executemany(
                "INSERT OR REPLACE INTO links (module, side, side_id, rid, status) "
                "VALUES (?, ?, ?, ?, ?)",
                self._links,
            )
            self._links.clear()

    # cursors
    def cursor(self, side: str, module: str) -> Any | None:
        row = self.conn.execute(
            "SELECT value FROM cursors WHERE side = ? AND module = ?", (side, module)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def set_cursor(self, side: str, module: str, value: Any) -> None:
        current = self.cursor(side, module)
        if current is not None and cursor_order(value) < cursor_order(current):
            raise CursorError(
                f"cursor of {side}/{module} may not go back from {current!r} to {value!r}"
            )
        self.conn.execute(
            "INSERT OR REPLACE INTO cursors (side, module, value) VALUES (?, ?, ?)",
            (side, module, json.dumps(value)),
        )

    # conflicts
    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, module, rid, field, status, data FROM conflicts WHERE id = ?",
            (conflict_id,),
        ).fetchone()
        return None if row is None else _conflict_row(row)

    def put_conflict(
        self, conflict_id: int, module: str, rid: str, field: str, status: str, data: Any
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO conflicts (id, module, rid, field, status, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conflict_id, module, rid, field, status, dumps(data)),
        )

    # a deleted integration
    def drop_module(self, module: str) -> None:
        """Forget every record, link, cursor and conflict of ``module`` (the entries stay).

        The one way a cursor goes back: with its row gone, the module's next pull starts
        with a snapshot of each side, as on a first sync.
        """
        for cache in (self._cache, self._dirty):
            for key in [k for k in cache if k[0] == module]:
                del cache[key]
        self._absent = {k for k in self._absent if k[0] != module}
        self._links = [link for link in self._links if link[0] != module]
        for table in STATE_TABLES:
            self.conn.execute(f"DELETE FROM {table} WHERE module = ?", (module,))


def _conflict_row(row: Sequence[Any]) -> dict[str, Any]:
    cid, module, rid, field, status, data = row
    return {
        "id": cid,
        "module": module,
        "rid": rid,
        "field": field,
        "status": status,
        "data": loads(data),
    }


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# columns added to the materialised tables since their first release: (table, column, type)
ADDED_COLUMNS = (("records", "near", "TEXT"),)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """A journal made before a column existed gets it (as the last column, where the
    schema puts it), so an older file opens and its replay compares column for column."""
    for table, column, kind in ADDED_COLUMNS:
        have = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        if have and column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def create_private(path: str | Path) -> bool:
    """Create ``path`` empty and readable by its owner only (0600) if it does not exist.

    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file, so a journal
    created here keeps all three private (the journal holds customer data).  True if the
    file was created.
    """
    if str(path) == ":memory:" or os.name == "nt":
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # it exists, or cannot be made: sqlite3 says why when it opens it
        return False
    os.close(fd)
    return True


def connect(path: str | Path) -> sqlite3.Connection:
    create_private(path)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    # fewer, larger checkpoints: a record's state is rewritten several times per cycle
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    # a larger page cache than the 2 MiB default for the record and link indexes (64 MiB
    # measured no faster at 300k records and cost 65 MB of memory: 16 MiB)
    conn.execute("PRAGMA cache_size = -16384")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


class Journal:
    """An append-only journal in one SQLite file.

    ``with journal.transaction():`` groups appends (and the state they materialise)
    into one SQLite transaction; nested calls become savepoints.

    ``key``: the journal key (kept outside the file by the caller).  With it, new entries
    are chained with HMAC-SHA256; a journal made before keyed chains (or without a key)
    has a plain sha256 chain until :meth:`upgrade` journals the switch.  ``keyed_from`` is
    the first keyed seq (None: the chain is unkeyed).
    """

    def __init__(
        self,
        path: str | Path,
        reducer: Reducer,
        *,
        key: ChainKey | None = None,
        now: Callable[[], dt.datetime] = _utcnow,
        cache_size: int = 20_000,
    ) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self.reducer = reducer
        self.now = now
        self.key = key
        self.keyed_from: int | None = None
        try:
            self.conn = connect(path)
            self.db = sqlite_utils.Database(self.conn)
            self._create_schema()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open journal {path}: {exc}") from exc
        self.view = SQLiteView(self.conn, reducer, cache_size)
        self._depth = 0
        self._data_version = -1
        self._load_tail()

    def _create_schema(self) -> None:
        """The tables; the append-only triggers only with a new ``entries`` table (never
        re-created on open: a dropped trigger stays missing until repaired, journaled)."""
        conn = self.conn
        if self._has_entries():
            # an existing journal: the IF NOT EXISTS statements write nothing, and need no
            # write lock (a reader never waits for the daemon's transaction here)
            _add_missing_columns(conn)
            conn.executescript(SCHEMA + STATE_SCHEMA)
            return
        conn.execute("BEGIN IMMEDIATE")  # a new journal: one process creates it
        try:
            fresh = not self._has_entries()
            _add_missing_columns(conn)
            for statement in (SCHEMA + STATE_SCHEMA).split(";"):
                if statement.strip():
                    conn.execute(statement)
            if fresh:
                for sql in TRIGGERS.values():
                    conn.execute(sql)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _has_entries(self) -> bool:
        found = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'"
        ).fetchone()
        return found is not None

    # -- transactions ---------------------------------------------------------------------

    def _load_tail(self) -> None:
        row = self.conn.execute(
            "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        self._last_seq: int = row[0] if row else 0
        self._last_hash: str = row[1] if row else GENESIS
        self._load_chain()

    def _load_chain(self) -> None:
        """Where the keyed chain starts: the journaled upgrade, else entry 1 if its hash is
        not a plain sha256 one (keyed from the start), else nowhere (an unkeyed chain)."""
        marker = self.conn.execute(
            "SELECT seq FROM entries WHERE module = ? AND rid = ? AND kind = ? "
            "ORDER BY seq LIMIT 1",
            (JOURNAL_MODULE, CHAIN_RID, Kind.CONFIG.value),
        ).fetchone()
        if marker is not None:
            self.keyed_from = int(marker[0])
            return
        first = self.conn.execute(
            f"SELECT {ENTRY_COLUMNS} FROM entries ORDER BY seq LIMIT 1"
        ).fetchone()
        if first is None:
            self.keyed_from = 1 if self.key is not None else None
        elif row_hash(first) == first[11]:
            self.keyed_from = None
        else:
            self.keyed_from = 1  # keyed from the start (or edited: verify says which)

    def use_key(self, key: ChainKey | None) -> None:
        """Chain with ``key`` from now on (the caller found it outside the journal)."""
        self.key = key
        self._load_chain()

    @property
    def needs_upgrade(self) -> bool:
        """A key is in use but the chain is unkeyed: appends wait for :meth:`upgrade`."""
        return self.key is not None and self.keyed_from is None and self._last_seq > 0

    def _append_key(self) -> ChainKey | None:
        """The key new entries are chained with; refuses a mix of keyed and unkeyed."""
        if self.keyed_from is None:
            if self.needs_upgrade:
                raise ChainKeyError(
                    f"journal {self.path} has an unkeyed hash chain: upgrade it before "
                    "writing (`replicator journal upgrade`)"
                )
            return None
        if self.key is None:
            raise ChainKeyError(
                f"journal {self.path} is keyed from entry {self.keyed_from}: it is written "
                "only with its journal key"
            )
        return self.key

    def upgrade(self) -> Entry | None:
        """Switch an unkeyed chain to the keyed one, journaled: a ``config`` entry of module
        ``@journal`` saying from which seq the chain is keyed (it is the first keyed entry);
        the entries before it stay as they are and verify as unkeyed.  None if there is
        nothing to upgrade (already keyed, or empty)."""
        if self.key is None:
            raise ChainKeyError(f"journal {self.path}: an upgrade needs the journal key")
        with self.transaction():
            if self.keyed_from is not None:
                return None
            if self._last_seq == 0:
                self.keyed_from = 1
                return None
            first = self._last_seq + 1
            self.keyed_from = first
            keyed = ChainKeyed(
                chain=CHAIN,
                keyed_from=first,
                unkeyed=(1, first - 1),
                reason="entries before keyed_from were chained with plain sha256 (made "
                "before keyed chains)",
            )
            (entry,) = self.append([new_entry(keyed, JOURNAL_MODULE, CHAIN_RID)])
        return entry

    # -- the append-only triggers -------------------------------------------------------------

    def missing_triggers(self) -> list[str]:
        """The append-only triggers that are gone or altered (empty when all are in place)."""
        have = dict(
            self.conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                ("entries",),
            ).fetchall()
        )
        return [
            name
            for name, sql in TRIGGERS.items()
            if _normal_sql(have.get(name)) != _normal_sql(sql)
        ]

    def repair_triggers(self) -> Entry | None:
        """Re-create missing or altered append-only triggers and journal the repair (None if
        nothing was missing).  The only place triggers are made for an existing journal."""
        with self.transaction():
            missing = self.missing_triggers()
            if not missing:
                return None
            for name in missing:
                self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
                self.conn.execute(TRIGGERS[name])
            repaired = TriggersRepaired(recreated=tuple(missing))
            (entry,) = self.append([new_entry(repaired, JOURNAL_MODULE, "@triggers")])
        return entry

    def head(self) -> tuple[int, str, dt.datetime | None]:
        """``(seq, hash, at)`` of the last entry (``(0, GENESIS, None)`` when empty)."""
        row = self.conn.execute("SELECT seq, hash, at FROM entries ORDER BY seq DESC LIMIT 1")
        found = row.fetchone()
        if found is None:
            return 0, GENESIS, None
        return int(found[0]), found[1], dt.datetime.fromisoformat(found[2])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Journal]:
        """One atomic unit; sqlite3 errors inside are translated to :class:`StorageError`."""
        depth = self._depth
        try:
            if depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
                version = self.conn.execute("PRAGMA data_version").fetchone()[0]
                if version != self._data_version:
                    # another connection committed: our caches may be stale
                    self.view.forget()
                    self._load_tail()
                    self._data_version = version
            else:
                self.conn.execute(f"SAVEPOINT sp{depth}")
        except sqlite3.Error as exc:
            raise StorageError(f"journal {self.path}: cannot begin a transaction: {exc}") from exc
        self._depth += 1
        try:
            yield self
            if depth == 0:
                self.view.flush()
                self.conn.execute("COMMIT")
            else:
                self.conn.execute(f"RELEASE sp{depth}")
        except BaseException as exc:
            self._depth = depth
            try:
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO sp{depth}")
                    self.conn.execute(f"RELEASE sp{depth}")
            except sqlite3.Error:
                pass
            self.view.forget()
            self._load_tail()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"journal {self.path}: {exc}") from exc
            raise
        finally:
            self._depth = depth

    # -- appending --------------------------------------------------------------------------

    def append(self, entries: Iterable[NewEntry]) -> list[Entry]:
        """Number, chain and store entries, and fold them into the materialised state."""
        if self._depth == 0:
            with self.transaction():
                return self.append(entries)
        seq, prev = self._last_seq, self._last_hash
        key = self._append_key()
        now = self.now()
        now_text = utc_text(now)
        now_at = dt.datetime.fromisoformat(now_text)  # the stored (microsecond, UTC) instant
        rows = []
        stored = []
        for new in entries:
            seq += 1
            if new.at is None:
                at, at_value = now_text, now_at
            else:
                at, at_value = utc_text(new.at), new.at
            kind = new.kind.value
            new_dot = new.dot
            if new_dot is None:
                dot = None
            elif '"' in new_dot.side or "\\" in new_dot.side:
                dot = json.dumps(new_dot.to_json(), separators=(",", ":"))
            else:
                dot = f'["{new_dot.side}",{new_dot.counter}]'
            context = fast_dumps(new.context.to_json()) if new.context is not None else None
            fields = dumps(new.fields) if new.fields else "{}"
            meta = dumps(new.meta, trusted=True) if new.meta else "{}"
            module, rid, side = new.module, new.rid, new.side
            digest = chain_hash(
                prev, seq, at, module, rid, side, kind, dot, context, fields, meta, key=key
            )
            rows.append(
                (seq, at, module, rid, side, kind, dot, context, fields, meta, prev, digest)
            )
            stored.append(
                Entry(
                    seq,
                    at_value,
                    module,
                    rid,
                    side,
                    new.kind,
                    new_dot,
                    new.context,
                    new.fields,
                    new.meta,
                    prev,
                    digest,
                )
            )
            prev = digest
        if not rows:
            return []
        self.conn.executemany(
            f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES ({','.join('?' * 12)})", rows
        )
        apply = self.reducer.apply
        for entry in stored:
            apply(self.view, entry)
        self.view.flush_links()
        self._last_seq, self._last_hash = seq, prev
        return stored

    # -- reading ----------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def read(
        self,
        *,
        since: int = 0,
        module: str | None = None,
        rid: str | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> Iterator[Entry]:
        """Entries with ``seq > since``, in order (newest first with ``descending``),
        optionally of one module / record / kinds."""
        where = ["seq > ?"]
        params: list[Any] = [since]
        if module is not None:
            where.append("module = ?")
            params.append(module)
        if rid is not None:
            where.append("rid = ?")
            params.append(rid)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params.extend(str(k) for k in kinds)
        sql = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {' AND '.join(where)} ORDER BY seq"
        if descending:
            sql += " DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self.conn.execute(sql, params):
            yield entry_from_row(row)

    def history(self, rid: str, *, module: str | None = None) -> Iterator[Entry]:
        """A record's entries, with the batch entries (``rid`` NULL) that name it, by seq."""
        needle = "%" + json.dumps(rid).replace("%", "").replace("_", "") + "%"
        where = "(rid = ? OR (rid IS NULL AND kind = 'intent' AND meta LIKE ?))"
        params: list[Any] = [rid, needle]
        if module is not None:
            where += " AND module = ?"
            params.append(module)
        sql = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where} ORDER BY seq"
        for row in self.conn.execute(sql, params):
            entry = entry_from_row(row)
            if entry.rid == rid:
                yield entry
                continue
            intent = payload_of(entry)
            if (isinstance(intent, WriteIntent) and rid in intent.writes) or (
                isinstance(intent, SettledIntent) and rid in intent.settled
            ):
                yield entry

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM entries").fetchone()[0])

    def record(self, module: str, rid: str) -> Any | None:
        return self.view.record(module, rid)

    def preload(self, module: str, rids: Sequence[str]) -> None:
        self.view.preload(module, rids)

    def attention(self, module: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """Rids of records that need planning, in rid order (paged by ``after``)."""
        rows = self.conn.execute(
            "SELECT rid FROM records INDEXED BY records_attention "
            "WHERE module = ? AND attention = 1 AND rid > ? ORDER BY rid LIMIT ?",
            (module, after, limit),
        )
        return [r[0] for r in rows]

    def with_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per match key, for the keys given."""
        return self._rids_by("key", "records_key", module, keys)

    def with_near_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per near key (the looser second key a reducer may give), for the keys given."""
        return self._rids_by("near", "records_near", module, keys)

    def _rids_by(
        self, column: str, index: str, module: str, keys: Sequence[str]
    ) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, rid in self.conn.execute(
                f"SELECT {column}, rid FROM records INDEXED BY {index} "
                f"WHERE module = ? AND {column} IN ({marks})",
                (module, *chunk),
            ):
                found.setdefault(key, []).append(rid)
        for rids in found.values():
            rids.sort()
        return found

    def records(self, module: str | None = None) -> Iterator[tuple[str, str, Any]]:
        """Every record as ``(module, rid, state)``, streamed."""
        sql = "SELECT module, rid, state FROM records"
        params: tuple[Any, ...] = ()
        if module is not None:
            sql += " WHERE module = ?"
            params = (module,)
        sql += " ORDER BY module, rid"
        decode = self.reducer.decode
        for mod, rid, text in self.conn.execute(sql, params):
            yield mod, rid, decode(text)

    def rid_for(self, module: str, side: str, side_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT rid FROM links WHERE module = ? AND side = ? AND side_id = ?",
            (module, side, str(side_id)),
        ).fetchone()
        return None if row is None else row[0]

    def rids_for(self, module: str, side: str, side_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        ids = [str(i) for i in side_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for side_id, rid in self.conn.execute(
                f"SELECT side_id, rid FROM links WHERE module = ? AND side = ? "
                f"AND side_id IN ({marks})",
                (module, side, *chunk),
            ):
                found[side_id] = rid
        return found

    def links(self, module: str, rid: str) -> dict[str, tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT side, side_id, status FROM links WHERE module = ? AND rid = ?", (module, rid)
        )
        return {side: (side_id, status) for side, side_id, status in rows}

    def link_counts(self) -> dict[tuple[str, str, str], int]:
        rows = self.conn.execute(
            "SELECT module, side, status, count(*) FROM links GROUP BY module, side, status"
        )
        return {(m, s, st): n for m, s, st, n in rows}

    def cursor(self, side: str, module: str) -> Any | None:
        return self.view.cursor(side, module)

    def cursors(self) -> dict[tuple[str, str], Any]:
        rows = self.conn.execute("SELECT side, module, value FROM cursors")
        return {(side, module): json.loads(value) for side, module, value in rows}

    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        return self.view.conflict(conflict_id)

    def conflicts(
        self, *, status: str | None = None, module: str | None = None, rid: str | None = None
    ) -> list[dict[str, Any]]:
        where, params = [], []
        for column, value in (("status", status), ("module", module), ("rid", rid)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT id, module, rid, field, status, data FROM conflicts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_conflict_row(r) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "CHAIN",
    "CHAIN_RID",
    "ENTRY_COLUMNS",
    "JOURNAL_MODULE",
    "TRIGGERS",
    "STATE_SCHEMA",
    "STATE_TABLES",
    "Journal",
    "Reducer",
    "SQLiteView",
    "View",
    "connect",
    "create_private",
    "cursor_order",
]
