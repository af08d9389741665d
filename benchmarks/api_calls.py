"""Zoho API requests a sync makes, against the lower bound any correct sync must make.

Against the Zoho sandbox (CRM v8 + Books v3 + OAuth on loopback, real HTTP), with the
config ``replicator demo`` writes for customers (CRM Accounts <-> Books contacts):

1. **initial**: N customers split across the two sides (N/2 accounts in CRM, N/2 customers
   in Books, distinct names, made over the day before by other programs), one two-way
   sync: each side's records are created on the other;
2. **incremental**: ``--gap`` seconds later (default 2 hours, the daemon's schedule for
   masters), ``--edits`` edits on each side through the APIs, then one sync.  Besides the
   edits it reads back, once, what the initial sync wrote: those records are newer than
   the initial read, and only reading them tells our writes (echo: no entry, no write) from
   another program's edits made meanwhile, so the bound counts those pages too;
3. **idle**: one more sync with nothing new (it re-reads the overlap window before the
   watermark once: the edits).

Each sync runs as ``replicator sync`` does (a fresh process state: new connectors, a new
token).  The requests are counted by the sandbox (per route and status) and grouped by
kind beside the lower bound: list pages at the maximum page size (200) on each side, CRM's
deleted-records feed once an incremental sync, CRM writes at 100 records a call, one Books
write per record (Books has no bulk write), one token (both sides share it).  Above the
bound, by design: CRM's field metadata (one call a sync: the field map is checked and
numbers and lookups are written in their types) and the reads that keep a write from
overwriting a change not yet read (CRM: the records to update, by id, 100 a call; Books:
one list of what changed since the pull, 200 a page).  The ratios are actual / bound
(target: at most 1.10).

Books allows 100 requests a minute per organisation, so 2,500 Books writes take 25 minutes
at the real limit.  By default the sandbox's limit and the connector's limiter are both
raised (``--books-per-minute``, default 100,000) so the run takes seconds; the output says
which limit was used.  ``--real-limit`` keeps Books' 100 a minute on both.

``--page-times`` also times, after the seeding, a read of every seeded record through the
list APIs as the connectors read them (CRM Accounts by Modified_Time ascending, pages of 200,
``page`` then ``page_token``; Books customers by last_modified_time descending, pages of
200): the first and the last pages' times (median of 5 each) and their ratio, which stays
near 1.0 when a page costs the same wherever it is.  ``--pages-only`` stops there (no sync).

Prints one JSON object to stdout (progress to stderr).

    python benchmarks/api_calls.py            # 5,000 customers, 50 edits a side
    python benchmarks/api_calls.py --quick    # 1,000 customers, 50 edits a side
    python benchmarks/api_calls.py --real-limit --records 400 --edits 20
    python benchmarks/api_calls.py --records 100000 --page-times --pages-only
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _common import library_state  # benchmarks/ is on sys.path when run as a script

from replicator.cli.demo.zoho import zoho_config
from replicator.cli.setup_check import set_up
from replicator.config.load import load_config
from replicator.sandbox import AdminClient, Sandbox, Settings
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_app
from replicator.sync.record import CycleReport

TARGET_RATIO = 1.10
PER_PAGE = 200  # the largest page both APIs serve
CRM_WRITES_PER_CALL = 100
BOOKS_REAL_LIMIT = 100  # requests a minute per organisation

DOCUMENTS = ("estimates", "salesorders", "invoices", "purchaseorders")
# (api, method, route template) -> kind
KINDS = {
    ("oauth", "POST", "/oauth/v2/token"): "tokens",
    ("crm", "GET", "/crm/v8/{module}"): "crm_list",
    ("crm", "GET", "/crm/v8/{module}/deleted"): "crm_list",
    ("crm", "POST", "/crm/v8/{module}"): "crm_writes",
    ("crm", "PUT", "/crm/v8/{module}"): "crm_writes",
    ("crm", "POST", "/crm/v8/{module}/upsert"): "crm_writes",
    ("crm", "GET", "/crm/v8/settings/fields"): "crm_metadata",
    ("books", "GET", "/books/v3/contacts"): "books_list",
    ("books", "GET", "/books/v3/contacts/{record_id}"): "books_reads",
    ("books", "POST", "/books/v3/contacts"): "books_writes",
    ("books", "PUT", "/books/v3/contacts"): "books_writes",
    ("books", "PUT", "/books/v3/contacts/{record_id}"): "books_writes",
    ("crm", "GET", "/crm/v8/{module}/{record_id}"): "crm_reads",
    ("crm", "GET", "/crm/v8/org/taxes"): "crm_metadata",
    ("crm", "GET", "/crm/v8/org"): "crm_metadata",
    **{
        key: kind
        for table in DOCUMENTS
        for key, kind in (
            (("books", "GET", f"/books/v3/{table}"), "books_list"),
            (("books", "GET", f"/books/v3/{table}/{{record_id}}"), "books_reads"),
            (("books", "PUT", f"/books/v3/{table}"), "books_writes"),
            (("books", "PUT", f"/books/v3/{table}/{{record_id}}"), "books_writes"),
            (
                ("books", "POST", f"/books/v3/{table}/{{record_id}}/status/{{status}}"),
                "books_writes",
            ),
        )
    },
    ("books", "GET", "/books/v3/items"): "books_list",
    ("books", "GET", "/books/v3/settings/taxes"): "books_metadata",
    ("books", "GET", "/books/v3/organizations/{organization_id}"): "books_metadata",
}
ORDER = [
    "crm_list",
    "books_list",
    "crm_writes",
    "books_writes",
    "tokens",
    "crm_metadata",
    "books_reads",
    "crm_reads",
    "books_metadata",
    "other",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pages(n: int) -> int:
    return max(1, math.ceil(n / PER_PAGE))


def grouped(counters: Sequence[Mapping[str, Any]]) -> tuple[dict[str, int], int, list[Any]]:
    """Requests per kind, the number answered 429, and the raw rows."""
    kinds: collections.Counter[str] = collections.Counter()
    refused = 0
    for row in counters:
        kinds[KINDS.get((row["api"], row["method"], row["path"]), "other")] += row["count"]
        if str(row["status"]) == "429":
            refused += row["count"]
    rows = sorted(
        [r["api"], r["method"], r["path"], str(r["status"]), r["count"]] for r in counters
    )
    return {k: kinds.get(k, 0) for k in ORDER}, refused, rows


def phase(
    admin: AdminClient,
    config_path: Path,
    bound: Mapping[str, int],
    name: str,
    modules: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One sync (of ``modules``, default all) as `replicator sync` runs it; its requests
    beside the bound."""
    admin.reset_counters()
    log(f"{name}: syncing ...")
    started = time.perf_counter()
    with open_app(load_config(config_path)) as app:
        report: CycleReport = app.engine.run(modules)
        calls = {side: dict(c.client.calls) for side, c in app.connectors.items()}  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    actual, refused, rows = grouped(admin.counters())
    total, floor = sum(actual.values()), sum(bound.values())
    log(f"{name}: {total} requests (bound {floor}) in {seconds:.1f} s")
    return {
        "seconds": round(seconds, 3),
        "requests": actual,
        "lower_bound": {k: bound.get(k, 0) for k in ORDER},
        "ratios": {
            k: round(actual[k] / bound[k], 3) for k in ORDER if bound.get(k) and k in actual
        },
        "total": total,
        "total_lower_bound": floor,
        "ratio": round(total / floor, 4) if floor else None,
        "answered_429": refused,
        "by_route": rows,
        "connector_calls_by_kind": calls,
        "synced": {
            k: report.total(k) for k in ("pulled", "observed", "created", "updated", "rejected")
        },
    }


