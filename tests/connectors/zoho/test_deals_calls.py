"""The Zoho calls of `replicator deals`: CRM deal reads (deleted deals never offered, even
while the search index lags) and Books document reads and deal writes, over fake HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from replicator.connectors.zoho.books_deals import TYPES, BooksDeals, document_of
from replicator.connectors.zoho.crm_deals import CrmDeals
from replicator.errors import ZohoError
from tests.connectors.zoho.conftest import api
from tests.connectors.zoho.fakes import FakeClock, reply

Handler = Callable[[httpx.Request], httpx.Response]


def deal(id: str, name: str, account: str | None = "A1") -> dict[str, Any]:
    return {
        "id": id,
        "Deal_Name": name,
        "Stage": "Qualification",
        "Account_Name": {"id": account, "name": "Acme"} if account else None,
    }


def crm(handler: Handler) -> tuple[CrmDeals, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return CrmDeals(api(record, FakeClock()), side="crm"), seen


def books(handler: Handler) -> tuple[BooksDeals, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return BooksDeals(api(record, FakeClock()), side="books", organization_id="42"), seen


def test_a_search_hit_crm_no_longer_answers_by_id_is_not_offered():
    """The search index may still list a deal deleted a moment ago: each hit is read again
    by id, and one the read does not answer is left out."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Deals/search"):
            return reply(200, {"data": [deal("1", "Big order"), deal("2", "Gone order")]})
        assert request.url.params["ids"] == "1,2"
        return reply(200, {"data": [deal("1", "Big order")]})

    deals, _ = crm(handler)
    assert [d.id for d in deals.search("order")] == ["1"]


def test_a_customer_search_sends_the_account_criterion_and_keeps_names_holding_the_text():
    """With a customer: ``criteria=(Account_Name:equals:<id>)``, the text kept to names."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Deals/search"):
            assert request.url.params["criteria"] == "(Account_Name:equals:A1)"
            assert "word" not in request.url.params
            return reply(200, {"data": [deal("1", "Big order"), deal("2", "Small order")]})
        return reply(200, {"data": [deal("1", "Big order"), deal("2", "Small order")]})

    deals, _ = crm(handler)
    found = deals.search("big", customer=("Account_Name", "A1"))
    assert [d.name for d in found] == ["Big order"]


def test_a_deal_crm_has_not_is_none_and_a_name_that_is_no_id_costs_no_call():
    """204 (or CRM's INVALID_DATA on the id) is no deal; text that is no number is not sent."""
    answers = iter([reply(204, None), reply(400, {"code": "INVALID_DATA", "message": "bad id"})])
    deals, seen = crm(lambda request: next(answers))
    assert deals.get("123") is None
    assert deals.get("456") is None
    assert deals.get("not-an-id") is None
    assert len(seen) == 2


def test_a_deleted_deal_is_found_in_the_deleted_feed_with_its_name():
    """``/Deals/deleted?type=all`` is read page by page until the deal is found."""

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        assert request.url.params["type"] == "all"
        if page == 1:
            return reply(200, {"data": [{"id": "7"}], "info": {"more_records": True}})
        return reply(
            200,
            {
                "data": [
                    {
                        "id": "9",
                        "display_name": "Old order",
                        "deleted_time": "2026-12-01T10:00:00+05:30",
                    }
                ],
                "info": {"more_records": False},
            },
        )

    deals, seen = crm(handler)
    gone = deals.deleted("9")
    assert gone is not None and gone.name == "Old order"
    assert gone.deleted is not None and gone.deleted.isoformat() == "2026-12-01T04:30:00+00:00"
    assert deals.deleted("8") is None


def invoice(id: str, number: str, **more: Any) -> dict[str, Any]:
    return {"invoice_id": id, "invoice_number": number, "customer_id": "B1", **more}


def test_a_document_is_found_by_id_else_by_number():
    """A numeric ref is tried as an id (404: not one), then as a number; the number's hit
    is read whole for its deal fields."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["organization_id"] == "42"
        path = request.url.path
        if path.endswith("/invoices/00017"):
            return reply(404, {"code": 1002, "message": "Invoice does not exist."})
        if path.endswith("/invoices"):
            assert request.url.params["invoice_number"] == "00017"
            return reply(200, {"invoices": [invoice("5", "00017"), invoice("6", "000170")]})
        assert path.endswith("/invoices/5")
        return reply(200, {"invoice": invoice("5", "00017", zcrm_potential_id="D1")})

    documents, _ = books(handler)
    (found,) = documents.find(TYPES["invoice"], "00017")
    assert (found.id, found.number, found.deal) == ("5", "00017", "D1")


def test_a_400_does_not_exist_is_no_document_and_another_400_is_an_error():
    """Books' code 1002 with a 400 means no such id; any other 400 is raised, one line."""
    answers = iter(
        [
            reply(400, {"code": 1002, "message": "Invoice does not exist."}),
            reply(400, {"code": 57, "message": "You are not authorized"}),
        ]
    )
    documents, _ = books(lambda request: next(answers))
    assert documents.by_id(TYPES["invoice"], "5") is None
    with pytest.raises(ZohoError, match="HTTP 400 57: You are not authorized"):
        documents.by_id(TYPES["invoice"], "5")


@pytest.mark.parametrize(
    ("deal", "name", "sent"),
    [("D1", "Big order", ("D1", "Big order")), (None, None, ("", ""))],
)
def test_the_write_sends_only_the_two_deal_fields(deal, name, sent):
    """PUT /{documents}/{id} with zcrm_potential_id and zcrm_potential_name only (empty
    strings dissociate); the answer is the document after."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        expense = {"expense_id": "3", "reference_number": "TRIP-1", **body}
        return reply(200, {"expense": expense})

    documents, seen = books(handler)
    before = document_of(TYPES["expense"], {"expense_id": "3", "reference_number": "TRIP-1"})
    after = documents.set_deal(before, deal, name)
    assert seen[0].method == "PUT" and seen[0].url.path.endswith("/expenses/3")
    assert bodies == [{"zcrm_potential_id": sent[0], "zcrm_potential_name": sent[1]}]
    assert (after.deal, after.deal_name) == (deal, name)
