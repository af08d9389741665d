"""What ``duplicates = "clone"`` with clone names costs on a first sync (issue 9, class 7).

Two SQLite sides of N customers each whose names are UNIQUE; a share of the names is on
both sides.  The same data is synced once under ``overwrite`` (pairs linked, no clone
names asked) and once under ``clone`` (every copy whose name the other side holds is
renamed, which reads the held names once a cycle and then the entries of each batch), each
into a fresh folder.  Prints one JSON object: seconds per policy, their ratio, the records
renamed and the rows on each side.

    python benchmarks/clone_names.py              # 20,000 a side, a quarter shared
    python benchmarks/clone_names.py --quick      # a smoke run
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

from replicator.config.load import load_config
from replicator.sync.app import open_app

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
first = "crm"
duplicates = "{policy}"
books = {{ table = "customers", id = "id", match = "name" }}
crm = {{ table = "accounts", id = "id", match = "account_name" }}
[modules.customers.fields]
name = {{ books = "name", crm = "account_name" }}
email = {{ books = "email", crm = "email" }}
"""


def build(folder: Path, policy: str, n: int, shared: int) -> Path:
    folder.mkdir(parents=True)
    for db, table, column, prefix in (
        ("books.db", "customers", "name", "B"),
        ("crm.db", "accounts", "account_name", "C"),
    ):
        with sqlite3.connect(folder / db) as conn:
            conn.execute(
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {column} TEXT UNIQUE, email TEXT)"
            )
            rows = [
                (f"Shared {i:06d}" if i < shared else f"{prefix} only {i:06d}", f"{i}@x.example")
                for i in range(n)
            ]
            conn.executemany(f"INSERT INTO {table} ({column}, email) VALUES (?, ?)", rows)
    path = folder / "replicator.toml"
    path.write_text(CONFIG.format(policy=policy), encoding="utf-8")
    return path


def run(folder: Path, policy: str, n: int, shared: int) -> dict[str, Any]:
    config = load_config(build(folder, policy, n, shared))
    started = time.perf_counter()
    with open_app(config) as app:
        report = app.engine.run()
    seconds = time.perf_counter() - started
    rows = {}
    for db, table in (("books.db", "customers"), ("crm.db", "accounts")):
        with sqlite3.connect(folder / db) as conn:
            rows[db[:-3]] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return {
        "seconds": round(seconds, 3),
        "renamed": report.total("renamed"),
        "rejected": report.total("rejected"),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="customers per side")
    parser.add_argument("--shared", type=float, default=0.25, help="share of names on both")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    n = 500 if args.quick else args.n
    shared = int(n * args.shared)
    with tempfile.TemporaryDirectory(prefix="clone-names-") as tmp:
        results = {p: run(Path(tmp) / p, p, n, shared) for p in ("overwrite", "clone")}
    print(
        json.dumps(
            {
                "n_per_side": n,
                "shared": shared,
                "policies": results,
                "clone_vs_overwrite": round(
                    results["clone"]["seconds"] / results["overwrite"]["seconds"], 2
                ),
                "python": sys.version.split()[0],
                "library": library_state(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
