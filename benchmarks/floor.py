"""The floor of the design (issue 16): what the SQL and the hashing of a first copy and of
a replay cost on this machine when no engine code runs, so a target can be set against
what is possible, not against what we have.

**A first copy** of ``--records`` N customers (default 100,000), seeded as
``sync_scaling.py`` seeds them (half in Books' ``customers``, half in CRM's ``accounts``,
the connectors' change capture installed: :mod:`replicator.connectors.sqlite_plan`), into
a journal made by :class:`journal.Journal` (the real ``SCHEMA`` and ``STATE_SCHEMA``: the
entries' indexes and append-only triggers, the state tables' indexes and tally triggers).
Every row is made before the clock starts: the journal's rows are those of a real first
sync of ``--template`` records (run here by the engine, ``open_app(...).engine.run()``),
replicated with new rids, side ids, seqs and names (the template's 7-digit number
replaced), so their sizes are a real sync's; each entry's HMAC-SHA256 chain is computed
ahead (and checked against :func:`journal.entry.chain_hash` in the smoke test).  Then,
page by page (``--page`` records from one side, as a pull pages), each step is timed
alone, CPU (``time.process_time``) and wall:

- ``side_read_scan``: the page's rows read from the source table (keyset ``id > ?``):
  the least a read is.  ``side_read_log``: the connector's read (the snapshot of the
  table into its change log, once a side; each page's log rows, its rows by id, the log
  rows forgotten).
- ``hash``: HMAC-SHA256 of each entry's canonical bytes (bytes made ahead), as
  :func:`journal.entry.chained_rows` does it (two copied sha256 states): C called from
  Python, one call chain an entry.  ``sha256_plain`` (not in the floor): one
  ``sha256(data).digest()`` call an entry, for scale.
- ``entries_plain`` (not in the floor): the same rows into a plain table of the same
  columns in a file of its own, one transaction a page: ``journal_append.py``'s "raw".
  ``append_over_raw_ceiling`` is it over ``entries`` plus ``hash``: the most the pure
  append can reach against that raw figure with no Python at all besides.
- ``entries_without_virtual`` (not in the floor): the same rows into the journal's
  ``entries`` table and indexes without its two virtual columns, in a file of its own:
  SQLite computes a table's generated columns at every insert, VIRTUAL ones too.
- ``entries``: ``executemany`` of the page's entries into ``entries`` (the observations,
  one intent entry a page, the applied writes: DESIGN 4's two entries a record and the
  intent before a push), its ``(module, rid)`` index and partial indexes in place.
- ``journal_commit``: the COMMIT of the journal's three transactions a page (the
  observations, the intent, then the outcomes with the state), WAL,
  ``synchronous=NORMAL``, the journal's own ``connect``; checkpoints made by a commit count
  here.
- ``side_write_rows``: ``executemany`` of the page's rows into the other side's table
  (its capture triggers in place, muted as a push mutes them).  ``side_write_keys``: what
  the connector does besides for crash safety (the next id, the known keys looked up, the
  keys remembered, the high-water mark, the mute set and cleared).  ``side_commit``.
- ``records``: ``executemany`` of one state row a record into ``records``; ``links``: two
  rows a record into ``links``.  Two variants, alternated: ``indexed`` (the secondary
  indexes and tally triggers in place) and ``bulk`` (put aside by
  :func:`journal.bulk.put_aside` before the first page and made again by
  :func:`journal.bulk.restore` after the last, both timed as ``state_rebuild``).
- ``checkpoint``: ``PRAGMA wal_checkpoint(TRUNCATE)`` of the journal and both sides at the
  end (what closing them does), so no written page is left out of the clock.

The SQLite floor is the sum of those steps a record (``minimum``: the scan, the side's
rows and commit, the entries, the records and links of the cheaper variant, the journal's
commits, the checkpoints; ``as_built``: the connector's read and keys besides).  The hash
is counted with the interpreter floor, below, not with SQLite's.

**The interpreter floor**: the least Python a record needs, timed in a loop over the
same N rows: one dict of the row's columns, one ``Decimal`` of its money value, one
``orjson.dumps`` of its fields (the compact list a real entry stores), the canonical bytes
of its two entries (one f-string each), two HMACs, and the six tuples ``executemany``
takes (two entries, a record, two links, the side's row).  Each alone, and all in one
loop (``per_record``): that loop is the figure.

**A replay** of ``--replay-entries`` M entries (default 1,000,000) about M / 4 records
(``--replay-records``; what ``journal_replay.py`` builds), built before the clock into a
real journal file from the same replicated rows: a first copy of the records (an
observation and an outcome a record, an intent a page), then the same again as their
edits, until M entries are written.  Timed: ``replay_read`` (the rows a replay reads,
``seq > ?`` batches of 5,000, as :func:`journal.store.entry_batches` reads them),
``replay_decode`` (one ``orjson.loads`` of each entry's fields), ``replay_state_write``
(one records row a record and two links, each written once, into a fresh state file made
with ``STATE_SCHEMA``, indexed or in bulk plus its rebuild, and its checkpoint),
``chain_read`` (:data:`journal.schema.CHAIN_COLUMNS` of format 3 in batches) and
``chain_hash`` (each row's canonical bytes made as :func:`journal.store.chain_batches`
makes them, its HMAC, compared with the stored digest: every one must match).

Not counted anywhere (so the real engine needs at least this, and more): mapping values
to canonical types beyond the one Decimal, the match key and duplicate lookups, the
merge (registers, dots, the conflict policy), reading the state back, the cursor entries,
``Change`` and ``Entry`` objects, the engine's own loops, the anchors file, a replay's
compare with the live state.  Counted although an engine could do less: nothing; the
entries and state rows are a real sync's sizes.  The OS page cache is warm (the sides
are seeded just before, the replay's journal just built): a cold read is slower.  Cyclic
GC is off while a step runs.

Prints one JSON object (progress on stderr).  Per-step figures are the median over the
samples (``--rounds`` rounds, each running both variants); ``min`` is given too.

    python benchmarks/floor.py                    # 100,000 records, 1,000,000 replay entries
    python benchmarks/floor.py --quick            # smoke run (2,000 records, 4,000 entries)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sync_scaling as scaling  # benchmarks/ is on sys.path when run as a script
from _common import NoopReducer, library_state, log

from journal import ChainKey, Journal
from journal.bulk import put_aside, restore
from journal.entry import micros_of, micros_text
from journal.schema import (
    CHAIN_COLUMNS,
    INSERT_ENTRIES,
    SCHEMA,
    STATE_SCHEMA,
    STORED_COLUMNS,
    connect,
    statements,
)
from replicator.connectors.base import SideModule
from replicator.connectors.sqlite_plan import (
    FORGET_LOG,
    INSTALL,
    LAST_SEQ,
    RAISE_HWM,
    READ_LOG,
    REMEMBER_KEYS,
    Plan,
    install_triggers,
    read_plan,
)

MODULE = scaling.MODULE
TARGET_RECORDS_PER_S = 20_000  # issue 16: a first copy of 100k records
TARGET_ENTRIES_PER_S = 100_000  # issue 16: replay and verify of 1M entries
BUDGET_US_PER_RECORD = 1e6 / TARGET_RECORDS_PER_S  # 50
BUDGET_US_PER_ENTRY = 1e6 / TARGET_ENTRIES_PER_S  # 10
ENGINE_NOW = {
    # the engine's figures this floor is compared with (benchmarks/README.md, the end of
    # stop 29, 1d70c10): a first copy of 100k records, 48.1 CPU s; replay and verify of
    # 1M entries, 21,336 and 19,532 entries a CPU second
    "commit": "1d70c10",
    "first_copy_cpu_us_per_record": 481.0,
    "replay_cpu_us_per_entry": round(1e6 / 21_336, 1),
    "verify_cpu_us_per_entry": round(1e6 / 19_532, 1),
}
SEP = "\x1f"
BUILT_MICROS = micros_of(dt.datetime(2026, 12, 1, tzinfo=dt.UTC))

SIDES = {
    # side: (file, table, columns written and read, match column, modified column)
    "books": (
        "books.db",
        "customers",
        (
            "name",
            "email",
            "phone",
            "credit_limit",
            "customer_since",
            "city",
            "payment_terms",
            "website",
        ),
        "name",
        "updated_at",
    ),
    "crm": (
        "crm.db",
        "accounts",
        (
            "account_name",
            "email",
            "phone",
            "credit_limit",
            "customer_since",
            "billing_city",
            "payment_terms",
            "website",
        ),
        "account_name",
        "modified_time",
    ),
}
OTHER = {"books": "crm", "crm": "books"}


# -- the template: a real first sync's rows ---------------------------------------------


class Template:
    """One record of a real first sync: its two entries, its state row and its links."""

    __slots__ = ("index", "origin", "target_id", "observed", "applied", "record", "links")

    def __init__(self, index: int, origin: str, target_id: str) -> None:
        self.index = index  # the number in its seeded name (``Customer 0000123``)
        self.origin = origin
        self.target_id = target_id
        self.observed: tuple[Any, ...] = ()  # (side, kind, dot, context, fields, meta)
        self.applied: tuple[Any, ...] = ()
        self.record: tuple[Any, ...] = ()  # records' columns after (module, rid)
        self.links: dict[str, tuple[Any, ...]] = {}  # side -> (status,)


def real_sync(folder: Path, count: int, seed: int) -> dict[str, Any]:
    """A first sync of ``count`` records by the engine, in ``folder``: its records'
    rows (two entries, a state row, two links each) and its intent entries' meta."""
    from replicator.sync.app import open_app

    scaling.seed_sides(folder, count, seed)
    config = folder / "replicator.toml"
    config.write_text(scaling.CONFIG.format(page_size=1000, suggest="false"))
    app = open_app(config)
    try:
        app.engine.run()
    finally:
        app.close()
    db = sqlite3.connect(folder / "journal.db")
    try:
        entries = db.execute(
            "SELECT rid, side, kind, dot, context, fields, meta FROM entries "
            "WHERE kind IN ('observed', 'applied') ORDER BY seq"
        ).fetchall()
        intents = db.execute(
            "SELECT meta FROM entries WHERE kind = 'intent' ORDER BY seq"
        ).fetchall()
        records = db.execute(
            "SELECT rid, key, attention, state, near, status, marks, label, ref FROM records "
            "WHERE module = ?",
            (MODULE,),
        ).fetchall()
        links = db.execute(
            "SELECT side, side_id, rid, status FROM links WHERE module = ?", (MODULE,)
        ).fetchall()
    finally:
        db.close()
    books_n = count // 2
    by_rid: dict[str, Template] = {}
    targets = {(rid, side): side_id for side, side_id, rid, _ in links}
    for rid, *_ in records:
        origin, id_text = rid.split(":", 1)
        index = int(id_text) - 1 if origin == "books" else books_n + int(id_text)
        if origin == "crm":
            index -= scaling.CRM_FIRST_ID
        by_rid[rid] = Template(index, origin, targets[(rid, OTHER[origin])])
    for rid, side, kind, dot, context, fields, meta in entries:
        template = by_rid[rid]
        row = (side, kind, dot, context, fields, meta)
        if kind == "observed":
            template.observed = row
        else:
            template.applied = row
    for rid, *rest in records:
        by_rid[rid].record = tuple(rest)
    for side, _side_id, rid, status in links:
        by_rid[rid].links[side] = (status,)
    usable = [
        t
        for t in by_rid.values()
        # the first observation of a module declares its field names: not a record's shape
        if t.observed and t.applied and t.record and not t.observed[4].startswith("[[")
    ]
    intent_bytes = sum(len(meta) for (meta,) in intents)
    return {
        "books": [t for t in usable if t.origin == "books"],
        "crm": [t for t in usable if t.origin == "crm"],
        "intent_bytes_per_record": intent_bytes / max(1, len(records)),
        "entries": len(entries) + len(intents),
        "records": len(records),
    }


