"""The journal's two backends side by side: SQLite (the embedded default) and PostgreSQL
(fleet mode, issue 17), through the same storage protocol.

For each backend and each reducer: N ``observed`` entries appended in batches (one
transaction each), then a replay (``rebuild``: the state thrown away and every entry
folded again) and ``verify`` (the append-only guards, the chain, the state against a
replay).  Two reducers: ``nothing`` folds nothing (the storage and the hash chain alone);
``record`` is the engine's :class:`conflicts.RecordReducer` over realistic customers, each
record touched ``--touches`` times (what a sync pays: records and links written with the
entries).  PostgreSQL runs on a throwaway cluster on 127.0.0.1 (tests/pg.py; Debian's
binaries and the extra ``fleet``), or on ``--postgres CONNINFO``.  Prints one JSON object
(progress on stderr), with the commit measured and the load average.

    python benchmarks/journal_backends.py            # 20,000 entries, batches of 500
    python benchmarks/journal_backends.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import library_state  # noqa: E402  # benchmarks/ is on sys.path as a script
from journal_append import build_entries  # noqa: E402

from conflicts import RecordReducer  # noqa: E402
from journal import ChainKey, Dot, Entry, Kind, NewEntry, Reducer, VectorClock, View  # noqa: E402
from journal.sqlite import SQLITE  # noqa: E402
from journal.storage import JournalBackend  # noqa: E402


class Nothing:
    """Folds nothing: the figures are the storage's and the chain's."""

    def apply(self, view: View, entry: Entry) -> None:
        pass

    def encode(self, state: Any) -> tuple[str, str | None, bool]:
        raise AssertionError

    def decode(self, text: str) -> Any:
        raise AssertionError


def entries(n: int) -> list[NewEntry]:
    return [
        NewEntry(
            Kind.OBSERVED,
            "customers",
            f"crm:{i}",
            "crm",
            Dot("crm", 1),
            VectorClock(),
            {"name": f"Customer {i}", "credit_limit": Decimal(f"{i}.50")},
        )
        for i in range(n)
    ]


def run(
    backend: JournalBackend, location: str, batches: list[list[NewEntry]], reducer: Reducer
) -> dict[str, Any]:
    key = ChainKey(bytes(range(32)))
    journal = backend.open(location, reducer, key=key)
    try:
        start = time.perf_counter()
        for chunk in batches:
            journal.append(chunk)
        appended = time.perf_counter() - start
        n = journal.count()
        start = time.perf_counter()
        folded = backend.rebuild(journal)
        replayed = time.perf_counter() - start
        assert folded == n, (folded, n)
        start = time.perf_counter()
        found = backend.verify(journal)
        verified = time.perf_counter() - start
        assert found.ok, found.problem
    finally:
        journal.close()
    return {
        "entries": n,
        "append_s": round(appended, 3),
        "append_per_s": round(n / appended),
        "replay_s": round(replayed, 3),
        "replay_per_s": round(n / replayed),
        "verify_s": round(verified, 3),
    }


def reducers(n: int, touches: int) -> dict[str, tuple[Reducer, list[NewEntry]]]:
    """Each reducer measured and the entries it is given."""
    return {
        "nothing": (Nothing(), entries(n)),
        "record": (RecordReducer(), build_entries(n, max(1, n // touches), seed=17)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--touches", type=int, default=2, help="entries per record (record)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", metavar="CONNINFO", help="an existing database")
    args = parser.parse_args()
    n = 1_000 if args.quick else args.entries
    made = reducers(n, args.touches)
    result: dict[str, Any] = {
        "entries": n,
        "batch": args.batch,
        "touches": args.touches,
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "library": library_state(),
    }

    def chunks(items: list[NewEntry]) -> list[list[NewEntry]]:
        return [items[i : i + args.batch] for i in range(0, len(items), args.batch)]

    with tempfile.TemporaryDirectory(prefix="replicator-bench-") as tmp:
        result["sqlite"] = {}
        for name, (reducer, items) in made.items():
            print(f"sqlite, {name}...", file=sys.stderr)
            location = str(Path(tmp) / f"journal-{name}.db")
            result["sqlite"][name] = run(SQLITE, location, chunks(items), reducer)
    from journal.postgres import POSTGRES  # the extra `fleet`: only this part needs it

    cluster = None
    conninfo = args.postgres
    if conninfo is None:
        from tests.pg import Cluster, binaries  # a throwaway cluster, as the tests start

        folder = binaries()
        if folder is None:
            raise SystemExit("no PostgreSQL binaries: install postgresql or pass --postgres")
        cluster = Cluster(folder).start()
        conninfo = cluster.conninfo
    try:
        result["postgres"] = {}
        for name, (reducer, items) in made.items():
            print(f"postgres, {name}...", file=sys.stderr)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            location = f"{conninfo}#{schema}"
            result["postgres"][name] = run(POSTGRES, location, chunks(items), reducer)
    finally:
        if cluster is not None:
            cluster.stop()
    ratios: dict[str, Any] = {}
    for name in made:
        sqlite, postgres = result["sqlite"][name], result["postgres"][name]
        ratios[name] = {
            "append": round(postgres["append_per_s"] / sqlite["append_per_s"], 3),
            "replay": round(postgres["replay_per_s"] / sqlite["replay_per_s"], 3),
            "verify_time": round(postgres["verify_s"] / sqlite["verify_s"], 3),
        }
    result["postgres_vs_sqlite"] = ratios
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
