"""What a dry run of a first sync costs next to the sync itself.

Two SQLite sides seeded as ``sync_scaling.py`` seeds them (``--records`` customers, half a
side, distinct names), then, each from the same seeded files:

- ``dry_run``: ``replicator plan`` as a person runs it (:func:`replicator.sync.dryrun.dry_run`):
  the journal and both sides copied with the backup API, the engine run on the copies,
  the plan built from its entries;
- ``dry_run_captured``: the dry run as it runs against Zoho sides: the sides are read
  through and their writes captured (here over throwaway copies of the SQLite files, the
  copy not timed), so nothing is pushed;
- ``sync``: the real first sync (``open_app(config).engine.run()``), with the time its
  connectors spent in ``push`` summed by a thin wrapper: ``pull_and_plan`` is the sync's
  time less its pushes.

Prints one JSON object: the seconds of each (wall, and process time), and ``ratio`` =
dry_run / pull_and_plan (target at most 1.5 at 100k records), beside ``ratio_captured``,
``ratio_to_sync`` and ``ratio_cpu_to_sync`` (process times: steadier on a busy machine).

    python benchmarks/dry_run.py --records 100000
    python benchmarks/dry_run.py --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import library_state  # benchmarks/ is on sys.path when run as a script
from sync_scaling import CONFIG, seed_sides

from replicator.config.load import load_config
from replicator.connectors.sqlite import SQLiteConnector
from replicator.sync.app import open_app
from replicator.sync.dryrun import dry_run

TARGET_RATIO = 1.5


def _timed_push(connector: Any, spent: list[float]) -> None:
    """Sum the seconds of the connector's pushes into ``spent``."""
    push = connector.push

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return push(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    connector.push = timed


def measure(records: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-dry-") as tmp:
        base = Path(tmp) / "seeded"
        base.mkdir()
        seeded = seed_sides(base, records, seed)
        (base / "replicator.toml").write_text(
            CONFIG.format(page_size=1000, suggest="false"), encoding="utf-8"
        )

        def fresh(name: str) -> Path:
            folder = Path(tmp) / name
            shutil.copytree(base, folder)
            return folder

        figures: dict[str, Any] = {"seeded": seeded}

        folder = fresh("dry")
        config = load_config(folder / "replicator.toml")
        t0, c0 = time.perf_counter(), time.process_time()
        plan = dry_run(config).plan
        figures["dry_run_s"] = round(time.perf_counter() - t0, 3)
        figures["dry_run_cpu_s"] = round(time.process_time() - c0, 3)
        figures["planned_creates"] = plan.creates_per_side()

        folder = fresh("captured")
        config = load_config(folder / "replicator.toml")
        sides = {
            "books": SQLiteConnector("books", folder / "books.db"),
            "crm": SQLiteConnector("crm", folder / "crm.db"),
        }
        t0, c0 = time.perf_counter(), time.process_time()
        run = dry_run(config, connectors=sides)
        figures["dry_run_captured_s"] = round(time.perf_counter() - t0, 3)
        figures["dry_run_captured_cpu_s"] = round(time.process_time() - c0, 3)
        figures["captured_writes"] = dict(run.captured)
        for side in sides.values():
            side.close()

        folder = fresh("sync")
        config = load_config(folder / "replicator.toml")
        spent = [0.0]
        with open_app(config) as app:
            for connector in app.connectors.values():
                _timed_push(connector, spent)
            t0, c0 = time.perf_counter(), time.process_time()
            report = app.engine.run()
            whole = time.perf_counter() - t0
            figures["sync_cpu_s"] = round(time.process_time() - c0, 3)
        figures["sync_s"] = round(whole, 3)
        figures["sync_push_s"] = round(spent[0], 3)
        figures["pull_and_plan_s"] = round(whole - spent[0], 3)
        figures["created"] = report.total("created")
    pull_and_plan = figures["pull_and_plan_s"]
    figures["ratio"] = round(figures["dry_run_s"] / pull_and_plan, 3)
    figures["ratio_captured"] = round(figures["dry_run_captured_s"] / pull_and_plan, 3)
    figures["ratio_to_sync"] = round(figures["dry_run_s"] / figures["sync_s"], 3)
    # process time: the same ratio, less the noise of other processes on a busy machine
    figures["ratio_cpu_to_sync"] = round(figures["dry_run_cpu_s"] / figures["sync_cpu_s"], 3)
    figures["target_ratio"] = TARGET_RATIO
    figures["ok"] = figures["ratio"] <= TARGET_RATIO
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 records")
    args = parser.parse_args()
    records = 2_000 if args.quick else args.records
    print(f"dry run vs first sync, {records} records", file=sys.stderr)
    result = {
        "benchmark": "dry_run",
        "records": records,
        "python": platform.python_version(),
        **library_state(),
        **measure(records, args.seed),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
