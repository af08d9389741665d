"""The demo's transactions chapter: documents with their lines, both ways (issue 12).

Run after the masters' syncs, on the demo's sandbox: ``replicator setup`` adds the status
picklist values the integration needs in CRM; a quote made in CRM with three lines reaches
Books (Books becomes its system of record); the seeded Books invoice (taxed, discounted)
is in CRM; the invoice is marked sent in Books, and a CRM edit of it is refused and
journaled with the reason.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from journal import Kind
from journal.payloads import Failure, payload_of
from replicator.cli.setup_check import ADDED, CREATED, set_up
from replicator.cli.sync import run_sync
from replicator.config.load import Config
from replicator.sandbox import AdminClient
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_journal

QUOTE = "Demo quote: 3 lines"


def set_up_crm(config: Config) -> int:
    """``replicator setup`` for the demo's config: how many fields or value sets it made
    or added on CRM."""
    return sum(lack.state in (CREATED, ADDED) for lack in set_up(config))


def run_transactions(console: Console, config: Config, api: ZohoApi, admin: AdminClient) -> None:
    """The chapter: a CRM quote to Books, a Books invoice in CRM, a sent invoice's CRM edit
    refused."""
    console.rule("transactions: documents with their lines")
    account = api.crm_records("Accounts", ["Account_Name"])[0]
    products = api.crm_records("Products", ["Product_Name"])[:3]
    lines = [
        {"Product_Name": {"id": p["id"]}, "Quantity": q, "List_Price": price}
        for p, q, price in zip(products, (3, 1.5, 2), (10.25, 19.99, 30), strict=False)
    ]
    api.crm_create(
        "Quotes", {"Subject": QUOTE, "Account_Name": {"id": account["id"]}, "Quoted_Items": lines}
    )
    console.print(f"- crm: quote {QUOTE!r} for {account['Account_Name']!r} with {len(lines)} lines")
    run_sync(config)
    estimate = _books_document(admin, "estimates", reference_number=QUOTE)
    quote = _one(admin.crm_records("Quotes"), Subject=QUOTE)
    if estimate is not None:
        console.print(
            f"  -> books: estimate {estimate['estimate_number']} with "
            f"{len(estimate['line_items'])} lines: "
            + "; ".join(
                f"{li['name']} {li['quantity']} x {li['rate']}" for li in estimate["line_items"]
            )
            + f"; total books {estimate['total']}, crm {quote['Grand_Total'] if quote else '?'}"
        )
    invoice = next(iter(admin.books_records("invoices")), None)
    if invoice is None:
        return
    number = invoice["invoice_number"]
    copy = _one(admin.crm_records("Invoices"), Subject=number)
    if copy is not None:
        full = admin.crm_record("Invoices", copy["id"])
        console.print(
            f"- books invoice {number} ({invoice['status']}) is in CRM with "
            f"{len(full.get('Invoiced_Items') or [])} lines, status {full.get('Status')!r}, "
            f"total books {invoice['total']}, crm {full.get('Grand_Total')}"
        )
        if invoice["status"] != "sent":
            admin.books_update("invoices", invoice["invoice_id"], {"status": "sent"})
            run_sync(config)
        admin.advance_clock(1)
        api.crm_update("Invoices", copy["id"], Description="edited in CRM after sending")
        console.print(f"- crm: edited the description of sent invoice {number}")
        with open_journal(config) as journal:
            before = journal.last_seq
        run_sync(config)
        with open_journal(config) as journal:
            refused = [
                (entry.seq, said.reason)
                for entry in journal.read(since=before, kinds=[Kind.ERROR])
                if isinstance(said := payload_of(entry), Failure) and said.stage == "push"
            ]
        for seq, reason in refused:
            console.print(f"  -> refused and journaled (#{seq}): {reason}")
        kept = _books_document(admin, "invoices", invoice_number=number)
        if kept is not None:
            console.print(f"  -> books keeps its notes: {kept.get('notes')!r}")


def _one(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    found = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    return found[0] if found else None


def _books_document(admin: AdminClient, resource: str, **where: Any) -> dict[str, Any] | None:
    found = _one(admin.books_records(resource), **where)
    if found is None:
        return None
    answer = admin.call("GET", f"/books/{resource}/{found[resource[:-1] + '_id']}")
    return dict(answer)


__all__ = ["QUOTE", "run_transactions", "set_up_crm"]
