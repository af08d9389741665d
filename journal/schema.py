"""The journal file's SQL: the entries table, its append-only triggers, the materialised
state tables, the columns added since the first release, and how a file is opened.

Every statement here is idempotent (``IF NOT EXISTS``) except the triggers, which are made
only with a new ``entries`` table: a journal whose triggers were dropped keeps them missing
until :meth:`journal.Journal.repair_triggers` journals their repair.

The version of the reducer that folded the materialised state is the file's
``PRAGMA user_version`` (0: a journal made before state versions, or by a reducer without
one), and the settings it folded with are its ``rule`` (``state_rule``: e.g. the field that
names each module's records, which the configuration chooses); :mod:`journal.store`
rebuilds the state when the reducer's version or rule differs.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

ENTRY_COLUMNS = "seq, at, module, rid, side, kind, dot, context, fields, meta, prev_hash, hash"
# What a chain check reads of a row, by entries format: ``seq``, its two hashes as stored
# (format 1: 64 hex digits; format 2: the 32 bytes, read as bytes whatever their storage
# class: a hash stored as text is its UTF-8 bytes, too long), and the canonical text its
# hash is computed over (:func:`journal.entry.chain_text`) after ``prev_hash`` and its
# separator, made by SQLite from the stored bytes (``||`` copies them as they are; NULL is
# empty): one value a row to hash, nothing decoded or encoded in Python.  The check puts
# the previous hash's hex in front (:func:`journal.anchors.chain_texts`): format 2's hex
# made by SQLite (its virtual columns, ``lower(hex(...))``, read three times a row) cost
# more than the rest of the text.
_CHAIN_TAIL = (
    "seq",
    "at",
    "module",
    "coalesce(rid, '')",
    "coalesce(side, '')",
    "kind",
    "coalesce(dot, '')",
    "coalesce(context, '')",
    "fields",
    "meta",
)
_TAIL = f"CAST({' || char(31) || '.join(_CHAIN_TAIL)} AS BLOB)"
CHAIN_COLUMNS = {
    1: f"seq, prev_hash, hash, {_TAIL}",
    2: f"seq, CAST(prev AS BLOB), CAST(digest AS BLOB), {_TAIL}",
    # format 3 stores no link and ``at`` as an integer: SQLite makes the tail from
    # ``module`` on, and :func:`journal.store.chain_batches` puts the previous row's digest,
    # ``seq`` and ``at``'s text in front in Python (SQLite's date functions cost more than
    # the rest of the row, :data:`AT_TEXT`)
    3: f"seq, micros, CAST(digest AS BLOB), "
    f"CAST({' || char(31) || '.join(_CHAIN_TAIL[2:])} AS BLOB)",
}

# The entries table of a journal file, by format (:func:`entries_format`).  Format 1 (every
# journal made before issue 16) stores both hashes as 64 hex digits.  Format 2 stores them
# as their 32 bytes (``prev``, ``digest``) and reads them as the same hex text through
# virtual columns of the old names (computed on read, stored nowhere), so every query,
# the chain check and every reader of a row see the columns of format 1, and the chain is
# computed over the same text: a journal of either format verifies the same way.  A
# journal of format 1 or 2 stays so (nothing is rewritten).
#
# Format 3 (issue 16) stores no link and the time as an integer: ``micros`` is ``at`` in
# microseconds since the epoch (8 bytes, was 32 of text), and ``prev_hash``, the previous
# row's hash, is not stored (32 bytes a row): a reader that needs it takes it from the row
# before (:data:`PREV_HASH`, or carried along a read in order,
# :func:`journal.store.entry_batches`).  The chain is computed over the same canonical text
# as formats 1 and 2 (``at`` as its UTC text, :func:`journal.entry.micros_text`), so
# an edit of ``micros`` changes the text hashed, and a deleted or moved row breaks the
# hash of the row after it (its link is the hash of the row before it now).  ``at`` and
# ``hash`` are virtual columns of the old names and text (computed on read, stored
# nowhere), for SQL that reads them; the journal's own reads take ``micros`` and make the
# text in Python, a row's time read once per batch of rows that share it.
ENTRIES_FORMAT_1 = """
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
"""
ENTRIES_FORMAT_2 = """
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
    prev_hash TEXT GENERATED ALWAYS AS (lower(hex(prev))) VIRTUAL,
    hash TEXT GENERATED ALWAYS AS (lower(hex(digest))) VIRTUAL,
    prev BLOB NOT NULL,
    digest BLOB NOT NULL
);
"""
# the earliest and latest microsecond a Python datetime holds (0001-01-01 and the end of
# 9999, UTC), the range of ``micros`` read as a time
MIN_MICROS = -62_135_596_800_000_000
MAX_MICROS = 253_402_300_799_999_999
_R = "((micros % 1000000) + 1000000) % 1000000"  # the microseconds of the second, 0..999999
# ``at``'s text from ``micros`` in SQL (what :func:`journal.entry.micros_text` makes): the
# same text as formats 1 and 2 store for a time in range; "not a time: " and the stored
# value otherwise (an integer out of range, or a value of another type)
AT_TEXT = (
    f"CASE WHEN typeof(micros) = 'integer' AND micros BETWEEN {MIN_MICROS} AND {MAX_MICROS} "
    f"THEN replace(datetime((micros - {_R}) / 1000000, 'unixepoch'), ' ', 'T') || '.' || "
    f"substr({_R} + 1000000, 2) || '+00:00' ELSE 'not a time: ' || quote(micros) END"
)
ENTRIES_FORMAT_3 = f"""
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    micros INTEGER NOT NULL,
    module TEXT NOT NULL,
    rid TEXT,
    side TEXT,
    kind TEXT NOT NULL,
    dot TEXT,
    context TEXT,
    fields TEXT NOT NULL,
    meta TEXT NOT NULL,
    digest BLOB NOT NULL,
    at TEXT GENERATED ALWAYS AS ({AT_TEXT}) VIRTUAL,
    hash TEXT GENERATED ALWAYS AS (lower(hex(digest))) VIRTUAL
);
"""
ENTRIES_FORMAT = 3  # the format a new journal is made in
GENESIS_HEX = "0" * 64  # the link of the first entry (journal.entry.GENESIS)
# a format-3 row's ``prev_hash`` in SQL: the hash of the row before it (the genesis for
# the first row), for a query of ``entries`` not in seq order (one lookup a row)
PREV_HASH = (
    "coalesce((SELECT lower(hex(p.digest)) FROM entries AS p WHERE p.seq < entries.seq "
    f"ORDER BY p.seq DESC LIMIT 1), '{GENESIS_HEX}')"
)
# the columns a row is stored in, by format (format 2: the hashes' bytes; format 3: no
# link, the time as an integer), and the append
STORED_COLUMNS = {
    1: ENTRY_COLUMNS,
    2: "seq, at, module, rid, side, kind, dot, context, fields, meta, prev, digest",
    3: "seq, micros, module, rid, side, kind, dot, context, fields, meta, digest",
}
INSERT_ENTRIES = {
    n: f"INSERT INTO entries ({columns}) VALUES ({','.join('?' * len(columns.split(',')))})"
    for n, columns in STORED_COLUMNS.items()
}
# ENTRY_COLUMNS of a journal of each format, for SQL that reads ``entries`` (format 3:
# ``at`` by its virtual column, ``prev_hash`` from the row before); the journal's own
# reads of format 3 take ``micros`` instead and make the text in Python (READ_COLUMNS)
_ENTRY_COLUMNS_3 = (
    f"seq, at, module, rid, side, kind, dot, context, fields, meta, {PREV_HASH}, hash"
)
READ_COLUMNS = {
    1: ENTRY_COLUMNS,
    2: ENTRY_COLUMNS,
    3: f"seq, micros, module, rid, side, kind, dot, context, fields, meta, {PREV_HASH}, hash",
}


def entry_columns(fmt: int) -> str:
    """The columns of :data:`ENTRY_COLUMNS`, for a query of ``entries`` of a journal of
    format ``fmt`` (:func:`entries_format`), each as its text."""
    return _ENTRY_COLUMNS_3 if fmt == 3 else ENTRY_COLUMNS


# The kinds' index leaves out the two kinds a sync writes for each record (an observation and
# an applied write: most of a journal's rows), which no reader looks up by kind, so an
# append of them pays nothing for it (issue 16).  A query of other kinds states the index's
# condition (:func:`kinds_where`), which SQLite needs to see to use a partial index; a
# journal made before keeps its index of every kind (``IF NOT EXISTS``: nothing is
# rewritten), which the same query uses too.
SYNC_KINDS = ("applied", "observed")
RARE_KINDS = "kind NOT IN ('applied', 'observed')"


SCHEMA = (
    ENTRIES_FORMAT_3
    + """