# -- the rows, replicated -----------------------------------------------------------------


class Rows:
    """Everything one page writes, made before the clock."""

    __slots__ = (
        "origin",
        "first_id",
        "observed",
        "intent",
        "applied",
        "texts",
        "records",
        "links",
        "side_rows",
        "made",
        "keys",
        "fields",
    )

    def __init__(self, origin: str, first_id: int) -> None:
        self.origin = origin
        self.first_id = first_id  # the page's first source id (its scan starts after it - 1)
        self.observed: list[tuple[Any, ...]] = []
        self.intent: list[tuple[Any, ...]] = []
        self.applied: list[tuple[Any, ...]] = []
        self.texts: list[bytes] = []  # each entry's canonical bytes, in seq order
        self.records: list[tuple[Any, ...]] = []
        self.links: list[tuple[Any, ...]] = []
        self.side_rows: list[tuple[Any, ...]] = []  # the target side's new rows
        self.made: list[tuple[str, str, str]] = []  # (table, key, id): the keys remembered
        self.keys: list[str] = []
        self.fields: list[str] = []  # the observations' fields texts


class Chain:
    """The HMAC-SHA256 chain of format 3 (:func:`journal.entry.chained_rows`' text)."""

    def __init__(self, key: ChainKey) -> None:
        self.inner = key._inner  # the copied states chained_rows uses
        self.outer = key._outer
        self.prev = "0" * 64
        self.seq = 0
        self.at_micros = -1
        self.at = ""

    def row(
        self,
        micros: int,
        rid: str | None,
        side: str | None,
        kind: str,
        dot: str | None,
        context: str | None,
        fields: str,
        meta: str,
    ) -> tuple[tuple[Any, ...], bytes]:
        self.seq += 1
        if micros != self.at_micros:
            self.at, self.at_micros = micros_text(micros), micros
        data = (
            f"{self.prev}{SEP}{self.seq}{SEP}{self.at}{SEP}{MODULE}{SEP}{rid or ''}{SEP}"
            f"{side or ''}{SEP}{kind}{SEP}{dot or ''}{SEP}{context or ''}{SEP}{fields}{SEP}{meta}"
        ).encode()
        inner = self.inner.copy()
        inner.update(data)
        outer = self.outer.copy()
        outer.update(inner.digest())
        raw = outer.digest()
        self.prev = raw.hex()
        row = (self.seq, micros, MODULE, rid, side, kind, dot, context, fields, meta, raw)
        return row, data


