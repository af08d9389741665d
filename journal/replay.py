"""Replay and verification: the materialised state is a function of the entries alone.

:func:`verify_chain` recomputes every hash from the canonical row and checks each entry
links to its predecessor; :func:`replay` folds all entries into a fresh database through the
same reducer the live path uses; :func:`verify` does both and compares the replayed tables
with the live ones, naming the first difference.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import attrs

from journal.anchors import BATCH, Anchor, check_anchors, check_range
from journal.entry import Entry, EntryDecoder
from journal.errors import IntegrityError
from journal.schema import (
    ENTRY_COLUMNS,
    STATE_SCHEMA,
    STATE_TABLES,
    TALLIED,
    TALLY_TABLES,
    store_state_rule,
    store_state_version,
)
from journal.store import Journal
from journal.view import (
    Progress,
    SQLiteView,
    fold,
    fold_records,
    fold_rows,
    per_record,
    reducer_rule,
    reducer_version,
    row_folder,
    wire_fields,
)


@attrs.frozen
class Verification:
    """What ``verify`` found.  ``problem`` names everything that failed, ``; ``-joined."""

    entries: int
    chain_ok: bool
    state_ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None
    storage_ok: bool = True  # SQLite's integrity check and the append-only triggers
    anchors_ok: bool = True
    anchors: int = 0  # anchors checked
    last_good_anchor: Anchor | None = None
    keyed_from: int | None = None  # the first keyed entry (None: an unkeyed chain)
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.chain_ok and self.state_ok and self.storage_ok and self.anchors_ok

    @property
    def unkeyed(self) -> int:
        """Entries chained with plain sha256 (made before keyed chains)."""
        if self.keyed_from is None:
            return self.entries
        return min(self.entries, self.keyed_from - 1)


def verify_chain(journal: Journal, progress: Progress | None = None) -> int:
    """Check seq continuity and every hash; returns the number of entries.

    Entries before ``journal.keyed_from`` verify as plain sha256 links, the rest as
    HMAC-SHA256 under the journal key.  Raises :class:`IntegrityError` naming the first
    entry that does not check out.
    """
    return check_range(journal, 1, progress)


def storage_problems(journal: Journal) -> list[str]:
    """SQLite's ``PRAGMA integrity_check`` and the append-only triggers, as problems."""
    problems: list[str] = []
    try:
        rows = [r[0] for r in journal.conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows != ["ok"]:
        problems.append("SQLite integrity check failed: " + "; ".join(rows)[:500])
    missing = journal.missing_triggers()
    if missing:
        problems.append(
            f"the append-only triggers {', '.join(missing)} are missing or altered: entries "
            "could be changed in place (`replicator journal repair-triggers` re-creates them, "
            "journaled)"
        )
    return problems


def replay_into(
    journal: Journal,
    target: sqlite3.Connection,
    progress: Progress | None = None,
    *,
    batch: int = BATCH,
) -> int:
    """Fold every entry of ``journal`` into the (empty) state tables of ``target``, read
    ``batch`` entries a query (memory stays a batch and the state's cache, however long
    the journal)."""
    target.executescript(STATE_SCHEMA)
    view = SQLiteView(target, journal.reducer)
    by_record = per_record(journal.reducer, _kinds(journal.conn), partial(_of_kinds, journal.conn))
    # the tables' indexes and counting triggers made after a fold by record: each record
    # and link is written once, and an index built at the end costs less than one kept
    later = _indexes_and_triggers(target) if by_record else []
    target.execute("BEGIN")
    if by_record:
        rows = _record_rows(journal.conn, batch)
        n = fold_records(view, rows, total=journal.last_seq, progress=progress)
        for table, a, b in TALLIED:  # what the triggers would have counted
            target.execute(
                f"INSERT INTO {table}_tally SELECT module, coalesce({a}, ''), "
                f"coalesce({b}, ''), count(*) FROM {table} GROUP BY 1, 2, 3"
            )
        for sql in later:
            target.execute(sql)
    elif row_folder(journal.reducer) is not None:  # the reducer folds the stored rows itself
        rows = journal.row_batches(batch=batch)
        n = fold_rows(view, rows, total=journal.last_seq, progress=progress)
    else:
        entries = journal.stream(batch=batch, wire_fields=wire_fields(journal.reducer))
        n = fold(view, entries, total=journal.last_seq, progress=progress, every=batch)
    target.execute("COMMIT")
    return n


# what a fold reads of a row (ENTRY_COLUMNS but the two hashes, which no fold reads)
_FOLD_COLUMNS = "seq, at, module, rid, side, kind, dot, context, fields, meta"


def _kinds(conn: sqlite3.Connection) -> list[str]:
    """The kinds of entry the journal holds, read from the kinds' index (a step a kind)."""
    return [
        row[0]
        for row in conn.execute(
            "WITH RECURSIVE k(kind) AS (SELECT min(kind) FROM entries UNION ALL "
            "SELECT (SELECT min(kind) FROM entries WHERE kind > k.kind) FROM k "
            "WHERE k.kind IS NOT NULL) SELECT kind FROM k WHERE kind IS NOT NULL"
        )
    ]


def _of_kinds(conn: sqlite3.Connection, kinds: Iterable[str]) -> Iterator[Entry]:
    """The entries of ``kinds``, in seq order."""
    wanted = sorted(set(kinds))
    marks = ",".join("?" * len(wanted))
    decoder = EntryDecoder()
    rows = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE kind IN ({marks}) ORDER BY seq", wanted
    )
    for row in rows:
        yield decoder.entry(row)


