"""Removing Zoho Books records: ``DELETE /{resource}/{id}``, one call per record, for
``replicator undo`` only (it deletes the records a run created; the sync never deletes
anything, and ``disable --remove-crm-copies`` never touches Books).

Books refuses to delete a contact or an item that a transaction uses (and a document
that is no longer a draft).  The rule then: a contact or item is marked **inactive**
(``POST /{resource}/{id}/inactive``: it leaves Books' lists and new transactions, and a
person may make it active again); the :class:`~replicator.connectors.remove.Removal`
counts it as removed with a ``note`` saying so, which the undo journals.  A refused
document (or a refused inactive) is the removal's ``error``.  A record Books no longer
holds (404) is ``gone``.  Calls go through the Books connector's client (auth, rate limit,
retries); its ``organization_id`` goes with every call.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from replicator.connectors.base import SideModule
from replicator.connectors.remove import Removal
from replicator.connectors.zoho.books_api import BooksApi
from replicator.connectors.zoho.values import body_of

INACTIVE_TABLES = frozenset({"contacts", "items"})  # what Books can mark inactive


class BooksRemover:
    """Deletes records of a Books side through its connector's API client."""

    def __init__(self, connector: BooksApi) -> None:
        self.connector = connector
        self.side = connector.side
        self.client = connector.client

    def remove(self, module: SideModule, ids: Sequence[str]) -> list[Removal]:
        """One :class:`Removal` per id, in input order (see the module docstring); raises
        :class:`~replicator.errors.ZohoError` when a call fails as a whole."""
        table, _ = self.connector.table_of(module)
        return [self._remove(table.path, str(id)) for id in ids]

    def _remove(self, path: str, id: str) -> Removal:
        params = {"organization_id": self.connector.organization_id}
        response = self.client.request("DELETE", f"/{path}/{id}", kind="write", params=params)
        if response.status_code == 404:
            return Removal(id, gone=True)
        if response.status_code < 400:
            return Removal(id)
        refused = self._reason(path, id, response)
        if path not in INACTIVE_TABLES:
            return Removal(id, error=refused)
        marked = self.client.request(
            "POST", f"/{path}/{id}/inactive", kind="write", params=params, idempotent=True
        )
        if marked.status_code >= 400:
            why = self._reason(path, id, marked)
            return Removal(id, error=f"{refused}; marking it inactive failed too: {why}")
        return Removal(id, note=f"Books refused the delete ({refused}): marked inactive instead")

    def _reason(self, path: str, id: str, response: httpx.Response) -> str:
        body = body_of(response)
        message = body.get("message") if isinstance(body, dict) else None
        code = body.get("code") if isinstance(body, dict) else None
        reason = f"side {self.side}, {path} record {id}: HTTP {response.status_code}"
        if code is not None:
            reason += f" code {code}"
        if message:
            reason += f": {message}"
        return self.client.redactor.scrub(reason)


__all__ = ["INACTIVE_TABLES", "BooksRemover"]
