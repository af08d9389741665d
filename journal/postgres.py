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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from journal.anchors import check_range
from journal.entry import (
    GENESIS,
    ChainKey,
    Entry,
    Kind,
    NewEntry,
    chain_row,
    chained_rows,
    dumps,
    entry_from_row,
    loads,
    row_hash,
)
from journal.errors import ChainKeyError, CursorError, IntegrityError, StorageError
from journal.protocols import Encoded, Reducer
from journal.replay import Verification
from journal.storage import JournalBackend, JournalStorage, Now
from journal.store import CHAIN_RID, JOURNAL_MODULE
from journal.view import cursor_order

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
CREATE FUNCTION {s}.entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal entries are append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON {s}.entries
    FOR EACH ROW EXECUTE FUNCTION {s}.entries_append_only();
CREATE TRIGGER entries_no_delete BEFORE DELETE ON {s}.entries
    FOR EACH ROW EXECUTE FUNCTION {s}.entries_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON {s}.entries
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.entries_append_only();
"""
TRIGGERS = ("entries_no_delete", "entries_no_truncate", "entries_no_update")

STATE = """
CREATE TABLE IF NOT EXISTS {s}.records (
    module TEXT NOT NULL,
    rid TEXT NOT NULL,
    key TEXT,
    attention INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    near TEXT,
    PRIMARY KEY (module, rid)
);
CREATE TABLE IF NOT EXISTS {s}.links (
    module TEXT NOT NULL,
    side TEXT NOT NULL,
    side_id TEXT NOT NULL,
    rid TEXT NOT NULL,
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
    rid TEXT NOT NULL,
    field TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
"""
STATE_TABLES = ("records", "links", "cursors", "conflicts")


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
        conn.execute(sql.SQL(STATE).format(s=s))  # type: ignore[arg-type]
    return fresh


class PostgresView:
    """The :class:`~journal.protocols.View` over one schema's state tables.  Writes go to
    the database at once, in the caller's transaction (no cache: a worker's journal may
    be written by another worker between two of its cycles)."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str, reducer: Reducer) -> None:
        self.conn = conn
        self.reducer = reducer
        self._s = sql.Identifier(schema)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._s)  # type: ignore[arg-type]

    def record(self, module: str, rid: str) -> Any | None:
        row = self.conn.execute(
            self._q("SELECT state FROM {s}.records WHERE module = %s AND rid = %s"),
            (module, rid),
        ).fetchone()
        return None if row is None else self.reducer.decode(row[0])

    def put_record(self, module: str, rid: str, state: Any) -> None:
        encoded: Encoded = self.reducer.encode(state)
        text, key, attention, *near = encoded
        self.conn.execute(
            self._q(
                "INSERT INTO {s}.records (module, rid, key, attention, state, near) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (module, rid) DO UPDATE SET "
                "key = excluded.key, attention = excluded.attention, state = excluded.state, "
                "near = excluded.near"
            ),
            (module, rid, key, 1 if attention else 0, text, near[0] if near else None),
        )

    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None:
        self.conn.execute(
            self._q(
                "INSERT INTO {s}.links (module, side, side_id, rid, status) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (module, side, side_id) DO UPDATE "
                "SET rid = excluded.rid, status = excluded.status"
            ),
            (module, side, str(side_id), rid, status),
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
        if row is None:
            return None
        cid, module, rid, field, status, data = row
        return {
            "id": cid,
            "module": module,
            "rid": rid,
            "field": field,
            "status": status,
            "data": loads(data),
        }

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
        for table in STATE_TABLES:
            self.conn.execute(self._q(f"DELETE FROM {{s}}.{table} WHERE module = %s"), (module,))

    def clear(self) -> None:
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


class PostgresJournal:
    """An append-only journal in one schema of a PostgreSQL database (see the module)."""

    def __init__(
        self,
        location: str,
        reducer: Reducer,
        *,
        key: ChainKey | None = None,
        now: Now = _utcnow,
    ) -> None:
        conninfo, self.schema = split_location(location)
        self.where = shown_location(conninfo, self.schema)
        self.reducer = reducer
        self.key = key
        self.now = now
        self.keyed_from: int | None = None
        self._depth = 0
        with _translated(self.where):
            self.conn: psycopg.Connection[Any] = psycopg.connect(conninfo, autocommit=True)
        try:
            with _translated(self.where):
                create_schema(self.conn, self.schema)
            self.view = PostgresView(self.conn, self.schema, reducer)
            self._load_tail()
        except BaseException:
            self.close()
            raise

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))  # type: ignore[arg-type]

    # -- the head and the chain -------------------------------------------------------------

    def _load_tail(self) -> None:
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

    @property
    def needs_upgrade(self) -> bool:
        return self.key is not None and self.keyed_from is None and self._last_seq > 0

    def _append_key(self) -> ChainKey | None:
        if self.keyed_from is None:
            if self.needs_upgrade:
                raise ChainKeyError(
                    f"journal {self.where} has an unkeyed hash chain: upgrade it before writing"
                )
            return None
        if self.key is None:
            raise ChainKeyError(
                f"journal {self.where} is keyed from entry {self.keyed_from}: it is written "
                "only with its journal key"
            )
        return self.key

    # -- transactions and appends ------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresJournal]:
        """One atomic unit; nested calls are savepoints.  The outermost one queues behind
        any other writer of this journal, then re-reads the head."""
        depth = self._depth
        try:
            with _translated(self.where), self.conn.transaction():
                if depth == 0:
                    self.conn.execute(self._q("LOCK TABLE {s}.entries IN SHARE ROW EXCLUSIVE MODE"))
                    self._load_tail()
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth = depth
        except BaseException:
            with contextlib.suppress(psycopg.Error, StorageError):
                self._load_tail()  # what the rollback left
            raise

    def append(self, entries: Iterable[NewEntry]) -> list[Entry]:
        """Number, chain and store entries, and fold them into the materialised state."""
        if self._depth == 0:
            with self.transaction():
                return self.append(entries)
        key = self._append_key()
        rows, stored = chained_rows(
            entries, seq=self._last_seq, prev=self._last_hash, key=key, now=self.now()
        )
        if not rows:
            return []
        with _translated(self.where), self.conn.cursor() as cur:
            cur.executemany(
                self._q(
                    f"INSERT INTO {{s}}.entries ({ENTRY_COLUMNS}) VALUES ({', '.join(['%s'] * 12)})"
                ),
                rows,
            )
            for entry in stored:
                self.reducer.apply(self.view, entry)
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
        until: int | None = None,
    ) -> Iterator[Entry]:
        where: list[str] = ["seq > %s"]
        params: list[Any] = [since]
        for column, value in (("module", module), ("rid", rid)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if kinds:
            where.append("kind = ANY(%s)")
            params.append([str(k) for k in kinds])
        if until is not None:
            where.append("seq <= %s")
            params.append(until)
        text = f"SELECT {ENTRY_COLUMNS} FROM {{s}}.entries WHERE {' AND '.join(where)} ORDER BY seq"
        text += " DESC" if descending else ""
        if limit is not None:
            text += f" LIMIT {int(limit)}"
        with _translated(self.where):
            rows = self.conn.execute(self._q(text), params).fetchall()
        for row in rows:
            yield entry_from_row(row)

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

    def count(self, *, module: str | None = None) -> int:
        with _translated(self.where):
            if module is None:
                row = self.conn.execute(self._q("SELECT count(*) FROM {s}.entries")).fetchone()
            else:
                row = self.conn.execute(
                    self._q("SELECT count(*) FROM {s}.entries WHERE module = %s"), (module,)
                ).fetchone()
        return int(row[0]) if row else 0

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

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def __enter__(self) -> PostgresJournal:
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
    n = 0
    apply = view.reducer.apply
    for rows in journal.row_batches():
        for row in rows:
            apply(view, entry_from_row(row))
        n += len(rows)
    return n


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
    "PostgresBackend",
    "PostgresJournal",
    "PostgresView",
    "create_schema",
    "journal_exists",
    "shown_location",
    "split_location",
]