CREATE INDEX IF NOT EXISTS entries_record ON entries (module, rid);
-- (kind, seq) of the entries not of a kind a sync writes for each record (RARE_KINDS): a
-- run's errors and skips, and a module's last cursor, without a scan
CREATE INDEX IF NOT EXISTS entries_kind ON entries (kind) WHERE """
    + RARE_KINDS
    + """;
-- the few entries declaring a module's field names (journal.names.DECLARED), read on open
CREATE INDEX IF NOT EXISTS entries_names ON entries (seq) WHERE substr(fields, 1, 2) = '[[';
-- the settings the reducer folded the state with (one row; none: a reducer without any)
CREATE TABLE IF NOT EXISTS state_rule (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    rule TEXT NOT NULL
);
"""
)


def kinds_where(kinds: Sequence[str], mark: str = "?") -> str:
    """The ``WHERE`` term of the entries of ``kinds`` (one ``mark`` a kind), with the kinds'
    index's condition when none of them is a kind it leaves out (:data:`RARE_KINDS`)."""
    term = f"kind IN ({','.join([mark] * len(kinds))})"
    if any(str(kind) in SYNC_KINDS for kind in kinds):
        return term
    return f"{term} AND {RARE_KINDS}"


def kinds_held(conn: sqlite3.Connection) -> list[str]:
    """The kinds of entry the journal holds, sorted: read from the kinds' index, a step a
    kind (its two left-out kinds, when it leaves them out, each by the first row of it)."""
    sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'entries_kind'"
    ).fetchone()
    where = f" WHERE {RARE_KINDS}" if sql is not None and "WHERE" in str(sql[0]) else ""
    also = " AND " + RARE_KINDS if where else ""
    found = [
        row[0]
        for row in conn.execute(
            f"WITH RECURSIVE k(kind) AS (SELECT min(kind) FROM entries{where} UNION ALL "
            f"SELECT (SELECT min(kind) FROM entries WHERE kind > k.kind{also}) FROM k "
            "WHERE k.kind IS NOT NULL) SELECT kind FROM k WHERE kind IS NOT NULL"
        )
    ]
    if where:
        for kind in SYNC_KINDS:
            if conn.execute("SELECT 1 FROM entries WHERE kind = ? LIMIT 1", (kind,)).fetchone():
                found.append(kind)
    return sorted(found)