SEED_CHUNK = 100  # records made a minute apart, so a second holds no more than this


def seed(admin: AdminClient, crm: int, books: int) -> None:
    """``crm`` accounts and ``books`` customers with distinct names, as other programs, a
    hundred a minute (Zoho's times have whole seconds: a pull re-reads its watermark's
    second, so a second holding thousands of records would be read again and again)."""
    log(f"seeding {crm} CRM accounts and {books} Books customers ...")
    accounts = [
        {
            "Account_Name": f"Bench {n:06} Ltd",
            "Phone": f"+1 555 {n:06}",
            "Website": f"www.crm{n}.example",
        }
        for n in range(crm)
    ]
    for start in range(0, crm, SEED_CHUNK):
        admin.crm_create("Accounts", *accounts[start : start + SEED_CHUNK], notify=False)
        admin.advance_clock(60)
    customers = [
        {
            "contact_name": f"Bench {n:06} Books",
            "contact_type": "customer",
            "website": f"www.books{n}.example",
            "contact_persons": [
                {"first_name": "Pat", "phone": f"+44 20 {n:06}", "is_primary_contact": True}
            ],
        }
        for n in range(books)
    ]
    # a request a minute's worth (the API makes one contact a call: 50,000 calls took 21
    # minutes; the records and their times are the same)
    for start in range(0, books, SEED_CHUNK):
        if start:
            admin.advance_clock(60)
        admin.books_create_many("contacts", *customers[start : start + SEED_CHUNK])


