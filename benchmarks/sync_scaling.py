"""How a sync between two SQLite sides scales with the number of records.

For each N (``--sizes``) a fresh child process (this script with ``--one N``) works in a
temp dir: it creates ``books.db`` (table ``customers``) and ``crm.db`` (table ``accounts``)
with plain sqlite3, seeds N customers split across both sides (distinct names, so no
duplicates), writes a ``replicator.toml`` and runs

- the initial sync: ``open_app(config).engine.run()`` (wall and process time, records/s);
- the incremental sync after 1,000 edits of random existing rows on each side, made with
  plain sqlite3 as another program would (``--edits``);
- an idle sync (nothing changed) for the fixed cost of a cycle;
- for context, a pull-only read of a copy of each seeded side (``SQLiteConnector.pull``).

Each child reports its peak RSS (``ru_maxrss``), so the figure of one N is not the peak of
another.  Inside the syncs, the time spent in connector pulls / pushes, in
``Journal.append`` (encoding, hash chain, insert and the reducer's fold), at the end of
each journal transaction (``journal_commit``: the states written at commit and the
COMMIT) and in the engine's batch reads of the state (``journal_read``: ``preload``,
``attention``, ``with_keys``, ``rids_for``, with the states they decode) is summed by thin
wrappers, in wall seconds (``breakdown_seconds``) and CPU
seconds (``cpu_breakdown_seconds``, steadier on a shared machine); ``engine_other`` is the
rest of the cycle, the engine's own steps (mapping, matching, planning, building entries).

Prints one JSON object to stdout (progress goes to stderr).  Targets: initial sync at least
20,000 records/s at N=100k; incremental time at 1M at most 1.5x that at 10k; peak RSS at
1M under 300 MB.

    python benchmarks/sync_scaling.py --sizes 10000,100000
    python benchmarks/sync_scaling.py --sizes 10000,100000 --suggest   # near matches on
    python benchmarks/sync_scaling.py --quick
    python benchmarks/sync_scaling.py --one 100000 --profile /tmp/sync100k.prof
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import datetime as dt
import gc
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from _common import library_state  # benchmarks/ is on sys.path when run as a script

MODULE = "customers"
TARGET_RECORDS_PER_S = 20_000  # initial sync at N = 100k
TARGET_INCREMENTAL_RATIO = 1.5  # incremental at 1M over incremental at 10k
TARGET_PEAK_RSS_MB = 300  # at 1M

CONFIG = """\
[journal]
path = "journal.db"

[sides.books]
connector = "sqlite"
path = "books.db"

[sides.crm]
connector = "sqlite"
path = "crm.db"

[modules.customers]
sync = "both_ways"
first = "crm"
duplicates = "overwrite"
conflicts = "newest"
page_size = {page_size}
suggest = {suggest}
books = {{ table = "customers", id = "id", match = "name", modified = "updated_at" }}
crm = {{ table = "accounts", id = "id", match = "account_name", modified = "modified_time" }}

[modules.customers.fields]
name = {{ books = "name", crm = "account_name" }}
email = {{ books = "email", crm = "email" }}
phone = {{ books = "phone", crm = "phone" }}
credit_limit = {{ books = "credit_limit", crm = "credit_limit", type = "decimal" }}
customer_since = {{ books = "customer_since", crm = "customer_since", type = "date" }}
city = {{ books = "city", crm = "billing_city" }}
payment_terms = {{ books = "payment_terms", crm = "payment_terms", type = "integer" }}
website = {{ books = "website", crm = "website" }}
"""

BOOKS_SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    credit_limit REAL,
    customer_since TEXT,
    city TEXT,
    payment_terms INTEGER,
    website TEXT,
    updated_at TEXT
)
"""