# The append-only triggers, created with the entries table and never again on open: a
# journal whose triggers were dropped is reported by ``verify`` and repaired only by
# :meth:`Journal.repair_triggers`, which journals the repair.
TRIGGERS = {
    "entries_no_update": "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries\n"
    "BEGIN SELECT RAISE(ABORT, 'journal entries are append-only: UPDATE refused'); END",
    "entries_no_delete": "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries\n"
    "BEGIN SELECT RAISE(ABORT, 'journal entries are append-only: DELETE refused'); END",
}


def _normal_sql(sql: str | None) -> str:
    """Trigger text compared without case, spacing or ``IF NOT EXISTS`` differences."""
    text = " ".join((sql or "").replace("IF NOT EXISTS ", "").split()).rstrip(";")
    return text.lower()


# the state tables whose rows are counted by their triggers: (table, column, column)
TALLIED = (("records", "status", "marks"), ("links", "side", "status"))
# each tallied table's counting triggers (``records_tally_insert``...)
TALLY_TRIGGERS = {
    table: tuple(f"{table}_tally_{op}" for op in ("insert", "delete", "update"))
    for table, _, _ in TALLIED
}


def tally_select(table: str) -> str:
    """The ``SELECT`` that counts ``table``'s tally rows from its rows (what its triggers
    keep): ``(module, a, b, n)``, the tally table's columns in order."""
    a, b = next((a, b) for name, a, b in TALLIED if name == table)
    return (
        f"SELECT module, coalesce({a}, ''), coalesce({b}, ''), count(*) AS n "
        f"FROM {table} GROUP BY 1, 2, 3"
    )


def count_tally(conn: sqlite3.Connection, table: str) -> None:
    """Count ``table``'s tally afresh from its rows (what its triggers keep)."""
    conn.execute(f"DELETE FROM {table}_tally")
    conn.execute(f"INSERT INTO {table}_tally {tally_select(table)}")