def pages_of(
    n: int,
    page: int,
    template: dict[str, Any],
    key: ChainKey,
    source_rows: dict[str, Any],
    chain: Chain | None = None,
) -> Iterator[Rows]:
    """The pages of a first copy of ``n`` records: Books' half first, then CRM's, each
    record made from a template record of its side (new rid, ids, seqs, name number),
    chained on from ``chain`` (None: a new journal's)."""
    books_n = n // 2
    crm_n = n - books_n
    chain = chain or Chain(key)
    for origin, start, count in (("books", 0, books_n), ("crm", books_n, crm_n)):
        templates: list[Template] = template[origin]
        target = OTHER[origin]
        target_table = SIDES[target][1]
        for first in range(start, start + count, page):
            last = min(first + page, start + count)
            micros = BUILT_MICROS + first  # one time a page, as a batch shares its time
            first_id = first + 1 if origin == "books" else scaling.CRM_FIRST_ID + first - start
            rows = Rows(origin, first_id)
            made: list[tuple[int, str, int, Template, str, str]] = []
            for j in range(first, last):
                t = templates[j % len(templates)]
                if origin == "books":
                    source_id = j + 1
                    target_id = scaling.CRM_FIRST_ID + crm_n + j
                else:
                    source_id = scaling.CRM_FIRST_ID + j - books_n
                    target_id = j + 1
                rid = f"{origin}:{source_id}"
                old, new = f"{t.index:07d}", f"{j:07d}"
                side, kind, dot, context, fields, meta = t.observed
                fields = fields.replace(old, new)
                row, data = chain.row(micros, rid, side, kind, dot, context, fields, meta)
                rows.observed.append(row)
                rows.texts.append(data)
                rows.fields.append(fields)
                made.append((row[0], rid, target_id, t, old, new))
                source = source_rows[origin].get(source_id)
                if source is not None:
                    rows.side_rows.append((target_id, *source))
                rows.made.append((target_table, rid, str(target_id)))
                rows.keys.append(rid)
            writes = ",".join(f'"{rid}":null' for _, rid, *_ in made)
            row, data = chain.row(
                micros, None, target, "intent", None, None, "{}", f'{{"writes":{{{writes}}}}}'
            )
            rows.intent.append(row)
            rows.texts.append(data)
            for observed_seq, rid, target_id, t, old, new in made:
                side, kind, dot, context, fields, meta = t.applied
                meta = meta.replace(t.target_id, str(target_id))
                row, data = chain.row(micros, rid, side, kind, dot, context, fields, meta)
                rows.applied.append(row)
                rows.texts.append(data)
                key, attention, state, near, status, marks, label, ref = t.record
                if state.startswith("@"):
                    state = f"@{observed_seq},{row[0]}"
                label = label.replace(old, new) if label else label
                key = key.replace(old, new) if key else key
                rows.records.append(
                    (MODULE, rid, key, attention, state, near, status, marks, label, ref)
                )
                source_id = int(rid.split(":", 1)[1])
                rows.links.append((MODULE, origin, str(source_id), rid, t.links[origin][0]))
                rows.links.append((MODULE, target, str(target_id), rid, t.links[target][0]))
            yield rows


