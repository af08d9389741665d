"""A fake Books v3 with contact persons, and helpers for the ``contactpersons`` tests.

The fake follows the spec's person endpoints (``POST /contacts/contactpersons`` and ``PUT
/contacts/contactpersons/{id}`` answer ``contact_person`` as a list of one, as the spec
says; ``GET /contacts/{id}/contactpersons`` lists them), moves a contact's
``last_modified_time`` on any change to its persons, and sends a ``Date`` header.
"""

from __future__ import annotations

import email.utils
import itertools
import json
from typing import Any

import httpx

from replicator.connectors.base import SideModule
from replicator.connectors.zoho.books import ZohoBooksConnector
from tests.connectors.zoho.conftest import books_connector
from tests.connectors.zoho.fakes import (
    CONTACT_LIST_KEYS,
    FakeBooks,
    FakeClock,
    books_time,
    reply,
)

PERSONS = SideModule(
    "contact_persons",
    "contactpersons",
    columns=("contact_id", "first_name", "last_name", "email", "department"),
    match=("email",),
)
FIELDS = (
    "salutation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "designation",
    "department",
    "skype",
)


class FakePersons(FakeBooks):
    """FakeBooks whose contacts hold contact persons, served by the spec's endpoints."""

    def __init__(self, clock: FakeClock) -> None:
        keys = CONTACT_LIST_KEYS | {"first_name", "last_name", "mobile"}
        super().__init__(clock, contact_list_keys=keys)
        self.person_ids = itertools.count(460000000090001)
        self.fail_next_create = False  # make the person, then answer 500
        self.vanish: str | None = None  # a contact deleted right after the next listing

    # -- another program ---------------------------------------------------------------

    def add_contact(self, name: str, contact_type: str = "customer") -> str:
        id = self.insert(
            "contacts",
            {"contact_name": name, "contact_type": contact_type, "contact_persons": []},
        )
        self._touch(self.records["contacts"][id])  # lists show its primary person's fields
        return id

    def add_person(self, contact_id: str, **values: Any) -> str:
        contact = self.records["contacts"][contact_id]
        person = {k: "" for k in FIELDS}
        person |= values
        person["contact_person_id"] = str(next(self.person_ids))
        person["is_primary_contact"] = not contact["contact_persons"]
        contact["contact_persons"].append(person)
        self._touch(contact)
        return person["contact_person_id"]

    def edit_person(self, id: str, **values: Any) -> None:
        contact, person = self._owner(id)
        person.update(values)
        self._touch(contact)

    def remove_person(self, id: str) -> None:
        contact, person = self._owner(id)
        contact["contact_persons"].remove(person)
        if person["is_primary_contact"] and contact["contact_persons"]:
            contact["contact_persons"][0]["is_primary_contact"] = True
        self._touch(contact)

    def persons(self, contact_id: str) -> list[dict[str, Any]]:
        return self.records["contacts"][contact_id]["contact_persons"]

    def person(self, id: str) -> dict[str, Any]:
        return self._owner(id)[1]

    def _owner(self, id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for contact in self.records["contacts"].values():
            for person in contact.get("contact_persons", []):
                if person["contact_person_id"] == id:
                    return contact, person
        raise KeyError(id)

    def _touch(self, contact: dict[str, Any]) -> None:
        primary = next((p for p in contact["contact_persons"] if p["is_primary_contact"]), {})
        for key in ("first_name", "last_name", "email", "phone", "mobile"):
            contact[key] = primary.get(key, "")
        contact["last_modified_time"] = books_time(self.clock.wall())

    # -- the API -----------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.removeprefix("/books/v3/").split("/")
        if parts[0] == "contacts" and "contactpersons" in parts:
            self.requests.append(request)
            response = self._persons_api(request, parts)
        else:
            response = super().handler(request)
            if parts == ["contacts"] and self.vanish is not None:
                del self.records["contacts"][self.vanish]
                self.vanish = None
        response.headers["Date"] = email.utils.format_datetime(self.clock.wall(), usegmt=True)
        return response

    def _persons_api(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        missing = reply(404, {"code": 1002, "message": "Contact person does not exist."})
        if request.method == "GET":  # /contacts/{id}/contactpersons
            contact = self.records["contacts"].get(parts[1])
            if contact is None:
                return reply(404, {"code": 1002, "message": "Contact does not exist."})
            page, per_page = int(request.url.params["page"]), int(request.url.params["per_page"])
            persons = contact["contact_persons"]
            chunk = persons[(page - 1) * per_page : page * per_page]
            context = {"page": page, "has_more_page": page * per_page < len(persons)}
            return reply(200, {"code": 0, "contact_persons": chunk, "page_context": context})
        body = json.loads(request.content)
        if not str(body.get("first_name") or "").strip():
            return reply(400, {"code": 4, "message": "Invalid value passed for first_name"})
        if request.method == "POST":
            if body.get("contact_id") not in self.records["contacts"]:
                return reply(404, {"code": 1002, "message": "Contact does not exist."})
            values = {k: v for k, v in body.items() if k in FIELDS}
            id = self.add_person(body["contact_id"], **values)
            if self.fail_next_create:
                self.fail_next_create = False
                return reply(500, {"code": 500, "message": "internal error"})
            person = {"contact_id": body["contact_id"], **self.person(id)}
            return reply(201, {"code": 0, "contact_person": [person]})
        try:
            contact, person = self._owner(parts[2])
        except KeyError:
            return missing
        if body.get("contact_id") != contact["contact_id"]:
            return reply(400, {"code": 4, "message": "Invalid value passed for contact_id"})
        self.edit_person(parts[2], **{k: v for k, v in body.items() if k in FIELDS})
        return reply(
            200, {"code": 0, "contact_person": [{"contact_id": contact["contact_id"], **person}]}
        )


def connect(fake: FakePersons, clock: FakeClock, **options: Any) -> ZohoBooksConnector:
    return books_connector(fake, clock, **options)


def pull_all(connector, since, *, module=PERSONS, page_size=1000):
    pages = list(connector.pull(module, since, page_size=page_size))
    return [c for p in pages for c in p.changes], pages[-1].cursor


def calls(fake: FakePersons, method: str = "GET", contains: str = "") -> list[httpx.Request]:
    return [
        r
        for r in fake.requests
        if r.url.path.startswith("/books/v3") and r.method == method and contains in r.url.path
    ]


def people(n: int, **extra: Any) -> dict[str, Any]:
    return {"first_name": f"Ann{n}", "last_name": "Lee", "email": f"a{n}@x.example", **extra}
