"""Books documents as a person associates them with a CRM deal (``replicator deals``).

A document is an estimate, a sales order, an invoice or an expense of one organisation,
named by its Books id or its number (``invoice/INV-00001``; an expense, which has no number,
by its reference number).  Its deal is its ``zcrm_potential_id`` / ``zcrm_potential_name``:
what Books keeps and what makes CRM show the document under the deal.  Reads and the one
write go through the Books side's :class:`~.http.ApiClient` (its auth, per-minute limit and
retries); every call carries ``organization_id``.

The write is ``PUT /{documents}/{id}`` with the two deal fields only (empty strings
dissociate), as the connector's own updates send only what changes; the answer is the
document as Books now holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import body_of
from replicator.errors import ZohoError

DEAL_ID = "zcrm_potential_id"
DEAL_NAME = "zcrm_potential_name"
NOT_FOUND = "1002"  # Books' code for "Invoice does not exist."


@attrs.frozen
class DocumentType:
    """One kind of Books document: its endpoint, its one-record key, its id and number keys."""

    name: str  # estimate | salesorder | invoice | expense
    path: str
    one: str
    id: str
    number: str  # the key a person names it by besides its id
    label: str  # for people: "sales order"


TYPES: dict[str, DocumentType] = {
    t.name: t
    for t in (
        DocumentType(
            "estimate", "estimates", "estimate", "estimate_id", "estimate_number", "estimate"
        ),
        DocumentType(
            "salesorder",
            "salesorders",
            "salesorder",
            "salesorder_id",
            "salesorder_number",
            "sales order",
        ),
        DocumentType("invoice", "invoices", "invoice", "invoice_id", "invoice_number", "invoice"),
        DocumentType("expense", "expenses", "expense", "expense_id", "reference_number", "expense"),
    )
}


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@attrs.frozen
class Document:
    """A Books document and the deal it is associated with (None: none)."""

    type: DocumentType
    id: str
    number: str | None
    customer: str | None  # the Books contact id of its customer
    customer_name: str | None
    deal: str | None
    deal_name: str | None
    status: str | None = None

    @property
    def key(self) -> str:
        """How the journal names it: ``invoice/<Books id>``."""
        return f"{self.type.name}/{self.id}"

    def label(self) -> str:
        """``invoice INV-00001`` (``invoice 4876...`` when it has no number)."""
        return f"{self.type.label} {self.number or self.id}"


def document_of(kind: DocumentType, record: Mapping[str, Any]) -> Document:
    return Document(
        type=kind,
        id=str(record[kind.id]),
        number=_text(record.get(kind.number)),
        customer=_text(record.get("customer_id")),
        customer_name=_text(record.get("customer_name")),
        deal=_text(record.get(DEAL_ID)),
        deal_name=_text(record.get(DEAL_NAME)),
        status=_text(record.get("status")),
    )


class BooksDeals:
    """The document reads and deal writes of one Books organisation."""

    def __init__(self, client: ApiClient, *, side: str, organization_id: str) -> None:
        self.client = client
        self.side = side
        self.organization_id = str(organization_id)

    def _params(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"organization_id": self.organization_id, **(extra or {})}

    def by_id(self, kind: DocumentType, id: str) -> Document | None:
        """The document of that Books id; None when Books has none."""
        if not id.isdigit():
            return None  # Books ids are numbers: anything else names no document
        path = f"/{kind.path}/{id}"
        response = self.client.request("GET", path, kind="get", params=self._params())
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            error = self.client.error(response, f"side {self.side}: GET {path}")
            if error.code == NOT_FOUND:  # Books may say "does not exist" with a 400
                return None
            raise error
        record = body_of(response).get(kind.one)
        if not isinstance(record, dict) or kind.id not in record:
            return None
        return document_of(kind, record)

    def by_number(self, kind: DocumentType, number: str) -> list[Document]:
        """The documents whose number (an expense: reference number) is ``number``."""
        path = f"/{kind.path}"
        params = self._params({kind.number: number, "per_page": 200})
        response = self.client.request("GET", path, kind="list", params=params)
        if response.status_code >= 400:
            raise self.client.error(response, f"side {self.side}: GET {path}")
        rows = body_of(response).get(kind.path) or []
        wanted = number.casefold()
        found = [
            document_of(kind, r)
            for r in rows
            if isinstance(r, dict)
            and kind.id in r
            and str(r.get(kind.number) or "").casefold() == wanted
        ]
        # a list row may lack the deal fields: read each one found whole
        return [self.by_id(kind, d.id) or d for d in found]

    def find(self, kind: DocumentType, ref: str) -> list[Document]:
        """The documents ``ref`` names: the one of that id, else those of that number."""
        ref = ref.strip()
        if not ref:
            return []
        found = self.by_id(kind, ref)
        if found is not None:
            return [found]
        return self.by_number(kind, ref)

    def set_deal(self, document: Document, deal: str | None, deal_name: str | None) -> Document:
        """Associate the document with a deal (None: dissociate it); the document after."""
        kind = document.type
        path = f"/{kind.path}/{document.id}"
        body = {DEAL_ID: deal or "", DEAL_NAME: deal_name or ""}
        response = self.client.request(
            "PUT", path, kind="write", params=self._params(), json_body=body
        )
        if response.status_code >= 400:
            raise self.client.error(response, f"side {self.side}: PUT {path} ({document.label()})")
        record = body_of(response).get(kind.one)
        if not isinstance(record, dict) or kind.id not in record:
            raise ZohoError(
                f"side {self.side}: PUT {path} ({document.label()}) answered no {kind.one}"
            )
        return document_of(kind, record)


__all__ = ["DEAL_ID", "DEAL_NAME", "TYPES", "BooksDeals", "Document", "DocumentType", "document_of"]