# -- the clock ----------------------------------------------------------------------------


class Clock:
    """CPU and wall seconds by step."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        c, w = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.cpu[step] += time.process_time() - c
            self.wall[step] += time.perf_counter() - w


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


# -- the sides ----------------------------------------------------------------------------


def side_module(side: str) -> SideModule:
    _, table, columns, match, modified = SIDES[side]
    return SideModule(
        name=MODULE, table=table, id="id", columns=columns, match=(match,), modified=modified
    )


def open_side(path: Path, side: str) -> tuple[sqlite3.Connection, Plan]:
    """A side's database as the connector opens it, its change capture installed."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA busy_timeout = 10000")
    db.executescript(INSTALL)
    plan = read_plan(db, side_module(side))
    db.execute("BEGIN IMMEDIATE")
    install_triggers(db, plan)
    db.execute("COMMIT")
    return db, plan


def source_rows(folder: Path) -> dict[str, dict[int, tuple[Any, ...]]]:
    """Each seeded side's rows by id: the values a push writes to the other side (the
    same eight columns in the same order on both sides)."""
    out: dict[str, dict[int, tuple[Any, ...]]] = {}
    for side, (name, table, columns, _, _) in SIDES.items():
        db = sqlite3.connect(folder / name)
        try:
            cols = ", ".join(columns)
            out[side] = {row[0]: row[1:] for row in db.execute(f"SELECT id, {cols} FROM {table}")}
        finally:
            db.close()
    return out


# -- a first copy -------------------------------------------------------------------------


def without_virtual(statement: str) -> str:
    """``statement`` without the virtual columns of the entries table it may create."""
    if "CREATE TABLE IF NOT EXISTS entries" not in statement:
        return statement
    kept = [line for line in statement.splitlines(keepends=True) if "GENERATED ALWAYS" not in line]
    text = "".join(kept).rstrip()
    # the last column kept loses the comma its virtual successors needed
    head, _, tail = text.rpartition(")")
    return head.rstrip().rstrip(",") + "\n)" + tail


INSERT_RECORDS = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_LINKS = "INSERT INTO links VALUES (?, ?, ?, ?, ?)"
STATE_TABLES = ("records", "links")


