"""State tables filled in bulk: their secondary indexes and counting triggers put aside
while rows go in, then made once.

A row inserted into ``records`` with its indexes and tally trigger in place costs several
index insertions in random order and a trigger's upsert; an index made by ``CREATE INDEX``
after the rows are in sorts them once, and a tally counted by ``GROUP BY`` once costs a
fraction of a trigger a row.  :func:`unindexed` drops a state table's secondary indexes
and tally triggers, and makes them again (and counts its tallies from its rows) when the
block ends.

Crash safety: inside one transaction (the caller's), the drop, the rows and the making
again commit together or not at all (SQLite's DDL is transactional), so a kill anywhere
leaves the state as it was.  Used across transactions, a kill between them leaves the
indexes and triggers missing: the schema check on open (:func:`journal.schema.
create_schema`) makes them again and counts afresh every tally whose triggers were
missing, so the file opens as if they had never been dropped.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterable, Iterator

from journal.schema import TALLIED, TALLY_TRIGGERS, count_tally

_CREATE = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?(INDEX|TRIGGER)\s+(?!IF\s)", re.IGNORECASE)


def put_aside(conn: sqlite3.Connection, tables: Iterable[str]) -> list[str]:
    """Drop the secondary indexes and tally triggers of ``tables``; the SQL that makes
    them again (``IF NOT EXISTS``), for :func:`restore`."""
    names = tuple(tables)
    marks = ",".join("?" * len(names))
    found = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        f"AND tbl_name IN ({marks}) AND sql IS NOT NULL ORDER BY type, name",
        names,
    ).fetchall()
    made: list[str] = []
    for kind, name, table, sql in found:
        if kind == "trigger" and name not in TALLY_TRIGGERS.get(table, ()):
            continue  # a trigger of another purpose stays
        conn.execute(f'DROP {kind.upper()} "{name}"')
        made.append(_CREATE.sub(lambda m: f"CREATE {m[1] or ''}{m[2]} IF NOT EXISTS ", sql))
    return made


def recount(conn: sqlite3.Connection, tables: Iterable[str]) -> None:
    """Count the tallies of ``tables`` afresh from their rows (what their triggers keep)."""
    wanted = set(tables)
    for table, _, _ in TALLIED:
        if table in wanted:
            count_tally(conn, table)


def restore(conn: sqlite3.Connection, tables: Iterable[str], made: Iterable[str]) -> None:
    """Make again what :func:`put_aside` dropped (``made``: its SQL), the indexes built
    from the rows in one sort each, and count the tallies of ``tables`` afresh."""
    recount(conn, tables)
    for sql in made:
        conn.execute(sql)


@contextlib.contextmanager
def unindexed(conn: sqlite3.Connection, tables: Iterable[str]) -> Iterator[None]:
    """The block fills ``tables`` without their secondary indexes and tally triggers,
    made (and counted) once at its end.  Run it inside one transaction for a kill to
    leave the tables as they were; a block that fails leaves them to the caller's
    rollback (or to the schema check on the next open)."""
    names = tuple(tables)
    made = put_aside(conn, names)
    yield
    restore(conn, names, made)


__all__ = ["TALLY_TRIGGERS", "put_aside", "recount", "restore", "unindexed"]
