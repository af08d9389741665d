"""``replicator undo`` of a first sync at N records: how long the plan and the undo take,
against the first sync itself.

For each N, two SQLite sides are seeded as ``sync_scaling.py`` seeds them (N/2 customers a
side, distinct names: the first sync creates every record on the other side), synced once,
then the first sync is undone: the undo pulls both sides, plans from the journal, deletes
the N records the sync created and journals each delete.  Printed: the sync's, the plan's
(``undo --dry-run``) and the undo's wall seconds, the undo over the sync, whether both sides
hold exactly their seeded rows again, and the process's peak RSS so far (MB).

    python benchmarks/undo.py                      # 10,000 and 50,000 records
    python benchmarks/undo.py --sizes 2000         # a quick run
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import library_state  # benchmarks/ is on sys.path when run as a script
from sync_scaling import CONFIG, rss_mb, seed_sides

from replicator.config.load import load_config
from replicator.sync.app import open_app
from replicator.sync.record import CONFIG_MODULE, RUN
from replicator.sync.undo import find_run, plan_undo, undo


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def _rows(folder: Path) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for name, table in (("books.db", "customers"), ("crm.db", "accounts")):
        conn = sqlite3.connect(folder / name)
        out[name] = conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        conn.close()
    return out


def run_one(n: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="undo-bench-") as tmp:
        folder = Path(tmp)
        seed_sides(folder, n, seed)
        (folder / "replicator.toml").write_text(CONFIG.format(page_size=1000, suggest="false"))
        config = load_config(folder / "replicator.toml")
        before = _rows(folder)
        with open_app(config) as app:
            t0 = time.perf_counter()
            app.engine.run()
            sync_s = time.perf_counter() - t0
            (marker,) = app.journal.read(module=CONFIG_MODULE, rid=RUN, descending=True, limit=1)
            log(f"{n:,}: first sync {sync_s:.2f} s (run {marker.seq})")
            t0 = time.perf_counter()
            found = plan_undo(app.journal, find_run(app.journal, marker.seq))
            plan_s = time.perf_counter() - t0
            log(f"{n:,}: plan {plan_s:.2f} s ({len(found.removes):,} removes)")
            t0 = time.perf_counter()
            outcome = undo(app.engine, marker.seq, by="benchmark")
            undo_s = time.perf_counter() - t0
            log(f"{n:,}: undo {undo_s:.2f} s")
            entries = app.journal.last_seq
        return {
            "records": n,
            "first_sync_s": round(sync_s, 3),
            "plan_s": round(plan_s, 3),
            "undo_s": round(undo_s, 3),
            "undo_over_sync": round(undo_s / sync_s, 3),
            "removed": len(outcome.plan.removes),
            "failed": len(outcome.failed),
            "journal_entries": entries,
            "sides_restored": _rows(folder) == before,
            "peak_rss_mb": rss_mb(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="comma-separated N")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = [run_one(n, args.seed) for n in sizes]
    print(
        json.dumps(
            {
                "benchmark": "undo",
                "results": results,
                "python": sys.version.split()[0],
                "sqlite": sqlite3.sqlite_version,
                "library": library_state(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