CRM_SCHEMA = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    account_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    credit_limit REAL,
    customer_since TEXT,
    billing_city TEXT,
    payment_terms INTEGER,
    website TEXT,
    modified_time TEXT
)
"""

CRM_FIRST_ID = 4876876000000333001
CITIES = ["Chennai", "Berlin", "Austin", "Lyon", "Utrecht", "Perth", "Oslo", "Turin", "Pune"]
SUFFIXES = ["Ltd", "GmbH", "LLC", "SARL", "BV", "Pty", "Inc", "AB", "Oy", "SpA"]
TERMS = [0, 15, 30, 45, 60]


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def rss_mb() -> float:
    """Peak RSS of this process so far, in MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


# -- the sides -----------------------------------------------------------------------------


def _rows(prefix: str, start: int, count: int, first_id: int, seed: int) -> Iterator[tuple]:
    rng = random.Random(seed)
    base = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    for i in range(start, start + count):
        slug = f"{prefix.lower()}{i:07d}"
        yield (
            first_id + i - start,
            f"{prefix} Customer {i:07d} {rng.choice(SUFFIXES)}",
            f"{slug}@example.com",
            f"+1-555-{rng.randrange(10**7):07d}",
            rng.randrange(0, 5_000_000) / 100,
            (dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(4000))).isoformat(),
            rng.choice(CITIES),
            rng.choice(TERMS),
            f"https://{slug}.example.com",
            (base + dt.timedelta(seconds=i)).isoformat(),
        )


def seed_sides(folder: Path, n: int, seed: int) -> dict[str, Any]:
    """Half of N customers in Books, the other half in CRM, all with distinct names."""
    books_n = n // 2
    crm_n = n - books_n
    t0 = time.perf_counter()
    for name, schema, table, prefix, count, first_id, start in (
        ("books.db", BOOKS_SCHEMA, "customers", "Books", books_n, 1, 0),
        ("crm.db", CRM_SCHEMA, "accounts", "CRM", crm_n, CRM_FIRST_ID, books_n),
    ):
        conn = sqlite3.connect(folder / name, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(schema)
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _rows(prefix, start, count, first_id, seed + start),
        )
        conn.execute("COMMIT")
        conn.close()
    return {"books": books_n, "crm": crm_n, "seconds": round(time.perf_counter() - t0, 3)}


def edit_side(
    path: Path, table: str, columns: Sequence[str], modified: str, edits: int, rng: random.Random
) -> int:
    """``edits`` updates of distinct random existing rows, as another program makes them."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    lo, hi = conn.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()
    now = dt.datetime.now(dt.UTC).isoformat()
    sets = ", ".join(f"{c} = ?" for c in columns)
    done: set[int] = set()
    conn.execute("BEGIN IMMEDIATE")
    attempts = 0
    while len(done) < edits and attempts < edits * 50:
        attempts += 1
        row_id = rng.randint(lo, hi)
        if row_id in done:
            continue
        values: list[Any] = []
        for column in columns:
            if column in ("phone",):
                values.append(f"+44-20-{rng.randrange(10**8):08d}")
            elif column == "credit_limit":
                values.append(rng.randrange(0, 9_000_000) / 100)
            elif column == "email":
                values.append(f"edited{rng.randrange(10**9)}@example.org")
            else:
                values.append(rng.choice(CITIES) + " Nord")
        cur = conn.execute(
            f"UPDATE {table} SET {sets}, {modified} = ? WHERE id = ?", (*values, now, row_id)
        )
        if cur.rowcount:
            done.add(row_id)
    conn.execute("COMMIT")
    conn.close()
    return len(done)


def make_edits(folder: Path, edits: int, rng: random.Random) -> dict[str, Any]:
    """``edits`` rows changed on each side (different fields per side: no conflicts)."""
    t = time.perf_counter()
    books = edit_side(
        folder / "books.db", "customers", ("phone", "credit_limit"), "updated_at", edits, rng
    )
    crm = edit_side(
        folder / "crm.db", "accounts", ("email", "billing_city"), "modified_time", edits, rng
    )
    return {"books": books, "crm": crm, "seconds": round(time.perf_counter() - t, 3)}


def journal_bytes(folder: Path) -> int:
    """The journal's files on disk (the database, its WAL if any, key and anchors)."""
    return sum(p.stat().st_size for p in folder.glob("journal.db*"))


