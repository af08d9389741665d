"""Connectors: one per kind of side, all speaking the protocol in :mod:`.base`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from replicator.connectors.base import (
    BaseConnector,
    Change,
    Connector,
    Cursor,
    Notifications,
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

if TYPE_CHECKING:
    from replicator.config.load import SideConfig


def build_connector(side: SideConfig) -> Connector:
    """The connector a side's config asks for.

    Each connector is imported here, when a side asks for it: a process loads only the
    connectors its config uses (the Zoho ones bring httpx and their API clients)."""
    if side.connector == "sqlite":
        # on demand (see the docstring)
        from replicator.connectors.sqlite import SQLiteConnector

        assert side.path is not None
        # ``timeout``: how long to wait for another program's lock on the file (seconds)
        return SQLiteConnector(
            side.name, side.path, busy_timeout=float(side.options.get("timeout", 10.0))
        )
    if side.connector == "memory":
        # on demand (see the docstring)
        from replicator.connectors.memory import MemoryConnector

        return MemoryConnector(side.name)
    if side.connector == "zoho_crm":
        # on demand (see the docstring)
        from replicator.connectors.zoho.crm import from_options as crm_from_options

        return crm_from_options(side.name, side.options)
    if side.connector == "zoho_books":
        # on demand (see the docstring)
        from replicator.connectors.zoho.books import from_options as books_from_options

        return books_from_options(side.name, side.options)
    raise ValueError(f"side {side.name}: unknown connector {side.connector!r}")


__all__ = [
    "BaseConnector",
    "Change",
    "Connector",
    "Cursor",
    "Notifications",
    "Outcome",
    "Page",
    "SideModule",
    "Write",
    "build_connector",
    "currency_reader",
    "http_client",
    "identity",
    "notifications",
    "rounds_amounts",
]