def first_copy(
    folder: Path, seeded: Path, pages: list[Rows], key: ChainKey, variant: str, page: int
) -> dict[str, Any]:
    """One first copy of ``pages`` into fresh copies of the seeded sides and a new
    journal: each step's CPU and wall seconds, and the rows each table holds after."""
    for name, *_ in SIDES.values():
        shutil.copyfile(seeded / name, folder / name)
    journal_path = folder / "journal.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
    Journal(journal_path, NoopReducer(), key=key).close()  # the real schema, and nothing else
    jdb = connect(journal_path)
    # journal_append.py's "raw": the same rows into a plain table of the same columns (no
    # index, no trigger), WAL, synchronous=NORMAL, in a file of its own (not in the floor)
    plain_path = folder / "plain.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{plain_path}{suffix}").unlink(missing_ok=True)
    pdb = sqlite3.connect(plain_path, isolation_level=None)
    pdb.execute("PRAGMA journal_mode = WAL")
    pdb.execute("PRAGMA synchronous = NORMAL")
    rest = ", ".join(c.strip() for c in STORED_COLUMNS[3].split(",")[1:])
    pdb.execute(f"CREATE TABLE entries (seq INTEGER PRIMARY KEY, {rest})")
    # the journal's entries table and indexes without its two virtual columns (``at``,
    # ``hash``): SQLite computes a table's generated columns at every insert, VIRTUAL ones
    # too, so this is what they cost the append (not in the floor)
    novirtual_path = folder / "novirtual.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{novirtual_path}{suffix}").unlink(missing_ok=True)
    vdb = connect(novirtual_path)
    for statement in statements(SCHEMA):
        vdb.execute(without_virtual(statement))
    sides = {side: open_side(folder / SIDES[side][0], side) for side in SIDES}
    clock = Clock()
    insert_entries = INSERT_ENTRIES[3]
    mute_on, mute_off = (
        "UPDATE _replicator_mute SET mute = 1",
        "UPDATE _replicator_mute SET mute = 0",
    )
    snapshot_done: set[str] = set()
    read_cursor: dict[str, int] = {}
    with no_gc():
        made: list[str] = []
        if variant == "bulk":
            with clock("state_rebuild"):
                jdb.execute("BEGIN")
                made = put_aside(jdb, STATE_TABLES)
                jdb.execute("COMMIT")
        for rows in pages:
            origin, target = rows.origin, OTHER[rows.origin]
            sdb, splan = sides[origin]
            tdb, tplan = sides[target]
            table = splan.module.table
            # the source side's page: the least read (a keyset scan) ...
            with clock("side_read_scan"):
                sdb.execute(
                    f"SELECT {splan.read} FROM {splan.source} WHERE id >= ? ORDER BY id LIMIT ?",
                    (rows.first_id, len(rows.keys)),
                ).fetchall()
            # ... and the connector's (its change log: a snapshot once, then pages of it)
            with clock("side_read_log"):
                # both sides' snapshots before the first push (the cycle invariant: every
                # side pulled before a create is sent), so no pushed row is in a snapshot
                for side, (db, plan) in sides.items():
                    if side in snapshot_done:
                        continue
                    snapshot_done.add(side)
                    db.execute("BEGIN IMMEDIATE")
                    read_cursor[side] = db.execute(LAST_SEQ).fetchone()[0]
                    now = dt.datetime.now(dt.UTC).isoformat()
                    db.execute(plan.snapshot, (plan.module.table, now))
                    db.execute(plan.vanished, (now, plan.module.table))
                    db.execute("COMMIT")
                log_rows = sdb.execute(READ_LOG, (table, read_cursor[origin], page)).fetchall()
                ids = [r[1] for r in log_rows]
                sdb.execute(splan.select(len(ids)), ids).fetchall()
                read_cursor[origin] = log_rows[-1][0]
                sdb.execute(FORGET_LOG, (table, read_cursor[origin]))
            with clock("hash"):
                for data in rows.texts:
                    inner = key._inner.copy()
                    inner.update(data)
                    outer = key._outer.copy()
                    outer.update(inner.digest())
                    outer.digest()
            with clock("sha256_plain"):
                sha256 = hashlib.sha256
                for data in rows.texts:
                    sha256(data).digest()
            with clock("entries_plain"):
                pdb.execute("BEGIN IMMEDIATE")
                for part in (rows.observed, rows.intent, rows.applied):
                    pdb.executemany(insert_entries, part)
                pdb.execute("COMMIT")
            vdb.execute("BEGIN")
            with clock("entries_without_virtual"):
                for part in (rows.observed, rows.intent, rows.applied):
                    vdb.executemany(insert_entries, part)
            vdb.execute("COMMIT")
            # the observations, committed (the pull's transaction)
            jdb.execute("BEGIN")
            with clock("entries"):
                jdb.executemany(insert_entries, rows.observed)
            with clock("journal_commit"):
                jdb.execute("COMMIT")
            # the intent before the push
            jdb.execute("BEGIN")
            with clock("entries"):
                jdb.executemany(insert_entries, rows.intent)
            with clock("journal_commit"):
                jdb.execute("COMMIT")
            # the push: the rows into the other side, as the connector writes a batch
            ttable = tplan.module.table
            tdb.execute("BEGIN IMMEDIATE")
            with clock("side_write_keys"):
                tdb.execute(mute_on)
                tdb.execute(tplan.known(len(rows.keys)), (ttable, *rows.keys)).fetchall()
                tdb.execute(tplan.next_id).fetchone()
            with clock("side_write_rows"):
                tdb.executemany(tplan.insert(tplan.columns), rows.side_rows)
            with clock("side_write_keys"):
                tdb.executemany(REMEMBER_KEYS, rows.made)
                tdb.execute(RAISE_HWM, (ttable, rows.side_rows[-1][0]))
                tdb.execute(mute_off)
            with clock("side_commit"):
                tdb.execute("COMMIT")
            # the outcomes and the state (records, links)
            jdb.execute("BEGIN")
            with clock("entries"):
                jdb.executemany(insert_entries, rows.applied)
            with clock("records"):
                jdb.executemany(INSERT_RECORDS, rows.records)
            with clock("links"):
                jdb.executemany(INSERT_LINKS, rows.links)
            with clock("journal_commit"):
                jdb.execute("COMMIT")
        if variant == "bulk":
            with clock("state_rebuild"):
                jdb.execute("BEGIN")
                restore(jdb, STATE_TABLES, made)
                jdb.execute("COMMIT")
        with clock("checkpoint"):
            jdb.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for sdb, _ in sides.values():
                sdb.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {
        table: jdb.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("entries", "records", "links")
    }
    counts["records_tally"] = jdb.execute("SELECT sum(n) FROM records_tally").fetchone()[0]
    counts["indexes"] = jdb.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchone()[0]
    for side, (sdb, splan) in sides.items():
        counts[f"{side}_rows"] = sdb.execute(f"SELECT count(*) FROM {splan.table}").fetchone()[0]
        sdb.close()
    jdb.close()
    pdb.close()
    vdb.close()
    return {"variant": variant, "cpu": dict(clock.cpu), "wall": dict(clock.wall), "counts": counts}


# -- the interpreter floor ---------------------------------------------------------------


