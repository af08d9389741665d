"""The connector contract (tests/connectors/contract.py) run over both Zoho
connectors talking to the sandbox over real HTTP.

Each connector is built the way a config builds it (``from_options`` with the credentials
file the sandbox wrote: a real OAuth refresh), and "another program" is the sandbox's admin
API: direct record edits, validated like API writes, one clock second apart as people in
the web UI would make them (Zoho's times have whole seconds).

The contract's table is ``customers (name NOT NULL, email, city)``; here it is

- CRM: ``Accounts`` with ``Account_Name`` (mandatory), ``Email`` (a custom field: Accounts
  have none) and ``Billing_City``;
- Books: ``customers`` (contacts of type customer) with ``contact_name`` (required),
  ``email`` (the primary contact person's: Books takes it only in ``contact_persons``) and
  ``cf_city`` (a custom field).

:class:`Renamed` gives the connector under test the contract's column names: it renames
columns on the way in and out and changes nothing else.

Books has no deleted-records feed for contacts, so its harness says
``reports_deletes = False`` (the documented limitation): the contract then checks
everything else, and that no deletion is invented.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from replicator.connectors.base import Change, Connector, Cursor, Outcome, Page, SideModule, Write
from replicator.connectors.zoho.books import ZohoBooksConnector
from replicator.connectors.zoho.books import from_options as books_from_options
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.connectors.zoho.crm import from_options as crm_from_options
from replicator.sandbox import AdminClient, AdminError, Sandbox
from tests.connectors.contract import MODULE, ConnectorContract, Harness
from tests.integration.conftest import fresh

# the contract's columns -> each side's
CRM_COLUMNS = {"name": "Account_Name", "email": "Email", "city": "Billing_City"}
BOOKS_COLUMNS = {"name": "contact_name", "email": "email", "city": "cf_city"}
FAST = 100_000  # requests a minute: the contract is about behaviour, not the Books limit


class Renamed:
    """A connector seen through the contract's column names (``MODULE``)."""

    def __init__(self, inner: Connector, module: SideModule, columns: Mapping[str, str]) -> None:
        self.inner, self.side, self.module = inner, inner.side, module
        self.columns = dict(columns)
        self.back = {v: k for k, v in columns.items()}

    def _module(self, module: SideModule) -> SideModule:
        assert module == MODULE, "the contract speaks of its own table only"
        return self.module

    def _out(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {self.back.get(k, k): v for k, v in values.items()}

    def _change(self, change: Change) -> Change:
        return attrs.evolve(change, values=self._out(change.values))

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]:
        for page in self.inner.pull(self._module(module), since, page_size=page_size):
            yield Page(tuple(self._change(c) for c in page.changes), page.cursor)

    def get(self, module: SideModule, id: str) -> Change | None:
        change = self.inner.get(self._module(module), id)
        return None if change is None else self._change(change)

    def search(self, module: SideModule, text: str) -> list[Change]:
        return [self._change(c) for c in self.inner.search(self._module(module), text)]

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        renamed = [
            attrs.evolve(w, values={self.columns.get(k, k): v for k, v in w.values.items()})
            for w in writes
        ]
        return self.inner.push(self._module(module), renamed)

    def schema(self, module: SideModule) -> dict[str, str]:
        return self._out(self.inner.schema(self._module(module)))

    def views(self, module: SideModule) -> list[str]:
        return self.inner.views(self._module(module))

    def close(self) -> None:
        self.inner.close()


def _field(admin: AdminClient, add: Any, *args: Any, **spec: Any) -> None:
    """Add a custom field unless the session already has it."""
    try:
        add(*args, **spec)
    except AdminError as exc:
        if "already" not in str(exc.body):
            raise


class SandboxHarness(Harness):
    """A side of the session sandbox, emptied for this test."""

    def __init__(self, box: Sandbox, **settings: object) -> None:
        self.box = box
        self.admin = fresh(box, **settings)

    def tick(self) -> None:
        """Another program's edits come a second apart (Zoho's times have whole seconds)."""
        self.admin.advance_clock(1)


