"""The connector contract over the Books connector's ``contactpersons`` table, against the
sandbox over real HTTP; and the sandbox behaviour that table relies on.

The contract's table ``customers (name NOT NULL, email, city)`` is here Books' contact
persons: ``first_name`` (Books requires it), ``email`` and ``department``.  Persons live under
customers: the fixture makes two, "another program" adds persons to them in turn through
the Books API (its own access token), and :class:`UnderCustomer` gives the connector's
creates the first customer's ``contact_id`` (the contract knows no parent; in a sync the
field map carries it).  Persons gone from a contact that is read again are reported, so
``reports_deletes`` holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from replicator.connectors.base import Connector, Outcome, SideModule, Write
from replicator.connectors.zoho.books import ZohoBooksConnector
from replicator.connectors.zoho.books import from_options as books_from_options
from replicator.sandbox import Sandbox
from tests.connectors.contract import Harness
from tests.integration.conftest import fresh
from tests.integration.test_contract_zoho import FAST, Renamed, SandboxContract, SandboxHarness

COLUMNS = {"name": "first_name", "email": "email", "city": "department"}
MODULE = SideModule(
    "contact_persons", "contactpersons", columns=tuple(COLUMNS.values()), match=("first_name",)
)


class UnderCustomer(Renamed):
    """The contract's connector, whose creates go under one customer."""

    def __init__(self, inner: Connector, module: SideModule, contact_id: str) -> None:
        super().__init__(inner, module, COLUMNS)
        self.contact_id = contact_id

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        placed = [
            attrs.evolve(w, values={**w.values, "contact_id": self.contact_id})
            if w.id is None
            else w
            for w in writes
        ]
        return super().push(module, placed)


def books_api(box: Sandbox) -> httpx.Client:
    """Plain Books v3 calls as another program makes them (its own long-lived token)."""
    return httpx.Client(
        base_url=f"{box.url}/books/v3",
        headers={"Authorization": f"Zoho-oauthtoken {box.admin.static_token()}"},
        params={"organization_id": box.credentials["organization_id"]},
        timeout=30.0,
    )


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    return dict(response.json())


class PersonsHarness(SandboxHarness):
    table = "contactpersons"

    def __init__(self, box: Sandbox) -> None:
        super().__init__(box)
        self.customers = [
            str(self.admin.books_create("contacts", {"contact_name": name})["contact_id"])
            for name in ("Acme", "Bolt")
        ]
        self.turn = itertools.cycle(self.customers)
        self.api = books_api(box)
        options = {"credentials": str(box.credentials_path), "requests_per_minute": FAST}
        inner = books_from_options("books", options, env={})
        assert isinstance(inner, ZohoBooksConnector)
        self.connector = UnderCustomer(inner, MODULE, self.customers[0])

    def insert(self, values: Mapping[str, Any]) -> str:
        self.tick()
        body = {"contact_id": next(self.turn), **self._side(values)}
        made = answer(self.api.post("/contacts/contactpersons", json=body))
        return str(made["contact_person"]["contact_person_id"])

    def update(self, id: str, values: Mapping[str, Any]) -> None:
        contact_id, person = self._find(id)
        self.tick()
        body = {"contact_id": contact_id, "first_name": person["first_name"], **self._side(values)}
        answer(self.api.put(f"/contacts/contactpersons/{id}", json=body))

    def delete(self, id: str) -> None:
        self.tick()
        answer(self.api.delete(f"/contacts/contactpersons/{id}"))

    def rows(self) -> dict[str, dict[str, Any]]:
        return {
            str(p["contact_person_id"]): {c: p.get(side) for c, side in COLUMNS.items()}
            for _, p in self._persons()
        }

    def close(self) -> None:
        self.api.close()
        super().close()

    def _persons(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (str(r["contact_id"]), p)
            for r in self.admin.books_records("contacts")
            for p in r.get("contact_persons") or []
        ]

    def _find(self, id: str) -> tuple[str, dict[str, Any]]:
        return next((c, p) for c, p in self._persons() if str(p["contact_person_id"]) == id)

    @staticmethod
    def _side(values: Mapping[str, Any]) -> dict[str, Any]:
        return {COLUMNS[k]: v for k, v in values.items()}