def books_customers(api: ZohoApi) -> list[dict[str, Any]]:
    """Every Books customer, newest first, as the connector lists them (by time: a page
    costs the same wherever it is, where a list sorted by name renders every contact)."""
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = api.books("GET", "/contacts", params=customer_page(page))
        records += answer["contacts"]
        if not answer["page_context"]["has_more_page"]:
            return records
        page += 1


def customer_page(page: int) -> dict[str, Any]:
    return {
        "contact_type": "customer",
        "sort_column": "last_modified_time",
        "sort_order": "D",
        "page": page,
        "per_page": PER_PAGE,
    }


def _ends(times: list[float]) -> dict[str, Any]:
    """The first and last pages' times (ms, median of up to 5 each) and their ratio."""
    first = statistics.median(times[:5])
    last = statistics.median(times[-5:])
    return {
        "pages": len(times),
        "first_ms": round(first * 1000, 2),
        "last_ms": round(last * 1000, 2),
        "median_ms": round(statistics.median(times) * 1000, 2),
        "last_over_first": round(last / first, 3),
    }


def page_times(api: ZohoApi) -> dict[str, Any]:
    """Every seeded record read through the list APIs as the connectors read them, each
    page's request timed."""
    log("timing list pages ...")
    crm: list[float] = []
    params = {
        "fields": "Account_Name,Website",
        "per_page": PER_PAGE,
        "sort_by": "Modified_Time",
        "sort_order": "asc",
    }
    page, token, seen = 1, None, 0
    while True:
        if token:  # a token holds the query it goes on with
            query = {"fields": params["fields"], "per_page": PER_PAGE, "page_token": token}
        else:
            query = {**params, "page": page}
        started = time.perf_counter()
        answer = api.crm("GET", "/Accounts", params=query)
        crm.append(time.perf_counter() - started)
        seen += len(answer.get("data") or [])
        info = answer.get("info") or {}
        if not info.get("more_records"):
            break
        token = info.get("next_page_token") if page * PER_PAGE >= 2000 or token else None
        page += 1
    books: list[float] = []
    page, read = 1, 0
    while True:
        started = time.perf_counter()
        answer = api.books("GET", "/contacts", params=customer_page(page))
        books.append(time.perf_counter() - started)
        read += len(answer["contacts"])
        if not answer["page_context"]["has_more_page"]:
            break
        page += 1
    log(f"pages: CRM {len(crm)} ({seen} records), Books {len(books)} ({read} records)")
    return {"crm": {**_ends(crm), "records": seen}, "books": {**_ends(books), "records": read}}


