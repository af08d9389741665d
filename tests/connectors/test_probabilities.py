"""The ``probabilities`` capability: a side's stage metadata (stage -> probability)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import pytest

from replicator.connectors.base import SideModule, probabilities
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.sqlite import SQLiteConnector
from replicator.errors import ConnectorError

DEALS = SideModule(name="deals", table="deals", columns=("stage",))


def test_a_sqlite_side_reads_the_stages_table_of_the_module(tmp_path):
    """``deals_stages`` answers each stage's probability; the column asked is the stage's."""
    db = sqlite3.connect(tmp_path / "crm.db")
    db.execute("CREATE TABLE deals (id INTEGER PRIMARY KEY, stage TEXT)")
    db.execute("CREATE TABLE deals_stages (stage TEXT PRIMARY KEY, probability INTEGER)")
    db.executemany("INSERT INTO deals_stages VALUES (?, ?)", [("Won", 100), ("Open", 40)])
    db.commit()
    with SQLiteConnector("crm", tmp_path / "crm.db") as connector:
        assert probabilities(connector, DEALS, "stage") == {"Open": 40, "Won": 100}


def test_a_sqlite_side_without_a_stages_table_has_no_metadata(tmp_path):
    """No ``<table>_stages`` table: None, never a guess."""
    db = sqlite3.connect(tmp_path / "crm.db")
    db.execute("CREATE TABLE deals (id INTEGER PRIMARY KEY, stage TEXT)")
    db.commit()
    with SQLiteConnector("crm", tmp_path / "crm.db") as connector:
        assert probabilities(connector, DEALS, "stage") is None


@pytest.mark.parametrize("probability", ["high", 101, -1, 50.5])
def test_a_stage_with_a_bad_probability_is_an_error_naming_the_stage(tmp_path, probability):
    """A probability that is not a whole number 0-100 is refused, naming table and stage."""
    db = sqlite3.connect(tmp_path / "crm.db")
    db.execute("CREATE TABLE deals_stages (stage TEXT PRIMARY KEY, probability)")
    db.execute("INSERT INTO deals_stages VALUES ('Maybe', ?)", (probability,))
    db.commit()
    with (
        SQLiteConnector("crm", tmp_path / "crm.db") as connector,
        pytest.raises(ConnectorError) as e,
    ):
        probabilities(connector, DEALS, "stage")
    assert "deals_stages: stage 'Maybe'" in str(e.value)


def test_a_memory_side_answers_the_dict_it_was_given_or_none():
    """The memory connector's ``probabilities`` dict, or None by default."""
    assert probabilities(MemoryConnector("crm"), DEALS, "stage") is None
    given = MemoryConnector("crm", probabilities={"Won": 100, "Lost": 0})
    assert probabilities(given, DEALS, "stage") == {"Won": 100, "Lost": 0}


def test_a_connector_not_built_on_the_base_is_read_through_its_method_if_any():
    """A wrapper following only the protocol: its method is asked, or None without one."""

    class Wrapper:
        def probabilities(self, module: SideModule, field: str) -> Mapping[str, int]:
            return {f"{module.table}.{field}": 70}

    assert probabilities(Wrapper(), DEALS, "stage") == {"deals.stage": 70}
    bare: Any = object()
    assert probabilities(bare, DEALS, "stage") is None