def journal_tables(path: Path) -> dict[str, dict[str, int]]:
    """Where the journal's bytes go: per table its rows, the bytes of each column's values
    (``sum(length(col))``) and, where SQLite has ``dbstat``, the pages it and its indexes
    take (``pages_with_indexes``)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pages: dict[str, int] = {}
        try:
            tables = {
                name: table
                for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master")
            }
            for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                table = tables.get(name, name)
                pages[table] = pages.get(table, 0) + int(size)
        except sqlite3.Error:  # SQLite built without dbstat
            pass
        out: dict[str, dict[str, int]] = {}
        for table in ("entries", "records", "links"):
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            sums = ", ".join(f"coalesce(sum(length({c})), 0)" for c in columns)
            rows, *lengths = conn.execute(f"SELECT count(*), {sums} FROM {table}").fetchone()
            out[table] = {"rows": rows, **dict(zip(columns, lengths, strict=True))}
            if table in pages:
                out[table]["pages_with_indexes"] = pages[table]
        return out
    finally:
        conn.close()


def mismatched_rows(folder: Path) -> dict[str, int]:
    """Rows paired by name whose mapped values differ between the two sides (0 = converged)."""
    conn = sqlite3.connect(folder / "books.db")
    try:
        conn.execute("ATTACH DATABASE ? AS crm", (str(folder / "crm.db"),))
        paired, differ = conn.execute(
            "SELECT count(*), coalesce(sum(c.email IS NOT a.email OR c.phone IS NOT a.phone"
            " OR c.credit_limit IS NOT a.credit_limit"
            " OR c.customer_since IS NOT a.customer_since OR c.city IS NOT a.billing_city"
            " OR c.payment_terms IS NOT a.payment_terms OR c.website IS NOT a.website), 0)"
            " FROM customers AS c JOIN crm.accounts AS a ON a.account_name = c.name"
        ).fetchone()
        return {"paired_by_name": int(paired), "differing": int(differ)}
    finally:
        conn.close()


def count_rows(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# -- instrumentation -----------------------------------------------------------------------


class Timers:
    """Sums of wall and CPU time (``process_time``) spent in the wrapped calls, by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, seconds: float, cpu: float = 0.0) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu
        self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - t, time.process_time() - c)

        return wrapped

    def wrap_iter(self, name: str, fn: Callable[..., Iterator[Any]]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Iterator[Any]:
            t, c = time.perf_counter(), time.process_time()
            it = fn(*args, **kwargs)
            self.add(name, time.perf_counter() - t, time.process_time() - c)
            while True:
                t, c = time.perf_counter(), time.process_time()
                try:
                    item = next(it)
                except StopIteration:
                    self.add(name, time.perf_counter() - t, time.process_time() - c)
                    return
                self.add(name, time.perf_counter() - t, time.process_time() - c)
                yield item

        return wrapped

    def snapshot(self) -> tuple[dict[str, float], dict[str, float]]:
        return dict(self.seconds), dict(self.cpu)

    def since(self, before: tuple[dict[str, float], dict[str, float]]) -> dict[str, float]:
        return {k: round(v - before[0].get(k, 0.0), 3) for k, v in self.seconds.items()}

    def cpu_since(self, before: tuple[dict[str, float], dict[str, float]]) -> dict[str, float]:
        return {k: round(v - before[1].get(k, 0.0), 3) for k, v in self.cpu.items()}


class GCTimer:
    """Time spent in the cyclic garbage collector, by generation (via ``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._start: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start is not None:
            generation = info["generation"]
            self.seconds[generation] += time.perf_counter() - self._start
            self.collections[generation] += 1
            self._start = None

    def __enter__(self) -> GCTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def report(self, wall: float) -> dict[str, Any]:
        total = sum(self.seconds)
        return {
            "seconds": round(total, 3),
            "share": round(total / wall, 3) if wall else None,
            "by_generation_seconds": [round(x, 3) for x in self.seconds],
            "collections": self.collections,
        }


def instrument(app: Any, timers: Timers) -> None:
    """Thin timers around the connectors, the journal's appends and commits and the
    engine's phases."""
    for side, connector in app.connectors.items():
        connector.pull = timers.wrap_iter(f"connector_pull.{side}", connector.pull)
        connector.push = timers.wrap(f"connector_push.{side}", connector.push)
    _journal_wrappers(app.journal, timers)
    # the engine's reads of the materialised state by batch (the queries and the states
    # they decode): past the journal's cache, a first copy's plan decodes most states again
    for read in ("preload", "attention", "with_keys", "rids_for"):
        setattr(app.journal, read, timers.wrap("journal_read", getattr(app.journal, read)))
    engine = app.engine
    engine.pull = timers.wrap("engine_pull_phase", engine.pull)
    engine.settle = timers.wrap("engine_settle_phase", engine.settle)


def _journal_wrappers(journal: Any, timers: Timers) -> None:
    """Times the outermost appends (``journal_append``: encoding, chain, insert, the
    reducer's fold) and the end of each outermost transaction (``journal_commit``: the
    state written at commit, ``SQLiteView.flush``, and the COMMIT) apart, so the two never
    count the same second (an append outside a transaction opens and commits its own)."""
    append, transaction = journal.append, journal.transaction
    depth = {"append": 0, "transaction": 0}
    inside = [0.0, 0.0]  # commit time spent inside the outermost append in hand

    def timed_append(entries: Any) -> Any:
        depth["append"] += 1
        if depth["append"] == 1:
            inside[0] = inside[1] = 0.0
        t, c = time.perf_counter(), time.process_time()
        try:
            return append(entries)
        finally:
            depth["append"] -= 1
            if depth["append"] == 0:
                wall = time.perf_counter() - t - inside[0]
                timers.add("journal_append", wall, time.process_time() - c - inside[1])

    @contextlib.contextmanager
    def timed_transaction() -> Iterator[Any]:
        depth["transaction"] += 1
        outermost = depth["transaction"] == 1
        manager = transaction()
        try:
            value = manager.__enter__()
            try:
                yield value
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
                return
            t, c = time.perf_counter(), time.process_time()
            manager.__exit__(None, None, None)
            if outermost:
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                timers.add("journal_commit", wall, cpu)
                if depth["append"]:
                    inside[0] += wall
                    inside[1] += cpu
        finally:
            depth["transaction"] -= 1

    journal.append = timed_append
    journal.transaction = timed_transaction


def progress_printer(label: str) -> Callable[[str, str, str, int], None]:
    start = time.monotonic()
    last = [start]

    def progress(phase: str, module: str, side: str, count: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 10:
            last[0] = now
            log(
                f"  [{label}] {now - start:7.1f}s {phase} {module} {side}: {count:,}"
                f"  (rss peak {rss_mb()} MB)"
            )

    return progress


# -- one size, in this process -------------------------------------------------------------


def cycle(
    config_path: Path, timers: Timers | None, label: str, profile: cProfile.Profile | None = None
) -> dict[str, Any]:
    from replicator.sync.app import open_app

    gc.collect()
    t_open = time.perf_counter()
    app = open_app(config_path, progress=progress_printer(label))
    open_seconds = time.perf_counter() - t_open
    if timers is not None:
        instrument(app, timers)
    before = timers.snapshot() if timers is not None else {}
    entries_before = app.journal.count()
    with GCTimer() as gc_timer:
        wall, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        report = app.engine.run()
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    entries_after = app.journal.count()
    app.close()
    out: dict[str, Any] = {
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "open_seconds": round(open_seconds, 3),
        "journal_entries_added": entries_after - entries_before,
        "journal_entries": entries_after,
        "report": {f"{s}.{w}": n for _m, s, w, n in report.rows()},
        "gc": gc_timer.report(wall),
    }
    if timers is not None:
        spent = timers.since(before)
        out["breakdown_seconds"] = spent
        inside = sum(v for k, v in spent.items() if k.startswith(("connector_", "journal_")))
        out["breakdown_seconds"]["engine_other"] = round(wall - inside, 3)
        # CPU seconds are steadier than wall time on a shared machine: the same split
        spent_cpu = timers.cpu_since(before)
        out["cpu_breakdown_seconds"] = spent_cpu
        inside = sum(v for k, v in spent_cpu.items() if k.startswith(("connector_", "journal_")))
        out["cpu_breakdown_seconds"]["engine_other"] = round(cpu - inside, 3)
    return out


def pull_only(folder: Path, n: int, page_size: int) -> dict[str, Any]:
    """Read every row of each seeded side through the connector (on copies), and map it."""
    from replicator.config.load import load_config
    from replicator.connectors.sqlite import SQLiteConnector

    config = load_config(folder / "replicator.toml")
    module = config.modules[MODULE]
    out: dict[str, Any] = {}
    total_wall = 0.0
    total_map = 0.0
    for side in ("books", "crm"):
        copy = folder / f"pull-{side}.db"
        connector = SQLiteConnector(side, copy)
        changes = 0
        map_seconds = 0.0
        t = time.perf_counter()
        for page in connector.pull(module.side_module(side), None, page_size=page_size):
            changes += len(page.changes)
            m = time.perf_counter()
            for change in page.changes:
                module.fields.to_canonical(side, change.values)
            map_seconds += time.perf_counter() - m
        wall = time.perf_counter() - t
        connector.close()
        total_wall += wall
        total_map += map_seconds
        out[side] = {
            "rows": changes,
            "seconds": round(wall - map_seconds, 3),
            "to_canonical_seconds": round(map_seconds, 3),
        }
    read = total_wall - total_map
    out["rows_per_s"] = round(n / read) if read else None
    out["with_mapping_rows_per_s"] = round(n / total_wall) if total_wall else None
    return out


def run_one(n: int, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    keep = Path(args.keep) if args.keep else None
    tmp = None
    if keep is not None:
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir(parents=True)
        folder = keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix=f"bench-sync-{n}-")
        folder = Path(tmp.name)
    try:
        out: dict[str, Any] = {"n": n, "library": library_state()}
        if args.reuse:
            return reuse(folder, n, args, out, rng)
        log(f"[{n:,}] seeding in {folder}")
        out["seed"] = seed_sides(folder, n, args.seed)
        suggest = "true" if args.suggest else "false"
        config = CONFIG.format(page_size=args.page_size, suggest=suggest)
        (folder / "replicator.toml").write_text(config)
        if not args.skip_pull_only:
            for side in ("books", "crm"):
                shutil.copyfile(folder / f"{side}.db", folder / f"pull-{side}.db")
        out["rss_after_seed_mb"] = rss_mb()

        timers = None if args.no_instrument else Timers()
        profile = cProfile.Profile() if args.profile else None
        log(f"[{n:,}] initial sync")
        initial = cycle(folder / "replicator.toml", timers, f"{n:,} initial", profile)
        initial["records_per_s"] = round(n / initial["seconds"])
        initial["records_per_cpu_s"] = round(n / initial["cpu_seconds"])
        initial["rss_peak_mb"] = rss_mb()
        books_rows = count_rows(folder / "books.db", "customers")
        crm_rows = count_rows(folder / "crm.db", "accounts")
        initial["books_rows"], initial["crm_rows"] = books_rows, crm_rows
        initial["converged_counts"] = books_rows == n and crm_rows == n
        # what the first copy of N records costs the journal (the edits' entries come later)
        initial["journal_bytes"] = journal_bytes(folder)
        initial["journal_bytes_per_record"] = round(initial["journal_bytes"] / n)
        initial["journal_tables"] = journal_tables(folder / "journal.db")
        out["initial"] = initial
        log(
            f"[{n:,}] initial: {initial['seconds']:.1f}s, {initial['records_per_s']:,}/s, "
            f"rss {initial['rss_peak_mb']} MB"
        )
        if profile is not None:
            profile.dump_stats(args.profile)
            out["profile"] = {"file": args.profile, "top": profile_summary(profile, args.top)}

        incremental_rounds(folder, n, args, out, timers, rng)
        idle_and_convergence(folder, n, out, timers)

        if not args.skip_pull_only:
            log(f"[{n:,}] pull-only read of the seeded sides")
            out["pull_only"] = pull_only(folder, n, args.page_size)
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


def reuse(
    folder: Path, n: int, args: argparse.Namespace, out: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    """``--reuse KEPT``: the incremental rounds and the idle cycle on a copy of a folder an
    earlier ``--one N --keep KEPT`` left (its sides and journal after its own rounds), so a
    1M journal made once by a real first sync (about 20 minutes on this machine) is measured
    again after a change in minutes.  No initial sync, so no figures of one."""
    t = time.perf_counter()
    shutil.copytree(args.reuse, folder, dirs_exist_ok=True)
    out["reused"] = {"from": args.reuse, "copy_seconds": round(time.perf_counter() - t, 1)}
    # edits of their own: the seed's would make the kept run's first edits again, values
    # the journal already holds (echoes, no writes)
    conn = sqlite3.connect(folder / "journal.db")
    try:
        (last,) = conn.execute("SELECT max(seq) FROM entries").fetchone()
    finally:
        conn.close()
    rng.seed(f"{args.seed}-{last}")
    out["initial"] = {}
    timers = None if args.no_instrument else Timers()
    incremental_rounds(folder, n, args, out, timers, rng)
    idle_and_convergence(folder, n, out, timers)
    return out


def idle_and_convergence(folder: Path, n: int, out: dict[str, Any], timers: Timers | None) -> None:
    """An idle cycle, the peak RSS so far, the journal's size and the rows differing."""
    idle = cycle(folder / "replicator.toml", timers, f"{n:,} idle")
    out["idle"] = idle
    out["peak_rss_mb"] = rss_mb()  # before the pull-only context figures
    out["journal_bytes"] = journal_bytes(folder)
    out["journal_entries"] = idle["journal_entries"]
    out["convergence"] = mismatched_rows(folder)


def incremental_rounds(
    folder: Path,
    n: int,
    args: argparse.Namespace,
    out: dict[str, Any],
    timers: Timers | None,
    rng: random.Random,
) -> None:
    """``--rounds`` rounds of ``--edits`` edits a side and a cycle (and one more under
    cProfile with ``--profile-incremental``), into ``out``."""
    if not args.edits:
        return
    rounds = []
    for k in range(args.rounds + (1 if args.profile_incremental else 0)):
        profiled = k == args.rounds  # the extra round, under cProfile, is not timed
        made = make_edits(folder, args.edits, rng)
        what = "profiled incremental" if profiled else f"incremental {k + 1}"
        log(f"[{n:,}] {what} sync after {made['books']} + {made['crm']} edits")
        inc_profile = cProfile.Profile() if profiled else None
        incremental = cycle(folder / "replicator.toml", timers, f"{n:,} {what}", inc_profile)
        incremental["edits"] = made
        incremental["rss_peak_mb"] = rss_mb()
        log(f"[{n:,}] {what}: {incremental['seconds']:.2f}s")
        if inc_profile is not None:
            inc_profile.dump_stats(args.profile_incremental)
            out["incremental_profile"] = {
                "file": args.profile_incremental,
                "seconds_under_profile": incremental["seconds"],
                "top": profile_summary(inc_profile, args.top),
            }
        else:
            rounds.append(incremental)
    # the first round after the initial sync also pays for the snapshot's change log
    # (the connector forgets it then); later rounds are the steady state
    out["incremental"] = rounds[0]
    out["incremental_rounds"] = rounds[1:]


def profile_summary(profile: cProfile.Profile, top: int) -> dict[str, list[dict[str, Any]]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.stats.values()) or 1.0

    def rows(key: int) -> list[dict[str, Any]]:
        items = sorted(stats.stats.items(), key=lambda kv: kv[1][key], reverse=True)[:top]
        out = []
        for (filename, line, func), (_cc, nc, tt, ct, _callers) in items:
            short = filename.replace(str(Path.cwd()) + os.sep, "")
            if "site-packages" in short:
                short = short.split("site-packages" + os.sep, 1)[1]
            elif "/lib/python" in short:
                short = "stdlib/" + short.split("/lib/python", 1)[1].split("/", 1)[-1]
            out.append(
                {
                    "function": f"{short}:{line}({func})",
                    "calls": nc,
                    "own_s": round(tt, 3),
                    "own_share": round(tt / total, 3),
                    "cumulative_s": round(ct, 3),
                    "cumulative_share": round(ct / total, 3),
                }
            )
        return out

    return {"total_s": round(total, 3), "by_own_time": rows(2), "by_cumulative_time": rows(3)}


# -- the driver ----------------------------------------------------------------------------


def run_child(n: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        str(n),
        "--edits",
        str(args.edits),
        "--seed",
        str(args.seed),
        "--page-size",
        str(args.page_size),
        "--rounds",
        str(args.rounds),
    ]
    if args.skip_pull_only:
        cmd.append("--skip-pull-only")
    if args.suggest:
        cmd.append("--suggest")
    if args.no_instrument:
        cmd.append("--no-instrument")
    reused = dict(item.split("=", 1) for item in (args.reuse or "").split(",") if "=" in item)
    if str(n) in reused:
        cmd += ["--reuse", reused[str(n)]]
    t = time.perf_counter()
    tail: collections.deque[str] = collections.deque(maxlen=12)
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True)

        def relay() -> None:  # the child's progress goes on to our stderr; keep its last lines
            assert child.stderr is not None
            for line in child.stderr:
                sys.stderr.write(line)
                sys.stderr.flush()
                tail.append(line.rstrip())

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        try:
            child.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            child.terminate()  # the child turns SIGTERM into SystemExit and cleans its temp dir
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            reader.join(5)
            return {
                "n": n,
                "error": f"timed out after {args.timeout} s",
                "seconds": round(time.perf_counter() - t, 1),
                "last_progress": list(tail),
            }
        reader.join(5)
        if child.returncode != 0:
            return {
                "n": n,
                "error": f"child exited with {child.returncode}",
                "last_progress": list(tail),
            }
        out.seek(0)
        return json.loads(out.read())


def targets(results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    r100k = results.get(100_000)
    if r100k and "records_per_s" in r100k.get("initial", {}):
        value = r100k["initial"]["records_per_s"]
        out["initial_records_per_s_at_100k"] = {
            "target": f">= {TARGET_RECORDS_PER_S}",
            "value": value,
            "met": value >= TARGET_RECORDS_PER_S,
        }
    r10k, r1m = results.get(10_000), results.get(1_000_000)
    if r10k and r1m and "incremental" in r10k and "incremental" in r1m:
        ratio = r1m["incremental"]["seconds"] / r10k["incremental"]["seconds"]
        out["incremental_1m_over_10k"] = {
            "target": f"<= {TARGET_INCREMENTAL_RATIO}",
            "value": round(ratio, 3),
            "met": ratio <= TARGET_INCREMENTAL_RATIO,
            "note": "first incremental cycle after the initial sync",
        }
        a, b = _steady(r1m, "seconds"), _steady(r10k, "seconds")
        if a is not None and b:
            out["incremental_steady_1m_over_10k"] = {
                "target": f"<= {TARGET_INCREMENTAL_RATIO}",
                "value": round(a / b, 3),
                "met": a / b <= TARGET_INCREMENTAL_RATIO,
                "note": "median of the later incremental rounds",
            }
    if r1m and "peak_rss_mb" in r1m:
        out["peak_rss_mb_at_1m"] = {
            "target": f"< {TARGET_PEAK_RSS_MB}",
            "value": r1m["peak_rss_mb"],
            "met": r1m["peak_rss_mb"] < TARGET_PEAK_RSS_MB,
        }
    return out


def _steady(r: dict[str, Any], key: str) -> float | None:
    """The median of the incremental rounds after the first (None with one round)."""
    rounds = r.get("incremental_rounds") or []
    if not rounds:
        return None
    return round(statistics.median(x[key] for x in rounds), 3)


def summary_row(r: dict[str, Any]) -> dict[str, Any]:
    if "error" in r:
        return {"n": r["n"], "error": r["error"]}
    return {
        "n": r["n"],
        "initial_seconds": r["initial"].get("seconds"),
        "initial_cpu_seconds": r["initial"].get("cpu_seconds"),
        "initial_records_per_s": r["initial"].get("records_per_s"),
        "initial_gc_share": r["initial"].get("gc", {}).get("share"),
        "reused": r.get("reused", {}).get("from"),
        "incremental_seconds": r.get("incremental", {}).get("seconds"),
        "incremental_cpu_seconds": r.get("incremental", {}).get("cpu_seconds"),
        "incremental_steady_seconds": _steady(r, "seconds"),
        "incremental_steady_cpu_seconds": _steady(r, "cpu_seconds"),
        "idle_seconds": r["idle"]["seconds"],
        "peak_rss_mb": r["peak_rss_mb"],
        "journal_entries": r["journal_entries"],
        "initial_journal_bytes_per_record": r["initial"].get("journal_bytes_per_record"),
        "rows_differing_after_sync": r["convergence"]["differing"],
        "pull_only_rows_per_s": r.get("pull_only", {}).get("rows_per_s"),
    }


def _exit_on_term(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated N (underscores allowed)"
    )
    parser.add_argument("--edits", type=int, default=1000, help="edits per side")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="incremental rounds (edits + sync) after the initial sync",
    )
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per N")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument(
        "--one",
        type=int,
        default=None,
        help="run one N in this process (what the driver runs per N)",
    )
    parser.add_argument(
        "--profile", default=None, help="with --one: cProfile the initial sync into this file"
    )
    parser.add_argument(
        "--profile-incremental",
        default=None,
        help="with --one: one extra, untimed incremental round under cProfile",
    )
    parser.add_argument("--top", type=int, default=30, help="rows of the profile summary")
    parser.add_argument("--keep", default=None, help="with --one: work in this folder, keep it")
    parser.add_argument("--skip-pull-only", action="store_true")
    parser.add_argument(
        "--reuse",
        default=None,
        help="with --one N: no seeding or initial sync, the rounds on a copy of the folder "
        "an earlier --one N --keep left; with --sizes: N=FOLDER,... for the sizes to reuse",
    )
    parser.add_argument(
        "--suggest",
        action="store_true",
        help="the module suggests near matches (normalised keys) too",
    )
    parser.add_argument(
        "--no-instrument", action="store_true", help="no timers around connectors / journal"
    )
    args = parser.parse_args(argv)

    if args.one is not None:
        signal.signal(signal.SIGTERM, _exit_on_term)
        result = run_one(args.one, args)
        result.update(python=platform.python_version(), sqlite=sqlite3.sqlite_version)
        print(json.dumps(result, indent=2, default=str))
        return 0

    sizes = [2_000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",")]
    if args.quick:
        args.edits = min(args.edits, 100)
    library_at_start = library_state()  # each run also records the state it started with
    results: dict[int, dict[str, Any]] = {}
    for n in sizes:
        log(f"== N = {n:,}")
        results[n] = run_child(n, args)
    out = {
        "benchmark": "sync_scaling",
        "library_at_start": library_at_start,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "edits_per_side": args.edits,
        "page_size": args.page_size,
        "suggest": args.suggest,
        "summary": [summary_row(results[n]) for n in sizes],
        "targets": targets(results),
        "runs": {str(n): results[n] for n in sizes},
    }
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
