"""The PostgreSQL backend of the journal (fleet mode, issue 17), with psycopg 3.

One schema per journal (a fleet's tenant): the same ``entries`` rows as SQLite's, text for
text, so the hash chain is the same bytes (:func:`journal.entry.chain_hash`), and the same
materialised tables.  The database enforces append-only: row triggers refuse UPDATE and
DELETE and a statement trigger refuses TRUNCATE (created only with a new entries table;
one dropped or disabled is reported by :meth:`PostgresJournal.missing_triggers` and
``verify``).  The state a reducer folds commits in the transaction of its entries;
nested transactions are savepoints (psycopg's own).  Writers of one journal queue on a
table lock taken when a transaction starts, which then re-reads the head, so two workers
never chain from one head.

A location is a libpq connection string or URL, ``#`` and the schema:
``postgresql://replicator@127.0.0.1:5432/fleet#acme``.  Messages name the host, port,
database and schema, never a password.  Every ``psycopg.Error`` becomes a
:class:`~journal.errors.StorageError` in :func:`_translated`, the one place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from journal.anchors import Anchor, check_range
from journal.entry import (
    GENESIS,
    ChainKey,
    Entry,
    EntryDecoder,
    Kind,
    NewEntry,
    chain_row,
    chained_rows,
    dumps,
    entry_from_row,
    loads,
    row_hash,
)
from journal.errors import CursorError, IntegrityError, StorageError
from journal.names import DECLARED, FieldNames
from journal.payloads import (
    SettledIntent,
    StateUpgraded,
    TriggersRepaired,
    WriteIntent,
    new_entry,
    payload_of,
)
from journal.protocols import Encoded, Reducer
from journal.replay import Verification
from journal.storage import JournalBackend, JournalStorage, Now
from journal.store import CHAIN_RID, JOURNAL_MODULE, STATE_RID, KeyedChain
from journal.view import (
    Progress,
    RecordTally,
    conflict_filter,
    cursor_order,
    fold,
    reducer_rule,
    reducer_version,
    upgrade_reason,
)

ENTRY_COLUMNS = "seq, at, module, rid, side, kind, dot, context, fields, meta, prev_hash, hash"
MARKS = ", ".join(["%s"] * 12)
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

ENTRIES = """
CREATE TABLE {s}.entries (
    seq BIGINT PRIMARY KEY,
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
CREATE INDEX entries_record ON {s}.entries (module, rid);
"""
GUARD = """
CREATE OR REPLACE FUNCTION {s}.entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal entries are append-only: % refused', TG_OP;
END $$;
"""
# each append-only trigger's statement: made with a new entries table, and again by
# PostgresJournal.repair_triggers (the only place one is made for an existing journal)
TRIGGER_SQL = {
    "entries_no_delete": "CREATE TRIGGER entries_no_delete BEFORE DELETE ON {s}.entries "
    "FOR EACH ROW EXECUTE FUNCTION {s}.entries_append_only()",
    "entries_no_truncate": "CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON {s}.entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION {s}.entries_append_only()",
    "entries_no_update": "CREATE TRIGGER entries_no_update BEFORE UPDATE ON {s}.entries "
    "FOR EACH ROW EXECUTE FUNCTION {s}.entries_append_only()",
}
TRIGGERS = tuple(TRIGGER_SQL)

STATE = """
CREATE TABLE IF NOT EXISTS {s}.records (
    module TEXT NOT NULL,
    rid TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C",
    attention INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    near TEXT COLLATE "C",
    status TEXT,
    marks TEXT,
    label TEXT COLLATE "C",
    ref TEXT COLLATE "C",
    PRIMARY KEY (module, rid)
);
ALTER TABLE {s}.records ADD COLUMN IF NOT EXISTS status TEXT,
    ADD COLUMN IF NOT EXISTS marks TEXT, ADD COLUMN IF NOT EXISTS label TEXT COLLATE "C",
    ADD COLUMN IF NOT EXISTS ref TEXT COLLATE "C";
CREATE INDEX IF NOT EXISTS records_key ON {s}.records (module, key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_near ON {s}.records (module, near) WHERE near IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_attention ON {s}.records (module, rid) WHERE attention = 1;
CREATE INDEX IF NOT EXISTS records_marked ON {s}.records (module, rid) WHERE marks IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_label ON {s}.records (module, label, rid)
    WHERE label IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_ref ON {s}.records (module, ref) WHERE ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS {s}.links (
    module TEXT NOT NULL,
    side TEXT NOT NULL,
    side_id TEXT COLLATE "C" NOT NULL,
    rid TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (module, side, side_id)
);
CREATE INDEX IF NOT EXISTS links_rid ON {s}.links (module, rid);
CREATE TABLE IF NOT EXISTS {s}.cursors (
    side TEXT NOT NULL,
    module TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (side, module)
);
CREATE TABLE IF NOT EXISTS {s}.conflicts (
    id BIGINT PRIMARY KEY,
    module TEXT NOT NULL,
    rid TEXT COLLATE "C" NOT NULL,
    field TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_status ON {s}.conflicts (status, module);
CREATE INDEX IF NOT EXISTS conflicts_record ON {s}.conflicts (module, rid);
"""
STATE_TABLES = ("records", "links", "cursors", "conflicts")
# the heads of every journal of a database, anchored outside each journal's schema (so a
# journal's schema dropped or restored from an older copy is found out); append-only too
ANCHORS_SCHEMA = "journal_anchors"
ANCHORS = """
CREATE SCHEMA IF NOT EXISTS journal_anchors;
CREATE TABLE IF NOT EXISTS journal_anchors.anchors (
    journal TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at TEXT,
    PRIMARY KEY (journal, seq, hash)
);
CREATE OR REPLACE FUNCTION journal_anchors.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal anchors are append-only: % refused', TG_OP;
END $$;
DROP TRIGGER IF EXISTS anchors_append_only ON journal_anchors.anchors;
CREATE TRIGGER anchors_append_only BEFORE UPDATE OR DELETE ON journal_anchors.anchors
    FOR EACH ROW EXECUTE FUNCTION journal_anchors.append_only();
"""
BATCH = 1_000  # rows a keyset query reads when the state is streamed
READ_BATCH = 5_000  # entries a query of read() reads when it reads them all
# the advisory lock class of a journal's one writer (the two-int form: apart from the
# one-bigint locks create_schema takes), the schema's hashtext the other int
WRITER_LOCK = 0x6A6F
WRITER_POLL = 0.05  # seconds between two tries while a writer waits for the lock


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def split_location(location: str) -> tuple[str, str]:
    """``(connection string, schema)`` of ``CONNINFO#SCHEMA``."""
    conninfo, _, schema = location.rpartition("#")
    if not conninfo or not SCHEMA_NAME.fullmatch(schema):
        raise StorageError(
            "a PostgreSQL journal's location is CONNINFO#SCHEMA, the schema 1 to 63 of "
            "a-z, 0-9 and _ (not starting with a digit)"
        )
    return conninfo, schema


def shown_location(conninfo: str, schema: str) -> str:
    """Where a journal is, for a message: host, port, database and schema, no password."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return f"postgresql (unreadable connection string)#{schema}"
    host, port, db = parts.get("host", ""), parts.get("port", ""), parts.get("dbname", "")
    return f"postgresql://{host}{':' if port else ''}{port}/{db}#{schema}"


def journal_exists(location: str) -> bool:
    """Whether the journal at ``CONNINFO#SCHEMA`` has been made (nothing is created)."""
    conninfo, schema = split_location(location)
    with (
        _translated(shown_location(conninfo, schema)),
        psycopg.connect(conninfo, autocommit=True) as conn,
    ):
        row = conn.execute("SELECT to_regclass(%s)", (f"{schema}.entries",)).fetchone()
    return row is not None and row[0] is not None


@contextlib.contextmanager
def writer_lock(location: str, *, wait: float) -> Iterator[None]:
    """Hold the one-writer lock of the journal at ``CONNINFO#SCHEMA`` for a whole cycle, as
    the file lock beside a SQLite journal does: a session advisory lock on a connection of
    its own, so the server drops it when the session ends, however the holder ends (a
    killed worker leaves no stale lock).  Another holder is waited for up to ``wait``
    seconds, then :class:`StorageError` says the journal is busy.  Appends need no such
    lock (a transaction's table lock serialises them); this keeps two cycles of one
    journal from interleaving."""
    conninfo, schema = split_location(location)
    where = shown_location(conninfo, schema)
    with _translated(where):
        conn = psycopg.connect(conninfo, autocommit=True)
    try:
        start = time.monotonic()
        while True:
            with _translated(where):
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (WRITER_LOCK, schema)
                ).fetchone()
            if row is not None and row[0]:
                break
            if time.monotonic() - start >= wait:
                waited = f" after waiting {wait:g} s" if wait > 0 else ""
                raise StorageError(
                    f"journal {where} is busy{waited}: another writer holds its lock; run "
                    "this again when it ends"
                )
            time.sleep(WRITER_POLL)
        yield
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.close()  # the session ends, and its lock with it


@contextlib.contextmanager
def _translated(where: str) -> Iterator[None]:
    """psycopg's errors as :class:`StorageError` naming the journal (never a password)."""
    try:
        yield
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StorageError(f"journal {where}: {reason}") from exc


def create_schema(conn: psycopg.Connection[Any], schema: str) -> bool:
    """The schema's tables, made once (the triggers only with a new entries table);
    True if the entries table was made now.  Serialised by an advisory lock, so two
    workers opening a new journal at once make it once."""
    s = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"journal:{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {s}").format(s=s))
        made = conn.execute("SELECT to_regclass(%s)", (f"{schema}.entries",)).fetchone()
        fresh = made is None or made[0] is None
        if fresh:
            conn.execute(sql.SQL(ENTRIES).format(s=s))  # type: ignore[arg-type]
            conn.execute(sql.SQL(GUARD).format(s=s))  # type: ignore[arg-type]
            for statement in TRIGGER_SQL.values():
                conn.execute(sql.SQL(statement).format(s=s))  # type: ignore[arg-type]
        conn.execute(sql.SQL(STATE).format(s=s))  # type: ignore[arg-type]
        # the version of the reducer that folded the state and its settings (``rule``;
        # one row; none: 0, no rule)
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {s}.state_version (version INTEGER NOT NULL)"
            ).format(s=s)
        )
        conn.execute(
            sql.SQL("ALTER TABLE {s}.state_version ADD COLUMN IF NOT EXISTS rule TEXT").format(s=s)
        )
        # what the status page's last times read (a journal made before it had none)
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS entries_kind ON {s}.entries (kind)").format(s=s)
        )
        # the few entries declaring a module's field names (journal.names.DECLARED)
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS entries_names ON {s}.entries (seq) "
                "WHERE substr(fields, 1, 2) = '[['"
            ).format(s=s)
        )
    return fresh


