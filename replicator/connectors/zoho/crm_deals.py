"""CRM deals as a person picks one to associate with a Books document (``replicator deals``).

These are reads only, made through the CRM side's :class:`~.http.ApiClient` (its auth,
limits and retries): a deal by id (``GET /Deals/{id}``), deals by word (``GET
/Deals/search?word=``) or of one account or contact (``criteria=(Account_Name:equals:<id>)``,
the word then kept to the deals whose name holds it), and whether a deal that is not there
was deleted (``GET /Deals/deleted?type=all``).

**Deleted deals are never offered.**  CRM's search index follows writes with a delay, so a
deal deleted a moment ago may still be found: every deal a search finds is read again by
id (``GET /Deals?ids=``, 100 a call), and only those the read still answers are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from replicator.connectors.zoho.crm_api import not_found
from replicator.connectors.zoho.cursors import parse_time
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import body_of, chunks

DEALS = "Deals"
FIELDS = (
    "Deal_Name",
    "Stage",
    "Account_Name",
    "Contact_Name",
    "Amount",
    "Closing_Date",
    "Owner",
    "Modified_Time",
)
PER_PAGE = 200
SEARCH_PAGES = 10  # CRM answers at most 2,000 search results: 10 pages of 200
DELETED_PAGES = 10  # how far back the deleted feed is read to name a deal that is gone
IDS_PER_CALL = 100


@attrs.frozen
class Deal:
    """A CRM deal, as a person chooses one: its customer is an account and/or a contact."""

    id: str
    name: str
    stage: str | None = None
    account: str | None = None  # the Account_Name lookup's id
    account_name: str | None = None
    contact: str | None = None  # the Contact_Name lookup's id
    contact_name: str | None = None
    amount: Decimal | None = None
    closing: str | None = None  # the closing date, ISO
    owner: str | None = None  # the owner's email (or name, when CRM gives none)

    def customer(self, field: str) -> tuple[str | None, str | None]:
        """The id and name of the deal's ``Account_Name`` or ``Contact_Name``."""
        if field == "Contact_Name":
            return self.contact, self.contact_name
        return self.account, self.account_name

    def label(self) -> str:
        return f"deal {self.id} ({self.name})"


@attrs.frozen
class DeletedDeal:
    """A deal CRM lists as deleted: its id, its name then, and when."""

    id: str
    name: str | None
    deleted: dt.datetime | None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _lookup(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, Mapping):
        return _text(value.get("id")), _text(value.get("name"))
    return _text(value), None


def _amount(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None  # shown as no amount: the deal is still offered


def deal_of(record: Mapping[str, Any]) -> Deal:
    """A deal from a CRM record (lookups are ``{id, name}``; ``Owner`` ``{id, name, email}``)."""
    account, account_name = _lookup(record.get("Account_Name"))
    contact, contact_name = _lookup(record.get("Contact_Name"))
    owner = record.get("Owner")
    if isinstance(owner, Mapping):
        owner = owner.get("email") or owner.get("name")
    return Deal(
        id=str(record["id"]),
        name=str(record.get("Deal_Name") or ""),
        stage=_text(record.get("Stage")),
        account=account,
        account_name=account_name,
        contact=contact,
        contact_name=contact_name,
        amount=_amount(record.get("Amount")),
        closing=_text(record.get("Closing_Date")),
        owner=_text(owner),
    )


def criterion(field: str, value: str) -> str:
    """``(field:equals:value)`` with the characters criteria give a meaning escaped."""
    escaped = value.replace("\\", "\\\\")
    for char in "(),":
        escaped = escaped.replace(char, "\\" + char)
    return f"({field}:equals:{escaped})"


class CrmDeals:
    """The deal reads of one CRM side (see the module docstring)."""

    def __init__(self, client: ApiClient, *, side: str) -> None:
        self.client = client
        self.side = side

    def _get(self, path: str, params: Mapping[str, Any] | None, *, kind: str) -> Any:
        """The JSON of a read; ``{}`` when CRM has nothing (204, 304, or not found)."""
        response = self.client.request("GET", path, kind=kind, params=params)
        if response.status_code in (204, 304):
            return {}
        if response.status_code >= 400:
            error = self.client.error(response, f"side {self.side}: GET {path}")
            if not_found(error):
                return {}
            raise error
        return body_of(response)

    def get(self, deal_id: str) -> Deal | None:
        """The deal of that id; None when CRM has none (never had, or deleted)."""
        if not deal_id.isdigit():
            return None  # CRM ids are numbers: anything else names no deal
        body = self._get(f"/{DEALS}/{deal_id}", None, kind="read")
        records = [r for r in body.get("data") or [] if isinstance(r, dict) and r.get("id")]
        return deal_of(records[0]) if records else None

    def deleted(self, deal_id: str) -> DeletedDeal | None:
        """The deal of that id if CRM lists it as deleted (recycle bin or gone for good)."""
        for page in range(1, DELETED_PAGES + 1):
            params = {"type": "all", "page": page, "per_page": PER_PAGE}
            body = self._get(f"/{DEALS}/deleted", params, kind="deleted")
            data = [d for d in body.get("data") or [] if isinstance(d, dict)]
            for entry in data:
                if str(entry.get("id")) == deal_id:
                    return DeletedDeal(
                        deal_id,
                        _text(entry.get("display_name")),
                        parse_time(entry.get("deleted_time")),
                    )
            if not data or not (body.get("info") or {}).get("more_records"):
                return None
        return None

    def search(
        self,
        text: str,
        *,
        customer: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[Deal]:
        """Deals whose name (or, with no customer, any searchable field: CRM's ``word``
        search) holds ``text``; ``customer`` ``(field, id)`` keeps to the deals whose
        ``Account_Name`` / ``Contact_Name`` is that record (then ``text`` may be empty:
        all its deals).  Deleted deals are left out; at most ``limit``, by name."""
        text = text.strip()
        params: dict[str, Any]
        if customer is not None:
            params = {"criteria": criterion(customer[0], customer[1])}
        elif text:
            params = {"word": text}
        else:
            return []
        needle = text.casefold()
        found: dict[str, Deal] = {}
        for page in range(1, SEARCH_PAGES + 1):
            body = self._get(
                f"/{DEALS}/search", {**params, "page": page, "per_page": PER_PAGE}, kind="search"
            )
            data = [r for r in body.get("data") or [] if isinstance(r, dict) and r.get("id")]
            for record in data:
                deal = deal_of(record)
                if customer is None or needle in deal.name.casefold():
                    found.setdefault(deal.id, deal)
            if not data or not (body.get("info") or {}).get("more_records"):
                break
        live = self.read(found)
        deals = sorted(live.values(), key=lambda d: (d.name.casefold(), d.id))
        return deals[:limit]

    def read(self, ids: Iterable[str]) -> dict[str, Deal]:
        """The deals of those ids CRM still has (a deleted one is not answered)."""
        live: dict[str, Deal] = {}
        for chunk in chunks(list(dict.fromkeys(ids)), IDS_PER_CALL):
            params = {"ids": ",".join(chunk), "fields": ",".join(FIELDS)}
            body = self._get(f"/{DEALS}", params, kind="read")
            for record in body.get("data") or []:
                if isinstance(record, dict) and str(record.get("id")) in chunk:
                    deal = deal_of(record)
                    live[deal.id] = deal
        return live


__all__ = ["DEALS", "CrmDeals", "Deal", "DeletedDeal", "criterion", "deal_of"]
