"""The cost of the keyed chain: ``journal verify``'s chain check, unkeyed against keyed.

Builds two journals of the same N realistic ``observed`` entries (customers module, dots,
causal contexts, canonical fields with a ``Decimal`` and a ``date``), one with a plain
sha256 chain (``Journal(key=None)``: the chain of journals made before keyed chains) and one
keyed (HMAC-SHA256 under a :class:`journal.ChainKey`), then times, in the same run, best of
``--repeat``:

- ``a5dca57``: the chain check as it was at commit a5dca57 (``verify_chain``: one
  ``row_hash`` call per row, plain sha256), over the unkeyed journal: "today";
- ``unkeyed``: this release's :func:`journal.verify_chain` over the unkeyed journal;
- ``keyed``: this release's :func:`journal.verify_chain` over the keyed journal.

Prints one JSON object on stdout (progress on stderr).  Target: ``keyed`` at most 2x
``a5dca57`` (``ratio_keyed_vs_a5dca57``).  SQLite's integrity check is timed once on the
keyed journal, for context (``verify`` runs it too; it is not part of the chain check).

    python benchmarks/journal_verify.py                  # 1,000,000 entries
    python benchmarks/journal_verify.py --entries 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

from _common import NoopReducer, build_journal, library_state, log  # benchmarks/ on sys.path

from journal import ChainKey, Dot, Journal, Kind, NewEntry, VectorClock, verify_chain
from journal.entry import GENESIS, row_hash
from journal.errors import IntegrityError
from journal.schema import entry_columns

TARGET = 2.0
BATCH = 10_000


def entries(n: int, records: int) -> Iterator[list[NewEntry]]:
    """N observed entries in batches, round-robin over ``records`` customers."""
    counters: dict[int, int] = {}
    batch: list[NewEntry] = []
    for i in range(n):
        r = i % records
        counters[r] = counters.get(r, 0) + 1
        side = "crm" if r % 2 else "books"
        batch.append(
            NewEntry(
                Kind.OBSERVED,
                "customers",
                f"{side}:{4876000000 + r}",
                side,
                Dot(side, counters[r]),
                VectorClock({side: counters[r] - 1}),
                {
                    "name": f"Customer {r} Ltd",
                    "email": f"ap{r}@customer{r}.example",
                    "phone": f"+44 20 7946 {r % 10000:04d}",
                    "city": "London",
                    "credit_limit": Decimal(f"{r % 9000}.{i % 100:02d}"),
                    "since": dt.date(2020, 1 + r % 12, 1 + r % 28),
                    "status": "active",
                    "notes": f"revision {counters[r]}",
                },
                {"id": str(4876000000 + r), "key": f"customer {r} ltd"},
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(path: Path, n: int, records: int, key: ChainKey | None) -> None:
    build_journal(path, entries(n, records), key)


def verify_chain_a5dca57(journal: Journal) -> int:
    """``journal.replay.verify_chain`` as it was at commit a5dca57 (the baseline)."""
    prev_hash, expected_seq, n = GENESIS, 1, 0
    columns = entry_columns(journal.format)  # ENTRY_COLUMNS of any entries format
    for row in journal.conn.execute(f"SELECT {columns} FROM entries ORDER BY seq"):
        seq = row[0]
        if seq != expected_seq:
            raise IntegrityError(f"entry {expected_seq} is missing", seq=expected_seq)
        if row[10] != prev_hash:
            raise IntegrityError(f"entry {seq}: prev_hash does not match", seq=seq)
        if row_hash(row) != row[11]:
            raise IntegrityError(f"entry {seq}: its content does not match its hash", seq=seq)
        prev_hash = row[11]
        expected_seq += 1
        n += 1
    return n


def best(fn: Callable[[], int], repeat: int, n: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        checked = fn()
        times.append(time.perf_counter() - start)
        if checked != n:
            raise SystemExit(f"checked {checked} entries, expected {n}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n, key = args.entries, ChainKey.generate()[0]
    with tempfile.TemporaryDirectory(prefix="replicator-verify-bench-") as tmp:
        unkeyed_path, keyed_path = Path(tmp) / "unkeyed.db", Path(tmp) / "keyed.db"
        log(f"building two journals of {n:,} entries")
        start = time.perf_counter()
        build(unkeyed_path, n, args.records, None)
        build(keyed_path, n, args.records, key)
        built = time.perf_counter() - start
        with (
            Journal(unkeyed_path, NoopReducer()) as unkeyed,
            Journal(keyed_path, NoopReducer(), key=key) as keyed,
        ):
            assert unkeyed.keyed_from is None and keyed.keyed_from == 1
            log("timing the chain checks")
            old = best(lambda: verify_chain_a5dca57(unkeyed), args.repeat, n)
            plain = best(lambda: verify_chain(unkeyed), args.repeat, n)
            mac = best(lambda: verify_chain(keyed), args.repeat, n)
            start = time.perf_counter()
            (integrity,) = keyed.conn.execute("PRAGMA integrity_check").fetchone()
            integrity_seconds = time.perf_counter() - start
        size = keyed_path.stat().st_size
    result = {
        "benchmark": "journal_verify",
        "entries": n,
        "records": args.records,
        "repeat": args.repeat,
        "journal_bytes": size,
        "build_seconds": round(built, 2),
        "chain_check_seconds": {
            "a5dca57": round(old, 3),
            "unkeyed": round(plain, 3),
            "keyed": round(mac, 3),
        },
        "entries_per_second": {
            "a5dca57": round(n / old),
            "unkeyed": round(n / plain),
            "keyed": round(n / mac),
        },
        "ratio_keyed_vs_a5dca57": round(mac / old, 3),
        "ratio_keyed_vs_unkeyed": round(mac / plain, 3),
        "target_ratio": TARGET,
        "meets_target": mac / old <= TARGET,
        "integrity_check_seconds": round(integrity_seconds, 3),
        "integrity_check": integrity,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "library": library_state(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