STATE_SCHEMA = """
-- keyed by (module, rid) itself, WITHOUT ROWID: a record is read by its key in one
-- lookup, and no second index of every (module, rid) (a unique one beside a rowid table)
-- is kept; an older journal gets this layout when its state is next rebuilt
-- (:meth:`journal.view.SQLiteView.clear`)
CREATE TABLE IF NOT EXISTS records (
    module TEXT NOT NULL,
    rid TEXT NOT NULL,
    key TEXT,
    attention INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    near TEXT,
    status TEXT,
    marks TEXT,
    label TEXT,
    ref TEXT,
    PRIMARY KEY (module, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_key ON records (module, key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_near ON records (module, near) WHERE near IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_attention ON records (module, rid) WHERE attention = 1;
CREATE INDEX IF NOT EXISTS records_marked ON records (module, rid) WHERE marks IS NOT NULL;
-- a search by name reads this index alone (the labels, in order), never a state
CREATE INDEX IF NOT EXISTS records_label ON records (module, label, rid) WHERE label IS NOT NULL;
-- a document's records by the party they name (its reducer's reference), no state read
CREATE INDEX IF NOT EXISTS records_ref ON records (module, ref) WHERE ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS links (
    module TEXT NOT NULL,
    side TEXT NOT NULL,
    side_id TEXT NOT NULL,
    rid TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (module, side, side_id)
) WITHOUT ROWID;
-- no index on (module, rid): a record's links are looked up by the ids its state holds
-- (:meth:`journal.view.SQLiteView.links`), which spares a second copy of every link
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
CREATE INDEX IF NOT EXISTS conflicts_record ON conflicts (module, rid);
""" + "".join(
    f"""
CREATE TABLE IF NOT EXISTS {table}_tally (
    module TEXT NOT NULL, {a} TEXT NOT NULL, {b} TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (module, {a}, {b})
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS {table}_tally_insert AFTER INSERT ON {table} BEGIN
    INSERT INTO {table}_tally VALUES (new.module, coalesce(new.{a}, ''), coalesce(new.{b}, ''), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS {table}_tally_delete AFTER DELETE ON {table} BEGIN
    UPDATE {table}_tally SET n = n - 1 WHERE module = old.module
    AND {a} = coalesce(old.{a}, '') AND {b} = coalesce(old.{b}, '');
END;
CREATE TRIGGER IF NOT EXISTS {table}_tally_update AFTER UPDATE OF module, {a}, {b} ON {table}
WHEN old.module IS NOT new.module OR old.{a} IS NOT new.{a} OR old.{b} IS NOT new.{b} BEGIN
    UPDATE {table}_tally SET n = n - 1 WHERE module = old.module
    AND {a} = coalesce(old.{a}, '') AND {b} = coalesce(old.{b}, '');
    INSERT INTO {table}_tally VALUES (new.module, coalesce(new.{a}, ''), coalesce(new.{b}, ''), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
"""
    for table, a, b in TALLIED
)

STATE_TABLES = ("records", "links", "cursors", "conflicts")
# counts of the state tables' rows kept by their triggers (``records_tally``: per module,
# status and marks; ``links_tally``: per module, side and status), so a count of 100k
# records reads a few rows; cleared with the state, compared by ``verify``
TALLY_TABLES = tuple(f"{table}_tally" for table, _, _ in TALLIED)

# columns added to the materialised tables since their first release: (table, column, type)
ADDED_COLUMNS = (
    ("records", "near", "TEXT"),
    ("records", "status", "TEXT"),
    ("records", "marks", "TEXT"),
    ("records", "label", "TEXT"),
    ("records", "ref", "TEXT"),
)


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
    """A connection to the journal file (made private if new), tuned for the journal."""
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


def has_entries(conn: sqlite3.Connection) -> bool:
    """Whether the file has an ``entries`` table (a journal, not a new empty file)."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'"
    ).fetchone()
    return found is not None


def entries_format(conn: sqlite3.Connection) -> int:
    """The format of the file's entries table (see :data:`ENTRIES_FORMAT_2` and
    :data:`ENTRIES_FORMAT_3`): 3 if it stores the time as ``micros``, 2 if it stores the
    hashes as bytes, else 1.  The table's own definition records it."""
    names = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM pragma_table_xinfo('entries') WHERE name IN ('digest', 'micros')"
        )
    }
    return 3 if "micros" in names else 2 if "digest" in names else 1