def interpreter_floor(
    pages: list[Rows], source: dict[str, dict[int, tuple[Any, ...]]], key: ChainKey
) -> dict[str, float]:
    """CPU seconds of the least Python a record needs, each part alone and all in one
    loop (``per_record``), over every record of ``pages``."""
    columns = ("id", *SIDES["books"][2])
    rows = []  # (source row, the fields list its entry stores, its rid, target id)
    for page in pages:
        for k, rid in enumerate(page.keys):
            source_id = int(rid.split(":", 1)[1])
            rows.append(
                (
                    (source_id, *source[page.origin][source_id]),
                    orjson.loads(page.fields[k]),
                    rid,
                    page.side_rows[k][0],
                )
            )
    inner_state, outer_state = key._inner, key._outer
    prev = "0" * 64
    at = micros_text(BUILT_MICROS)
    dumps, zip_, dict_ = orjson.dumps, zip, dict
    out: dict[str, float] = {}

    def timed(name: str, loop: Any) -> None:
        with no_gc():
            c = time.process_time()
            loop()
            out[name] = time.process_time() - c

    def one_dict() -> None:
        for row, *_ in rows:
            dict_(zip_(columns, row))

    def one_decimal() -> None:
        for row, *_ in rows:
            Decimal(repr(row[4]))

    def one_dumps() -> None:
        for _, fields, *_ in rows:
            dumps(fields).decode()

    def two_texts() -> None:
        for seq, (_, fields, rid, _) in enumerate(rows):
            f"{prev}{SEP}{seq}{SEP}{at}{SEP}{MODULE}{SEP}{rid}{SEP}books{SEP}observed{SEP}"
            f'["books",1]{SEP}{{}}{SEP}{fields}{SEP}[0,4,"{at}"]'.encode()
            f"{prev}{SEP}{seq}{SEP}{at}{SEP}{MODULE}{SEP}{rid}{SEP}crm{SEP}applied{SEP}"
            f'{SEP}{{"crm":1}}{SEP}[-1]{SEP}["{rid}",true,true]'.encode()

    def two_hmacs() -> None:
        data = b"x" * 400
        for _ in rows:
            for _ in (0, 1):
                inner = inner_state.copy()
                inner.update(data)
                outer = outer_state.copy()
                outer.update(inner.digest())
                outer.digest()

    def six_tuples() -> None:
        made: list[Any] = []
        add = made.append
        for seq, (row, fields, rid, target_id) in enumerate(rows):
            add((seq, 1, MODULE, rid, "books", "observed", None, None, fields, "[]", b""))
            add((seq, 1, MODULE, rid, "crm", "applied", None, None, "[-1]", "[]", b""))
            add((MODULE, rid, None, 0, "@1,2", None, "active", None, rid, None))
            add((MODULE, "books", row[0], rid, "active"))
            add((MODULE, "crm", target_id, rid, "active"))
            add((target_id, *row[1:]))

    def per_record() -> None:
        link = prev
        observed: list[Any] = []
        applied: list[Any] = []
        records: list[Any] = []
        links: list[Any] = []
        side_rows: list[Any] = []
        for seq, (row, fields, rid, target_id) in enumerate(rows):
            values = dict_(zip_(columns, row))
            values["credit_limit"] = Decimal(repr(values["credit_limit"]))
            text = dumps(fields).decode()
            data = (
                f"{link}{SEP}{seq}{SEP}{at}{SEP}{MODULE}{SEP}{rid}{SEP}books{SEP}observed{SEP}"
                f'["books",1]{SEP}{{}}{SEP}{text}{SEP}[0,4,"{at}"]'
            ).encode()
            inner = inner_state.copy()
            inner.update(data)
            outer = outer_state.copy()
            outer.update(inner.digest())
            raw = outer.digest()
            link = raw.hex()
            observed.append((seq, 1, MODULE, rid, "books", "observed", None, None, text, "", raw))
            meta = f'["{target_id}",true,true]'
            data = (
                f"{link}{SEP}{seq}{SEP}{at}{SEP}{MODULE}{SEP}{rid}{SEP}crm{SEP}applied{SEP}"
                f'{SEP}{{"crm":1}}{SEP}[-1]{SEP}{meta}'
            ).encode()
            inner = inner_state.copy()
            inner.update(data)
            outer = outer_state.copy()
            outer.update(inner.digest())
            raw = outer.digest()
            link = raw.hex()
            applied.append((seq, 1, MODULE, rid, "crm", "applied", None, None, "[-1]", meta, raw))
            records.append((MODULE, rid, None, 0, "@1,2", None, "active", None, rid, None))
            links.append((MODULE, "books", values["id"], rid, "active"))
            links.append((MODULE, "crm", target_id, rid, "active"))
            side_rows.append((target_id, *row[1:]))

    for name, loop in (
        ("dict", one_dict),
        ("decimal", one_decimal),
        ("dumps", one_dumps),
        ("canonical_texts", two_texts),
        ("hmacs", two_hmacs),
        ("tuples", six_tuples),
        ("per_record", per_record),
    ):
        timed(name, loop)
    return out


# -- a replay ------------------------------------------------------------------------------


def build_replay_journal(
    path: Path, m: int, count: int, page: int, template: dict[str, Any], key: ChainKey
) -> tuple[list[list[tuple[Any, ...]]], list[list[tuple[Any, ...]]], int]:
    """A journal of at least ``m`` entries about ``count`` records, made by executemany
    into a real journal file: a first copy's pages of them (an observation and an outcome
    a record, an intent a page), then again as their edits until ``m`` are written; the
    state rows a replay writes (one records row a record, two links, from the first
    pass: a record's state is written once) and the entries written."""
    Journal(path, NoopReducer(), key=key).close()
    db = connect(path)
    records: list[list[tuple[Any, ...]]] = []
    links: list[list[tuple[Any, ...]]] = []
    done = 0
    no_sides: dict[str, Any] = {"books": {}, "crm": {}}
    chain = Chain(key)
    db.execute("BEGIN")
    first = True
    while done < m:
        for k, rows in enumerate(pages_of(count, page, template, key, no_sides, chain), 1):
            for part in (rows.observed, rows.intent, rows.applied):
                db.executemany(INSERT_ENTRIES[3], part)
                done += len(part)
            if first:
                records.append(rows.records)
                links.append(rows.links)
            if k % 50 == 0:
                db.execute("COMMIT")
                db.execute("BEGIN")
                log(f"  replay journal: {done:,} entries")
        first = False
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return records, links, done


READ_SQL = (
    "SELECT seq, micros, module, rid, side, kind, dot, context, fields, meta, "
    "CAST(digest AS BLOB) FROM entries WHERE seq > ? ORDER BY seq LIMIT ?"
)
CHAIN_SQL = f"SELECT {CHAIN_COLUMNS[3]} FROM entries WHERE seq > ? ORDER BY seq LIMIT ?"


