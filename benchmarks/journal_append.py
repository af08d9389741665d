"""Journal append throughput against raw sqlite3 and the eventsourcing SQLite recorder.

Builds N realistic ``observed`` entries of a customers module once, then, in the same run,
each into a fresh file of a temp dir:

- ``ours_noop``: :meth:`journal.Journal.append` in batches (one transaction per batch) with a
  reducer that does nothing: the pure journal append (canonical encoding, hash chain,
  ``executemany`` into ``entries`` with its index);
- ``ours_reducer``: the same with :class:`conflicts.RecordReducer`, which also folds every
  entry into the materialised ``records`` / ``links`` tables (what a sync really pays);
- ``raw``: ``executemany`` of the exact row tuples our journal stored (read back from its
  ``entries`` table) into a plain table of the same columns, no index, no trigger, same batch
  size, WAL, ``synchronous=NORMAL``;
- ``eventsourcing``: ``SQLiteApplicationRecorder.insert_events`` of ``StoredEvent`` values
  (originator id = uuid5 of the rid, version = the record's entry number, state = the
  canonical JSON bytes of the entry) in batches of the same size.

Prints one JSON object to stdout (progress goes to stderr).  Targets: pure journal append
at least 0.5x raw sqlite3 and at least 2x eventsourcing.

    python benchmarks/journal_append.py            # 200,000 entries, batches of 1000
    python benchmarks/journal_append.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from _common import library_state  # benchmarks/ is on sys.path when run as a script

from conflicts import RecordReducer
from journal import Journal, Kind, NewEntry, VectorClock
from journal.schema import STORED_COLUMNS, entries_format

MODULE = "customers"
SIDES = ("crm", "books")
TARGET_VS_RAW = 0.5
TARGET_VS_EVENTSOURCING = 2.0

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Radia",
    "Tim",
    "Margaret",
    "Dennis",
    "Niklaus",
    "Leslie",
    "Shafi",
    "John",
    "Hedy",
    "Linus",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Hamilton",
    "Ritchie",
    "Wirth",
    "Lamport",
    "Goldwasser",
]
KINDS = ["Ltd", "GmbH", "LLC", "SARL", "BV", "Pty", "Inc", "AB", "Oy", "SpA"]
CITIES = ["Chennai", "Berlin", "Austin", "Lyon", "Utrecht", "Perth", "Oslo", "Turin", "Pune"]
TERMS = [0, 15, 30, 45, 60]


class NoopReducer:
    """A reducer that materialises nothing: what is left is the pure journal append."""

    reads_state = False  # no record is read for it (journal.protocols.Reducer)

    def apply(self, view: Any, entry: Any) -> None:
        return None

    def encode(self, state: Any) -> tuple[str, str | None, bool]:
        return "null", None, False

    def decode(self, text: str) -> Any:
        return None


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


# -- the entries ---------------------------------------------------------------------------


def build_entries(n: int, records: int, seed: int) -> list[NewEntry]:
    """``n`` observed entries over ``records`` customers, round-robin, causally chained.

    Entry ``i`` is about record ``i % records``; rounds alternate the side (CRM first, as the
    integration orders customers).  Each carries a dot, the record's clock before it as the
    causal context, 8 canonical fields and meta (side id, match key, side modification time).
    """
    rng = random.Random(seed)
    base = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    crm_base, books_base = 4876876000000333001, 2154000000012001
    names = []
    for r in range(records):
        names.append(f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(KINDS)} {r:07d}")
    clocks: list[VectorClock] = [VectorClock()] * records
    entries: list[NewEntry] = []
    for i in range(n):
        r = i % records
        rnd = i // records
        side = SIDES[rnd % 2]
        rid = f"crm:{crm_base + r}"
        side_id = str(crm_base + r) if side == "crm" else str(books_base + r)
        clock = clocks[r]
        dot = clock.next_dot(side)
        name = names[r]
        slug = name.split(" ")[0].lower() + "." + name.split(" ")[1].lower()
        fields: dict[str, Any] = {
            "name": name,
            "email": f"{slug}{r}@example.com",
            "phone": f"+1-555-{rng.randrange(10**7):07d}",
            "credit_limit": Decimal(rng.randrange(0, 5_000_000)) / 100,
            "customer_since": dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(4000)),
            "city": rng.choice(CITIES),
            "payment_terms": rng.choice(TERMS),
            "website": f"https://{slug.replace('.', '-')}-{r}.example.com",
        }
        modified = base + dt.timedelta(seconds=i, microseconds=rng.randrange(10**6))
        meta = {"id": side_id, "key": name, "modified": modified}
        entries.append(NewEntry(Kind.OBSERVED, MODULE, rid, side, dot, clock, fields, meta))
        clocks[r] = clock.add(dot)
    return entries


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


# -- the contenders ------------------------------------------------------------------------


def run_ours(path: Path, entries: list[NewEntry], batch: int, reducer: Any) -> dict[str, Any]:
    journal = Journal(path, reducer)
    chunks = batches(entries, batch)

    def go() -> None:
        for chunk in chunks:
            with journal.transaction():
                journal.append(chunk)

    wall, cpu = timed(go)
    count = journal.count()
    journal.close()
    assert count == len(entries), (count, len(entries))
    return {"seconds": wall, "cpu_seconds": cpu, "file_bytes": _size(path)}


def read_rows(path: Path) -> tuple[str, list[tuple[Any, ...]]]:
    """The columns the journal stored its rows in and the rows as stored (format 2: the
    hashes as bytes; format 3: no link, the time as an integer)."""
    conn = sqlite3.connect(str(path))
    try:
        columns = STORED_COLUMNS[entries_format(conn)]
        return columns, conn.execute(f"SELECT {columns} FROM entries ORDER BY seq").fetchall()
    finally:
        conn.close()


def raw_schema(columns: str) -> str:
    """A plain table of the stored columns (``seq`` the rowid), no index, no trigger."""
    rest = [c.strip() for c in columns.split(",")[1:]]
    return f"CREATE TABLE entries (seq INTEGER PRIMARY KEY, {', '.join(rest)})"


def run_raw(path: Path, stored: tuple[str, list[tuple[Any, ...]]], batch: int) -> dict[str, Any]:
    columns, rows = stored
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(raw_schema(columns))
    marks = ",".join("?" * len(columns.split(",")))
    sql = f"INSERT INTO entries ({columns}) VALUES ({marks})"
    chunks = batches(rows, batch)

    def go() -> None:
        for chunk in chunks:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, chunk)
            conn.execute("COMMIT")

    wall, cpu = timed(go)
    count = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    conn.close()
    assert count == len(rows)
    return {"seconds": wall, "cpu_seconds": cpu, "file_bytes": _size(path)}


def stored_events(rows: list[tuple[Any, ...]]) -> list[Any]:
    """The same entries as eventsourcing ``StoredEvent`` values (built outside the timing)."""
    from eventsourcing.persistence import StoredEvent

    versions: dict[str, int] = {}
    topic = "replicator.customers:Observed"
    out = []
    for seq, at, module, rid, side, kind, dot, context, fields, meta, *_hashes in rows:
        version = versions.get(rid, 0) + 1
        versions[rid] = version
        # the state is the entry's canonical JSON: the same text our row holds, as one value
        state = (
            f'{{"at":"{at}","context":{context},"dot":{dot},"fields":{fields},'
            f'"kind":"{kind}","meta":{meta},"module":"{module}","rid":"{rid}",'
            f'"seq":{seq},"side":"{side}"}}'
        ).encode()
        originator = uuid.uuid5(uuid.NAMESPACE_URL, f"{module}/{rid}")
        out.append(StoredEvent(originator, version, topic, state))
    return out


def run_eventsourcing(
    path: Path, events: list[Any], batch: int, synchronous: str | None
) -> dict[str, Any]:
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    datastore = SQLiteDatastore(str(path))
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    pragmas: dict[str, Any] = {}
    if synchronous is not None:
        # the pool hands its one idle connection back to a single thread every time
        with datastore.get_connection(commit=True) as conn:
            conn._sqlite_conn.execute(f"PRAGMA synchronous = {synchronous}")
    with datastore.transaction(commit=False) as curs:
        curs.execute("PRAGMA journal_mode")
        pragmas["journal_mode"] = curs.fetchone()[0]
        curs.execute("PRAGMA synchronous")
        pragmas["synchronous"] = curs.fetchone()[0]
    chunks = batches(events, batch)

    def go() -> None:
        for chunk in chunks:
            recorder.insert_events(chunk)

    wall, cpu = timed(go)
    count = recorder.max_notification_id()
    datastore.close()
    assert count == len(events), (count, len(events))
    return {"seconds": wall, "cpu_seconds": cpu, "file_bytes": _size(path), "pragmas": pragmas}


def entries_format_of(stored: tuple[str, list[Any]] | None) -> int | None:
    """The entries format of the stored columns (journal.schema.STORED_COLUMNS)."""
    if stored is None:
        return None
    return next(n for n, columns in STORED_COLUMNS.items() if columns == stored[0])


def _text(value: Any) -> str | bytes:
    return value if isinstance(value, bytes) else str(value)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


# -- main ----------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["seconds"])
    return {
        "entries_per_s": round(n / best["seconds"]),
        "seconds": round(best["seconds"], 4),
        "cpu_seconds": round(best["cpu_seconds"], 4),
        "median_entries_per_s": round(n / statistics.median(r["seconds"] for r in runs)),
        "runs_seconds": [round(r["seconds"], 4) for r in runs],
        "file_bytes": best["file_bytes"],
        **({"pragmas": best["pragmas"]} if "pragmas" in best else {}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        help="distinct customers (default: entries / 4, so 4 rounds)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="entries per transaction")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each contender (best is reported, all are listed)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-eventsourcing", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.repeat = min(args.entries, 5_000), 1
    n = args.entries
    records = args.records or max(1, n // 4)

    log(f"building {n:,} entries over {records:,} records ...")
    t0 = time.perf_counter()
    entries = build_entries(n, records, args.seed)
    build_seconds = time.perf_counter() - t0

    results: dict[str, list[dict[str, Any]]] = {
        "ours_noop": [],
        "ours_reducer": [],
        "raw_sqlite3": [],
        "eventsourcing": [],
        "eventsourcing_sync_normal": [],
    }
    stored: tuple[str, list[tuple[Any, ...]]] | None = None
    events: list[Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        folder = Path(tmp)
        for rep in range(args.repeat):
            log(f"round {rep + 1}/{args.repeat}")
            path = folder / f"ours-noop-{rep}.db"
            results["ours_noop"].append(run_ours(path, entries, args.batch, NoopReducer()))
            log(f"  ours (no-op reducer): {n / results['ours_noop'][-1]['seconds']:,.0f}/s")
            if stored is None:
                stored = read_rows(path)
            for f in folder.glob(path.name + "*"):
                f.unlink()

            path = folder / f"ours-reducer-{rep}.db"
            results["ours_reducer"].append(run_ours(path, entries, args.batch, RecordReducer()))
            log(f"  ours (RecordReducer): {n / results['ours_reducer'][-1]['seconds']:,.0f}/s")

            path = folder / f"raw-{rep}.db"
            results["raw_sqlite3"].append(run_raw(path, stored, args.batch))
            log(f"  raw sqlite3:          {n / results['raw_sqlite3'][-1]['seconds']:,.0f}/s")

            if not args.skip_eventsourcing:
                if events is None:
                    events = stored_events(stored[1])
                for key, sync in (("eventsourcing", None), ("eventsourcing_sync_normal", "NORMAL")):
                    path = folder / f"{key}-{rep}.db"
                    results[key].append(run_eventsourcing(path, events, args.batch, sync))
                    log(f"  {key}: {n / results[key][-1]['seconds']:,.0f}/s")
            for f in folder.iterdir():
                f.unlink()

    out: dict[str, Any] = {
        "benchmark": "journal_append",
        "library": library_state(),
        "entries": n,
        "records": records,
        "batch": args.batch,
        "repeat": args.repeat,
        "build_seconds": round(build_seconds, 3),
        "entries_format": entries_format_of(stored),
        "avg_row_bytes": round(
            sum(sum(len(_text(c)) for c in r if c is not None) for r in stored[1]) / len(stored[1])
        )
        if stored and stored[1]
        else None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        from importlib.metadata import version

        out["eventsourcing_version"] = version("eventsourcing")
    except Exception:  # pragma: no cover
        out["eventsourcing_version"] = None
    out["results"] = {k: summarise(v, n) for k, v in results.items() if v}
    res = out["results"]
    noop, red, raw = res["ours_noop"], res["ours_reducer"], res["raw_sqlite3"]
    ratios: dict[str, Any] = {
        "ours_noop_vs_raw": round(noop["entries_per_s"] / raw["entries_per_s"], 3),
        "ours_reducer_vs_raw": round(red["entries_per_s"] / raw["entries_per_s"], 3),
    }
    targets: dict[str, Any] = {
        "journal_append_vs_raw": {
            "target": f">= {TARGET_VS_RAW}x",
            "value": ratios["ours_noop_vs_raw"],
            "met": ratios["ours_noop_vs_raw"] >= TARGET_VS_RAW,
        },
    }
    if "eventsourcing" in res:
        es = res["eventsourcing"]
        ratios["ours_noop_vs_eventsourcing"] = round(noop["entries_per_s"] / es["entries_per_s"], 3)
        ratios["ours_reducer_vs_eventsourcing"] = round(
            red["entries_per_s"] / es["entries_per_s"], 3
        )
        esn = res["eventsourcing_sync_normal"]
        ratios["ours_noop_vs_eventsourcing_sync_normal"] = round(
            noop["entries_per_s"] / esn["entries_per_s"], 3
        )
        targets["journal_append_vs_eventsourcing"] = {
            "target": f">= {TARGET_VS_EVENTSOURCING}x",
            "value": ratios["ours_noop_vs_eventsourcing"],
            "met": ratios["ours_noop_vs_eventsourcing"] >= TARGET_VS_EVENTSOURCING,
        }
    out["ratios"] = ratios
    out["targets"] = targets
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