def edit(api: ZohoApi, edits: int) -> None:
    """``edits`` websites changed on each side through the APIs (one CRM bulk call per 100,
    one Books call per contact), on records that started on the other side."""
    log(f"editing {edits} records on each side through the APIs ...")
    accounts = api.crm_records("Accounts", ["Account_Name"])
    mine = [a for a in accounts if a["Account_Name"].endswith("Books")][:edits]
    for start in range(0, len(mine), 100):
        api.crm(
            "PUT",
            "/Accounts",
            json={
                "data": [
                    {"id": a["id"], "Website": f"www.edited-in-crm{i}.example"}
                    for i, a in enumerate(mine[start : start + 100], start)
                ]
            },
        )
    contacts = [c for c in books_customers(api) if c["contact_name"].endswith("Ltd")][:edits]
    for i, contact in enumerate(contacts):
        api.books_update_contact(contact["contact_id"], website=f"www.edited-in-books{i}.example")


TRANSACTIONS_CONFIG = """
[integration]
[integration.customers]
crm_module = "accounts"
[integration.items]
[integration.transactions.estimates]
[integration.transactions.invoices]
"""
PRODUCTS = 3


def first_parties(api: ZohoApi, documents: int) -> tuple[list[Any], list[Any]]:
    """Up to ``documents`` of the accounts seeded in CRM (oldest first) and of the Books
    customers, from the first list pages: what the documents name, without reading all
    100,000 records (the admin API renders every record of a module in one answer)."""
    accounts: list[Any] = []
    page = 1
    while len(accounts) < documents and page * PER_PAGE <= 2000:
        params = {"fields": "Account_Name", "per_page": PER_PAGE, "page": page}
        answer = api.crm(
            "GET", "/Accounts", params={**params, "sort_by": "id", "sort_order": "asc"}
        )
        accounts += [a for a in answer.get("data") or [] if a["Account_Name"].endswith("Ltd")]
        if not (answer.get("info") or {}).get("more_records"):
            break
        page += 1
    customers: list[Any] = []
    page = 1
    while len(customers) < documents:
        answer = api.books("GET", "/contacts", params=customer_page(page))
        customers += answer["contacts"]
        if not answer["page_context"]["has_more_page"]:
            break
        page += 1
    return accounts[:documents], customers[:documents]


def seed_documents(admin: AdminClient, api: ZohoApi, documents: int) -> None:
    """``documents`` quotes in CRM and as many invoices in Books, three lines each (one
    taxed, one discounted), naming customers and items already synced."""
    log(f"seeding {documents} CRM quotes and {documents} Books invoices, 3 lines each ...")
    accounts, customers = first_parties(api, documents)
    products = admin.crm_records("Products")[:PRODUCTS]
    items = admin.books_records("items")[:PRODUCTS]
    vat = next(
        t
        for t in admin.call("GET", "/books/taxes")["taxes"]
        if str(t["tax_percentage"]) in ("20", "20.0")
    )
    quotes = [
        {
            "Subject": f"Bench quote {n:06}",
            "Account_Name": {"id": accounts[n % len(accounts)]["id"]},
            "Quoted_Items": [
                {"Product_Name": {"id": products[0]["id"]}, "Quantity": 2, "List_Price": 10.5},
                {
                    "Product_Name": {"id": products[1]["id"]},
                    "Quantity": 1,
                    "List_Price": 99.99,
                    "line_tax": [{"name": "VAT", "percentage": 20}],
                },
                {
                    "Product_Name": {"id": products[2]["id"]},
                    "Quantity": 3,
                    "List_Price": 7,
                    "Discount": 1.5,
                },
            ],
        }
        for n in range(documents)
    ]
    for start in range(0, documents, SEED_CHUNK):
        admin.crm_create("Quotes", *quotes[start : start + SEED_CHUNK], notify=False)
        admin.advance_clock(60)
    for n in range(documents):
        if n and n % SEED_CHUNK == 0:
            admin.advance_clock(60)
        admin.books_create(
            "invoices",
            {
                "customer_id": customers[n % len(customers)]["contact_id"],
                "line_items": [
                    {"item_id": items[0]["item_id"], "quantity": 2, "rate": 10.5},
                    {
                        "item_id": items[1]["item_id"],
                        "quantity": 1,
                        "rate": 99.99,
                        "tax_id": vat["tax_id"],
                    },
                    {"item_id": items[2]["item_id"], "quantity": 3, "rate": 7, "discount": 1.5},
                ],
            },
        )