def statements(script: str) -> list[str]:
    """The SQL statements of ``script`` one by one (a trigger's body holds semicolons)."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip().strip(";").strip():
                found.append(pending.strip())
            pending = ""
    return found


# every table, index and trigger the schema makes, by name
_NAMED = re.compile(r"CREATE (?:TABLE|INDEX|TRIGGER) IF NOT EXISTS (\w+)")


def _missing(conn: sqlite3.Connection) -> set[str]:
    """The schema's tables, indexes and triggers the file lacks."""
    have = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    return set(_NAMED.findall(SCHEMA + STATE_SCHEMA)) - have


def _columns_missing(conn: sqlite3.Connection) -> bool:
    for table, column, _ in ADDED_COLUMNS:
        have = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        if have and column not in have:
            return True
    return False


def create_schema(conn: sqlite3.Connection) -> None:
    """The tables; the append-only triggers only with a new ``entries`` table (never
    re-created on open: a dropped trigger stays missing until repaired, journaled).

    An existing journal with every table, index and column writes nothing (a reader never
    waits for the daemon's transaction here); one made by an older release gets what it
    lacks in one transaction, its tallies counted from the rows it holds."""
    if has_entries(conn) and not _missing(conn) and not _columns_missing(conn):
        return
    conn.execute("BEGIN IMMEDIATE")  # one process adds what is missing
    try:
        fresh = not has_entries(conn)
        _add_missing_columns(conn)
        missing = _missing(conn)
        for statement in statements(SCHEMA + STATE_SCHEMA):
            conn.execute(statement)
        for tally, (table, _, _) in zip(TALLY_TABLES, TALLIED, strict=True):
            # counted afresh when it or one of its triggers was missing (a bulk fill,
            # journal.bulk, put them aside and was stopped before it made them again)
            if tally in missing or not missing.isdisjoint(TALLY_TRIGGERS[table]):
                count_tally(conn, table)
        if fresh:
            for sql in TRIGGERS.values():
                conn.execute(sql)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def missing_triggers(conn: sqlite3.Connection) -> list[str]:
    """The append-only triggers that are gone or altered (empty when all are in place)."""
    have = dict(
        conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            ("entries",),
        ).fetchall()
    )
    return [
        name for name, sql in TRIGGERS.items() if _normal_sql(have.get(name)) != _normal_sql(sql)
    ]


# the largest version SQLite's user_version holds (a signed 32-bit integer)
MAX_STATE_VERSION = 2**31 - 1


def stored_state_version(conn: sqlite3.Connection) -> int:
    """The version of the reducer that folded the materialised state (0: unversioned)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def store_state_version(conn: sqlite3.Connection, version: int) -> None:
    """Record the state's version (in the caller's transaction: it commits with the state)."""
    conn.execute(f"PRAGMA user_version = {int(version)}")


def stored_state_rule(conn: sqlite3.Connection) -> str | None:
    """The settings the reducer folded the materialised state with (None: none recorded)."""
    row = conn.execute("SELECT rule FROM state_rule").fetchone()
    return None if row is None else str(row[0])


def store_state_rule(conn: sqlite3.Connection, rule: str | None) -> None:
    """Record the state's rule (in the caller's transaction: it commits with the state)."""
    if rule is None:
        conn.execute("DELETE FROM state_rule")
    else:
        conn.execute(
            "INSERT INTO state_rule VALUES (1, ?) "
            "ON CONFLICT (one) DO UPDATE SET rule = excluded.rule",
            (rule,),
        )


__all__ = [
    "TALLY_TRIGGERS",
    "count_tally",
    "tally_select",
    "ADDED_COLUMNS",
    "AT_TEXT",
    "CHAIN_COLUMNS",
    "ENTRIES_FORMAT",
    "ENTRIES_FORMAT_1",
    "ENTRIES_FORMAT_2",
    "ENTRIES_FORMAT_3",
    "ENTRY_COLUMNS",
    "GENESIS_HEX",
    "INSERT_ENTRIES",
    "MAX_MICROS",
    "MIN_MICROS",
    "PREV_HASH",
    "RARE_KINDS",
    "READ_COLUMNS",
    "MAX_STATE_VERSION",
    "SCHEMA",
    "STATE_SCHEMA",
    "STATE_TABLES",
    "STORED_COLUMNS",
    "SYNC_KINDS",
    "TALLIED",
    "TALLY_TABLES",
    "TRIGGERS",
    "connect",
    "create_private",
    "create_schema",
    "entry_columns",
    "entries_format",
    "has_entries",
    "kinds_held",
    "kinds_where",
    "missing_triggers",
    "statements",
    "store_state_rule",
    "store_state_version",
    "stored_state_rule",
    "stored_state_version",
]
