"""The connector contract (tests/connectors/contract.py) run over the Zoho connectors.

Here the side is the in-memory fake behind ``httpx.MockTransport``; "another program" writes
to the fake directly, one clock second apart, as people in the web UI would.  To run the
same suite against the sandbox, subclass :class:`ZohoHarness` with ``insert`` / ``update`` /
``delete`` / ``rows`` that call the sandbox's API with plain httpx, and build the connector
with ``from_options(side, {"api_domain": URL}, env={"REPLICATOR_ZOHO_ACCESS_TOKEN": ...,
"REPLICATOR_ZOHO_API_DOMAIN": URL})`` (or real OAuth against its token endpoint).

Books has no deleted-records feed: a contact deleted elsewhere is not reported, so its
harness sets ``reports_deletes = False`` and the contract checks the rest (the full run
against the sandbox over HTTP is tests/integration/test_contract_zoho.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replicator.connectors.base import Connector
from tests.connectors.contract import (
    MODULE,
    ConnectorContract,
    Harness,
)
from tests.connectors.zoho.conftest import books_connector, crm_connector
from tests.connectors.zoho.fakes import FakeBooks, FakeClock, FakeCRM

COLUMNS = MODULE.columns  # name, email, city


class ZohoHarness(Harness):
    """A fake Zoho side whose clock ticks a second before each outside write."""

    clock: FakeClock
    connector: Connector

    def tick(self) -> None:
        self.clock.advance(1)


class CRMHarness(ZohoHarness):
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.crm = FakeCRM(self.clock)  # module "customers": name (mandatory), email, city
        self.connector = crm_connector(self.crm, self.clock)

    def insert(self, values: Mapping[str, Any]) -> str:
        self.tick()
        return self.crm.insert(MODULE.table, values)

    def update(self, id: str, values: Mapping[str, Any]) -> None:
        self.tick()
        self.crm.update(MODULE.table, id, values)

    def delete(self, id: str) -> None:
        self.tick()
        self.crm.delete(MODULE.table, id)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {
            id: {c: record.get(c) for c in COLUMNS}
            for id, record in self.crm.records.get(MODULE.table, {}).items()
        }


class BooksHarness(ZohoHarness):
    """Books ``customers`` (contacts of type customer) shaped as the contract's table."""

    reports_deletes = False  # Books has no deleted-records feed for contacts

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.books = FakeBooks(
            self.clock,
            tables={"contacts": ("contact_id", "contact", "name")},
            contact_list_keys=None,
        )
        self.connector = books_connector(self.books, self.clock)

    def insert(self, values: Mapping[str, Any]) -> str:
        self.tick()
        return self.books.insert("contacts", {**values, "contact_type": "customer"})

    def update(self, id: str, values: Mapping[str, Any]) -> None:
        self.tick()
        self.books.update("contacts", id, values)

    def delete(self, id: str) -> None:
        self.tick()
        self.books.delete("contacts", id)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {
            id: {c: record.get(c) for c in COLUMNS}
            for id, record in self.books.records["contacts"].items()
        }


class TestZohoCRMContract(ConnectorContract):
    def make_harness(self, directory: Path) -> Harness:
        return CRMHarness()


class TestZohoBooksContract(ConnectorContract):
    def make_harness(self, directory: Path) -> Harness:
        return BooksHarness()
