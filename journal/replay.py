"""Replay and verification: the materialised state is a function of the entries alone.

:func:`verify_chain` recomputes every hash from the canonical row and checks each entry
links to its predecessor; :func:`replay` folds all entries into a fresh database through the
same reducer the live path uses; :func:`verify` does both and compares the replayed tables
with the live ones, naming the first difference.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import attrs

from journal.anchors import BATCH, Anchor, check_anchors, check_key, check_range, check_span
from journal.bulk import put_aside, restore, unindexed
from journal.entry import GENESIS, ChainKey, Entry, EntryDecoder, micros_text
from journal.errors import IntegrityError
from journal.schema import (
    READ_COLUMNS,
    STATE_SCHEMA,
    STATE_TABLES,
    TALLY_TABLES,
    entries_format,
    kinds_held,
    kinds_where,
    store_state_rule,
    store_state_version,
)
from journal.store import (
    Journal,
    chain_batches,
    entry_batches,
    sqlite_names,
    timed_rows,
    undecodable,
)
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

_log = logging.getLogger(__name__)


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


def verify_chain(
    journal: Journal, progress: Progress | None = None, *, workers: int | None = 1
) -> int:
    """Check seq continuity and every hash; returns the number of entries.

    Entries before ``journal.keyed_from`` verify as plain sha256 links, the rest as
    HMAC-SHA256 under the journal key.  Raises :class:`IntegrityError` naming the first
    entry that does not check out.  ``workers`` processes share the check, a span of
    entries each (None: one a core from :data:`PARALLEL_FROM` entries; see
    :func:`replay_into`): the same verdict and first fault.
    """
    count = _workers(journal, workers)
    if count == 1:
        return check_range(journal, 1, progress)
    spans = _spans(journal.last_seq, count)
    with _Crew(journal, BATCH, None) as crew:
        crew.start([_Job(span=span) for span in spans[1:]], None)
        crew.check(spans[0])
        crew.verdict()
    if progress is not None:
        progress(journal.last_seq, journal.last_seq)
    return journal.last_seq


def storage_problems(journal: Journal) -> list[str]:
    """SQLite's ``PRAGMA integrity_check`` and the append-only triggers, as problems."""
    return [*_integrity_problems(_integrity_rows(journal.conn)), *_trigger_problems(journal)]


def _integrity_rows(conn: sqlite3.Connection) -> list[str]:
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]


def _integrity_problems(rows: list[str]) -> list[str]:
    if rows != ["ok"]:
        return ["SQLite integrity check failed: " + "; ".join(rows)[:500]]
    return []


def _trigger_problems(journal: Journal) -> list[str]:
    missing = journal.missing_triggers()
    if missing:
        return [
            f"the append-only triggers {', '.join(missing)} are missing or altered: entries "
            "could be changed in place (`replicator journal repair-triggers` re-creates them, "
            "journaled)"
        ]
    return []


# SQLite's integrity check of a journal file, by a process of its own (verify's, beside
# its chain check and fold): its rows as a JSON list on its standard output
_INTEGRITY = (
    "import json, sqlite3, sys, urllib.parse\n"
    "conn = sqlite3.connect(f'file:{urllib.parse.quote(sys.argv[1])}?mode=ro', uri=True)\n"
    "try:\n"
    "    rows = [r[0] for r in conn.execute('PRAGMA integrity_check(20)')]\n"
    "except sqlite3.DatabaseError as exc:\n"
    "    rows = [str(exc)]\n"
    "print(json.dumps(rows))"
)


