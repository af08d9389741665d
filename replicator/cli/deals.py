"""``replicator deals search|associate|dissociate|list``: CRM deals associated with Books
documents by hand.

A thin layer over :mod:`replicator.sync.associations`, which says what is refused and
why; every change is made in Books and journaled (``DealAssociation``, by "person").
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from replicator.cli.common import (
    _at,
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
    show,
)
from replicator.connectors.zoho.books_deals import Document
from replicator.connectors.zoho.crm_deals import Deal
from replicator.sync import associations as assoc

DOCUMENT_HELP = (
    "DOCUMENT is TYPE/ID: TYPE estimate, salesorder, invoice or expense; ID the Books id "
    "or number (invoice/INV-00001; an expense by id or reference number)."
)

JOURNAL_CAUGHT_UP = "(Books held it already, the journal did not: journaled now)"


def deal_data(deal: Deal) -> dict[str, Any]:
    """A deal as the JSON listings show it."""
    return {
        "id": deal.id,
        "name": deal.name,
        "stage": deal.stage,
        "amount": deal.amount,
        "account": {"id": deal.account, "name": deal.account_name} if deal.account else None,
        "contact": {"id": deal.contact, "name": deal.contact_name} if deal.contact else None,
        "closing": deal.closing,
        "owner": deal.owner,
    }


def document_data(document: Document) -> dict[str, Any]:
    """A document as the JSON listings show it."""
    return {
        "document": document.key,
        "type": document.type.name,
        "id": document.id,
        "number": document.number,
        "customer": {"id": document.customer, "name": document.customer_name}
        if document.customer
        else None,
        "status": document.status,
        "deal": {"id": document.deal, "name": document.deal_name} if document.deal else None,
    }


def _customer(deal: Deal) -> str:
    if deal.account:
        return f"{deal.account_name or ''} (account {deal.account})".strip()
    if deal.contact:
        return f"{deal.contact_name or ''} (contact {deal.contact})".strip()
    return "-"


@click.group()
@config_option
def deals() -> None:
    """Associate CRM deals with Books estimates, sales orders, invoices and expenses.

    The deal must belong to the document's customer (its CRM account, or contact when
    customers sync with CRM Contacts); deals deleted in CRM are never offered; an
    association a deal trigger made cannot be undone by hand.  Each change is made in
    Books (zcrm_potential_id / zcrm_potential_name) and journaled.  Needs the Zoho sides.
    """


@deals.command("search")
@config_option
@click.argument("text", default="", required=False)
@click.option(
    "--customer",
    metavar="ID",
    help="Only the deals of this customer: its Books customer id or its CRM account id "
    "(TEXT may then be left out: all its deals).",
)
@json_option
@click.pass_context
def deals_search(ctx: click.Context, text: str, customer: str | None, as_json: bool) -> None:
    """Search CRM deals by a word of theirs (TEXT), or a customer's deals.

    Deleted deals are never offered.  Associate one with
    `replicator deals associate DEAL DOCUMENT`.
    """
    config = _config(ctx)
    with assoc.open_zoho(config) as zoho:
        if config.journal_path.exists():
            with _journal(config) as journal:
                found = assoc.search(zoho, journal, config, text, customer=customer)
        else:  # nothing synced yet: a search by word needs no journal
            found = assoc.search(zoho, None, config, text, customer=customer)
    if as_json:
        _echo_json([deal_data(d) for d in found])
        return
    if not found:
        click.echo("no deals found")
        return
    table = Table()
    for column in ("deal", "name", "stage", "amount", "customer", "closing", "owner"):
        table.add_column(column)
    for d in found:
        amount = "" if d.amount is None else show(d.amount)
        table.add_row(
            d.id, d.name, d.stage or "", amount, _customer(d), d.closing or "", d.owner or ""
        )
    _console().print(table)


@deals.command("associate")
@config_option
@click.argument("deal", metavar="DEAL")
@click.argument("document", metavar="DOCUMENT")
@click.pass_context
def deals_associate(ctx: click.Context, deal: str, document: str) -> None:
    """Associate the CRM deal DEAL (its id) with a Books document.

    Refused when the deal is not found or deleted, the document is not found, the deal's
    account is not the document's customer, or a deal trigger made the document.
    A document associated with another deal moves to this one.

    DOCUMENT is TYPE/ID: TYPE estimate, salesorder, invoice or expense; ID the Books id or
    number (invoice/INV-00001; an expense by id or reference number).
    """
    config = _config(ctx)
    with assoc.open_zoho(config) as zoho, _journal(config) as journal:
        change = assoc.associate(zoho, journal, config, deal, document)
    if change is None:
        click.echo(f"{document} is associated with deal {deal} already: nothing to do")
        return
    was = (
        f" (was deal {change.before.deal})"
        if change.before.deal and change.before.deal != change.after.deal
        else ""
    )
    name = change.deal.name if change.deal else change.after.deal_name
    click.echo(f"{change.after.label()} is associated with deal {deal} ({name}){was}")
    if not change.written:
        click.echo(JOURNAL_CAUGHT_UP)


@deals.command("dissociate")
@config_option
@click.argument("document", metavar="DOCUMENT")
@click.pass_context
def deals_dissociate(ctx: click.Context, document: str) -> None:
    """Dissociate a Books document from its CRM deal.

    Refused for an association a deal trigger made (the document follows its deal).
    DOCUMENT is TYPE/ID, as for `associate`.
    """
    config = _config(ctx)
    with assoc.open_zoho(config) as zoho, _journal(config) as journal:
        change = assoc.dissociate(zoho, journal, config, document)
    if change is None:
        click.echo(f"{document} is associated with no deal: nothing to do")
        return
    before = change.before
    name = f" ({before.deal_name})" if before.deal_name else ""
    click.echo(f"{change.after.label()} is no longer associated with deal {before.deal}{name}")
    if not change.written:
        click.echo(JOURNAL_CAUGHT_UP)


@deals.command("list")
@config_option
@click.option("--document", "document", required=True, metavar="DOCUMENT", help=DOCUMENT_HELP)
@json_option
@click.pass_context
def deals_list(ctx: click.Context, document: str, as_json: bool) -> None:
    """The deal a document is associated with now, and its journaled associations (by a
    person, or the deal trigger that made it)."""
    config = _config(ctx)
    with assoc.open_zoho(config) as zoho, _journal(config) as journal:
        found = assoc.listing(zoho, journal, config, document)
    doc = found.document
    if as_json:
        made = found.trigger
        _echo_json(
            {
                **document_data(doc),
                "deal": deal_data(found.deal)
                if found.deal
                else ({"id": doc.deal, "name": doc.deal_name} if doc.deal else None),
                "trigger": {"trigger": made.trigger, "deal": made.deal, "record": made.rid}
                if made
                else None,
                "history": list(found.history),
            }
        )
        return
    console = _console()
    customer = f", customer {doc.customer_name or doc.customer}" if doc.customer else ""
    console.print(f"[b]{doc.label()}[/b] ({doc.key}{customer})")
    if doc.deal is None:
        console.print("deal: none")
    elif found.deal is None:
        console.print(f"deal: {doc.deal} ({doc.deal_name or 'no name'}), not found in CRM now")
    else:
        console.print(f"deal: {found.deal.id} ({found.deal.name}), stage {found.deal.stage}")
    if found.trigger is not None:
        console.print(f"made by the {found.trigger.trigger} trigger of deal {found.trigger.deal}")
    if not found.history:
        console.print("no journaled associations")
        return
    table = Table("seq", "at (UTC)", "action", "deal", "by")
    for row in found.history:
        name = f" ({row['deal_name']})" if row["deal_name"] else ""
        table.add_row(str(row["seq"]), _at(row["at"]), row["action"], row["deal"] + name, row["by"])
    console.print(table)


__all__ = ["deal_data", "deals", "document_data"]
