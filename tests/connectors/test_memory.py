"""The memory connector: the contract, plus its test hooks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replicator.connectors.base import Connector, SideModule, Write
from replicator.connectors.memory import MemoryConnector
from tests.connectors.contract import (
    MODULE,
    ConnectorContract,
    Harness,
    create,
    person,
    pull_all,
)

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def refuse_missing_name(module: SideModule, write: Write) -> str | None:
    if "name" in write.values and write.values["name"] is None:
        return f"{module.table}: name is required"
    return None


class MemoryHarness(Harness):
    def __init__(self, connector: MemoryConnector) -> None:
        self.connector: MemoryConnector = connector

    def insert(self, values: Mapping[str, Any]) -> str:
        return self.connector.insert(MODULE.table, values)

    def update(self, id: str, values: Mapping[str, Any]) -> None:
        self.connector.update(MODULE.table, id, values)

    def delete(self, id: str) -> None:
        self.connector.delete(MODULE.table, id)

    def rows(self) -> dict[str, dict[str, Any]]:
        return self.connector.rows(MODULE.table)


class TestMemoryContract(ConnectorContract):
    def make_harness(self, directory: Path) -> Harness:
        return MemoryHarness(MemoryConnector("crm", reject=refuse_missing_name))


def test_memory_connector_satisfies_the_protocol() -> None:
    """MemoryConnector is a Connector."""
    assert isinstance(MemoryConnector("crm"), Connector)


def test_ids_are_generated_strings_per_connector() -> None:
    """Ids run m1, m2, ... in each connector, whether made by insert or push."""
    memory = MemoryConnector("crm")
    assert memory.insert("customers", person(1)) == "m1"
    [outcome] = memory.push(MODULE, [create("k", person(2))])
    assert outcome.id == "m2"
    assert MemoryConnector("books").insert("customers", person(1)) == "m1"


def test_capture_times_come_from_the_now_hook() -> None:
    """Without a modified column a change is stamped with the injected clock's time."""
    memory = MemoryConnector("crm", now=lambda: T0)
    memory.insert("customers", person(1))
    [page] = memory.pull(MODULE, None)
    assert [c.modified for c in page.changes] == [T0]


def test_modified_column_gives_the_modification_time() -> None:
    """The modified column, as ISO text or datetime, naive meaning UTC, is the change time."""
    module = SideModule("customers", "customers", columns=("name",), modified="changed")
    memory = MemoryConnector("crm", now=lambda: T0)
    a = memory.insert("customers", {"name": "a", "changed": "2024-01-02T03:04:05+02:00"})
    b = memory.insert("customers", {"name": "b", "changed": "2024-01-02T03:04:05"})
    c = memory.insert("customers", {"name": "c", "changed": dt.datetime(2024, 1, 2)})
    d = memory.insert("customers", {"name": "d", "changed": "not a time"})
    [page] = memory.pull(module, None)
    modified = {change.id: change.modified for change in page.changes}
    assert modified[a] == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert modified[b] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert modified[c] == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert modified[d] == T0
    assert all(dict(change.values).keys() == {"name"} for change in page.changes)


def test_reject_hook_refuses_only_the_writes_it_names() -> None:
    """The reject hook's reason becomes that write's error; other writes apply."""
    memory = MemoryConnector(
        "crm", reject=lambda module, write: "quota" if write.key == "no" else None
    )
    outcomes = memory.push(MODULE, [create("yes", person(1)), create("no", person(2))])
    assert [(o.ok, o.error) for o in outcomes] == [(True, None), (False, "quota")]
    assert list(memory.rows("customers").values()) == [person(1)]


def test_rows_returns_copies() -> None:
    """Changing what rows() returned does not change the side."""
    memory = MemoryConnector("crm")
    id = memory.insert("customers", person(1))
    memory.rows("customers")[id]["name"] = "changed"
    assert memory.rows("customers")[id] == person(1)


def test_tables_have_separate_change_feeds() -> None:
    """A pull of one table never returns another table's changes."""
    memory = MemoryConnector("crm")
    memory.insert("vendors", person(1))
    _, cursor = pull_all(memory, None)
    memory.insert("vendors", person(2))
    assert pull_all(memory, cursor)[0] == []
