"""The SQL the SQLite connector runs: its change log and capture triggers, and each
module's statements, compiled once from the table's schema (see :mod:`.sqlite` for how
change capture works).

Nothing here holds a connection: the connector passes its own, inside its lock and its
one translation of sqlite3 errors.
"""

from __future__ import annotations

import sqlite3

import attrs

from replicator.connectors.base import SideModule

INSTALL = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS _replicator_changes(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT, row_id TEXT, op TEXT, at TEXT);
CREATE INDEX IF NOT EXISTS _replicator_changes_tbl ON _replicator_changes(tbl, seq);
CREATE TABLE IF NOT EXISTS _replicator_mute(mute INTEGER);
INSERT INTO _replicator_mute(mute) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _replicator_mute);
CREATE TABLE IF NOT EXISTS _replicator_keys(
    tbl TEXT, key TEXT, row_id TEXT, PRIMARY KEY(tbl, key));
CREATE TABLE IF NOT EXISTS _replicator_hwm(tbl TEXT PRIMARY KEY, max_id INTEGER);
COMMIT;
"""

READ_LOG = (
    "SELECT seq, row_id, op, at FROM _replicator_changes"
    " WHERE tbl = ? AND seq > ? ORDER BY seq LIMIT ?"
)
FORGET_LOG = "DELETE FROM _replicator_changes WHERE tbl = ? AND seq <= ?"
LOGGED_LATER = "SELECT 1 FROM _replicator_changes WHERE tbl = ? AND row_id = ? AND seq > ? LIMIT 1"
LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM _replicator_changes"
REMEMBER_KEYS = "INSERT OR REPLACE INTO _replicator_keys(tbl, key, row_id) VALUES (?, ?, ?)"
# the largest integer id ever read or made: our creates never reuse the id of a deleted row
# that the journal may still link to a record (SQLite itself hands out max(rowid) + 1)
RAISE_HWM = (
    "INSERT INTO _replicator_hwm(tbl, max_id) VALUES (?, ?) "
    "ON CONFLICT(tbl) DO UPDATE SET max_id = max(max_id, excluded.max_id)"
)
_FIND_TRIGGERS = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?"
_CAPTURE_TIME = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
# IS NOT 1 rather than = 0: should the mute row ever go missing, changes are still captured.
_MUTED = "(SELECT mute FROM _replicator_mute) IS NOT 1"
_ENSURE_MUTE = (
    "INSERT INTO _replicator_mute(mute) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _replicator_mute)"
)
_LOG_CHANGE = "INSERT INTO _replicator_changes(tbl, row_id, op, at)"
# an id column by these names, not in the table, is its rowid
_ROWID_NAMES = frozenset({"rowid", "_rowid_", "oid"})


class SchemaMissing(LookupError):
    """The module's table, view or id column is not in the database (the reason says
    which); the connector reports it as its error."""


def _affinity(declared: str) -> str:
    """A column's type affinity, by SQLite's rules (section 3.1 of its datatype page)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "REAL"
    return "NUMERIC"


def quote(name: str) -> str:
    """An SQL identifier, quoted so any name (spaces, quotes, keywords) is safe."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@attrs.define
class Plan:
    """One module's SQL, compiled once per connector."""

    module: SideModule
    table: str  # quoted
    source: str  # quoted: the view to read from, else the table
    id: str  # quoted id column
    columns: tuple[str, ...]  # the values a change carries
    read: str  # the select list: id, columns, then the modified column if it is extra
    modified_at: int | None  # index of the modified column in a read row
    integer_ids: bool  # the id is a rowid alias: new ids are max + 1
    affinity: dict[str, str]  # the table's columns -> their type affinity
    declared: dict[str, str]  # the table's columns -> their declared type
    triggers: dict[str, str]  # name -> CREATE TRIGGER statement
    snapshot: str
    vanished: str  # log a delete for each row a create made that is gone
    next_id: str
    select_one: str
    _inserts: dict[tuple[str, ...], str] = attrs.field(factory=dict)
    _updates: dict[tuple[str, ...], str] = attrs.field(factory=dict)
    _selects: dict[int, str] = attrs.field(factory=dict)
    _known: dict[int, str] = attrs.field(factory=dict)

    def insert(self, columns: tuple[str, ...]) -> str:
        sql = self._inserts.get(columns)
        if sql is None:
            names = ", ".join([self.id, *map(quote, columns)])
            marks = ", ".join("?" * (len(columns) + 1))
            sql = self._inserts[columns] = f"INSERT INTO {self.table} ({names}) VALUES ({marks})"
        return sql

    def update(self, columns: tuple[str, ...]) -> str:
        sql = self._updates.get(columns)
        if sql is None:
            sets = ", ".join(f"{quote(c)} = ?" for c in columns) or f"{self.id} = {self.id}"
            sql = self._updates[columns] = f"UPDATE {self.table} SET {sets} WHERE {self.id} = ?"
        return sql

    def select(self, count: int) -> str:
        sql = self._selects.get(count)
        if sql is None:
            marks = ", ".join("?" * count)
            sql = self._selects[count] = (
                f"SELECT {self.read} FROM {self.source} WHERE {self.id} IN ({marks})"
            )
        return sql

    def known(self, count: int) -> str:
        """Keys already made whose rows still exist: key, row id."""
        sql = self._known.get(count)
        if sql is None:
            marks = ", ".join("?" * count)
            sql = self._known[count] = (
                f"SELECT k.key, k.row_id FROM _replicator_keys AS k"
                f" JOIN {self.table} AS t ON t.{self.id} = k.row_id"
                f" WHERE k.tbl = ? AND k.key IN ({marks})"
            )
        return sql