def _integrity_started(journal: Journal) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _INTEGRITY, str(journal.path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _integrity_of(checker: subprocess.Popen[bytes], journal: Journal) -> list[str]:
    """The rows of the integrity check ``checker`` made (it failed: made here)."""
    out, _ = checker.communicate()
    try:
        rows = json.loads(out) if checker.returncode == 0 else None
    except ValueError:
        rows = None
    if isinstance(rows, list) and rows and all(isinstance(r, str) for r in rows):
        return rows
    return _integrity_rows(journal.conn)


def replay_into(
    journal: Journal,
    target: sqlite3.Connection,
    progress: Progress | None = None,
    *,
    batch: int = BATCH,
    workers: int | None = None,
    chain: bool = False,
) -> int:
    """Fold every entry of ``journal`` into the (empty) state tables of ``target``, read
    ``batch`` entries a query (memory stays a batch and the state's cache, however long
    the journal).  A fold by record is shared by ``workers`` processes (None: one a core
    for a journal of :data:`PARALLEL_FROM` entries or more, else one), each folding a
    range of records of its own: the same tables as one process makes.

    ``chain``: the hash chain is checked first (:func:`verify_chain`), or, by more than one
    process, alongside the fold, each process checking a span of entries of its own
    (:func:`journal.anchors.check_span`); an :class:`IntegrityError` names the first entry
    at fault as one process would, whatever the fold did (a fold of an edited journal
    may fail anywhere: its failure is raised only when the chain checks out).  A fold by
    record of a journal of format 3 checks the chain in its own reads instead
    (:class:`_Tally`: each row read once for both); any doubt it finds is settled by the
    check in seq order, which names the fault."""
    target.executescript(STATE_SCHEMA)
    view = SQLiteView(target, journal.reducer, entries=journal.conn)
    view.names = journal.names  # the entries' (compact fields), not the target's
    count = _workers(journal, workers)
    try:
        return _replay(journal, target, view, progress, batch, count, chain)
    except _ChainFault:
        raise
    except Exception:
        if chain:  # an edited journal is reported as such, whatever its fold made of it
            _check_chain(journal, count)
        raise


def _check_chain(journal: Journal, count: int) -> None:
    """:func:`verify_chain` by ``count`` processes, its fault raised as a
    :class:`_ChainFault`."""
    try:
        verify_chain(journal, workers=count)
    except _ChainFault:
        raise
    except IntegrityError as exc:
        raise _ChainFault(str(exc), seq=exc.seq) from None


def _replay(
    journal: Journal,
    target: sqlite3.Connection,
    view: SQLiteView,
    progress: Progress | None,
    batch: int,
    count: int,
    chain: bool,
) -> int:
    """:func:`replay_into`'s fold (and chain check, ``chain``) by ``count`` processes."""
    by_record = per_record(journal.reducer, _kinds(journal.conn), partial(_of_kinds, journal.conn))
    # the chain checked by the fold's reads (a fold by record of format 3's rows)
    fused = chain and by_record and entries_format(journal.conn) == 3
    if chain and count == 1 and not fused:
        _check_chain(journal, 1)
    spans = _spans(journal.last_seq, count) if chain and count > 1 and not fused else []
    # the tables' indexes and counting triggers made after a fold by record: each record
    # and link is written once, and an index built at the end costs less than one kept
    later = put_aside(target, STATE_TABLES) if by_record else []
    target.execute("BEGIN")
    with _Crew(journal, batch, progress) as crew:
        if by_record:
            n = _fold_by_record(journal, target, view, crew, count, spans, fused)
            restore(target, STATE_TABLES, later)  # the tallies counted once, the indexes made
        else:
            crew.start([_Job(span=span) for span in spans[1:]], None)
            crew.check(spans[0] if spans else None)
            try:
                rows = _timed(journal.row_batches(batch=batch))
                if row_folder(journal.reducer) is not None:  # the reducer folds rows itself
                    n = fold_rows(view, rows, total=journal.last_seq, progress=progress)
                else:
                    wire = wire_fields(journal.reducer)
                    decoder = EntryDecoder(wire_fields=wire, names=journal.names)
                    entries = (decoder.entry(row) for chunk in rows for row in chunk)
                    n = fold(view, entries, total=journal.last_seq, progress=progress, every=batch)
            finally:
                crew.verdict()
    target.execute("COMMIT")
    return n


# a journal this long or longer is folded by as many processes as there are cores (a
# process takes about half a second to start; a fold, 50-70 us an entry)
PARALLEL_FROM = 100_000
# the state tables a fold by record writes, copied from each worker's file
_FOLDED = (*STATE_TABLES, LINK_ORDER)

Key = tuple[str, str]  # (module, rid): where a range of records starts or ends
Span = tuple[int, int]  # (since, count): the entries a process's chain check takes


class _ChainFault(IntegrityError):
    """The chain's first fault, found by a check shared by processes (verify tells it
    from a failure of the fold)."""


def _spans(total: int, count: int) -> list[Span]:
    """``count`` spans of about as many entries each, from entry 1 to ``total``."""
    edges = [total * i // count for i in range(count + 1)]
    return [(lo, hi - lo) for lo, hi in itertools.pairwise(edges)]


def _fold_by_record(
    journal: Journal,
    target: sqlite3.Connection,
    view: SQLiteView,
    crew: _Crew,
    count: int,
    spans: list[Span],
    fused: bool = False,
) -> int:
    """:func:`fold_records` of the journal's rows, in ``count`` ranges of records: the
    first folded here into ``target``, each other by a process of its own into a scratch
    file, whose tables are then copied into ``target`` (its records after this one's, in
    order) and the links written from all their :data:`LINK_ORDER` rows.  The chain's
    ``spans`` (none: not checked) go to the same processes, the first checked here before
    the fold; a range whose process failed is folded here.  ``fused``: the chain is
    checked by the fold's reads instead (:class:`_Tally`, each process its range's rows),
    and by :func:`_check_chain` when they leave any doubt."""
    total, batch = journal.last_seq, crew.batch
    tally: _Tally | None = None
    if fused:
        try:
            check_key(journal)
        except IntegrityError as exc:
            raise _ChainFault(str(exc), seq=exc.seq) from None
        tally = _Tally(journal.key, journal.keyed_from, total)
    bounds = _bounds(journal.conn, count) if count > 1 else []
    reducer = _portable(journal.reducer) if bounds else None
    edges: list[Key | None] = [None, *bounds, None] if reducer is not None else [None, None]
    ranges = list(itertools.pairwise(edges))
    where = Path(_file_of(target)).parent
    with tempfile.TemporaryDirectory(prefix="replicator-fold-", dir=where) as tmp:
        jobs = [
            _Job(
                span=spans[i] if i < len(spans) else None,
                lo=ranges[i][0] if i < len(ranges) else None,
                hi=ranges[i][1] if i < len(ranges) else None,
                out=os.path.join(tmp, f"part{i}.db") if i < len(ranges) else None,
                fused=fused,
            )
            for i in range(1, max(len(ranges), len(spans)))
        ]
        crew.start(jobs, reducer)
        crew.check(spans[0] if spans else None)
        lo, hi = ranges[0]
        try:
            rows = _record_rows(journal.conn, batch, lo, hi, tally=tally)
            n = fold_records(
                view, rows, total=total, progress=crew.progress(), links=len(ranges) == 1
            )
        finally:
            crew.verdict()
        for job in jobs:
            if job.out is None:
                continue
            done = crew.folded(job, n)
            if done is None:  # its process failed: its records are folded here
                rows = _record_rows(journal.conn, batch, job.lo, job.hi, tally=tally)
                n += fold_records(view, rows, total=total, progress=crew.progress(n), links=False)
                continue
            if tally is not None:
                tally.add(job.tally)
            n += done
            target.execute("ATTACH DATABASE ? AS part", (job.out,))
            for table in _FOLDED:
                columns = _table_columns(target, table)
                target.execute(
                    f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM part.{table}"
                )
            target.execute("COMMIT")  # DETACH is refused inside a transaction
            target.execute("DETACH DATABASE part")
            target.execute("BEGIN")
    if tally is not None and not tally.whole:
        _check_chain(journal, count)  # the fault named as a check in seq order names it
    if len(ranges) > 1:
        write_links(target)
    if crew.report is not None:
        crew.report(n, total)
    return n


@attrs.define(eq=False)
class _Job:
    """What a worker process does: check the chain's ``span`` (None: no span), then fold
    the records from ``lo`` to before ``hi`` into a scratch file at ``out`` (None: no
    fold).  What it said so far (its lines on its standard output) beside."""

    span: Span | None = None
    lo: Key | None = None
    hi: Key | None = None
    out: str | None = None
    fused: bool = False  # its fold checks the chain of the rows it reads (_Tally)
    process: subprocess.Popen[bytes] | None = None
    checked: int = 0  # rows of its span checked so far
    fault: tuple[int | None, str] | None = None  # its span's first fault
    spanned: bool = False  # its span's check ended (with a fault or none)
    rows: int = 0  # rows folded so far
    folded: int | None = None  # rows folded, once its fold is done
    tally: tuple[int, bool] | None = None  # its fold's chain check: rows checked, a doubt
    reader: threading.Thread | None = None
    errors: Any = None  # its standard error (a file)


# A worker is a Python of its own, started with the command below, its arguments pickled
# on its standard input.  Not multiprocessing: its spawn runs the main script of the
# process again in the worker (a library cannot know whether its caller's script guards
# that), and its fork copies the process's open SQLite connections, which SQLite forbids.
# It says what it did in lines on its standard output (:func:`_say`).
_WORKER = (
    "import pickle, sys; job = pickle.load(sys.stdin.buffer); sys.path[:0] = job.pop('path'); "
    "from journal.replay import _work; _work(**job)"
)


class _Crew:
    """The worker processes of one replay: started, listened to (a thread each reads its
    lines), waited for, and stopped when the replay ends however it ends."""

    def __init__(self, journal: Journal, batch: int, report: Progress | None) -> None:
        self.journal, self.batch, self.report = journal, batch, report
        self.jobs: list[_Job] = []

    def __enter__(self) -> _Crew:
        return self

    def __exit__(self, *exc: object) -> None:
        for job in self.jobs:
            assert job.process is not None
            if job.process.poll() is None:
                job.process.kill()
            job.process.wait()
            if job.reader is not None:
                job.reader.join()
            job.errors.close()

    def start(self, jobs: list[_Job], reducer: bytes | None) -> None:
        """A process for each job (its fold: of ``reducer``, pickled)."""
        journal = self.journal
        for job in jobs:
            task = {
                "path": sys.path,
                "journal": str(journal.path),
                "upto": journal.last_seq,
                "batch": self.batch,
                "span": job.span,
                "key": journal.key if job.span is not None or job.fused else None,
                "keyed_from": journal.keyed_from,
                "reducer": reducer if job.out is not None else None,
                "lo": job.lo,
                "hi": job.hi,
                "out": job.out,
                "fused": job.fused,
            }
            job.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)
            job.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=job.errors,
            )
            self.jobs.append(job)
            assert job.process.stdin is not None
            try:
                job.process.stdin.write(pickle.dumps(task))
                job.process.stdin.close()
            except OSError:  # it died at once: what it did not do is done here
                pass
            job.reader = threading.Thread(target=_listen, args=(job,), daemon=True)
            job.reader.start()

    def check(self, span: Span | None) -> None:
        """Check the key, then the chain's ``span`` here (the first: a fault is the first
        of all)."""
        if span is not None:
            try:
                check_key(self.journal)
                check_span(self.journal, *span)
            except IntegrityError as exc:
                raise _ChainFault(str(exc), seq=exc.seq) from None

    def verdict(self) -> None:
        """Wait for every worker's span; raise the first fault of all (a span whose
        process ended without saying is checked here)."""
        faults: list[tuple[int | None, str]] = []
        for job in self.jobs:
            if job.span is None:
                continue
            assert job.reader is not None
            while not job.spanned and job.reader.is_alive():
                job.reader.join(0.05)
            if job.spanned:
                if job.fault is not None:
                    faults.append(job.fault)
                continue
            try:  # its process failed before its span was checked: checked here
                check_span(self.journal, *job.span)
            except IntegrityError as exc:
                faults.append((exc.seq, str(exc)))
        if faults:
            seq, message = min(faults, key=lambda fault: fault[0] or 0)
            raise _ChainFault(message, seq=seq)

    def progress(self, base: int = 0) -> Progress | None:
        """A fold's progress here, ``base`` rows folded before it, the workers' rows added."""
        report = self.report
        if report is None:
            return None
        return lambda n, total: report(base + n + sum(job.rows for job in self.jobs), total)

    def folded(self, job: _Job, here: int) -> int | None:
        """The rows a worker folded, once it is done (None: it failed; its records are to
        be folded here), the progress told meanwhile (``here``: rows folded here)."""
        assert job.process is not None and job.reader is not None
        while job.reader.is_alive():
            job.reader.join(0.2)
            if self.report is not None:
                self.report(here + sum(j.rows for j in self.jobs), self.journal.last_seq)
        job.process.wait()
        if job.process.returncode != 0 or job.folded is None:
            job.errors.seek(0)
            tail = job.errors.read().decode(errors="replace").strip().splitlines()[-3:]
            _log.warning(
                "a replay's worker process failed (%s): its records are folded "
                "by the replay's own process",
                " / ".join(tail)[:300],
            )
            job.rows = 0
            return None
        done = job.folded
        job.rows = 0  # counted by the caller from now on
        return done