def _stored_state_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The version of the reducer that folded the schema's state (0: unversioned)."""
    row = conn.execute(
        sql.SQL("SELECT version FROM {s}.state_version").format(s=sql.Identifier(schema))
    ).fetchone()
    return int(row[0]) if row else 0


def _stored_state_rule(conn: psycopg.Connection[Any], schema: str) -> str | None:
    """The settings the reducer folded the schema's state with (None: none recorded)."""
    row = conn.execute(
        sql.SQL("SELECT rule FROM {s}.state_version").format(s=sql.Identifier(schema))
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _store_state_version(
    conn: psycopg.Connection[Any], schema: str, version: int, rule: str | None
) -> None:
    """Record the state's version and rule, in the caller's transaction (they commit with
    the state)."""
    s = sql.Identifier(schema)
    conn.execute(sql.SQL("DELETE FROM {s}.state_version").format(s=s))
    conn.execute(
        sql.SQL("INSERT INTO {s}.state_version (version, rule) VALUES (%s, %s)").format(s=s),
        (version, rule),
    )


def _entry_filter(
    *,
    since: int = 0,
    module: str | None = None,
    rid: str | None = None,
    rids: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
) -> tuple[str, list[Any]]:
    where = ["seq > %s"]
    params: list[Any] = [since]
    for column, value in (("module", module), ("rid", rid)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if rids is not None:
        where.append("rid = ANY(%s)")
        params.append(list(rids))
    if kinds:
        where.append("kind = ANY(%s)")
        params.append([str(k) for k in kinds])
    return " AND ".join(where), params


def _conflict_row(row: Sequence[Any]) -> dict[str, Any]:
    cid, module, rid, field, status, data = row
    return {
        "id": int(cid),
        "module": module,
        "rid": rid,
        "field": field,
        "status": status,
        "data": loads(data),
    }


def _conflict_filter(
    *, status: str | None, module: str | None, rid: str | None
) -> tuple[str, list[Any]]:
    return conflict_filter(status=status, module=module, rid=rid, mark="%s")


class PostgresView:
    """The :class:`~journal.protocols.View` over one schema's state tables, and the queries
    the journal answers from them.  Records and links a fold writes are kept and written
    by :meth:`flush` in one batch (a record touched by several entries of an append is
    encoded and written once), which the journal calls at the end of every append, in its
    transaction; cursors and conflicts go to the database at once.  Decoded record states
    are kept (up to ``cache_size``, the last used) so a batch read by :meth:`preload` is
    not read again a record at a time; the journal forgets them when another writer moved
    the head, and on a rollback, as SQLite's journal does."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        schema: str,
        reducer: Reducer,
        cache_size: int = 20_000,
    ) -> None:
        self.conn = conn
        self.reducer = reducer
        self.cache_size = cache_size
        self._s = sql.Identifier(schema)
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._dirty: dict[tuple[str, str], Any] = {}
        self._links: list[tuple[str, str, str, str, str]] = []
        # records known not to exist (a preload found no row): spares one query each
        self._absent: set[tuple[str, str]] = set()
        self.names: Any = None  # the journal's field names (journal.names)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._s)  # type: ignore[arg-type]

    def _remember(self, key: tuple[str, str], state: Any) -> None:
        self._cache[key] = state
        self._cache.move_to_end(key)
        self._absent.discard(key)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Drop every decoded state kept (another writer may have changed them, or a
        rollback undid them) and the writes not flushed."""
        self._cache.clear()
        self._absent.clear()
        self._dirty.clear()
        self._links.clear()

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
            self._q("SELECT state FROM {s}.records WHERE module = %s AND rid = %s"),
            (module, rid),
        ).fetchone()
        if row is None:
            return None
        state = self.reducer.decode(row[0])
        self._remember(key, state)
        return state

    def preload(self, module: str, rids: Sequence[str]) -> None:
        """Decode many records in one query (the planner reads a batch at a time)."""
        missing = sorted(
            {
                r
                for r in rids
                if (module, r) not in self._dirty
                and (module, r) not in self._cache
                and (module, r) not in self._absent
            }
        )
        if not missing:
            return
        self._absent.update((module, r) for r in missing)
        rows = self.conn.execute(
            self._q("SELECT rid, state FROM {s}.records WHERE module = %s AND rid = ANY(%s)"),
            (module, missing),
        )
        decode = self.reducer.decode
        for rid, text in rows:
            self._remember((module, rid), decode(text))

    def prefetch(self, entries: Iterable[Entry]) -> None:
        """Read the stored states of the records ``entries`` are about that are not in
        memory yet, a query per module, before an append folds them (the fold then finds
        each in memory, or known absent, instead of a query each)."""
        wanted: dict[str, set[str]] = {}
        for entry in entries:
            if entry.rid is not None:
                wanted.setdefault(entry.module, set()).add(entry.rid)
        for module, rids in wanted.items():
            self.preload(module, sorted(rids))

    def put_record(self, module: str, rid: str, state: Any) -> None:
        self._dirty[(module, rid)] = state
        self._absent.discard((module, rid))

    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None:
        self._links.append((module, side, str(side_id), rid, status))

    def flush(self) -> None:
        """Write the records and links kept since the last flush, each record once."""
        # what a bulk read found missing is kept for the append only (as SQLite's view, for
        # its transaction): the rids of entries no record is made of would pile up
        self._absent.clear()
        if self._dirty:
            encode = self.reducer.encode
            rows = []
            for (module, rid), state in self._dirty.items():
                encoded: Encoded = encode(state)
                text, key, attention, *more = encoded
                near, status, marks, label, ref = (*more, None, None, None, None, None)[:5]
                rows.append(
                    (module, rid, key, 1 if attention else 0, text, near, status, marks, label, ref)
                )
                self._remember((module, rid), state)
            self._dirty.clear()
            with self.conn.cursor() as cur:
                cur.executemany(
                    self._q(
                        "INSERT INTO {s}.records (module, rid, key, attention, state, near, "
                        "status, marks, label, ref) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (module, rid) DO UPDATE SET key = excluded.key, "
                        "attention = excluded.attention, state = excluded.state, "
                        "near = excluded.near, status = excluded.status, marks = excluded.marks, "
                        "label = excluded.label, ref = excluded.ref"
                    ),
                    rows,
                )
        if self._links:
            links, self._links = self._links, []
            with self.conn.cursor() as cur:
                cur.executemany(
                    self._q(
                        "INSERT INTO {s}.links (module, side, side_id, rid, status) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (module, side, side_id) "
                        "DO UPDATE SET rid = excluded.rid, status = excluded.status"
                    ),
                    links,
                )

    def cursor(self, side: str, module: str) -> Any | None:
        row = self.conn.execute(
            self._q("SELECT value FROM {s}.cursors WHERE side = %s AND module = %s"),
            (side, module),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def set_cursor(self, side: str, module: str, value: Any) -> None:
        current = self.cursor(side, module)
        if current is not None and cursor_order(value) < cursor_order(current):
            raise CursorError(
                f"cursor of {side}/{module} may not go back from {current!r} to {value!r}"
            )
        self.conn.execute(
            self._q(
                "INSERT INTO {s}.cursors (side, module, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (side, module) DO UPDATE SET value = excluded.value"
            ),
            (side, module, json.dumps(value)),
        )

    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            self._q("SELECT id, module, rid, field, status, data FROM {s}.conflicts WHERE id = %s"),
            (conflict_id,),
        ).fetchone()
        return None if row is None else _conflict_row(row)

    def put_conflict(
        self, conflict_id: int, module: str, rid: str, field: str, status: str, data: Any
    ) -> None:
        self.conn.execute(
            self._q(
                "INSERT INTO {s}.conflicts (id, module, rid, field, status, data) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                "module = excluded.module, rid = excluded.rid, field = excluded.field, "
                "status = excluded.status, data = excluded.data"
            ),
            (conflict_id, module, rid, field, status, dumps(data)),
        )

    def drop_module(self, module: str) -> None:
        for cache in (self._cache, self._dirty):
            for key in [k for k in cache if k[0] == module]:
                del cache[key]
        self._links = [link for link in self._links if link[0] != module]
        self._absent = {k for k in self._absent if k[0] != module}
        for table in STATE_TABLES:
            self.conn.execute(self._q(f"DELETE FROM {{s}}.{table} WHERE module = %s"), (module,))

    def clear(self) -> None:
        self.forget()
        for table in STATE_TABLES:
            self.conn.execute(self._q(f"DELETE FROM {{s}}.{table}"))

    def links(self, module: str, rid: str) -> dict[str, tuple[str, str]]:
        rows = self.conn.execute(
            self._q("SELECT side, side_id, status FROM {s}.links WHERE module = %s AND rid = %s"),
            (module, rid),
        )
        return {side: (side_id, status) for side, side_id, status in rows}

    def cursors(self) -> dict[tuple[str, str], Any]:
        rows = self.conn.execute(self._q("SELECT side, module, value FROM {s}.cursors"))
        return {(side, module): json.loads(value) for side, module, value in rows}

    # -- queries (as journal.view.SQLiteView answers them; text ordered bytewise) ----------

    def attention(self, module: str, *, after: str = "", limit: int = 1000) -> list[str]:
        rows = self.conn.execute(
            self._q(
                "SELECT rid FROM {s}.records WHERE module = %s AND attention = 1 "
                'AND rid > %s COLLATE "C" ORDER BY rid COLLATE "C" LIMIT %s'
            ),
            (module, after, limit),
        )
        return [r[0] for r in rows]

    def rids_by(self, column: str, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per value of ``column`` (key, near or ref), for the values given."""
        assert column in ("key", "near", "ref")
        found: dict[str, list[str]] = {}
        rows = self.conn.execute(
            self._q(
                f"SELECT {column}, rid FROM {{s}}.records WHERE module = %s AND {column} = ANY(%s)"
            ),
            (module, sorted(set(keys))),
        )
        for key, rid in rows:
            found.setdefault(key, []).append(rid)
        for rids in found.values():
            rids.sort()
        return found

    def records(
        self, module: str | None = None, *, marked: bool = False
    ) -> Iterator[tuple[str, str, Any]]:
        """Every record as ``(module, rid, state)`` by module and rid, read a batch at a
        time (keyset queries: no statement stays open while the caller works)."""
        if module is None:
            found = self.conn.execute(
                self._q('SELECT DISTINCT module COLLATE "C" FROM {s}.records ORDER BY 1')
            )
            modules = [r[0] for r in found.fetchall()]
        else:
            modules = [module]
        query = self._q(
            "SELECT rid, state FROM {s}.records WHERE module = %s AND rid > %s"
            + (" AND marks IS NOT NULL" if marked else "")
            + ' ORDER BY rid COLLATE "C" LIMIT %s'
        )
        decode = self.reducer.decode
        for name in modules:
            after = ""
            while True:
                rows = self.conn.execute(query, (name, after, BATCH)).fetchall()
                for rid, text in rows:
                    yield name, rid, decode(text)
                if len(rows) < BATCH:
                    break
                after = rows[-1][0]

    def tallies(self) -> dict[str, dict[tuple[str | None, str | None], int]]:
        """Per module, how many records have each (status, marks)."""
        found: dict[str, dict[tuple[str | None, str | None], int]] = {}
        rows = self.conn.execute(
            self._q("SELECT module, status, marks, count(*) FROM {s}.records GROUP BY 1, 2, 3")
        )
        for module, status, marks, n in rows:
            counts = found.setdefault(module, {})
            key = (status or None, marks or None)
            counts[key] = counts.get(key, 0) + int(n)
        return found

    def rids_for(self, module: str, side: str, side_ids: Sequence[str]) -> dict[str, str]:
        rows = self.conn.execute(
            self._q(
                "SELECT side_id, rid FROM {s}.links "
                "WHERE module = %s AND side = %s AND side_id = ANY(%s)"
            ),
            (module, side, sorted({str(i) for i in side_ids})),
        )
        return {side_id: rid for side_id, rid in rows}

    def module_links(self, module: str) -> dict[tuple[str, str], tuple[str, str]]:
        rows = self.conn.execute(
            self._q("SELECT side, side_id, rid, status FROM {s}.links WHERE module = %s"),
            (module,),
        )
        return {(side, side_id): (rid, status) for side, side_id, rid, status in rows}

    def link_counts(self) -> dict[tuple[str, str, str], int]:
        rows = self.conn.execute(
            self._q("SELECT module, side, status, count(*) FROM {s}.links GROUP BY 1, 2, 3")
        )
        return {(m, s, st): int(n) for m, s, st, n in rows}

    def conflicts(
        self,
        *,
        status: str | None = None,
        module: str | None = None,
        rid: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        where, params = _conflict_filter(status=status, module=module, rid=rid)
        text = "SELECT id, module, rid, field, status, data FROM {s}.conflicts" + where
        text += " ORDER BY id"
        if limit is not None:
            text += f" LIMIT {max(int(limit), 0)}"
        if offset:
            text += f" OFFSET {max(int(offset), 0)}"
        return [_conflict_row(r) for r in self.conn.execute(self._q(text), params)]

    def conflict_total(self, *, status: str | None = None, module: str | None = None) -> int:
        where, params = _conflict_filter(status=status, module=module, rid=None)
        row = self.conn.execute(
            self._q("SELECT count(*) FROM {s}.conflicts" + where), params
        ).fetchone()
        return int(row[0]) if row else 0

    def conflict_counts(self, *, status: str | None = None) -> dict[str, int]:
        where, params = _conflict_filter(status=status, module=None, rid=None)
        rows = self.conn.execute(
            self._q(
                "SELECT module, count(*) FROM {s}.conflicts"
                + where
                + ' GROUP BY module ORDER BY module COLLATE "C"'
            ),
            params,
        )
        return {module: int(n) for module, n in rows}

    def table_counts(self) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for table in STATE_TABLES:
            rows = self.conn.execute(
                self._q(f"SELECT module, count(*) FROM {{s}}.{table} GROUP BY module")
            )
            for module, n in rows:
                found.setdefault(module, dict.fromkeys(STATE_TABLES, 0))[table] = int(n)
        return dict(sorted(found.items()))


class PostgresAnchors:
    """A journal's anchors (:class:`~journal.anchors.AnchorLog`): rows of
    ``journal_anchors.anchors`` keyed by the journal's schema, outside that schema, made
    on first use and refused UPDATE and DELETE by a trigger."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str, where: str) -> None:
        self.conn = conn
        self.schema = schema
        self.journal_where = where

    @property
    def where(self) -> str:
        return f"anchors of {self.journal_where} (table {ANCHORS_SCHEMA}.anchors)"

    def _made(self) -> bool:
        row = self.conn.execute("SELECT to_regclass('journal_anchors.anchors')").fetchone()
        return row is not None and row[0] is not None

    def last(self) -> Anchor | None:
        with _translated(self.journal_where):
            if not self._made():
                return None
            row = self.conn.execute(
                "SELECT seq, hash, at FROM journal_anchors.anchors WHERE journal = %s "
                "ORDER BY seq DESC LIMIT 1",
                (self.schema,),
            ).fetchone()
        return None if row is None else _anchor(row)

    def read(self) -> tuple[list[Anchor], list[str]]:
        with _translated(self.journal_where):
            if not self._made():
                return [], []
            rows = self.conn.execute(
                "SELECT seq, hash, at FROM journal_anchors.anchors WHERE journal = %s ORDER BY seq",
                (self.schema,),
            ).fetchall()
        anchors, problems = [], []
        for row in rows:
            try:
                anchors.append(_anchor(row))
            except ValueError as exc:
                problems.append(f"{self.where}: the anchor of entry {row[0]} is not one ({exc})")
        return anchors, problems

    def add(self, anchor: Anchor) -> None:
        data = anchor.to_json()
        with _translated(self.journal_where), self.conn.transaction():
            if not self._made():
                self.conn.execute("SELECT pg_advisory_xact_lock(hashtext('journal_anchors'))")
                self.conn.execute(ANCHORS)
            self.conn.execute(
                "INSERT INTO journal_anchors.anchors (journal, seq, hash, at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (self.schema, anchor.seq, anchor.hash, data["at"]),
            )


def _anchor(row: Sequence[Any]) -> Anchor:
    return Anchor.from_json(
        {"seq": int(row[0]), "hash": row[1], "at": row[2]}, source="anchors table"
    )


class PostgresJournal(KeyedChain):
    """An append-only journal in one schema of a PostgreSQL database (see the module)."""

    # the entries' format (journal.schema.entries_format): hashes as hex text, as SQLite's
    # format 1 (docs/postgres-journal-gaps.md)
    format = 1

    def __init__(
        self,
        location: str,
        reducer: Reducer,
        *,
        key: ChainKey | None = None,
        now: Now = _utcnow,
        rebuild_state: bool = True,
    ) -> None:
        conninfo, self.schema = split_location(location)
        self.rebuild_state = rebuild_state
        self.where = shown_location(conninfo, self.schema)
        self.reducer = reducer
        self.key = key
        self.now = now
        self.keyed_from: int | None = None
        self._depth = 0
        self.names = FieldNames(self._names_meta)  # compact fields' names (journal.names)
        with _translated(self.where):
            self.conn: psycopg.Connection[Any] = psycopg.connect(conninfo, autocommit=True)
        try:
            with _translated(self.where):
                create_schema(self.conn, self.schema)
            self.view = PostgresView(self.conn, self.schema, reducer)
            self.view.names = self.names
            self._load_tail()
            self._upgrade_state_when_writable()
        except BaseException:
            self.close()
            raise

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))  # type: ignore[arg-type]

    def _names_meta(self) -> list[tuple[str, str]]:
        """The entries declaring field names (:mod:`journal.names`): module and fields."""
        with _translated(self.where):
            rows = self.conn.execute(
                self._q(f"SELECT module, fields FROM {{s}}.entries WHERE {DECLARED} ORDER BY seq")
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    # -- the head and the chain -------------------------------------------------------------

    def _load_tail(self) -> None:
        self.names.forget()  # names a rollback undid, or another connection added
        with _translated(self.where):
            row = self.conn.execute(
                self._q("SELECT seq, hash FROM {s}.entries ORDER BY seq DESC LIMIT 1")
            ).fetchone()
            self._last_seq: int = int(row[0]) if row else 0
            self._last_hash: str = row[1] if row else GENESIS
            marker = self.conn.execute(
                self._q(
                    "SELECT seq FROM {s}.entries WHERE module = %s AND rid = %s AND kind = %s "
                    "ORDER BY seq LIMIT 1"
                ),
                (JOURNAL_MODULE, CHAIN_RID, Kind.CONFIG.value),
            ).fetchone()
            first = self.conn.execute(
                self._q(f"SELECT {ENTRY_COLUMNS} FROM {{s}}.entries ORDER BY seq LIMIT 1")
            ).fetchone()
        if marker is not None:
            self.keyed_from = int(marker[0])
        elif first is None:
            self.keyed_from = 1 if self.key is not None else None
        elif row_hash(first) == first[11]:
            self.keyed_from = None
        else:
            self.keyed_from = 1

    @property
    def last_seq(self) -> int:
        return self._last_seq

    # -- the key and the materialised state's version --------------------------------------

    def use_key(self, key: ChainKey | None) -> None:
        """Chain with ``key`` from now on (the caller found it outside the journal)."""
        self.key = key
        self._load_tail()
        self._upgrade_state_when_writable()

    @property
    def state_version(self) -> int:
        """The version of the reducer that folded the stored state (0: unversioned)."""
        with _translated(self.where):
            return _stored_state_version(self.conn, self.schema)

    @property
    def needs_state_upgrade(self) -> bool:
        """The reducer's version or rule differs from the stored state's."""
        wanted = reducer_version(self.reducer)
        if wanted is None:
            return False
        if wanted != self.state_version:
            return True
        rule = reducer_rule(self.reducer)
        with _translated(self.where):
            return rule is not None and rule != _stored_state_rule(self.conn, self.schema)

    def upgrade_state(self, *, progress: Progress | None = None) -> Entry | None:
        """Rebuild the materialised state with the reducer if its version differs from the
        stored one, journaled (a ``config`` entry of ``@journal``, rid ``@state``) in one
        transaction with the rebuilt state and the new version, as
        :meth:`journal.Journal.upgrade_state`.  None if there was nothing to rebuild;
        :class:`ChainKeyError` if the journal cannot be written."""
        wanted = reducer_version(self.reducer)
        if wanted is None:
            return None
        rule = reducer_rule(self.reducer)
        with self.transaction():
            old = _stored_state_version(self.conn, self.schema)
            old_rule = _stored_state_rule(self.conn, self.schema)
            if old == wanted and (rule is None or rule == old_rule):
                return None
            if self._last_seq == 0:
                _store_state_version(self.conn, self.schema, wanted, rule)
                return None
            self._append_key()  # refuse before the fold, not after it
            last = self._last_seq
            self._refold(progress)
            _store_state_version(self.conn, self.schema, wanted, rule)
            reason = upgrade_reason(old, wanted, old_rule, rule)
            upgraded = StateUpgraded(old=old, new=wanted, entries=(1, last), reason=reason)
            (entry,) = self.append([new_entry(upgraded, JOURNAL_MODULE, STATE_RID)])
        return entry

    # -- transactions and appends ------------------------------------------------------------

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[PostgresJournal]:
        """A read transaction: every read inside sees the journal as it was when it began,
        whatever other connections commit meanwhile (a sync running beside a verify), and
        takes no write lock.  Nothing may be appended inside; inside a transaction already,
        that one is the moment."""
        if self._depth or self.conn.info.transaction_status != TransactionStatus.IDLE:
            yield self
            return
        with _translated(self.where), self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self._load_tail()  # the first read: the moment is now, and the tail is its own
            yield self
        self._load_tail()  # the journal as it is now, for what follows

    @contextlib.contextmanager
    def bulk_state(self) -> Iterator[None]:
        """Nothing is put aside here (SQLite's journal writes a large batch of pulls
        without the state's secondary indexes, :meth:`journal.Journal.bulk_state`)."""
        yield

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresJournal]:
        """One atomic unit; nested calls are savepoints.  The outermost one queues behind
        any other writer of this journal, then re-reads the head."""
        depth = self._depth
        try:
            with _translated(self.where), self.conn.transaction():
                if depth == 0:
                    self.conn.execute(self._q("LOCK TABLE {s}.entries IN SHARE ROW EXCLUSIVE MODE"))
                    known = (self._last_seq, self._last_hash)
                    self._load_tail()
                    if (self._last_seq, self._last_hash) != known:
                        self.view.forget()  # another writer committed: the states kept may be stale
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth = depth
        except BaseException:
            self.view.forget()  # the states kept may be the rolled back ones
            with contextlib.suppress(psycopg.Error, StorageError):
                self._load_tail()  # what the rollback left
            raise

    def append(self, entries: Iterable[NewEntry]) -> list[Entry]:
        """Number, chain and store entries, and fold them into the materialised state."""
        if self._depth == 0:
            with self.transaction():
                return self.append(entries)
        key = self._append_key()
        try:
            rows, stored = chained_rows(
                entries,
                seq=self._last_seq,
                prev=self._last_hash,
                key=key,
                now=self.now(),
                texts=self.names.texts,
            )
        except BaseException:
            self.names.forget()  # names the entries declared were not stored
            raise
        if not rows:
            return []
        with _translated(self.where), self.conn.cursor() as cur:
            cur.executemany(
                self._q(
                    f"INSERT INTO {{s}}.entries ({ENTRY_COLUMNS}) VALUES ({', '.join(['%s'] * 12)})"
                ),
                rows,
            )
            if getattr(self.reducer, "reads_state", True):
                self.view.prefetch(stored)  # the batch's records in bulk, not a query each
            for entry in stored:
                self.reducer.apply(self.view, entry)
            self.view.flush()
        self._last_seq, self._last_hash = stored[-1].seq, stored[-1].hash
        return stored

    # -- reading ------------------------------------------------------------------------------

    def read(
        self,
        *,
        since: int = 0,
        module: str | None = None,
        rid: str | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
        descending: bool = False,
        rids: Sequence[str] | None = None,
        offset: int = 0,
        until: int | None = None,
    ) -> Iterator[Entry]:
        """Entries with ``seq > since`` (and ``seq <= until``), in order (newest first with
        ``descending``), optionally of one module / record (or ``rids``) / kinds;
        ``offset`` skips that many (with ``limit``: one page)."""
        where, params = _entry_filter(since=since, module=module, rid=rid, rids=rids, kinds=kinds)
        if until is not None:
            where += " AND seq <= %s"
            params.append(until)
        order = " ORDER BY seq DESC" if descending else " ORDER BY seq"
        select = f"SELECT {ENTRY_COLUMNS} FROM {{s}}.entries WHERE {where}"
        if limit is not None or offset:  # one page: one query
            text = select + order
            if limit is not None:
                text += f" LIMIT {int(limit)}"
            if offset:
                text += f" OFFSET {max(int(offset), 0)}"
            with _translated(self.where):
                rows = self.conn.execute(self._q(text), params).fetchall()
            yield from (entry_from_row(row, self.names) for row in rows)
            return
        # all of them: READ_BATCH rows a query, each starting past the last seq read
        # (memory stays one batch, no statement stays open while the caller works)
        text = select + (" AND seq < %s" if descending else " AND seq > %s") + order + " LIMIT %s"
        query = self._q(text)
        mark = None
        while True:
            bound = mark if mark is not None else (2**63 - 1 if descending else since)
            with _translated(self.where):
                rows = self.conn.execute(query, (*params, bound, READ_BATCH)).fetchall()
            yield from (entry_from_row(row, self.names) for row in rows)
            if len(rows) < READ_BATCH:
                return
            mark = rows[-1][0]

    def stream(
        self, *, since: int = 0, batch: int = 5_000, wire_fields: bool = False
    ) -> Iterator[Entry]:
        """Every entry with ``seq > since``, in order, ``batch`` rows a query
        (``wire_fields``: fields in their wire form, :class:`~journal.entry.EntryDecoder`)."""
        for rows in self.row_batches(since=since, batch=batch):
            decoder = EntryDecoder(wire_fields=wire_fields, names=self.names)
            yield from map(decoder.entry, rows)

    def history(self, rid: str, *, module: str | None = None) -> Iterator[Entry]:
        """A record's entries, with the batch entries (``rid`` NULL) that name it, by seq."""
        needle = "%" + json.dumps(rid).replace("%", "").replace("_", "") + "%"
        # two lookups (the record's entries by its index, the intents by kind), not one
        # walk over every entry the OR of both would make
        own = f"SELECT {ENTRY_COLUMNS} FROM {{s}}.entries WHERE rid = %s"
        named = (
            f"SELECT {ENTRY_COLUMNS} FROM {{s}}.entries WHERE rid IS NULL AND kind = 'intent' "
            "AND meta LIKE %s ESCAPE ''"
        )
        params: list[Any] = [rid, needle]
        if module is not None:
            own += " AND module = %s"
            named += " AND module = %s"
            params = [rid, module, needle, module]
        text = f"{own} UNION ALL {named} ORDER BY seq"
        with _translated(self.where):
            rows = self.conn.execute(self._q(text), params).fetchall()
        for row in rows:
            entry = entry_from_row(row, self.names)
            if entry.rid == rid:
                yield entry
                continue
            intent = payload_of(entry)
            if (isinstance(intent, WriteIntent) and rid in intent.writes) or (
                isinstance(intent, SettledIntent) and rid in intent.settled
            ):
                yield entry

    def chain_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]:
        """What a chain check reads of the rows with ``seq > since``
        (:func:`journal.entry.chain_row`), ``batch`` of them a query."""
        for rows in self.row_batches(since=since, batch=batch):
            yield [chain_row(row) for row in rows]

    def row_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]:
        """The stored rows with ``seq > since`` in order, ``batch`` of them a query (keyset
        queries by seq: memory stays one batch, no statement stays open between them)."""
        query = self._q(
            f"SELECT {ENTRY_COLUMNS} FROM {{s}}.entries WHERE seq > %s ORDER BY seq LIMIT %s"
        )
        while True:
            with _translated(self.where):
                rows = self.conn.execute(query, (since, batch)).fetchall()
            if not rows:
                return
            yield rows
            since = rows[-1][0]

    def head(self) -> tuple[int, str, dt.datetime | None]:
        with _translated(self.where):
            row = self.conn.execute(
                self._q("SELECT seq, hash, at FROM {s}.entries ORDER BY seq DESC LIMIT 1")
            ).fetchone()
        if row is None:
            return 0, GENESIS, None
        return int(row[0]), row[1], dt.datetime.fromisoformat(row[2])

    def count(self, *, module: str | None = None, rids: Sequence[str] | None = None) -> int:
        """How many entries the journal holds (of one module, and of these ``rids``)."""
        where, params = _entry_filter(module=module, rids=rids)
        with _translated(self.where):
            row = self.conn.execute(
                self._q(f"SELECT count(*) FROM {{s}}.entries WHERE {where}"), params
            ).fetchone()
        return int(row[0]) if row else 0

    def entry_counts(self) -> dict[str, int]:
        """Entries per module (the journal's own ``@``-modules included), by module name."""
        with _translated(self.where):
            rows = self.conn.execute(
                self._q("SELECT module, count(*) FROM {s}.entries GROUP BY module")
            ).fetchall()
        return {module: int(n) for module, n in sorted(rows)}

    def last_times(self, *, kinds: Sequence[str]) -> dict[str, dt.datetime]:
        """Per module, when its newest entry of one of ``kinds`` was written (modules
        without one are left out)."""
        if not kinds:
            return {}
        with _translated(self.where):
            rows = self.conn.execute(
                self._q(
                    'SELECT module, max(at COLLATE "C") FROM {s}.entries '
                    "WHERE kind = ANY(%s) GROUP BY module"
                ),
                ([str(k) for k in kinds],),
            ).fetchall()
        # ``at`` is fixed-width UTC text (utc_text): its bytewise order is time order
        return {module: dt.datetime.fromisoformat(at) for module, at in sorted(rows)}

    # -- the materialised state ----------------------------------------------------------------

    def preload(self, module: str, rids: Sequence[str]) -> None:
        """Read many records' states in one query (the planner reads a batch at a time)."""
        with _translated(self.where):
            self.view.preload(module, rids)

    def attention(self, module: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """Rids of records that need planning, in rid order (paged by ``after``)."""
        with _translated(self.where):
            return self.view.attention(module, after=after, limit=limit)

    def with_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per match key, for the keys given."""
        with _translated(self.where):
            return self.view.rids_by("key", module, keys)

    def with_refs(self, module: str, refs: Sequence[str]) -> dict[str, list[str]]:
        """Rids per reference (what a record belongs to, as its reducer said)."""
        with _translated(self.where):
            return self.view.rids_by("ref", module, refs)

    def with_near_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per near key (the looser second key a reducer may give)."""
        with _translated(self.where):
            return self.view.rids_by("near", module, keys)

    def records(
        self, module: str | None = None, *, marked: bool = False
    ) -> Iterator[tuple[str, str, Any]]:
        """Every record as ``(module, rid, state)``, streamed (``marked``: only those the
        reducer gave marks)."""
        with _translated(self.where):
            yield from self.view.records(module, marked=marked)

    def record_tallies(self) -> dict[str, RecordTally]:
        """Per module, its records counted by status and by mark (each word of the marks
        the reducer gave), no state decoded."""
        with _translated(self.where):
            found = self.view.tallies()
        tallies: dict[str, RecordTally] = {}
        for module, counts in sorted(found.items()):
            tally = tallies[module] = RecordTally()
            for (status, marks), n in counts.items():
                tally.statuses[status] += n
                for word in (marks or "").split():
                    tally.marks[word] += n
        return tallies

    def rid_for(self, module: str, side: str, side_id: str) -> str | None:
        """The record a side's record is linked to (None: not linked)."""
        return self.rids_for(module, side, [side_id]).get(str(side_id))

    def rids_for(self, module: str, side: str, side_ids: Sequence[str]) -> dict[str, str]:
        """Side id -> rid for those of ``side_ids`` that are linked."""
        with _translated(self.where):
            return self.view.rids_for(module, side, side_ids)

    def module_links(self, module: str) -> dict[tuple[str, str], tuple[str, str]]:
        """Every link of a module: ``(side, side id)`` -> ``(rid, status)``."""
        with _translated(self.where):
            return self.view.module_links(module)

    def link_counts(self) -> dict[tuple[str, str, str], int]:
        """Links per ``(module, side, status)``."""
        with _translated(self.where):
            return self.view.link_counts()

    def conflicts(
        self,
        *,
        status: str | None = None,
        module: str | None = None,
        rid: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Conflicts by id, optionally of one status / module / record; ``limit`` and
        ``offset`` read one page of them."""
        with _translated(self.where):
            return self.view.conflicts(
                status=status, module=module, rid=rid, limit=limit, offset=offset
            )

    def conflict_total(self, *, status: str | None = None, module: str | None = None) -> int:
        """How many conflicts there are of one ``status`` and ``module`` (None: any)."""
        with _translated(self.where):
            return self.view.conflict_total(status=status, module=module)

    def conflict_counts(self, *, status: str | None = None) -> dict[str, int]:
        """Conflicts per module, of one ``status`` (``"open"``) or of all."""
        with _translated(self.where):
            return self.view.conflict_counts(status=status)

    def state_counts(self) -> dict[str, dict[str, int]]:
        """Per module (sorted), how many records, links, cursors and conflicts it holds."""
        with _translated(self.where):
            return self.view.table_counts()

    def labelled(
        self, modules: Sequence[str], *, holding: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[int, list[tuple[str, str, str]]]:
        """Records of ``modules`` by the label their reducer stored: how many hold
        ``holding`` in it ("" for all), and ``limit`` of them from ``offset``, as
        ``(label, rid, module)`` ordered so (bytewise), with no state decoded."""
        names = sorted(set(modules))
        if not names:
            return 0, []
        where = "module = ANY(%s) AND label IS NOT NULL"
        params: list[Any] = [names]
        if holding:
            where += " AND strpos(label, %s) > 0"
            params.append(holding)
        with _translated(self.where):
            rows = self.conn.execute(
                self._q(
                    f"SELECT label, rid, module FROM {{s}}.records WHERE {where} "
                    'ORDER BY label COLLATE "C", rid COLLATE "C", module COLLATE "C" '
                    "LIMIT %s OFFSET %s"
                ),
                (*params, max(0, int(limit)), max(0, int(offset))),
            ).fetchall()
            total = self.conn.execute(
                self._q(f"SELECT count(*) FROM {{s}}.records WHERE {where}"), params
            ).fetchone()
        return (int(total[0]) if total else 0), [(a, b, c) for a, b, c in rows]

    def first_label(self, module: str) -> tuple[str, str] | None:
        """The first of ``module``'s labels in order and its record's rid (None: none)."""
        with _translated(self.where):
            row = self.conn.execute(
                self._q(
                    "SELECT label, rid FROM {s}.records WHERE module = %s AND label IS NOT NULL "
                    'ORDER BY label COLLATE "C", rid COLLATE "C" LIMIT 1'
                ),
                (module,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def record(self, module: str, rid: str) -> Any | None:
        with _translated(self.where):
            return self.view.record(module, rid)

    def links(self, module: str, rid: str) -> dict[str, tuple[str, str]]:
        with _translated(self.where):
            return self.view.links(module, rid)

    def cursor(self, side: str, module: str) -> Any | None:
        with _translated(self.where):
            return self.view.cursor(side, module)

    def cursors(self) -> dict[tuple[str, str], Any]:
        with _translated(self.where):
            return self.view.cursors()

    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        with _translated(self.where):
            return self.view.conflict(conflict_id)

    def missing_triggers(self) -> list[str]:
        """The append-only triggers that are gone or disabled (disabling is a bypass too)."""
        with _translated(self.where):
            rows = self.conn.execute(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND "
                "c.relname = 'entries' AND NOT t.tgisinternal AND t.tgenabled <> 'D'",
                (self.schema,),
            ).fetchall()
        have = {r[0] for r in rows}
        return [name for name in TRIGGERS if name not in have]

    def repair_triggers(self) -> Entry | None:
        """Make the append-only triggers that are gone or disabled again and journal the
        repair (None if none was missing), as :meth:`journal.Journal.repair_triggers`."""
        with self.transaction():
            missing = self.missing_triggers()
            if not missing:
                return None
            with _translated(self.where):
                self.conn.execute(self._q(GUARD))
                for name in missing:
                    self.conn.execute(self._q(f"DROP TRIGGER IF EXISTS {name} ON {{s}}.entries"))
                    self.conn.execute(self._q(TRIGGER_SQL[name]))
            repaired = TriggersRepaired(recreated=tuple(missing))
            (entry,) = self.append([new_entry(repaired, JOURNAL_MODULE, "@triggers")])
        return entry

    def anchor_log(self) -> PostgresAnchors:
        """The journal's anchors, in a table outside its schema (:class:`PostgresAnchors`)."""
        return PostgresAnchors(self.conn, self.schema, self.where)

    def hashes(self, seqs: Sequence[int]) -> dict[int, str]:
        """The stored hash of each of ``seqs`` the journal holds."""
        with _translated(self.where):
            rows = self.conn.execute(
                self._q("SELECT seq, hash FROM {s}.entries WHERE seq = ANY(%s)"),
                (sorted(set(seqs)),),
            ).fetchall()
        return {int(seq): digest for seq, digest in rows}

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresJournal({self.where!r})"


class PostgresBackend:
    """Journals in PostgreSQL schemas; a location is ``CONNINFO#SCHEMA``."""

    name = "postgres"

    def open(
        self,
        location: str,
        reducer: Reducer,
        *,
        key: ChainKey | None = None,
        now: Now | None = None,
    ) -> PostgresJournal:
        return PostgresJournal(location, reducer, key=key, now=now or _utcnow)

    def verify(
        self, journal: JournalStorage, progress: Callable[[int, int], None] | None = None
    ) -> Verification:
        """The append-only triggers, the hash chain, then the state against a replay of
        the entries into a scratch schema, compared table by table in SQL."""
        own = _own(journal)
        with own.snapshot():  # every step below sees one moment
            problems: list[str] = []
            missing = own.missing_triggers()
            if missing:
                problems.append(
                    f"the append-only triggers {', '.join(missing)} are missing or disabled: "
                    "entries could be changed in place"
                )
            storage_ok = not problems
            chain_ok, first_bad = True, None
            try:
                n = check_range(own, 1, progress)
            except IntegrityError as exc:
                chain_ok, first_bad, n = False, exc.seq, own.count()
                problems.append(str(exc))
            state_ok = False
            if chain_ok and storage_ok:
                difference = _replay_difference(own)
                state_ok = difference is None
                if difference is not None:
                    problems.append(
                        f"materialised table {difference[0]} differs from a replay of the "
                        f"entries ({difference[1]})"
                    )
        return Verification(
            entries=n,
            chain_ok=chain_ok,
            state_ok=state_ok,
            first_bad_seq=first_bad,
            problem="; ".join(problems) or None,
            storage_ok=storage_ok,
            keyed_from=own.keyed_from,
            problems=tuple(problems),
        )

    def rebuild(self, journal: JournalStorage) -> int:
        """Throw the state away and fold every entry again, in one transaction."""
        own = _own(journal)
        with own.transaction():
            own.view.clear()
            return _fold(own.view, own)


def _own(journal: JournalStorage) -> PostgresJournal:
    if not isinstance(journal, PostgresJournal):
        raise TypeError(f"not a PostgreSQL journal: {journal!r}")
    return journal


def _fold(view: PostgresView, journal: PostgresJournal) -> int:
    """Fold every entry into ``view``, a batch at a time: the batch's records read in bulk
    first (a query per module, as an append does, not one a record), its writes flushed
    after."""
    names = journal.names
    rows = journal.row_batches()
    return fold(view, (entry_from_row(row, names) for batch in rows for row in batch))


def _replay_difference(journal: PostgresJournal) -> tuple[str, str] | None:
    """Fold the entries into a scratch schema and compare its tables with the live ones;
    the first difference as ``(table, row)``.  Rolled back: nothing of it stays."""
    scratch = f"{journal.schema}__replay"[:63]
    conn = journal.conn

    class Rollback(Exception):
        pass

    found: tuple[str, str] | None = None
    with _translated(journal.where), contextlib.suppress(Rollback), conn.transaction():
        s = sql.Identifier(scratch)
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {s} CASCADE").format(s=s))
        conn.execute(sql.SQL("CREATE SCHEMA {s}").format(s=s))
        conn.execute(sql.SQL(STATE).format(s=s))  # type: ignore[arg-type]
        _fold(PostgresView(conn, scratch, journal.reducer), journal)
        live = sql.Identifier(journal.schema)
        for table in STATE_TABLES:
            for a, b, label in ((live, s, "live only"), (s, live, "replay only")):
                row = conn.execute(
                    sql.SQL("SELECT * FROM {a}.{t} EXCEPT SELECT * FROM {b}.{t} LIMIT 1").format(
                        a=a, b=b, t=sql.Identifier(table)
                    )
                ).fetchone()
                if row is not None:
                    found = (table, f"{label}: {row!r}"[:500])
                    break
            if found is not None:
                break
        raise Rollback
    return found


# typed as the protocol: mypy checks the backend (and the journal it opens) conform
POSTGRES: JournalBackend = PostgresBackend()

__all__ = [
    "POSTGRES",
    "PostgresAnchors",
    "PostgresBackend",
    "PostgresJournal",
    "PostgresView",
    "create_schema",
    "journal_exists",
    "shown_location",
    "split_location",
    "writer_lock",
]