def _indexes_and_triggers(conn: sqlite3.Connection) -> list[str]:
    """Drop the indexes and triggers of ``conn``'s (empty) tables; the SQL that makes
    them again."""
    made = conn.execute(
        "SELECT type, name, sql FROM sqlite_master "
        "WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _ in made:
        conn.execute(f"DROP {kind.upper()} {name}")
    return [sql for _, _, sql in made]


def scratch(path: str) -> sqlite3.Connection:
    """A connection to a scratch database (a replay's): no rollback journal and no
    syncing (a crash loses a file thrown away anyway), a larger page cache."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -65536")  # KiB
    return conn


def _record_rows(conn: sqlite3.Connection, batch: int) -> Iterator[list[Any]]:
    """Every row, ordered by record (module, rid, seq: the records' index, each module's
    rows without a rid first), ``batch`` of them at a time."""
    rows = conn.execute(f"SELECT {_FOLD_COLUMNS} FROM entries ORDER BY module, rid, seq")
    while chunk := rows.fetchmany(batch):
        yield chunk


def _columns(conn: sqlite3.Connection, table: str) -> str:
    """The columns of the replayed ``table`` (attached as ``replayed``), by name."""
    return ", ".join(row[1] for row in conn.execute(f"PRAGMA replayed.table_info({table})"))


# the columns that tell a state table's rows apart (its primary key or unique key)
_KEYS = {
    "records": ("module", "rid"),
    "links": ("module", "side", "side_id"),
    "cursors": ("side", "module"),
    "conflicts": ("id",),
}


def _same(live: sqlite3.Connection, table: str, columns: str) -> bool:
    """Whether ``table`` holds the same rows live and replayed: as many, and each live row
    found replayed by its key with every column the same (the key is unique on both
    sides, so that is the same set of rows).  A lookup by the replayed key a row instead
    of two sorts of both tables (``EXCEPT``), which name the first difference only when
    there is one."""
    count = f"SELECT (SELECT count(*) FROM main.{table}), (SELECT count(*) FROM replayed.{table})"
    live_n, replayed_n = live.execute(count).fetchone()
    if live_n != replayed_n:
        return False
    on = " AND ".join(f"b.{k} = a.{k}" for k in _KEYS[table])
    differ = " OR ".join(f"a.{c} IS NOT b.{c}" for c in columns.split(", "))
    row = live.execute(
        f"SELECT 1 FROM main.{table} AS a LEFT JOIN replayed.{table} AS b ON {on} "
        f"WHERE {differ} LIMIT 1"
    ).fetchone()
    return row is None


def _compare(live: sqlite3.Connection, replayed_path: str) -> tuple[str, str] | None:
    live.execute("ATTACH DATABASE ? AS replayed", (replayed_path,))
    try:
        for table in STATE_TABLES:
            columns = _columns(live, table)  # by name: an older file added some at its end
            if _same(live, table, columns):
                continue
            for a, b, label in (
                ("main", "replayed", "live only"),
                ("replayed", "main", "replay only"),
            ):
                row = live.execute(
                    f"SELECT {columns} FROM {a}.{table} EXCEPT "
                    f"SELECT {columns} FROM {b}.{table} LIMIT 1"
                ).fetchone()
                if row is not None:
                    return table, f"{label}: {row!r}"[:500]
        for table in TALLY_TABLES:  # counts its triggers kept (a count of 0 is no row)
            for a, b, label in (
                ("main", "replayed", "live only"),
                ("replayed", "main", "replay only"),
            ):
                row = live.execute(
                    f"SELECT * FROM {a}.{table} WHERE n != 0 EXCEPT "
                    f"SELECT * FROM {b}.{table} WHERE n != 0 LIMIT 1"
                ).fetchone()
                if row is not None:
                    return table, f"{label}: {row!r}"[:500]
        return None
    finally:
        live.execute("DETACH DATABASE replayed")


def verify(
    journal: Journal,
    progress: Progress | None = None,
    *,
    anchors: Iterable[Anchor] = (),
    anchor_problems: Sequence[str] = (),
    batch: int = BATCH,
) -> Verification:
    """Check the file (SQLite's integrity check, the append-only triggers), the hash chain,
    every anchor given, then that replaying the entries (``batch`` of them a fold) gives
    the live state."""
    problems = list(storage_problems(journal))
    storage_ok = not problems
    problems.extend(anchor_problems)
    first_bad: int | None = None
    chain_ok = True
    try:
        n = verify_chain(journal, progress)
    except IntegrityError as exc:
        chain_ok, first_bad, n = False, exc.seq, journal.count()
        problems.append(str(exc))
    anchored = check_anchors(journal, anchors)
    if not anchored.ok:
        problems.append(str(anchored.problem))
    anchors_ok = anchored.ok and not anchor_problems
    state_ok = False
    if chain_ok and storage_ok:
        difference = _replay_difference(journal, progress, batch)
        state_ok = difference is None
        if difference is not None:
            table, row = difference
            problems.append(
                f"materialised table {table} differs from a replay of the entries ({row})"
            )
    return Verification(
        entries=n,
        chain_ok=chain_ok,
        state_ok=state_ok,
        first_bad_seq=first_bad,
        problem="; ".join(problems) or None,
        storage_ok=storage_ok,
        anchors_ok=anchors_ok,
        anchors=anchored.checked,
        last_good_anchor=anchored.last_good,
        keyed_from=journal.keyed_from,
        problems=tuple(problems),
    )


def _replay_difference(
    journal: Journal, progress: Progress | None, batch: int = BATCH
) -> tuple[str, str] | None:
    with tempfile.TemporaryDirectory(prefix="replicator-verify-") as tmp:
        path = os.path.join(tmp, "replayed.db")
        target = scratch(path)
        try:
            replay_into(journal, target, progress, batch=batch)
        finally:
            target.close()
        return _compare(journal.conn, path)


def rebuild(journal: Journal, progress: Progress | None = None) -> int:
    """Throw the live materialised state away and rebuild it from the entries."""
    verify_chain(journal)
    with journal.transaction():
        journal.view.clear()
    fd, path = tempfile.mkstemp(
        prefix="replicator-replay-",
        suffix=".db",
        dir=str(Path(str(journal.path)).parent) if journal.path != ":memory:" else None,
    )
    os.close(fd)
    try:
        target = scratch(path)
        try:
            n = replay_into(journal, target, progress)
        finally:
            target.close()
        with journal.transaction():
            journal.conn.execute("ATTACH DATABASE ? AS replayed", (path,))
            try:
                for table in STATE_TABLES:
                    columns = _columns(journal.conn, table)
                    journal.conn.execute(
                        f"INSERT INTO main.{table} ({columns}) "
                        f"SELECT {columns} FROM replayed.{table}"
                    )
                version = reducer_version(journal.reducer)
                if version is not None:  # the state is now this reducer's fold
                    store_state_version(journal.conn, version)
                    store_state_rule(journal.conn, reducer_rule(journal.reducer))
            finally:
                pass
        journal.conn.execute("DETACH DATABASE replayed")
        journal.view.forget()
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(path + suffix)
            except FileNotFoundError:
                pass
    return n


__all__ = [
    "Verification",
    "rebuild",
    "replay_into",
    "storage_problems",
    "verify",
    "verify_chain",
]