def _listen(job: _Job) -> None:
    """Read a worker's lines until it ends (a thread of the replay's process)."""
    assert job.process is not None and job.process.stdout is not None
    for line in job.process.stdout:
        what, _, value = line.decode(errors="replace").strip().partition(" ")
        if what == "c":
            job.checked = int(value)
        elif what == "C":
            found = json.loads(value)
            job.fault = None if found is None else (found[0], str(found[1]))
            job.spanned = True
        elif what == "f":
            job.rows = int(value)
        elif what == "F":
            job.folded = int(value)
        elif what == "K":
            checked, doubt = json.loads(value)
            job.tally = (int(checked), bool(doubt))


def _say(what: str, value: Any) -> None:
    """A worker's line to the replay's process: ``c N`` (rows of its span checked), ``C
    FAULT`` (its span done: JSON null or [seq, message]), ``f N`` (rows folded), ``K
    [N, DOUBT]`` (its fold's chain check: rows checked, whether any did not check out),
    ``F N`` (its fold done)."""
    sys.stdout.write(f"{what} {value}\n")
    sys.stdout.flush()


def _work(
    journal: str,
    upto: int,
    batch: int,
    span: Span | None,
    key: ChainKey | None,
    keyed_from: int | None,
    reducer: bytes | None,
    lo: Key | None,
    hi: Key | None,
    out: str | None,
    fused: bool = False,
) -> None:
    """A worker's job (:class:`_Crew`): the chain's ``span`` of the journal at ``journal``
    (read only, entries up to ``upto``: those its caller sees) checked, then, if it
    checks out, the records from ``lo`` to before ``hi`` folded into a scratch file at
    ``out`` (``fused``: the chain of the rows it reads checked as it goes, :class:`_Tally`)."""
    source = sqlite3.connect(f"file:{urllib.parse.quote(journal)}?mode=ro", uri=True)
    try:
        if span is not None:
            rows = _ReadOnly(source, key, keyed_from, upto)
            fault: list[Any] | None = None
            try:
                check_span(rows, *span, progress=lambda n, _: _say("c", n))
            except IntegrityError as exc:
                fault = [exc.seq, str(exc)]
            _say("C", json.dumps(fault))
            if fault is not None:
                return  # a fold of an edited journal is thrown away
        if reducer is not None and out is not None:
            tally = _Tally(key, keyed_from, upto) if fused else None
            folded = _fold_part(source, reducer, lo, hi, out, batch, upto, tally)
            if tally is not None:
                _say("K", json.dumps([tally.checked, tally.faulty]))
            _say("F", folded)
    finally:
        source.close()


