"""Replay and verification: the materialised state is a function of the entries alone.

:func:`verify_chain` recomputes every hash from the canonical row and checks each entry
links to its predecessor; :func:`replay` folds all entries into a fresh database through the
same reducer the live path uses; :func:`verify` does both and compares the replayed tables
with the live ones, naming the first difference.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import attrs

from journal.anchors import BATCH, Anchor, check_anchors, check_range
from journal.entry import Entry, EntryDecoder
from journal.errors import IntegrityError, StorageError
from journal.schema import (
    ENTRY_COLUMNS,
    STATE_SCHEMA,
    STATE_TABLES,
    TALLIED,
    TALLY_TABLES,
    store_state_rule,
    store_state_version,
)
from journal.store import Journal, undecodable
from journal.view import (
    LINK_ORDER,
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
    write_links,
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
    workers: int | None = None,
) -> int:
    """Fold every entry of ``journal`` into the (empty) state tables of ``target``, read
    ``batch`` entries a query (memory stays a batch and the state's cache, however long
    the journal).  A fold by record is shared by ``workers`` processes (None: one a core
    for a journal of :data:`PARALLEL_FROM` entries or more, else one), each folding a
    range of records of its own: the same tables as one process makes."""
    target.executescript(STATE_SCHEMA)
    view = SQLiteView(target, journal.reducer, entries=journal.conn)
    by_record = per_record(journal.reducer, _kinds(journal.conn), partial(_of_kinds, journal.conn))
    # the tables' indexes and counting triggers made after a fold by record: each record
    # and link is written once, and an index built at the end costs less than one kept
    later = _indexes_and_triggers(target) if by_record else []
    target.execute("BEGIN")
    if by_record:
        n = _fold_by_record(journal, target, view, progress, batch, workers)
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


# a journal this long or longer is folded by as many processes as there are cores (a
# process takes about half a second to start; a fold, 50-70 us an entry)
PARALLEL_FROM = 100_000
# the state tables a fold by record writes, copied from each worker's file
_FOLDED = (*STATE_TABLES, LINK_ORDER)

Key = tuple[str, str]  # (module, rid): where a range of records starts or ends


def _fold_by_record(
    journal: Journal,
    target: sqlite3.Connection,
    view: SQLiteView,
    progress: Progress | None,
    batch: int,
    workers: int | None,
) -> int:
    """:func:`fold_records` of the journal's rows, in ``workers`` ranges of records: the
    first folded here into ``target``, each other by a process of its own into a scratch
    file, whose tables are then copied into ``target`` (its records after this one's, in
    order) and the links written from all their :data:`LINK_ORDER` rows."""
    total = journal.last_seq
    count = _workers(journal, workers)
    bounds = _bounds(journal.conn, count) if count > 1 else []
    reducer = _portable(journal.reducer) if bounds else None
    if reducer is None:  # one process
        rows = _record_rows(journal.conn, batch)
        return fold_records(view, rows, total=total, progress=progress)
    edges: list[Key | None] = [None, *bounds, None]
    ranges = list(itertools.pairwise(edges))
    where = Path(_file_of(target)).parent
    with tempfile.TemporaryDirectory(prefix="replicator-fold-", dir=where) as tmp:
        paths = [os.path.join(tmp, f"part{i}.db") for i in range(1, len(ranges))]
        started = [
            _start(str(journal.path), reducer, lo, hi, path, batch, total)
            for (lo, hi), path in zip(ranges[1:], paths, strict=True)
        ]
        try:
            lo, hi = ranges[0]
            rows = _record_rows(journal.conn, batch, lo, hi)
            n = fold_records(view, rows, total=total, progress=progress, links=False)
            for worker, path in zip(started, paths, strict=True):
                n += _finish(worker)
                target.execute("ATTACH DATABASE ? AS part", (path,))
                for table in _FOLDED:
                    columns = _table_columns(target, table)
                    target.execute(
                        f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM part.{table}"
                    )
                target.execute("COMMIT")  # DETACH is refused inside a transaction
                target.execute("DETACH DATABASE part")
                target.execute("BEGIN")
        finally:
            for worker in started:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    write_links(target)
    if progress is not None:
        progress(n, total)
    return n


# A worker is a Python of its own, started with the command below, its arguments pickled
# on its standard input.  Not multiprocessing: its spawn runs the main script of the
# process again in the worker (a library cannot know whether its caller's script guards
# that), and its fork copies the process's open SQLite connections, which SQLite forbids.
_WORKER = (
    "import pickle, sys; job = pickle.load(sys.stdin.buffer); sys.path[:0] = job.pop('path'); "
    "from journal.replay import _fold_part; print(_fold_part(**job))"
)


def _start(
    path: str, reducer: bytes, lo: Key | None, hi: Key | None, out: str, batch: int, upto: int
) -> subprocess.Popen[bytes]:
    """A worker folding the records from ``lo`` to before ``hi``, entries up to ``upto``
    (those its caller sees), into ``out``."""
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    job = {"path": sys.path, "journal": path, "reducer": reducer, "lo": lo, "hi": hi}
    assert worker.stdin is not None
    worker.stdin.write(pickle.dumps({**job, "out": out, "batch": batch, "upto": upto}))
    worker.stdin.close()
    worker.stdin = None  # written: communicate() has none to send
    return worker


def _finish(worker: subprocess.Popen[bytes]) -> int:
    """The rows a worker folded, once it is done (StorageError: it failed)."""
    out, err = worker.communicate()
    if worker.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise StorageError(f"a replay's worker process failed: {' / '.join(tail)}"[:500])
    return int(out)


def _fold_part(
    journal: str,
    reducer: bytes,
    lo: Key | None,
    hi: Key | None,
    out: str,
    batch: int,
    upto: int | None = None,
) -> int:
    """A worker's fold (:func:`_fold_by_record`): the records from ``lo`` to before
    ``hi`` of the journal at ``journal``, read only, into a scratch file at ``out``."""
    source = sqlite3.connect(f"file:{urllib.parse.quote(journal)}?mode=ro", uri=True)
    target = scratch(out)
    try:
        target.executescript(STATE_SCHEMA)
        _indexes_and_triggers(target)
        view = SQLiteView(target, pickle.loads(reducer), entries=source)
        target.execute("BEGIN")
        n = fold_records(view, _record_rows(source, batch, lo, hi, upto), links=False)
        target.execute("COMMIT")
        return n
    finally:
        target.close()
        source.close()


def _table_columns(conn: sqlite3.Connection, table: str) -> str:
    return ", ".join(row[1] for row in conn.execute(f"PRAGMA main.table_info({table})"))


def _workers(journal: Journal, workers: int | None) -> int:
    """How many processes fold (one for a journal in memory: no other process sees it)."""
    if journal.path == ":memory:":
        return 1
    if workers is not None:
        return max(1, workers)
    if journal.last_seq < PARALLEL_FROM:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


def _portable(reducer: Any) -> bytes | None:
    """The reducer pickled for a worker (None: it does not pickle: one process folds)."""
    try:
        return pickle.dumps(reducer)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


def _bounds(conn: sqlite3.Connection, count: int) -> list[Key]:
    """Where ``count`` ranges of about as many rows each begin (but the first): records'
    keys, read from the records' index; fewer when records are few."""
    total = conn.execute("SELECT count(*) FROM entries WHERE rid IS NOT NULL").fetchone()[0]
    found: list[Key] = []
    for i in range(1, count):
        row = conn.execute(
            "SELECT module, rid FROM entries INDEXED BY entries_record WHERE rid IS NOT NULL "
            "ORDER BY module, rid LIMIT 1 OFFSET ?",
            (total * i // count,),
        ).fetchone()
        if row is not None and (not found or tuple(row) > found[-1]):
            found.append((row[0], row[1]))
    return found


def _file_of(conn: sqlite3.Connection) -> str:
    """The file of ``conn``'s main database ('' in memory: then a temporary folder)."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) if file else os.path.join(tempfile.gettempdir(), "x")
    return os.path.join(tempfile.gettempdir(), "x")


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


def _record_rows(
    conn: sqlite3.Connection,
    batch: int,
    lo: Key | None = None,
    hi: Key | None = None,
    upto: int | None = None,
) -> Iterator[list[Any]]:
    """Every row, ordered by record (module, rid, seq: the records' index, each module's
    rows without a rid first), ``batch`` of them at a time; from record ``lo`` to before
    record ``hi`` when given (the rows without a rid of a module a range begins in are the
    range's before; those of the module it ends in, its own, after its records: they set
    cursors alone, which no record reads); up to entry ``upto`` when given (what a worker
    process, which reads on a connection of its own, sees of the moment its caller reads)."""
    # by the records' index, whatever the planner would make of a bound on seq
    sql = f"SELECT {_FOLD_COLUMNS} FROM entries INDEXED BY entries_record"
    order = " ORDER BY module, rid, seq"
    queries: list[tuple[str, tuple[Any, ...]]] = []
    if upto is not None:
        sql += f" WHERE seq <= {int(upto)} AND"
    else:
        sql += " WHERE"
    if lo is None and hi is None:
        queries.append((sql + " 1" + order, ()))
    else:
        where: list[str] = []
        bounds: list[Any] = []
        if lo is not None:
            where.append("(module, rid) >= (?, ?)")
            bounds.extend(lo)
        if hi is not None:
            where.append("(module, rid) < (?, ?)")
            bounds.extend(hi)
        queries.append((f"{sql} {' AND '.join(where)}{order}", tuple(bounds)))
        if hi is not None and (lo is None or lo[0] != hi[0]):
            queries.append((f"{sql} module = ? AND rid IS NULL ORDER BY seq", (hi[0],)))
    for query, params in queries:
        rows = conn.execute(query, params)
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
    for table in STATE_TABLES:
        columns = _columns(live, table)  # by name: an older file added some at its end
        if _same(live, table, columns):
            continue
        found = _one_side_only(live, f"SELECT {columns} FROM {{}}.{table}")
        if found is not None:
            return table, found
    for table in TALLY_TABLES:  # counts its triggers kept (a count of 0 is no row)
        found = _one_side_only(live, f"SELECT * FROM {{}}.{table} WHERE n != 0")
        if found is not None:
            return table, found
    return None


def _one_side_only(live: sqlite3.Connection, select: str) -> str | None:
    """A row ``select`` (``{}``: the schema) finds live and not replayed, or replayed and
    not live, named which (None: none)."""
    for a, b, label in (("main", "replayed", "live only"), ("replayed", "main", "replay only")):
        row = live.execute(f"{select.format(a)} EXCEPT {select.format(b)} LIMIT 1").fetchone()
        if row is not None:
            return f"{label}: {row!r}"[:500]
    return None


def verify(
    journal: Journal,
    progress: Progress | None = None,
    *,
    anchors: Iterable[Anchor] = (),
    anchor_problems: Sequence[str] = (),
    batch: int = BATCH,
    workers: int | None = None,
) -> Verification:
    """Check the file (SQLite's integrity check, the append-only triggers), the hash chain,
    every anchor given, then that replaying the entries (``batch`` of them a fold, by
    ``workers`` processes: see :func:`replay_into`) gives the live state."""
    with contextlib.ExitStack() as moment:
        tmp = moment.enter_context(tempfile.TemporaryDirectory(prefix="replicator-verify-"))
        # DETACH is refused inside the read: the replayed file goes after it ends
        moment.callback(_detach, journal.conn)
        moment.enter_context(journal.snapshot())  # every step below sees one moment
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
            try:
                difference = _replay_difference(journal, tmp, progress, batch, workers)
            except Exception as exc:  # an entry the replay cannot read: named, not raised
                first_bad, problem = _unreplayable(journal, exc)
                problems.append(problem)
            else:
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


def _unreplayable(journal: Journal, failure: Exception) -> tuple[int | None, str]:
    """Why a replay failed, as a verification's problem: the first entry that cannot be
    decoded (its seq, and the column) if there is one (an entry edited with its hash made
    again: possible without a key, or with it), else the failure itself."""
    wire = wire_fields(journal.reducer)
    for rows in journal.row_batches():
        for row in rows:
            column = undecodable(row, wire)
            if column is not None:
                seq, module, rid, kind = row[0], row[2], row[3], row[5]
                return seq, (
                    f"entry {seq} ({kind} {module}/{rid or '-'}) cannot be read: its {column}; "
                    "the state cannot be replayed past it"
                )
    return None, f"the entries cannot be replayed: {type(failure).__name__}: {failure}"[:500]


def _replay_difference(
    journal: Journal,
    tmp: str,
    progress: Progress | None,
    batch: int = BATCH,
    workers: int | None = None,
) -> tuple[str, str] | None:
    """The first difference between the live state and a replay into a file of ``tmp``
    (None: the same), the replayed file left attached as ``replayed`` (:func:`_detach`)."""
    path = os.path.join(tmp, "replayed.db")
    target = scratch(path)
    try:
        replay_into(journal, target, progress, batch=batch, workers=workers)
    finally:
        target.close()
    return _compare(journal.conn, path)


def _detach(conn: sqlite3.Connection) -> None:
    if any(row[1] == "replayed" for row in conn.execute("PRAGMA database_list")):
        conn.execute("DETACH DATABASE replayed")


def rebuild(
    journal: Journal, progress: Progress | None = None, *, workers: int | None = None
) -> int:
    """Throw the live materialised state away and rebuild it from the entries (folded by
    ``workers`` processes: see :func:`replay_into`)."""
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
            n = replay_into(journal, target, progress, workers=workers)
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