class CRMHarness(SandboxHarness):
    table = "Accounts"

    def __init__(self, box: Sandbox) -> None:
        super().__init__(box)
        _field(self.admin, self.admin.add_crm_field, "Accounts", "Email", "email")
        module = SideModule(
            "customers",
            "Accounts",
            columns=tuple(CRM_COLUMNS.values()),
            match=("Account_Name",),
        )
        inner = crm_from_options("crm", {"credentials": str(box.credentials_path)}, env={})
        assert isinstance(inner, ZohoCRMConnector)
        self.connector = Renamed(inner, module, CRM_COLUMNS)

    def insert(self, values: Mapping[str, Any]) -> str:
        self.tick()
        [id] = self.admin.crm_create("Accounts", self._side(values))
        return str(id)

    def update(self, id: str, values: Mapping[str, Any]) -> None:
        self.tick()
        self.admin.crm_update("Accounts", id, **self._side(values))

    def delete(self, id: str) -> None:
        self.tick()
        self.admin.crm_delete("Accounts", id)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {
            str(r["id"]): {c: r.get(side) for c, side in CRM_COLUMNS.items()}
            for r in self.admin.crm_records("Accounts")
        }

    @staticmethod
    def _side(values: Mapping[str, Any]) -> dict[str, Any]:
        return {CRM_COLUMNS[k]: v for k, v in values.items()}


class BooksHarness(SandboxHarness):
    table = "customers"
    reports_deletes = False  # Books has no deleted-records feed for contacts

    def __init__(self, box: Sandbox) -> None:
        # the contract may give two rows one name; Books refuses that unless allowed
        super().__init__(box, unique_contact_names=False)
        _field(self.admin, self.admin.add_books_field, "contacts", "City", "text")
        module = SideModule(
            "customers",
            "customers",
            columns=tuple(BOOKS_COLUMNS.values()),
            match=("contact_name",),
        )
        options = {"credentials": str(box.credentials_path), "requests_per_minute": FAST}
        inner = books_from_options("books", options, env={})
        assert isinstance(inner, ZohoBooksConnector)
        self.connector = Renamed(inner, module, BOOKS_COLUMNS)

    def insert(self, values: Mapping[str, Any]) -> str:
        self.tick()
        body: dict[str, Any] = {"contact_type": "customer", **self._body(values, None)}
        return str(self.admin.books_create("contacts", body)["contact_id"])

    def update(self, id: str, values: Mapping[str, Any]) -> None:
        self.tick()
        self.admin.books_update("contacts", id, self._body(values, id))

    def delete(self, id: str) -> None:
        self.tick()
        self.admin.books_delete("contacts", id)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {
            str(r["contact_id"]): self._row(r)
            for r in self.admin.books_records("contacts")
            if r["contact_type"] == "customer"
        }

    def _body(self, values: Mapping[str, Any], id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if "name" in values:
            body["contact_name"] = values["name"]
        if "city" in values:
            body["custom_fields"] = [{"api_name": "cf_city", "value": values["city"]}]
        if "email" in values:
            person: dict[str, Any] = {"email": values["email"], "is_primary_contact": True}
            if id is not None:
                current = self.admin.call("GET", f"/books/contacts/{id}")["contact_persons"]
                if current:
                    person["contact_person_id"] = current[0]["contact_person_id"]
            body["contact_persons"] = [person]
        return body

    @staticmethod
    def _row(record: Mapping[str, Any]) -> dict[str, Any]:
        persons = record.get("contact_persons") or []
        primary = next((p for p in persons if p["is_primary_contact"]), {})
        return {
            "name": record["contact_name"],
            "email": primary.get("email", ""),
            "city": record.get("cf_city") or None,
        }


class SandboxContract(ConnectorContract):
    box: Sandbox

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _box(cls, sandbox: Sandbox) -> None:
        # class scoped: hypothesis' @given test may not use a function-scoped fixture
        cls.box = sandbox


class TestZohoCRMContractOverHTTP(SandboxContract):
    def make_harness(self, directory: Path) -> Harness:
        return CRMHarness(self.box)


class TestZohoBooksContractOverHTTP(SandboxContract):
    def make_harness(self, directory: Path) -> Harness:
        return BooksHarness(self.box)