def _fold_part(
    source: sqlite3.Connection,
    reducer: bytes,
    lo: Key | None,
    hi: Key | None,
    out: str,
    batch: int,
    upto: int | None = None,
    tally: _Tally | None = None,
) -> int:
    """A worker's fold (:func:`_fold_by_record`): the records from ``lo`` to before
    ``hi`` of the journal read on ``source`` into a scratch file at ``out`` (their chain
    checked by ``tally`` when given)."""
    target = scratch(out)
    try:
        target.executescript(STATE_SCHEMA)
        put_aside(target, STATE_TABLES)  # a part's tables are copied into the replay's
        view = SQLiteView(target, pickle.loads(reducer), entries=source)
        view.names = sqlite_names(source)
        target.execute("BEGIN")
        rows = _record_rows(source, batch, lo, hi, upto, tally)
        n = fold_records(view, rows, links=False, progress=lambda n, _: _say("f", n))
        target.execute("COMMIT")
        return n
    finally:
        target.close()


class _ReadOnly:
    """What a worker's chain check reads of the journal (:class:`~journal.anchors.
    ChainedRows`), on a read-only connection of its own, entries up to ``last_seq``."""

    needs_upgrade = False  # the caller checked the key before any span

    def __init__(
        self, conn: sqlite3.Connection, key: ChainKey | None, keyed_from: int | None, last: int
    ) -> None:
        self.conn, self.key, self.keyed_from, self.last_seq = conn, key, keyed_from, last
        self.format = entries_format(conn)

    def row_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]:
        return entry_batches(self.conn, self.format, since=since, batch=batch, upto=self.last_seq)

    def chain_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]:
        return chain_batches(self.conn, self.format, since=since, batch=batch, upto=self.last_seq)


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
# what a fold that checks the chain reads besides (format 3): the row's stored digest and
# that of the entry before it (its link; a lookup by seq), as bytes whatever their storage
# class (an edit may store text, not UTF-8), as journal.store.chain_batches reads them
_LINK_COLUMNS = (
    ", CAST(digest AS BLOB), "
    "(SELECT CAST(p.digest AS BLOB) FROM entries AS p WHERE p.seq = entries.seq - 1)"
)


