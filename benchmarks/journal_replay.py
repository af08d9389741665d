"""``journal replay`` and ``journal verify`` on a big journal: entries a second and peak RSS.

Builds one keyed journal of N entries shaped like a sync's (customers module; per record an
``observed`` entry from the side that showed it, with a dot, its causal context, 8 canonical
fields including a ``Decimal`` and a ``date``, and meta with the side id, match key and
modification time; then an ``applied`` entry on the other side with the values written; later
rounds are edits observed on alternating sides), appended in big batches with a reducer that
folds nothing (fast), then in a child process each (so each has its own peak RSS):

- ``replay``: :func:`journal.rebuild` with :class:`conflicts.RecordReducer`, what ``replicator
  journal replay`` runs: the chain check, then the materialised state thrown away and folded
  again from the entries (a journal of format 3: the chain checked by the fold's own reads,
  each row read once for both);
- ``chain``: :func:`journal.verify_chain`, the hash chain check alone (what proves the
  entries were not edited; ``journal verify`` runs it beside its fold), shared by as
  many processes as the fold would be (``--workers``), a span of entries each;
- ``verify``: :func:`journal.verify`, what ``replicator journal verify`` runs: SQLite's
  integrity check, the chain, then a replay into a scratch file compared with the live state
  (the state ``replay`` just built; the chain checked by the replay's reads, as ``replay``).

Prints one JSON object on stdout (progress on stderr): wall and CPU seconds (the phase's
process and its workers), entries a second (wall, and CPU: the machine may be shared) and
peak RSS (``ru_maxrss``; the largest worker's apart) of each.  Target: at least 100,000
entries a second at 1,000,000.

    python benchmarks/journal_replay.py                       # 1,000,000 entries
    python benchmarks/journal_replay.py --entries 100000
    python benchmarks/journal_replay.py --entries 100000 --profile /tmp/replay.prof
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import platform
import pstats
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from _common import build_journal, library_state, log  # benchmarks/ is on sys.path

from conflicts import RecordReducer
from journal import (
    ChainKey,
    Journal,
    Kind,
    NewEntry,
    VectorClock,
    rebuild,
    verify,
    verify_chain,
)

TARGET = 100_000
PHASES = ("replay", "chain", "verify")
BATCH = 20_000
MODULE = "customers"
CRM_BASE, BOOKS_BASE = 4876876000000333001, 2154000000012001
CITIES = ("London", "Leeds", "York", "Bath", "Derby", "Ely")


def entries(n: int, records: int) -> Iterator[list[NewEntry]]:
    """N entries in batches: per record an observed entry and an applied one (the first
    copy), then observed edits on alternating sides, round-robin over ``records``."""
    clocks: list[VectorClock] = [VectorClock()] * records
    base = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    batch: list[NewEntry] = []
    i = 0
    while i < n:
        r = (i // 2) % records if i < 2 * records else (i - 2 * records) % records
        first = i < 2 * records
        edit_round = 0 if first else (i - 2 * records) // records + 1
        origin = "crm" if r % 2 else "books"
        side = origin if first else ("books", "crm")[(r + edit_round) % 2]
        other = "books" if origin == "crm" else "crm"
        ids = {"crm": str(CRM_BASE + r), "books": str(BOOKS_BASE + r)}
        name = f"Customer {r:07d} Ltd"
        fields: dict[str, Any] = {
            "name": name,
            "email": f"ap{r}@customer{r}.example",
            "phone": f"+44 20 7946 {(r + edit_round) % 10000:04d}",
            "city": CITIES[(r + edit_round) % len(CITIES)],
            "credit_limit": Decimal(f"{(r * 7 + edit_round) % 90000}.{r % 100:02d}"),
            "since": dt.date(2020, 1 + r % 12, 1 + r % 28),
            "status": "active",
            "website": f"https://customer-{r}.example.com",
        }
        rid = f"{origin}:{ids[origin]}"
        clock = clocks[r]
        modified = base + dt.timedelta(seconds=i)
        dot = clock.next_dot(side)
        batch.append(
            NewEntry(
                Kind.OBSERVED,
                MODULE,
                rid,
                side,
                dot,
                clock,
                fields,
                {"id": ids[side], "key": name.lower(), "modified": modified},
            )
        )
        clock = clock.add(dot)
        i += 1
        if first and i < n:
            batch.append(
                NewEntry(
                    Kind.APPLIED,
                    MODULE,
                    rid,
                    other,
                    context=clock,
                    fields=fields,
                    meta={"id": ids[other], "create": True, "done": True},
                )
            )
            i += 1
        clocks[r] = clock
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def calibration_us() -> float:
    """Microseconds of ``sum(range(100))`` (best of 5 runs of 20,000) on this machine now:
    1.9 on the 2-core machine alone, several times more when it is shared; figures of two
    runs compare in its units."""
    best = min(timeit.repeat("sum(range(100))", number=20_000, repeat=5))
    return round(best / 20_000 * 1e6, 2)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    peak = resource.getrusage(who).ru_maxrss
    return round(peak / 1024 / (1024 if sys.platform == "darwin" else 1), 1)


def children_cpu() -> float:
    """CPU seconds of this process's children so far (a replay's worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(path: Path, n: int, records: int, key: ChainKey) -> None:
    build_journal(path, entries(n, records), key, version=RecordReducer.version)


