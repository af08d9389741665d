"""Removing Zoho Books records for ``replicator undo`` (``BooksRemover``), against a Books
fake through ``httpx.MockTransport``: a delete Books accepts, a record gone already, a
contact Books will not delete (marked inactive instead, said in the removal's note) and a
document it will not delete (the removal's error)."""

from __future__ import annotations

import httpx

from replicator.connectors.base import SideModule
from replicator.connectors.remove import Removal
from replicator.connectors.zoho.books import ZohoBooksConnector
from replicator.connectors.zoho.books_remove import BooksRemover
from replicator.connectors.zoho.http import ApiClient
from tests.connectors.zoho.conftest import oauth
from tests.connectors.zoho.fakes import FakeClock, reply, token_handler

ORG = "10234695"
USED = {"message": "The contact has transactions associated with it.", "code": 1040}


class Books:
    """Contacts 1 (used by a transaction), 2 (gone), 3; invoice 4 (sent)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token":
            return token_handler(request, "https://api.test")
        assert request.url.params["organization_id"] == ORG
        path = request.url.path.removeprefix("/books/v3")
        self.calls.append((request.method, path))
        if (request.method, path) == ("DELETE", "/contacts/1"):
            return reply(400, USED)
        if (request.method, path) == ("POST", "/contacts/1/inactive"):
            return reply(200, {"code": 0, "message": "The contact has been marked as inactive."})
        if (request.method, path) == ("DELETE", "/contacts/2"):
            return reply(404, {"code": 1002, "message": "Contact does not exist."})
        if (request.method, path) == ("DELETE", "/invoices/4"):
            return reply(400, {"code": 1060, "message": "A sent invoice cannot be deleted."})
        return reply(200, {"code": 0, "message": "deleted"})


def _remover(books: Books) -> BooksRemover:
    clock = FakeClock()
    transport = httpx.MockTransport(books.handler)
    client = ApiClient(
        oauth(transport, clock),
        "/books/v3",
        name="side books (Zoho Books)",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.monotonic,
        jitter=lambda: 0.5,
    )
    return BooksRemover(
        ZohoBooksConnector("books", client=client, organization_id=ORG, now=clock.wall)
    )


def test_a_contact_books_will_not_delete_is_marked_inactive_and_a_gone_one_counts():
    books = Books()
    module = SideModule("customers", "contacts", id="contact_id")
    found = _remover(books).remove(module, ["1", "2", "3"])
    assert [r.id for r in found] == ["1", "2", "3"]
    used, gone, deleted = found
    assert used.ok and used.note is not None and "marked inactive" in used.note
    assert "has transactions" in used.note
    assert gone == Removal("2", gone=True)
    assert deleted == Removal("3")
    assert ("POST", "/contacts/1/inactive") in books.calls
    assert ("POST", "/contacts/3/inactive") not in books.calls


def test_a_document_books_will_not_delete_is_an_error_not_marked():
    books = Books()
    module = SideModule("invoices", "invoices", id="invoice_id")
    (refused,) = _remover(books).remove(module, ["4"])
    assert not refused.ok and refused.error is not None
    assert "cannot be deleted" in refused.error
    assert books.calls == [("DELETE", "/invoices/4")]