_TIMES_HELD = 10_000  # times' texts a fold's reads keep (:class:`_Tally`)


class _Tally:
    """The hash chain of a journal of format 3 checked by a fold's own reads, in the
    records' order (:func:`_record_rows`): each row's hash made from the columns read for
    the fold and the stored digest of the entry before it, and compared with its stored
    digest, as :func:`journal.anchors.check_range` does in seq order, so each row is read
    once for both.  The rows of entries 1 to ``last`` are counted (seq is unique): a fold
    whose every row checked out (``faulty`` never set) and which counted ``last`` of them
    read a sound chain of every entry.  Any other outcome leaves a doubt only the check in
    seq order settles (it names the first fault, or finds none: a value of a type the
    check here does not hash as SQLite's text does, which makes no verdict here)."""

    def __init__(self, key: ChainKey | None, keyed_from: int | None, last: int) -> None:
        self.key, self.last = key, last
        self.first_keyed = keyed_from if keyed_from is not None else last + 1
        self.checked = 0
        self.faulty = False
        # the times' texts made so far: in the records' order a row's time is rarely the
        # one before's, and a journal holds few times (one a cycle's append)
        self.times: dict[int, str] = {}

    @property
    def whole(self) -> bool:
        """Whether every entry was read and checked out."""
        return not self.faulty and self.checked == self.last

    def add(self, found: tuple[int, bool] | None) -> None:
        """Count a worker's tally (None: it told none, a doubt)."""
        if found is None:
            self.faulty = True
        else:
            self.checked += found[0]
            self.faulty = self.faulty or found[1]

    def rows(self, chunk: list[Any]) -> list[Any]:
        """The rows of ``chunk`` (:data:`_FOLD_COLUMNS` with micros, then
        :data:`_LINK_COLUMNS`) as the fold reads them (the time's text second, as
        :func:`_timed_micros` makes it, a NUL in it refused), each checked."""
        out: list[Any] = []
        append = out.append
        join = "\x1f".join  # journal.entry.SEP
        sha256 = hashlib.sha256
        keyed = self.key.raw_digest if self.key is not None else None
        first_keyed, last = self.first_keyed, self.last
        checked, faulty = 0, False
        times = self.times
        if len(times) > _TIMES_HELD:
            times.clear()
        for seq, micros, module, rid, side, kind, dot, context, fields, meta, digest, prev in chunk:
            at = times.get(micros) if type(micros) is int else None
            if at is None:
                at = micros_text(micros)
                if "\0" in at:
                    raise ValueError(f"entry {seq}: its time holds a NUL character")
                if type(micros) is int:
                    times[micros] = at
            append((seq, at, module, rid, side, kind, dot, context, fields, meta))
            if not 1 <= seq <= last:  # after ``last``: appended since, not this check's
                faulty = faulty or seq < 1
                continue
            checked += 1
            try:  # the text journal.entry.chain_text makes; a value not text is a doubt
                text = join(
                    (
                        GENESIS if prev is None and seq == 1 else prev.hex(),
                        str(seq),
                        at,
                        module,
                        "" if rid is None else rid,
                        "" if side is None else side,
                        kind,
                        "" if dot is None else dot,
                        "" if context is None else context,
                        fields,
                        meta,
                    )
                ).encode()
            except (TypeError, AttributeError, ValueError):
                faulty = True
                continue
            if seq < first_keyed:
                faulty = faulty or sha256(text).digest() != digest
            else:
                faulty = faulty or keyed is None or keyed(text) != digest
        self.checked += checked
        self.faulty = self.faulty or faulty
        return out


