"""The demo's deal automation chapter (issue 13).

Run after the transactions chapter, on the demo's sandbox: a deal made in CRM for an
account is moved to a won stage, and one Books invoice is made for it (with its quote
accepted); the deal is then lost, and the invoice is voided (the quote declined).  Won and
lost are what CRM's stage metadata says: probability 100 and 0.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from journal import Kind
from replicator.cli.sync import run_sync
from replicator.config.load import Config
from replicator.sandbox import AdminClient
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_journal

DEAL = "Demo deal: 12 seats"
WON, LOST = "Closed Won", "Closed Lost"


def run_deals(console: Console, config: Config, api: ZohoApi, admin: AdminClient) -> None:
    """The chapter: a deal won makes its invoice, the deal lost voids it."""
    console.rule("deal automation: stage triggers")
    account = api.crm_records("Accounts", ["Account_Name"])[0]
    deal = api.crm_create(
        "Deals",
        {
            "Deal_Name": DEAL,
            "Stage": "Negotiation/Review",
            "Amount": 4800,
            "Description": "12 seats, one year",
            "Account_Name": {"id": account["id"]},
        },
    )[0]
    console.print(f"- crm: deal {DEAL!r} for {account['Account_Name']!r}, amount 4800")
    run_sync(config)
    _show(console, admin, deal)
    for stage in (WON, LOST):
        admin.advance_clock(1)
        api.crm_update("Deals", deal, Stage=stage)
        console.print(f"- crm: deal moved to {stage!r}")
        with open_journal(config) as journal:
            before = journal.last_seq
        run_sync(config)
        with open_journal(config) as journal:
            for entry in journal.read(since=before, kinds=[Kind.TRIGGER]):
                reason = entry.meta.get("reason")
                if reason:
                    console.print(f"  -> journaled (#{entry.seq}): {reason}")
        _show(console, admin, deal)


def _show(console: Console, admin: AdminClient, deal: str) -> None:
    for resource, number in (("estimates", "estimate_number"), ("invoices", "invoice_number")):
        for document in _of_deal(admin, resource, deal):
            console.print(
                f"  books {resource[:-1]} {document[number]}: status {document['status']}, "
                f"total {document['total']}, customer {document['customer_name']!r}"
            )


def _of_deal(admin: AdminClient, resource: str, deal: str) -> list[dict[str, Any]]:
    return [d for d in admin.books_records(resource) if d.get("zcrm_potential_id") == deal]


__all__ = ["DEAL", "run_deals"]