def replay_round(
    folder: Path,
    path: Path,
    records: list[list[tuple[Any, ...]]],
    links: list[list[tuple[Any, ...]]],
    key: ChainKey,
    variant: str,
    batch: int,
) -> dict[str, Any]:
    """One replay and chain check of the journal at ``path``, the state into a new file."""
    clock = Clock()
    db = connect(path)
    state_path = folder / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_path}{suffix}").unlink(missing_ok=True)
    sdb = connect(state_path)
    for statement in statements(STATE_SCHEMA):
        sdb.execute(statement)
    loads = orjson.loads
    bad = 0
    read = 0
    with no_gc():
        since = 0
        while True:
            with clock("replay_read"):
                rows = db.execute(READ_SQL, (since, batch)).fetchall()
            if not rows:
                break
            since = rows[-1][0]
            read += len(rows)
            with clock("replay_decode"):
                for row in rows:
                    loads(row[8])
        made: list[str] = []
        with clock("replay_state_write"):
            sdb.execute("BEGIN")
            if variant == "bulk":
                made = put_aside(sdb, STATE_TABLES)
            for part_records, part_links in zip(records, links, strict=True):
                sdb.executemany(INSERT_RECORDS, part_records)
                sdb.executemany(INSERT_LINKS, part_links)
            if variant == "bulk":
                restore(sdb, STATE_TABLES, made)
            sdb.execute("COMMIT")
            sdb.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        since = 0
        prev = bytes(32)
        last_micros: Any = None
        at = b""
        inner_state, outer_state = key._inner, key._outer
        while True:
            with clock("chain_read"):
                rows = db.execute(CHAIN_SQL, (since, batch)).fetchall()
            if not rows:
                break
            since = rows[-1][0]
            with clock("chain_hash"):
                for seq, micros, digest, rest in rows:
                    if micros != last_micros:
                        at, last_micros = micros_text(micros).encode(), micros
                    data = b"%b\x1f%d\x1f%b\x1f%b" % (prev.hex().encode(), seq, at, rest)
                    inner = inner_state.copy()
                    inner.update(data)
                    outer = outer_state.copy()
                    outer.update(inner.digest())
                    if outer.digest() != digest:
                        bad += 1
                    prev = digest
    counts = {
        "entries_read": read,
        "records": sdb.execute("SELECT count(*) FROM records").fetchone()[0],
        "links": sdb.execute("SELECT count(*) FROM links").fetchone()[0],
        "chain_mismatches": bad,
    }
    sdb.close()
    db.close()
    return {"variant": variant, "cpu": dict(clock.cpu), "wall": dict(clock.wall), "counts": counts}


# -- figures ------------------------------------------------------------------------------


def per_unit(rounds: Sequence[dict[str, Any]], what: str, unit: int) -> dict[str, Any]:
    """Each step's median and least seconds over the rounds that ran it, in us a unit,
    by variant for the steps a variant changes."""
    samples: dict[str, list[float]] = defaultdict(list)
    for r in rounds:
        for step, seconds in r[what].items():
            name = step if step not in VARIANT_STEPS else f"{step}.{r['variant']}"
            samples[name].append(seconds)
    return {
        step: {
            "median": round(statistics.median(values) * 1e6 / unit, 2),
            "min": round(min(values) * 1e6 / unit, 2),
            "samples": len(values),
        }
        for step, values in sorted(samples.items())
    }


VARIANT_STEPS = {"records", "links", "state_rebuild", "replay_state_write"}


def median(steps: dict[str, Any], name: str) -> float:
    return float(steps[name]["median"]) if name in steps else 0.0


def first_copy_floor(steps: dict[str, Any], interp: dict[str, float], n: int) -> dict[str, Any]:
    state = {
        variant: median(steps, f"records.{variant}")
        + median(steps, f"links.{variant}")
        + median(steps, f"state_rebuild.{variant}")
        for variant in ("indexed", "bulk")
    }
    cheaper = min(state, key=lambda v: state[v])
    common = (
        median(steps, "entries")
        + median(steps, "journal_commit")
        + median(steps, "side_write_rows")
        + median(steps, "side_commit")
        + median(steps, "checkpoint")
    )
    minimum = common + median(steps, "side_read_scan") + state[cheaper]
    as_built = (
        common + median(steps, "side_read_log") + median(steps, "side_write_keys") + state[cheaper]
    )
    python = interp["per_record"] * 1e6 / n
    floor = minimum + python
    # journal_append.py's pure append over its raw executemany can be at most the plain
    # insert over the real one plus the hash (no Python at all besides)
    plain = median(steps, "entries_plain")
    ceiling = plain / (median(steps, "entries") + median(steps, "hash")) if plain else None
    return {
        "state_us_per_record": {k: round(v, 2) for k, v in state.items()},
        "state_variant_in_floor": cheaper,
        "sqlite_floor_us_per_record": {
            "minimum": round(minimum, 2),
            "as_built": round(as_built, 2),
        },
        "interpreter_floor_us_per_record": round(python, 2),
        "design_floor_us_per_record": round(floor, 2),
        "design_floor_as_built_us_per_record": round(as_built + python, 2),
        "design_floor_records_per_cpu_s": round(1e6 / floor),
        "budget_us_per_record": BUDGET_US_PER_RECORD,
        "left_for_python_after_sqlite_floor_us": round(BUDGET_US_PER_RECORD - minimum, 2),
        "left_after_design_floor_us": round(BUDGET_US_PER_RECORD - floor, 2),
        "append_over_raw_ceiling": None if ceiling is None else round(ceiling, 3),
        "engine_now_us_per_record": ENGINE_NOW["first_copy_cpu_us_per_record"],
        "engine_now_over_floor": round(ENGINE_NOW["first_copy_cpu_us_per_record"] / floor, 1),
    }