def _kinds(conn: sqlite3.Connection) -> list[str]:
    """The kinds of entry the journal holds, read from the kinds' index (a step a kind)."""
    return kinds_held(conn)


def _of_kinds(conn: sqlite3.Connection, kinds: Iterable[str]) -> Iterator[Entry]:
    """The entries of ``kinds``, in seq order."""
    wanted = sorted(set(kinds))
    decoder = EntryDecoder(names=sqlite_names(conn))
    fmt = entries_format(conn)  # 3: the time's text made from micros (timed_rows)
    rows = conn.execute(
        f"SELECT {READ_COLUMNS[fmt]} FROM entries WHERE {kinds_where(wanted)} ORDER BY seq",
        wanted,
    )
    for row in rows if fmt != 3 else timed_rows(rows):
        yield decoder.entry(row)


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
    tally: _Tally | None = None,
) -> Iterator[list[Any]]:
    """Every row, ordered by record (module, rid, seq: the records' index, each module's
    rows without a rid first), ``batch`` of them at a time; from record ``lo`` to before
    record ``hi`` when given (the rows without a rid of a module a range begins in are the
    range's before; those of the module it ends in, its own, after its records: they set
    cursors alone, which no record reads); up to entry ``upto`` when given (what a worker
    process, which reads on a connection of its own, sees of the moment its caller reads);
    with ``tally`` (format 3 only), each row's hash checked as it is read (:class:`_Tally`)."""
    # by the records' index, whatever the planner would make of a bound on seq; format 3's
    # time read as micros, its text made in Python (timed_rows)
    micros = entries_format(conn) == 3
    columns = _FOLD_COLUMNS.replace(" at,", " micros,") if micros else _FOLD_COLUMNS
    if tally is not None:
        if not micros:
            raise ValueError("the chain is checked by a fold's reads in format 3 only")
        columns += _LINK_COLUMNS
    sql = f"SELECT {columns} FROM entries INDEXED BY entries_record"
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
            if tally is not None:
                yield tally.rows(chunk)
            else:
                yield _timed_micros(chunk) if micros else _timed_chunk(chunk)


