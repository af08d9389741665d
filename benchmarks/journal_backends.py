"""The journal's two backends side by side: SQLite (the embedded default) and PostgreSQL
(fleet mode, issue 17), through the same storage protocol.

For each backend: N ``observed`` entries appended in batches (one transaction each) with a
reducer that folds nothing (the storage and the hash chain alone), then ``verify`` (the
append-only guards, the chain, the state against a replay).  PostgreSQL runs on a
throwaway cluster on 127.0.0.1 (tests/pg.py; Debian's binaries and the extra ``fleet``),
or on ``--postgres CONNINFO``.  Prints one JSON object (progress on stderr).

    python benchmarks/journal_backends.py            # 20,000 entries, batches of 200
    python benchmarks/journal_backends.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journal import ChainKey, Dot, Entry, Kind, NewEntry, VectorClock, View  # noqa: E402
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


def run(backend: JournalBackend, location: str, batch: list[list[NewEntry]]) -> dict[str, Any]:
    key = ChainKey(bytes(range(32)))
    journal = backend.open(location, Nothing(), key=key)
    try:
        start = time.perf_counter()
        for chunk in batch:
            journal.append(chunk)
        appended = time.perf_counter() - start
        start = time.perf_counter()
        found = backend.verify(journal)
        verified = time.perf_counter() - start
        assert found.ok, found.problem
        n = journal.count()
    finally:
        journal.close()
    return {
        "entries": n,
        "append_s": round(appended, 3),
        "entries_per_s": round(n / appended),
        "verify_s": round(verified, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", metavar="CONNINFO", help="an existing database")
    args = parser.parse_args()
    n = 1_000 if args.quick else args.entries
    made = entries(n)
    batches = [made[i : i + args.batch] for i in range(0, n, args.batch)]
    result: dict[str, Any] = {"entries": n, "batch": args.batch}
    with tempfile.TemporaryDirectory(prefix="replicator-bench-") as tmp:
        print("sqlite...", file=sys.stderr)
        result["sqlite"] = run(SQLITE, str(Path(tmp) / "journal.db"), batches)
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
        print("postgres...", file=sys.stderr)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        result["postgres"] = run(POSTGRES, f"{conninfo}#{schema}", batches)
    finally:
        if cluster is not None:
            cluster.stop()
    sqlite, postgres = result["sqlite"], result["postgres"]
    result["postgres_append_vs_sqlite"] = round(
        postgres["entries_per_s"] / sqlite["entries_per_s"], 3
    )
    result["postgres_verify_vs_sqlite"] = round(postgres["verify_s"] / sqlite["verify_s"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
