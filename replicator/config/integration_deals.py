"""Deal automation of the Zoho Books <-> CRM integration: stage triggers on CRM deals.

``[integration.deals]`` turns CRM deals into a **watch module** ``deals`` (read from CRM,
never written) whose triggers make and settle Books documents (issue 13, the deals
contract sections 1 and 7).  Shape and defaults::

    [integration.deals]
    quote = "created"      # or a CRM stage value ("Proposal/Price Quote"): an estimate is
                           # made when a deal is created / reaches that stage's probability,
                           # accepted when the deal is won, declined when it is lost;
                           # absent: no quote trigger
    invoice = true         # an invoice made when the deal is won, voided when it is lost;
                           # default false

At least one trigger.  Each needs its document type synced by ``[integration.transactions]``
(estimates for ``quote``, invoices for ``invoice``) and written to Books (not ``to_crm``).

What it makes:

- the module ``deals``: CRM ``Deals`` (``sync = "watch"``), fields ``name`` (Deal_Name),
  ``stage`` (Stage), ``customer`` (Account_Name, or Contact_Name when customers sync CRM
  Contacts; a lookup into ``customers``, fetched on the spot when not synced yet),
  ``amount`` (Amount, decimal), ``description`` (Description) and ``owner`` (Owner, read as
  the owner's email), and the triggers; placed after every other module, so the documents
  and customers it names run first;
- on each trigger's document module, the Books-only fields :data:`DEAL_FIELDS`: ``deal``
  (``zcrm_potential_id``), ``deal_name`` (``zcrm_potential_name``) and ``salesperson`` (an
  email, written as the Books user's ``salesperson_name``); these are added by
  :func:`replicator.config.integration_transactions.transaction_modules`.

Every refusal is one line naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replicator.config.check import fail, refuse_unknown

DEALS = "deals"
KEYS = {"quote", "invoice"}  # [integration.deals]
# trigger name -> the document module it makes (the trigger names are the engine's, fixed)
TRIGGERS = {"quote": "estimates", "invoice": "invoices"}
CREATED = "created"
# canonical field -> Books column of a trigger's document module (Books only: a
# trigger-made document is written to Books alone, and CRM shows Books documents under
# the deal through these)
DEAL_FIELDS = {
    "deal": "zcrm_potential_id",
    "deal_name": "zcrm_potential_name",
    "salesperson": "salesperson",
}


def deal_triggers(path: Path, raw: Any) -> dict[str, dict[str, str]]:
    """The triggers ``[integration.deals]`` turns on: name -> ``{module, on?}`` (the
    ``[modules.deals.triggers.NAME]`` tables).  Raises ConfigError."""
    where = f"integration.{DEALS}"
    if not isinstance(raw, dict):
        raise fail(path, where, 'must be a table (quote = "created", invoice = true)')
    refuse_unknown(path, where, raw, KEYS)
    triggers: dict[str, dict[str, str]] = {}
    if "quote" in raw:
        quote = raw["quote"]
        if not isinstance(quote, str) or not quote.strip():
            raise fail(
                path,
                f"{where}.quote",
                f'must be "{CREATED}" or a CRM deal stage (such as "Proposal/Price Quote"), '
                f"not {quote!r}",
            )
        triggers["quote"] = {"module": TRIGGERS["quote"], "on": quote}
    invoice = raw.get("invoice", False)
    if not isinstance(invoice, bool):
        raise fail(path, f"{where}.invoice", f"must be true or false, not {invoice!r}")
    if invoice:
        triggers["invoice"] = {"module": TRIGGERS["invoice"]}
    if not triggers:
        raise fail(
            path,
            where,
            'turns on no trigger: set quote = "created" (or a stage) and/or invoice = true',
        )
    return triggers


def check_documents(
    path: Path,
    triggers: Mapping[str, Mapping[str, str]],
    documents: Mapping[str, Mapping[str, Any]],
    *,
    books: str,
) -> None:
    """Refuse a trigger whose document module is not made, or not written to Books.

    ``documents``: the document modules ``[integration.transactions]`` made, by name."""
    for name, trigger in triggers.items():
        document = trigger["module"]
        module = documents.get(document)
        if module is None:
            raise fail(
                path,
                f"integration.{DEALS}.{name}",
                f"the {name} trigger makes Books {document}: sync them under "
                f"[integration.transactions] ([integration.transactions.{document}])",
            )
        if module.get("sync") == "one_way" and module.get("source") == books:
            raise fail(
                path,
                f"integration.{DEALS}.{name}",
                f"the {name} trigger writes Books {document}, but they sync to_crm only "
                f"(set [integration.transactions.{document}] sync to both_ways or from_crm)",
            )


def deal_fields(books: str) -> dict[str, dict[str, str]]:
    """The Books-only fields a trigger's document module gets (see :data:`DEAL_FIELDS`)."""
    return {field: {books: column, "type": "text"} for field, column in DEAL_FIELDS.items()}


def deals_module(
    triggers: Mapping[str, Mapping[str, str]], *, crm: str, customer_module: str | None
) -> dict[str, Any]:
    """The ``[modules.deals]`` table: CRM Deals watched, with the triggers."""
    account = "Contact_Name" if customer_module == "contacts" else "Account_Name"
    return {
        "sync": "watch",
        crm: {"table": "Deals", "modified": "Modified_Time"},
        "lookups": {"customer": "customers"},
        "lookup_missing": "fetch",  # an account not synced yet is read on the spot
        "fields": {
            "name": {crm: "Deal_Name"},
            "stage": {crm: "Stage"},
            "customer": {crm: account},
            "amount": {crm: "Amount", "type": "decimal"},
            "description": {crm: "Description"},
            "owner": {crm: "Owner"},  # the CRM connector reads a deal's Owner as its email
        },
        "triggers": {name: dict(trigger) for name, trigger in triggers.items()},
    }


__all__ = [
    "DEALS",
    "DEAL_FIELDS",
    "TRIGGERS",
    "check_documents",
    "deal_fields",
    "deals_module",
    "deal_triggers",
]