def _timed(batches: Iterable[list[Any]]) -> Iterator[list[Any]]:
    """Stored rows as they are, once each's time (its second column) is found to hold no
    NUL character (:func:`_timed_chunk`)."""
    for chunk in batches:
        yield _timed_chunk(chunk)


def _timed_micros(chunk: list[Any]) -> list[Any]:
    """Format 3's rows (``micros`` second) as the columns of :data:`_FOLD_COLUMNS` (the
    time's text second, :func:`journal.store.timed_rows`), checked as
    :func:`_timed_chunk` checks them, in one pass: a text is made and looked at once for
    the rows that share a time."""
    return list(timed_rows(chunk, refuse_nul=True))


def _timed_chunk(chunk: list[Any]) -> list[Any]:
    """``chunk``, or ValueError for its first row whose time holds a NUL character: Python's
    ``fromisoformat`` reads a time up to a NUL and ignores what follows, so such an edit
    (its hash made again: an unkeyed chain allows it) would fold as the time it was.  A
    replay that meets one fails, and verify names the entry (:func:`_unreplayable`)."""
    for row in chunk:
        if "\0" in row[1]:
            raise ValueError(f"entry {row[0]}: its time holds a NUL character")
    return chunk


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
    ``workers`` processes: see :func:`replay_into`) gives the live state.  By more than
    one process, the chain is checked alongside the fold (each process a span of it): the
    same verdict and first fault as one process."""
    # by more than one process, SQLite's integrity check goes to a process of its own too
    checker = _integrity_started(journal) if _workers(journal, workers) > 1 else None
    with contextlib.ExitStack() as moment:
        if checker is not None:
            moment.callback(_stop, checker)
        tmp = moment.enter_context(tempfile.TemporaryDirectory(prefix="replicator-verify-"))
        # DETACH is refused inside the read: the replayed file goes after it ends
        moment.callback(_detach, journal.conn)
        moment.enter_context(journal.snapshot())  # every step below sees one moment
        triggers = _trigger_problems(journal)
        integrity = None if checker is not None else _integrity_rows(journal.conn)
        first_bad: int | None = None
        chain_ok = True
        found: list[str] = []  # what the chain, the anchors and the replay found
        # the chain checked with the fold (by its processes, or by its reads: see
        # replay_into); a journal whose triggers are gone is not replayed: its chain is
        # checked alone; nor is one whose file is damaged (its integrity check, made by a
        # process of its own, may tell so only later: a replay made is not looked at)
        shared = not triggers and (integrity is None or not _integrity_problems(integrity))
        difference: tuple[str, str] | None = None
        failure: Exception | None = None
        n = journal.last_seq
        try:
            if shared:
                try:
                    difference = _replay_difference(journal, tmp, progress, batch, workers)
                except _ChainFault:
                    raise
                except Exception as exc:  # the chain checks out: the replay failed
                    failure = exc
            else:
                n = verify_chain(journal, progress)
        except IntegrityError as exc:
            chain_ok, first_bad, n = False, exc.seq, journal.count()
            found.append(str(exc))
        anchored = check_anchors(journal, anchors)
        if not anchored.ok:
            found.append(str(anchored.problem))
        anchors_ok = anchored.ok and not anchor_problems
        if checker is not None:
            integrity = _integrity_of(checker, journal)
        storage = [*_integrity_problems(integrity or []), *triggers]
        storage_ok = not storage
        state_ok = False
        if chain_ok and storage_ok:  # then the replay was made (shared)
            if failure is not None:  # an entry the replay cannot read: named, not raised
                first_bad, problem = _unreplayable(journal, failure)
                found.append(problem)
            else:
                state_ok = difference is None
                if difference is not None:
                    table, row = difference
                    found.append(
                        f"materialised table {table} differs from a replay of the entries ({row})"
                    )
        problems = [*storage, *anchor_problems, *found]
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
            column = undecodable(row, wire, journal.names)
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
    try:  # the chain checked with the fold (see verify)
        replay_into(journal, target, progress, batch=batch, workers=workers, chain=True)
    finally:
        target.close()
    return _compare(journal.conn, path)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a process of verify's that is not done (its output is not looked at)."""
    if process.poll() is None:
        process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _detach(conn: sqlite3.Connection) -> None:
    if any(row[1] == "replayed" for row in conn.execute("PRAGMA database_list")):
        conn.execute("DETACH DATABASE replayed")


def rebuild(
    journal: Journal, progress: Progress | None = None, *, workers: int | None = None
) -> int:
    """Throw the live materialised state away and rebuild it from the entries (folded by
    ``workers`` processes: see :func:`replay_into`), once the chain checks out (checked
    alongside the fold: by the fold's own reads, or by the fold's processes): an
    :class:`IntegrityError` leaves the live state as it was."""
    fd, path = tempfile.mkstemp(
        prefix="replicator-replay-",
        suffix=".db",
        dir=str(Path(str(journal.path)).parent) if journal.path != ":memory:" else None,
    )
    os.close(fd)
    try:
        target = scratch(path)
        try:
            n = replay_into(journal, target, progress, workers=workers, chain=True)
        finally:
            target.close()
        # one transaction: the tables cleared, the replay's rows copied in without their
        # indexes and tally triggers, those made once (journal.bulk): a kill anywhere
        # leaves the live state as it was
        with journal.transaction():
            journal.view.clear()
            journal.conn.execute("ATTACH DATABASE ? AS replayed", (path,))
            with unindexed(journal.conn, STATE_TABLES):
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