def replay_floor(steps: dict[str, Any]) -> dict[str, Any]:
    write = {v: median(steps, f"replay_state_write.{v}") for v in ("indexed", "bulk")}
    cheaper = min(write, key=lambda v: write[v])
    sqlite_replay = median(steps, "replay_read") + write[cheaper]
    replay = sqlite_replay + median(steps, "replay_decode")
    chain = median(steps, "chain_read") + median(steps, "chain_hash")
    verify = replay + chain
    return {
        "state_variant_in_floor": cheaper,
        "replay_sqlite_floor_us_per_entry": round(sqlite_replay, 2),
        "replay_floor_us_per_entry": round(replay, 2),
        "chain_check_floor_us_per_entry": round(chain, 2),
        "verify_floor_us_per_entry": round(verify, 2),
        "budget_us_per_entry": BUDGET_US_PER_ENTRY,
        "left_for_python_after_replay_floor_us": round(BUDGET_US_PER_ENTRY - replay, 2),
        "left_after_verify_floor_us": round(BUDGET_US_PER_ENTRY - verify, 2),
        "floor_entries_per_cpu_s": {
            "replay": round(1e6 / replay) if replay else None,
            "verify": round(1e6 / verify) if verify else None,
            "chain_check": round(1e6 / chain) if chain else None,
        },
        "engine_now_us_per_entry": {
            "replay": ENGINE_NOW["replay_cpu_us_per_entry"],
            "verify": ENGINE_NOW["verify_cpu_us_per_entry"],
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--replay-entries", type=int, default=1_000_000)
    parser.add_argument(
        "--replay-records", type=int, default=0, help="default: entries / 4, as journal_replay.py"
    )
    parser.add_argument("--page", type=int, default=1000, help="records a page (a pull's)")
    parser.add_argument("--batch", type=int, default=5000, help="entries a replay read")
    parser.add_argument("--rounds", type=int, default=3, help="first-copy rounds of each variant")
    parser.add_argument("--replay-rounds", type=int, default=1, help="replay rounds of each")
    parser.add_argument("--template", type=int, default=400, help="records of the real sync")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--dir", default=None, help="work here (kept), not in a temp dir")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.replay_entries, args.rounds, args.template = 2000, 4000, 1, 100
        args.replay_rounds = 1
    n = args.records
    load_start = os.getloadavg()
    out: dict[str, Any] = {
        "benchmark": "floor",
        "library": library_state(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "orjson": orjson.__version__,
        "cpus": os.cpu_count(),
        "records": n,
        "page": args.page,
        "rounds": args.rounds,
        "replay_rounds": args.replay_rounds,
    }
    tmp = None
    if args.dir:
        folder = Path(args.dir)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-floor-")
        folder = Path(tmp.name)
    try:
        key = ChainKey.generate()[0]
        log(f"a real first sync of {args.template} records (the template)")
        (folder / "template").mkdir(exist_ok=True)
        template = real_sync(folder / "template", args.template, args.seed)
        seeded = folder / "seeded"
        seeded.mkdir(exist_ok=True)
        log(f"seeding {n:,} records")
        scaling.seed_sides(seeded, n, args.seed)
        source = source_rows(seeded)
        t = time.perf_counter()
        pages = list(pages_of(n, args.page, template, key, source))
        entries = sum(len(p.observed) + len(p.intent) + len(p.applied) for p in pages)
        entry_bytes = sum(
            sum(len(str(v)) if not isinstance(v, bytes) else len(v) for v in row[1:])
            for p in pages[:1]
            for row in (*p.observed, *p.applied)
        ) / max(1, 2 * len(pages[0].keys))
        out["template"] = {
            "records": template["records"],
            "entries": template["entries"],
            "used": {"books": len(template["books"]), "crm": len(template["crm"])},
            "avg_entry_bytes_first_page": round(entry_bytes),
            "rows_made_seconds": round(time.perf_counter() - t, 1),
        }
        rounds = []
        work = folder / "copy"
        work.mkdir(exist_ok=True)
        for r in range(args.rounds):
            for variant in ("indexed", "bulk") if r % 2 == 0 else ("bulk", "indexed"):
                log(f"first copy, round {r + 1}, {variant}")
                rounds.append(first_copy(work, seeded, pages, key, variant, args.page))
        steps_cpu = per_unit(rounds, "cpu", n)
        interps = [interpreter_floor(pages, source, key) for _ in range(max(1, args.rounds))]
        interp = {k: statistics.median(i[k] for i in interps) for k in interps[0]}
        out["first_copy"] = {
            "entries": entries,
            "counts": {r["variant"]: r["counts"] for r in rounds},
            "cpu_us_per_record": steps_cpu,
            "wall_us_per_record": per_unit(rounds, "wall", n),
            "interpreter_cpu_us_per_record": {k: round(v * 1e6 / n, 2) for k, v in interp.items()},
            **first_copy_floor(steps_cpu, interp, n),
        }
        del pages
        m = args.replay_entries
        log(f"building a journal of {m:,} entries for the replay")
        t = time.perf_counter()
        path = folder / "replay.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        count = args.replay_records or m // 4
        records, links, written = build_replay_journal(path, m, count, args.page, template, key)
        built = time.perf_counter() - t
        replays = []
        for r in range(args.replay_rounds):
            for variant in ("indexed", "bulk") if r % 2 == 0 else ("bulk", "indexed"):
                log(f"replay, round {r + 1}, {variant}")
                replays.append(replay_round(folder, path, records, links, key, variant, args.batch))
        steps_cpu = per_unit(replays, "cpu", written)
        out["replay"] = {
            "entries": written,
            "records": count,
            "build_seconds": round(built, 1),
            "journal_bytes": path.stat().st_size,
            "counts": {r["variant"]: r["counts"] for r in replays},
            "cpu_us_per_entry": steps_cpu,
            "wall_us_per_entry": per_unit(replays, "wall", written),
            **replay_floor(steps_cpu),
        }
        out["load"] = {"start": [round(x, 2) for x in load_start], "end": list(os.getloadavg())}
        out["engine_now"] = ENGINE_NOW
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
