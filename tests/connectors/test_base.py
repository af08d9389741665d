"""The connector base: the lifecycle written once, the optional capabilities declared."""

from __future__ import annotations

import sqlite3
import types
from collections.abc import Iterator, Sequence

import httpx
import pytest

from replicator.connectors.base import (
    SEARCH_LIMIT,
    BaseConnector,
    Change,
    Connector,
    Cursor,
    Outcome,
    Page,
    SideModule,
    Write,
    currency_reader,
    http_client,
    identity,
    notifications,
    rounds_amounts,
)
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.sqlite import SQLiteConnector
from replicator.errors import ConnectorError

MODULE = SideModule(name="customers", table="customers", columns=("name",))


def sqlite_side(path) -> SQLiteConnector:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.close()
    return SQLiteConnector("lite", path)


class Nothing(BaseConnector):
    """A connector holding nothing: only the six protocol methods, no close of its own."""

    side = "nothing"

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]:
        yield Page((), 0)

    def get(self, module: SideModule, id: str) -> Change | None:
        return None

    def search(self, module: SideModule, text: str) -> list[Change]:
        return []

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        return []

    def schema(self, module: SideModule) -> dict[str, str]:
        return {}

    def views(self, module: SideModule) -> list[str]:
        return []


def test_the_memory_and_sqlite_connectors_are_base_connectors_and_speak_the_protocol(tmp_path):
    """Both built-in sides are BaseConnectors, and so Connectors."""
    with sqlite_side(tmp_path / "side.db") as lite:
        for connector in (MemoryConnector("mem"), lite):
            assert isinstance(connector, BaseConnector)
            assert isinstance(connector, Connector)


def test_a_memory_connector_used_as_a_context_manager_is_closed_on_the_way_out():
    """`with` gives the connector itself and closes it after the block."""
    with MemoryConnector("mem") as connector:
        assert not connector.closed
    assert connector.closed


def test_a_sqlite_connector_used_as_a_context_manager_closes_its_database(tmp_path):
    """After the block the database connection is closed: a read fails as a side error."""
    with sqlite_side(tmp_path / "side.db") as connector:
        assert connector.schema(MODULE) == {"id": "INTEGER", "name": "TEXT"}
    with pytest.raises(ConnectorError, match="closed"):
        connector.schema(MODULE)


def test_the_context_manager_closes_the_connector_when_the_block_raises():
    """An exception in the block still closes the connector, and goes on up unchanged."""
    with pytest.raises(KeyError), MemoryConnector("mem") as connector:
        raise KeyError("boom")
    assert connector.closed


def test_a_connector_that_holds_nothing_needs_no_close_of_its_own():
    """The base's close does nothing, so a connector holding nothing writes none."""
    with Nothing() as connector:
        pass
    assert list(connector.pull(MODULE, None)) == [Page((), 0)]


def test_a_connector_must_implement_every_protocol_method():
    """A subclass missing a protocol method cannot be made (not a failure mid-sync)."""

    class Incomplete(BaseConnector):
        side = "half"

        def get(self, module: SideModule, id: str) -> Change | None:
            return None

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_the_built_in_sides_declare_no_optional_capability(tmp_path):
    """Memory and SQLite hold amounts exactly, name no account, have no base currency,
    never call back and are not reached over HTTP."""
    with sqlite_side(tmp_path / "side.db") as lite:
        for connector in (MemoryConnector("mem"), lite, Nothing()):
            assert rounds_amounts(connector) is False
            assert identity(connector) is None
            assert currency_reader(connector) is None
            assert notifications(connector) is None
            assert http_client(connector) is None


def test_a_subclass_declares_a_capability_by_setting_it():
    """A class attribute, an instance's account and a method are each read as declared."""

    class Zoho(MemoryConnector):
        rounds_amounts = True
        notifies = True

        def base_currency(self) -> str:
            return "EUR"

        def enable_notifications(self, channels):
            return [dict(c) for c in channels]

        def update_notifications(self, channels):
            return []

        def disable_notifications(self, channel_ids):
            pass

    connector = Zoho("books")
    connector.identity = "org-1"
    connector.http_client = client = httpx.Client()
    reader = currency_reader(connector)
    watch = notifications(connector)
    assert rounds_amounts(connector) is True
    assert identity(connector) == "org-1"
    assert reader is not None and reader() == "EUR"
    assert watch is not None and watch.enable_notifications([{"id": 1}]) == [{"id": 1}]
    assert http_client(connector) is client
    client.close()


def test_a_base_connector_with_notification_methods_but_no_declaration_is_not_watched():
    """On the base, a capability is what the class declares, not what methods it has."""

    class Undeclared(MemoryConnector):
        def enable_notifications(self, channels):
            return []

        def update_notifications(self, channels):
            return []

        def disable_notifications(self, channel_ids):
            pass

    assert notifications(Undeclared("crm")) is None


def test_the_capability_readers_answer_for_a_connector_not_built_on_the_base():
    """A connector of its own (not a BaseConnector) is read by its attributes, and one
    without them has none of the capabilities."""

    class Own:
        rounds_amounts = True
        identity = 42
        client = types.SimpleNamespace(http="the client")

        def base_currency(self) -> str:
            return "USD"

        def enable_notifications(self, channels):
            return []

        def update_notifications(self, channels):
            return []

        def disable_notifications(self, channel_ids):
            pass

    class Bare:
        base_currency = "USD"  # not a method: no reader
        enable_notifications = update_notifications = disable_notifications = None

    own, bare = Own(), Bare()
    reader = currency_reader(own)
    assert (rounds_amounts(own), identity(own), http_client(own)) == (True, "42", "the client")
    assert reader is not None and reader() == "USD"
    assert notifications(own) is own
    assert [rounds_amounts(bare), identity(bare), currency_reader(bare)] == [False, None, None]
    assert (notifications(bare), http_client(bare)) == (None, None)


def test_a_search_answers_at_most_the_shared_limit_on_memory_and_sqlite(tmp_path):
    """More matching rows than SEARCH_LIMIT: both built-in sides give exactly the limit."""
    module = SideModule(name="customers", table="customers", columns=("name",), match=("name",))
    memory = MemoryConnector("mem")
    with sqlite_side(tmp_path / "side.db") as lite:
        with sqlite3.connect(tmp_path / "side.db") as db:
            db.executemany(
                "INSERT INTO customers (name) VALUES (?)",
                [(f"Acme {i}",) for i in range(SEARCH_LIMIT + 5)],
            )
        db.close()
        for i in range(SEARCH_LIMIT + 5):
            memory.insert("customers", {"name": f"Acme {i}"})
        assert len(lite.search(module, "acme")) == SEARCH_LIMIT
        assert len(memory.search(module, "acme")) == SEARCH_LIMIT