def converged(api: ZohoApi) -> bool:
    crm = {
        a["Account_Name"]: a.get("Website")
        for a in api.crm_records("Accounts", ["Account_Name", "Website"])
    }
    books = {c["contact_name"]: c.get("website") for c in books_customers(api)}
    return crm == books


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="customers, split in two")
    parser.add_argument("--edits", type=int, default=50, help="edits on each side")
    parser.add_argument("--quick", action="store_true", help="1,000 records, 50 edits")
    parser.add_argument(
        "--documents", type=int, default=500, help="quotes in CRM and invoices in Books"
    )
    parser.add_argument(
        "--books-per-minute",
        type=int,
        default=100_000,
        help="Books limit of the sandbox and the connector (real Books: 100)",
    )
    parser.add_argument(
        "--real-limit", action="store_true", help="keep Books' real 100 requests a minute"
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=7200.0,
        help="seconds of sandbox time between the initial sync and the edits",
    )
    parser.add_argument(
        "--page-times",
        action="store_true",
        help="time every list page of the seeded records (first vs last page)",
    )
    parser.add_argument(
        "--pages-only", action="store_true", help="with --page-times: stop after timing pages"
    )
    args = parser.parse_args(argv)
    args.page_times = args.page_times or args.pages_only
    if args.quick:
        args.records, args.edits, args.documents = 1000, 50, 200
    rate = BOOKS_REAL_LIMIT if args.real_limit else args.books_per_minute
    in_crm, in_books = args.records // 2, args.records - args.records // 2
    began = time.perf_counter()
    settings = Settings(
        books_per_minute=rate,
        books_per_day=10_000_000,
        crm_credits_per_day=10_000_000,
    )
    with (
        tempfile.TemporaryDirectory(prefix="api-calls-") as folder,
        Sandbox(Path(folder) / "sandbox", seed="keys", settings=settings) as box,
    ):
        admin = box.admin
        seed(admin, in_crm, in_books)
        seeded = time.perf_counter() - began
        timed: dict[str, Any] | None = None
        if args.page_times:
            with ZohoApi(box.credentials_path) as api:
                timed = page_times(api)
            if args.pages_only:
                print(json.dumps(pages_result(args, timed, seeded, began), indent=2))
                return 0
        config_path = Path(folder) / "replicator.toml"
        config_path.write_text(
            zoho_config(box.credentials_path, books_per_minute=rate), encoding="utf-8"
        )
        admin.advance_clock(86_400)  # the first sync comes a day after the last edit
        initial = phase(
            admin,
            config_path,
            {
                "crm_list": pages(in_crm),
                "books_list": pages(in_books),
                "crm_writes": math.ceil(in_books / CRM_WRITES_PER_CALL),
                "books_writes": in_crm,
                "tokens": 1,
            },
            "initial",
        )
        admin.advance_clock(args.gap)
        with ZohoApi(box.credentials_path) as api:
            edit(api, args.edits)
            admin.advance_clock(1)
            incremental = phase(
                admin,
                config_path,
                {
                    # the edits and the read-back of the initial sync's writes, and
                    # CRM's deleted-records feed (one page)
                    "crm_list": pages(args.edits + in_books) + 1,
                    "books_list": pages(args.edits + in_crm),
                    "crm_writes": math.ceil(args.edits / CRM_WRITES_PER_CALL),
                    "books_writes": args.edits,
                    "tokens": 1,
                },
                "incremental",
            )
            admin.advance_clock(1)
            idle = phase(
                admin,
                config_path,
                {
                    "crm_list": pages(args.edits) + 1,
                    "books_list": pages(args.edits),
                    "tokens": 1,
                },
                "idle",
            )
            in_sync = converged(api)
        # transactions: items first (not counted), then the documents' first sync
        # the same sides and journal, the masters and documents as [integration] sets
        # them up (customers made again from their integration defaults: not counted)
        sides = config_path.read_text(encoding="utf-8").split("[modules.")[0]
        config_path.write_text(sides + TRANSACTIONS_CONFIG, encoding="utf-8")
        admin.crm_create(
            "Products",
            *[{"Product_Name": f"Bench product {n}", "Unit_Price": 10} for n in range(PRODUCTS)],
            notify=False,
        )
        admin.advance_clock(60)
        set_up(load_config(config_path))  # `replicator setup`: CRM's status values
        phase(admin, config_path, {}, "masters (not counted)", ["customers", "items"])
        with ZohoApi(box.credentials_path) as api:
            seed_documents(admin, api, args.documents)
        admin.advance_clock(3600)
        docs = args.documents
        transactions = phase(
            admin,
            config_path,
            {
                # CRM quotes -> Books: list pages, each quote read by id (its lines are
                # only there), one Books create each; Books invoices -> CRM: list pages,
                # each invoice read by id (line items), CRM writes of 100; CRM's deleted
                # (a first sync reads no deleted feed); the empty other-side list of each
                "crm_list": pages(docs) + 1,
                "books_list": pages(docs) + 1,
                "crm_reads": docs,
                "books_reads": docs,
                "books_writes": docs,
                "crm_writes": math.ceil(docs / CRM_WRITES_PER_CALL),
                "tokens": 1,
            },
            "transactions",
            ["estimates", "invoices"],
        )
        transactions["requests_per_document"] = round(transactions["total"] / (2 * docs), 3)
        transactions["lower_bound_per_document"] = round(
            transactions["total_lower_bound"] / (2 * docs), 3
        )
    ratios = [initial["ratio"], incremental["ratio"], transactions["ratio"]]
    result = {
        "benchmark": "api_calls",
        "records": args.records,
        "split": {"crm": in_crm, "books": in_books},
        "edits_per_side": args.edits,
        "edited_field": "Website <-> website (a contact field: a Books person field such as "
        "phone costs one read per contact not yet read whole by the connector)",
        "gap_seconds": args.gap,
        "books_rate_limit": {
            "sandbox_per_minute": rate,
            "connector_per_minute": rate,
            "raised": rate != BOOKS_REAL_LIMIT,
            "note": "Books allows 100 requests a minute; raised here so the run takes "
            "seconds instead of ~25 minutes for 2,500 writes"
            if rate != BOOKS_REAL_LIMIT
            else "the real limit",
        },
        "lower_bound_rule": "list pages of 200 per side over the records a sync must read "
        "(initial: all; incremental: the edits and the read-back of the previous sync's "
        "writes; +1 page of CRM's deleted feed), CRM writes of 100 records a call, one Books "
        "write per record, one token (shared by both sides)",
        "target_ratio": TARGET_RATIO,
        "meets_target": all(r is not None and r <= TARGET_RATIO for r in ratios),
        "converged": in_sync,
        "documents_per_side": args.documents,
        "phases": {
            "initial": initial,
            "incremental": incremental,
            "idle": idle,
            "transactions": transactions,
        },
        "seed_seconds": round(seeded, 2),
        "wall_seconds": round(time.perf_counter() - began, 2),
        "python": platform.python_version(),
        "library": library_state(),
    }
    if timed is not None:
        result["page_times"] = timed
    print(json.dumps(result, indent=2))
    return 0


def pages_result(
    args: argparse.Namespace, pages: dict[str, Any], seeded: float, began: float
) -> dict[str, Any]:
    return {
        "benchmark": "api_calls",
        "records": args.records,
        "pages_only": True,
        "per_page": PER_PAGE,
        "page_times": pages,
        "seed_seconds": round(seeded, 2),
        "wall_seconds": round(time.perf_counter() - began, 2),
        "python": platform.python_version(),
        "library": library_state(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