class TestContactPersonsContractOverHTTP(SandboxContract):
    def make_harness(self, directory: Path) -> Harness:
        return PersonsHarness(self.box)


# -- the sandbox's persons, as the connector relies on them -------------------------------


@pytest.fixture
def api(sandbox: Sandbox) -> Any:
    fresh(sandbox)
    with books_api(sandbox) as client:
        yield client


def contact_time(api: httpx.Client, id: str) -> str:
    return str(answer(api.get(f"/contacts/{id}"))["contact"]["last_modified_time"])


def test_every_person_change_moves_its_contacts_modified_time(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    """Adding, editing, marking primary and deleting a person each move the contact's
    last_modified_time (the contactpersons table finds changes through it)."""
    id = str(sandbox.admin.books_create("contacts", {"contact_name": "Acme"})["contact_id"])
    times = [contact_time(api, id)]
    for step in ("add", "edit", "primary", "delete"):
        sandbox.admin.advance_clock(1)
        if step == "add":
            body = {"contact_id": id, "first_name": "Ann"}
            answer(api.post("/contacts/contactpersons", json=body))
            made = answer(api.post("/contacts/contactpersons", json={**body, "first_name": "Bo"}))
            person = made["contact_person"]["contact_person_id"]
        elif step == "edit":
            body = {"contact_id": id, "first_name": "Bob"}
            answer(api.put(f"/contacts/contactpersons/{person}", json=body))
        elif step == "primary":
            answer(api.post(f"/contacts/contactpersons/{person}/primary"))
        else:
            answer(api.delete(f"/contacts/contactpersons/{person}"))
        times.append(contact_time(api, id))
    assert times == sorted(set(times))


def test_a_person_update_needs_its_own_contact_and_a_first_name(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    """Books requires contact_id and first_name on an update; a person does not move."""
    acme, bolt = (
        str(sandbox.admin.books_create("contacts", {"contact_name": n})["contact_id"])
        for n in ("Acme", "Bolt")
    )
    made = answer(
        api.post("/contacts/contactpersons", json={"contact_id": acme, "first_name": "A"})
    )
    path = f"/contacts/contactpersons/{made['contact_person']['contact_person_id']}"
    for body in (
        {"contact_id": bolt, "first_name": "A"},
        {"first_name": "A"},
        {"contact_id": acme, "first_name": " "},
    ):
        refused = api.put(path, json=body)
        assert refused.status_code == 400 and refused.json()["code"] == 4
    assert api.put(path, json={"contact_id": acme, "first_name": "B"}).status_code == 200


def test_the_connector_syncs_a_customers_persons_end_to_end(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    """A first pull, a person added elsewhere, our create and update, and a deletion, over
    HTTP, each with the API calls it should cost."""
    admin = sandbox.admin
    acme = str(admin.books_create("contacts", {"contact_name": "Acme"})["contact_id"])
    for n in range(3):
        admin.books_create("contacts", {"contact_name": f"Empty {n}"})
    ann = answer(
        api.post("/contacts/contactpersons", json={"contact_id": acme, "first_name": "Ann"})
    )["contact_person"]["contact_person_id"]
    module = SideModule("p", "contactpersons", columns=("contact_id", "first_name", "email"))
    options = {"credentials": str(sandbox.credentials_path), "requests_per_minute": FAST}
    with books_from_options("books", options, env={}) as connector:
        admin.reset_counters()
        pages = list(connector.pull(module, None))
        assert [(c.id, dict(c.values)) for p in pages for c in p.changes] == [
            (ann, {"contact_id": acme, "first_name": "Ann", "email": ""})
        ]
        assert admin.count("GET", "/books/v3/contacts") == 1
        assert sum(c["count"] for c in admin.counters("books")) == 2  # a list, one persons list
        [made] = connector.push(
            module, [Write("k", None, {"contact_id": acme, "first_name": "Bo", "email": "b@x.io"})]
        )
        [edit] = connector.push(module, [Write("u", ann, {"email": "ann@x.io"})])
        assert made.ok and edit.ok
        admin.advance_clock(1)
        api.delete(f"/contacts/contactpersons/{made.id}")
        changes = [c for p in connector.pull(module, pages[-1].cursor) for c in p.changes]
        assert [(c.id, c.deleted) for c in changes] == [(made.id, True)]