def _trigger_sql(table: str, id_column: str) -> dict[str, str]:
    t, id, name = quote(table), quote(id_column), _literal(table)
    old_new = f"OLD.{id} IS NOT NEW.{id}"
    return {
        f"_replicator_{table}_insert": (
            f"CREATE TRIGGER {quote(f'_replicator_{table}_insert')} AFTER INSERT ON {t}"
            f" WHEN {_MUTED} BEGIN"
            f" {_LOG_CHANGE} VALUES ({name}, NEW.{id}, 'I', {_CAPTURE_TIME}); END"
        ),
        f"_replicator_{table}_update": (
            f"CREATE TRIGGER {quote(f'_replicator_{table}_update')} AFTER UPDATE ON {t}"
            f" WHEN {_MUTED} BEGIN"
            f" {_LOG_CHANGE} SELECT {name}, OLD.{id}, 'D', {_CAPTURE_TIME} WHERE {old_new};"
            f" {_LOG_CHANGE} VALUES ({name}, NEW.{id},"
            f" CASE WHEN {old_new} THEN 'I' ELSE 'U' END, {_CAPTURE_TIME}); END"
        ),
        f"_replicator_{table}_delete": (
            f"CREATE TRIGGER {quote(f'_replicator_{table}_delete')} AFTER DELETE ON {t}"
            f" WHEN {_MUTED} BEGIN"
            f" {_LOG_CHANGE} VALUES ({name}, OLD.{id}, 'D', {_CAPTURE_TIME}); END"
        ),
    }


def read_plan(db: sqlite3.Connection, module: SideModule) -> Plan:
    """The module's SQL, compiled from its table's schema as the database has it now.

    Raises :class:`SchemaMissing` when the table, the view or the id column is not there."""
    table_info = db.execute(
        "SELECT name, type, pk FROM pragma_table_info(?)", (module.table,)
    ).fetchall()
    source_name = module.view or module.table
    source_columns = [
        name for (name,) in db.execute("SELECT name FROM pragma_table_info(?)", (source_name,))
    ]
    autoincrement = db.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
    ).fetchone()
    if not table_info:
        raise SchemaMissing(f"no table {module.table!r}")
    if not source_columns:
        raise SchemaMissing(f"no view {source_name!r}")
    names = [name for name, _type, _pk in table_info]
    keys = [(name, type_) for name, type_, pk in table_info if pk]
    if module.id in names:
        integer_ids = len(keys) == 1 and keys[0][0] == module.id and keys[0][1].upper() == "INTEGER"
    elif module.id.lower() in _ROWID_NAMES:
        integer_ids = True
    else:
        raise SchemaMissing(f"no id column {module.id!r}")
    columns = module.columns or tuple(c for c in source_columns if c != module.id)
    read = [module.id, *columns]
    modified_at = None
    if module.modified:
        if module.modified in columns:
            modified_at = 1 + columns.index(module.modified)
        else:
            modified_at = len(read)
            read.append(module.modified)
    t, s, id = quote(module.table), quote(source_name), quote(module.id)
    sequence = (
        f"(SELECT seq FROM sqlite_sequence WHERE name = {_literal(module.table)})"
        if autoincrement
        else "0"
    )
    return Plan(
        module=module,
        table=t,
        source=s,
        id=id,
        columns=columns,
        read=", ".join(map(quote, read)),
        modified_at=modified_at,
        integer_ids=integer_ids,
        affinity={name: _affinity(type_) for name, type_, _pk in table_info},
        declared={name: type_ or "no type" for name, type_, _pk in table_info},
        triggers=_trigger_sql(module.table, module.id),
        snapshot=f"{_LOG_CHANGE} SELECT ?, {id}, 'S', ? FROM {s}",
        vanished=(
            f"{_LOG_CHANGE} SELECT k.tbl, k.row_id, 'D', ? FROM _replicator_keys AS k"
            f" WHERE k.tbl = ? AND NOT EXISTS (SELECT 1 FROM {t} WHERE {id} = k.row_id)"
        ),
        next_id=(
            f"SELECT max(coalesce({sequence}, 0), coalesce((SELECT max({id}) FROM {t}), 0),"
            f" coalesce((SELECT max_id FROM _replicator_hwm"
            f" WHERE tbl = {_literal(module.table)}), 0))"
        ),
        select_one=f"SELECT {', '.join(map(quote, read))} FROM {s} WHERE {id} = ?",
    )


def install_triggers(db: sqlite3.Connection, plan: Plan) -> None:
    """Create the module's capture triggers, or replace ones made for another id column."""
    db.execute(_ENSURE_MUTE)
    present = dict(db.execute(_FIND_TRIGGERS, (plan.module.table,)).fetchall())
    for name, sql in plan.triggers.items():
        if present.get(name) == sql:
            continue
        if name in present:
            db.execute(f"DROP TRIGGER {quote(name)}")
        db.execute(sql)


__all__ = [
    "FORGET_LOG",
    "INSTALL",
    "LAST_SEQ",
    "LOGGED_LATER",
    "Plan",
    "RAISE_HWM",
    "READ_LOG",
    "REMEMBER_KEYS",
    "SchemaMissing",
    "install_triggers",
    "quote",
    "read_plan",
]
