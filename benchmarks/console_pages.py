"""The console's pages with many records and open conflicts: each view model, and its
template rendered, timed (the target: every page under 200 ms at 100k records and 1,000
open conflicts).

    python benchmarks/console_pages.py                          # 20,000 records, 1,000 conflicts
    python benchmarks/console_pages.py --records 100000 --conflicts 1000
    python benchmarks/console_pages.py --runs 100000            # and a year of runs in history
    python benchmarks/console_pages.py --keep /tmp/pages        # keep the folder (and reuse it)

It seeds two SQLite sides with plain sqlite3 (half of the records in each, as
``sync_scaling.py`` does), syncs them once under the manual conflict policy, then edits the
email of ``--conflicts`` synced customers on both sides and syncs again, so that many
value conflicts are open; ``--runs`` adds that many run markers (copies of the last) to
the history. The customer search is timed for a rare name, for a common one (page 3),
and with no query (all customers by name: the first page and the last). Then,
``--repeat`` times each, it times every page's view model (the
overview's :func:`replicator.sync.status.status_data` as the console asks it, those of
:mod:`replicator.console.views` and :mod:`replicator.console.customer`) and the rendering
of its template (autoescaped Jinja2, with a stand-in ``base.html``), and prints the median
and the slowest in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import library_state  # benchmarks/ is on sys.path when run as a script
from sync_scaling import CONFIG, seed_sides

TARGET_MS = 200
BASE = (
    "<!doctype html><title>{% block title %}{% endblock %}</title>"
    "<main>{% block content %}{% endblock %}</main>"
)


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def build(folder: Path, records: int, conflicts: int, runs: int) -> dict[str, Any]:
    """Two seeded sides, synced once, then ``conflicts`` customers edited on both sides."""
    from replicator.sync.app import open_app

    config = CONFIG.format(page_size=1000, suggest="false").replace(
        'conflicts = "newest"', 'conflicts = "manual"'
    )
    (folder / "replicator.toml").write_text(config, encoding="utf-8")
    seeded = seed_sides(folder, records, 7)
    out: dict[str, Any] = {"seed_seconds": seeded["seconds"]}
    t = time.perf_counter()
    app = open_app(folder / "replicator.toml")
    app.engine.run()
    app.close()
    out["initial_sync_seconds"] = round(time.perf_counter() - t, 3)
    books = sqlite3.connect(folder / "books.db", isolation_level=None)
    crm = sqlite3.connect(folder / "crm.db", isolation_level=None)
    names = [
        n for (n,) in books.execute("SELECT name FROM customers ORDER BY id LIMIT ?", (conflicts,))
    ]
    for conn, table, column, modified, side in (
        (books, "customers", "name", "updated_at", "books"),
        (crm, "accounts", "account_name", "modified_time", "crm"),
    ):
        conn.execute("BEGIN")
        conn.executemany(
            f"UPDATE {table} SET email = ?, {modified} = ? WHERE {column} = ?",
            [
                (f"{side}-{i}@example.com", "2027-01-01T00:00:00+00:00", n)
                for i, n in enumerate(names)
            ],
        )
        conn.execute("COMMIT")
        conn.close()
    t = time.perf_counter()
    app = open_app(folder / "replicator.toml")
    app.engine.run()
    app.close()
    out["conflict_sync_seconds"] = round(time.perf_counter() - t, 3)
    if runs:
        out["runs_seconds"] = add_runs(folder, runs)
    return out


def add_runs(folder: Path, runs: int) -> float:
    """``runs`` more run markers, copies of the last (a daemon's idle runs over months),
    appended straight to the journal, then anchored as a sync anchors its entries."""
    from journal import write_anchor
    from journal.payloads import new_entry, payload_of
    from replicator.config.load import load_config
    from replicator.sync.app import open_journal
    from replicator.sync.record import CONFIG_MODULE, RUN

    t = time.perf_counter()
    journal = open_journal(load_config(folder / "replicator.toml"))
    (last,) = journal.read(module=CONFIG_MODULE, rid=RUN, descending=True, limit=1)
    marker = payload_of(last)
    for start in range(0, runs, 10_000):
        batch = min(10_000, runs - start)
        journal.append([new_entry(marker, CONFIG_MODULE, RUN) for _ in range(batch)])
    write_anchor(journal)
    journal.close()
    return round(time.perf_counter() - t, 3)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, dict[str, float]]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return result, {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


def measure(folder: Path, repeat: int) -> dict[str, Any]:
    import jinja2

    from replicator.config.load import load_config
    from replicator.console import customer, views
    from replicator.console.app import DETAIL
    from replicator.sync.app import open_journal
    from replicator.sync.status import status_data

    config = load_config(folder / "replicator.toml")
    journal = open_journal(config)
    templates = Path(views.__file__).parent / "templates"
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.DictLoader({"base.html": BASE}), jinja2.FileSystemLoader(templates)]
        ),
        autoescape=True,
    )
    open_total = journal.conflict_total(status="open")
    last_page = max(1, -(-open_total // 50))
    some = journal.conflicts(status="open", limit=1, offset=open_total // 2)
    conflict_id = some[0]["id"] if some else 0
    rid = some[0]["rid"] if some else ""
    customer_rid = next(rid for _, rid, _ in journal.records("customers"))
    pages: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
        "overview": (
            "overview.html",
            lambda: {
                "status": status_data(config, journal, detail=DETAIL, entries=False),
                "api": None,
            },
        ),
        "customers_search": (
            "customers.html",
            lambda: {"customers": customer.customers(config, journal, "Customer 0012345", 1)},
        ),
        "customers_all": (
            "customers.html",
            lambda: {"customers": customer.customers(config, journal, "", 1)},
        ),
        "customers_all_last_page": (
            "customers.html",
            lambda: {"customers": customer.customers(config, journal, "", 10**9)},
        ),
        "customers_search_common": (
            "customers.html",
            lambda: {"customers": customer.customers(config, journal, "customer 00", 3)},
        ),
        "customer": (
            "customer.html",
            lambda: {"customer": customer.customer(config, journal, customer_rid, pages={})},
        ),
        "conflicts_open_first_page": (
            "conflicts.html",
            lambda: views.conflicts(config, journal),
        ),
        "conflicts_open_last_page": (
            "conflicts.html",
            lambda: views.conflicts(config, journal, page=last_page),
        ),
        "conflicts_all_module": (
            "conflicts.html",
            lambda: views.conflicts(config, journal, module="customers", status="all"),
        ),
        "conflict": ("conflict.html", lambda: views.conflict(config, journal, conflict_id)),
        "history": ("history.html", lambda: views.history(config, journal)),
        "history_module": (
            "history.html",
            lambda: views.history(config, journal, module="customers"),
        ),
        "record": ("record.html", lambda: views.record(config, journal, "customers", rid)),
        "journal_head": ("journal.html", lambda: views.journal_head(config, journal)),
    }
    out: dict[str, Any] = {}
    for name, (template, view) in pages.items():
        model, view_times = timed(view, repeat)
        page = env.get_template(template)
        _, render_times = timed(
            lambda page=page, model=model: page.render(
                base="/console",
                root="/console",
                **model,
                csrf="x",
                user={"name": "admin", "role": "admin"},
            ),
            repeat,
        )
        total = view_times["median_ms"] + render_times["median_ms"]
        out[name] = {
            "view": view_times,
            "render": render_times,
            "total_median_ms": round(total, 2),
            "under_target": total < TARGET_MS,
        }
        log(f"{name}: view {view_times['median_ms']} ms, render {render_times['median_ms']} ms")
    records = sum(n["records"] for n in journal.state_counts().values())
    facts = {
        "records": records,
        "open_conflicts": open_total,
        "journal_entries": journal.last_seq,
    }
    journal.close()
    return {"journal": facts, "pages": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="customers in all")
    parser.add_argument("--conflicts", type=int, default=1_000, help="open value conflicts")
    parser.add_argument(
        "--runs", type=int, default=0, help="run markers added to the history (a year: 100000)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timings per page (median)")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep it (reused if built)")
    args = parser.parse_args(argv)
    if args.conflicts > args.records // 2:
        parser.error("--conflicts can be at most half of --records (the Books half is edited)")
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="console-pages-"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        built: dict[str, Any] = {"reused": True}
        if not (folder / "journal.db").exists():
            log(f"building {args.records:,} records, {args.conflicts:,} conflicts in {folder}")
            built = build(folder, args.records, args.conflicts, args.runs)
        measured = measure(folder, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    result = {
        "benchmark": "console_pages",
        "target_ms": TARGET_MS,
        "records": args.records,
        "conflicts": args.conflicts,
        "runs": args.runs,
        "repeat": args.repeat,
        "build": built,
        **measured,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "library": library_state(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
