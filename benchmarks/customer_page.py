"""The integration user's customer page over many documents: ``customer()`` and
``customers()`` of :mod:`replicator.console.customer`, timed (the target: under 200 ms at
100k records).

    python benchmarks/customer_page.py                      # 100,000 invoices, 1,000 customers
    python benchmarks/customer_page.py --invoices 20000

The journal's record states are made by observations (as a sync makes them): ``--invoices``
invoices with one line each over ``--customers`` customers, one in a hundred of them the
customer timed.  Prints JSON: the median and slowest of ``--repeat`` runs, in ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from journal import Dot, Journal, Kind, NewEntry, VectorClock
from replicator.config.load import Config, parse_config
from replicator.console.customer import customer, customers
from replicator.sync.app import record_reducer

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def config(folder: Path) -> Config:
    def module(fields: dict[str, Any], **more: Any) -> dict[str, Any]:
        side = {"id": "id", "modified": "updated_at"}
        return {
            "sync": "both_ways",
            "books": {"table": "t", **side},
            "crm": {"table": "t", **side},
            "fields": fields,
            **more,
        }

    name = {"name": {"books": "name", "crm": "name"}}
    invoice = {
        "customer": {"books": "customer_id", "crm": "account"},
        "subject": {"books": "reference_number", "crm": "subject"},
        "status": {"books": "status", "crm": "status"},
        "lines": {"books": "line_items", "crm": "invoiced_items", "type": "lines"},
        "total_books": {"books": "total", "type": "decimal"},
    }
    data = {
        "journal": {"path": "journal.db"},
        "sides": {
            s: {"connector": "sqlite", "path": str(folder / f"{s}.db")} for s in ("books", "crm")
        },
        "modules": {
            "customers": module(name),
            "items": module(name),
            "invoices": module(invoice, lookups={"customer": "customers", "lines.item": "items"}),
        },
    }
    return parse_config(data, folder / "replicator.toml")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="customer-page-"))
    cfg = config(folder)
    journal = Journal(cfg.journal_path, record_reducer(cfg))
    n = 0

    def observed(module: str, rid: str, fields: dict[str, Any]) -> NewEntry:
        nonlocal n
        n += 1
        meta = {"id": str(n), "modified": T0}
        return NewEntry(
            Kind.OBSERVED, module, rid, "books", Dot("books", n), VectorClock(), fields, meta
        )

    batch = [observed("items", "crm:widget", {"name": "Widget"})]
    batch += [
        observed("customers", f"crm:c{i}", {"name": f"Customer {i}"}) for i in range(args.customers)
    ]
    line = {
        "item": "crm:widget",
        "description": "one",
        "quantity": Decimal(1),
        "rate": Decimal("12.5"),
        "discount": Decimal(0),
        "tax": None,
    }
    for i in range(args.invoices):
        party = "crm:c0" if i % 100 == 0 else f"crm:c{i % args.customers}"
        fields = {
            "customer": party,
            "subject": f"I-{i}",
            "status": "sent",
            "total_books": Decimal("12.5"),
            "lines": [line],
        }
        batch.append(observed("invoices", f"books:{i:07}", fields))
        if len(batch) >= 5000:
            journal.append(batch)
            batch = []
    journal.append(batch)

    def timed(fn: Callable[[], object]) -> list[float]:
        out = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
        return out

    page = customer(cfg, journal, "crm:c0")
    runs = {
        "customer": timed(lambda: customer(cfg, journal, "crm:c0")),
        "customers": timed(lambda: customers(cfg, journal, "customer 1")),
    }
    journal.close()
    print(
        json.dumps(
            {
                "invoices": args.invoices,
                "customers": args.customers,
                "their_invoices": page["documents"]["invoices"]["total"],
                **{
                    f"{k}_ms": {"median": round(statistics.median(v), 1), "max": round(max(v), 1)}
                    for k, v in runs.items()
                },
                "target_ms": 200,
            }
        )
    )


if __name__ == "__main__":
    main()