def child(args: argparse.Namespace) -> None:
    """One phase in this process: prints its figures as JSON."""
    key = ChainKey.from_text(args.key)
    if args.phase == "build":
        start = time.perf_counter()
        build(Path(args.path), args.entries, args.records, key)
        print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}))
        return
    profiler = cProfile.Profile() if args.profile else None
    with Journal(args.path, RecordReducer(), key=key) as journal:
        n = journal.last_seq
        start, cpu, workers_cpu = time.perf_counter(), time.process_time(), children_cpu()
        if profiler is not None:
            profiler.enable()
        detail = None
        if args.phase == "replay":
            ok = rebuild(journal, workers=args.workers) == n
        elif args.phase == "chain":
            ok = verify_chain(journal, workers=args.workers) == n
        else:
            result = verify(journal, workers=args.workers)
            ok, detail = result.ok, result.problem
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu + children_cpu() - workers_cpu
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{args.profile}.{args.phase}")
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(25)
    print(
        json.dumps(
            {
                "calibration_us": calibration_us(),
                "seconds": seconds,
                "cpu_seconds": cpu,
                "entries": n,
                "ok": ok,
                "problem": detail,
                "peak_rss_mb": peak_rss_mb(),
                "worker_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
            }
        )
    )


def run(phase: str, args: argparse.Namespace, path: Path, key: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--path",
        str(path),
        "--key",
        key,
        "--entries",
        str(args.entries),
        "--records",
        str(args.records),
    ]
    if args.profile:
        command += ["--profile", args.profile]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    log(f"{phase} ...")
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=0, help="default: entries / 4")
    parser.add_argument("--profile", help="cProfile each timed phase into PROFILE.PHASE")
    parser.add_argument(
        "--workers",
        type=int,
        help="processes a replay's fold and the chain check are shared by (default: the "
        "library's choice, one a core from 100,000 entries); CPU seconds count them all",
    )
    parser.add_argument("--phase", choices=("build", *PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.records = args.records or max(1, args.entries // 4)
    if args.phase:
        child(args)
        return
    n = args.entries
    _, key = ChainKey.generate()
    with tempfile.TemporaryDirectory(prefix="replicator-replay-bench-") as tmp:
        path = Path(tmp) / "journal.db"
        log(f"building a journal of {n:,} entries over {args.records:,} records")
        built = run("build", args, path, key)
        size = path.stat().st_size
        phases = {phase: run(phase, args, path, key) for phase in PHASES}
    result = {
        "benchmark": "journal_replay",
        "entries": n,
        "records": args.records,
        "journal_bytes": size,
        "build_seconds": round(built["seconds"], 2),
        "seconds": {k: round(v["seconds"], 3) for k, v in phases.items()},
        "cpu_seconds": {k: round(v["cpu_seconds"], 3) for k, v in phases.items()},
        "entries_per_second": {k: round(n / v["seconds"]) for k, v in phases.items()},
        "entries_per_cpu_second": {k: round(n / v["cpu_seconds"]) for k, v in phases.items()},
        "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in phases.items()},
        # the largest of a phase's worker processes (0: none)
        "worker_peak_rss_mb": {k: v["worker_peak_rss_mb"] for k, v in phases.items()},
        # sum(range(100)) in microseconds after each phase (see calibration_us)
        "calibration_us": {k: v["calibration_us"] for k, v in phases.items()},
        "ok": {k: v["ok"] for k, v in phases.items()},
        "problems": {k: v["problem"] for k, v in phases.items() if v.get("problem")},
        "target_entries_per_second": TARGET,
        "meets_target": {k: n / v["seconds"] >= TARGET for k, v in phases.items()},
        "profiled": bool(args.profile),
        "workers": args.workers,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "library": library_state(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
