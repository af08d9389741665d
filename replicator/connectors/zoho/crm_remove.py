"""Removing Zoho CRM records: ``DELETE /crm/v8/{Module}?ids=a,b``, at most 100 ids a call,
one result per record (``replicator disable --remove-crm-copies`` only; the sync never
deletes anything).

Calls go through the CRM connector's own :class:`~.http.ApiClient` (its auth, credit
budget, limits and retries).  A DELETE may be sent twice (a dropped answer is retried):
the second finds the record gone, which Zoho answers per record with ``INVALID_DATA`` on
its id, and a gone record counts as removed (:class:`~replicator.connectors.remove.Removal`).
Zoho keeps deleted records in its recycle bin, where a person may restore them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from replicator.connectors.base import SideModule
from replicator.connectors.remove import Removal
from replicator.connectors.zoho.crm_api import IDS_PER_CALL, CrmApi
from replicator.connectors.zoho.values import body_of, chunks

# a record Zoho no longer holds: its id is "invalid" (real Zoho and the sandbox say so)
GONE_CODES = frozenset({"INVALID_DATA", "RECORD_NOT_FOUND", "NOT_FOUND"})


class CrmRemover:
    """Deletes records of a CRM side through its connector's API client."""

    def __init__(self, connector: CrmApi) -> None:
        self.side = connector.side
        self.client = connector.client

    def remove(self, module: SideModule, ids: Sequence[str]) -> list[Removal]:
        """One :class:`Removal` per id, in input order (see the module docstring); raises
        :class:`~replicator.errors.ZohoError` when a call fails as a whole."""
        found: dict[str, Removal] = {}
        for chunk in chunks(dict.fromkeys(str(i) for i in ids), IDS_PER_CALL):
            found.update(self._remove(module.table, chunk))
        return [found[str(i)] for i in ids]

    def _remove(self, table: str, ids: list[str]) -> dict[str, Removal]:
        path = f"/{table}"
        response = self.client.request(
            "DELETE",
            path,
            kind="delete",
            params={"ids": ",".join(ids)},
            cost=max(1, math.ceil(len(ids) / 10)),  # CRM charges deletes as writes
        )
        answer = body_of(response)
        results = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            # no per-record results: the call was refused as a whole (or answered nonsense)
            raise self.client.error(response, f"{self.client.name}: DELETE {path}")
        removals: dict[str, Removal] = {}
        for position, result in enumerate(results):
            if not isinstance(result, Mapping):
                continue
            details = result.get("details")
            details = details if isinstance(details, Mapping) else {}
            named = details.get("id")
            id = str(named) if named is not None else ids[position] if position < len(ids) else None
            if id is None or id not in ids:
                continue
            removals[id] = self._removal(table, id, result, details)
        for id in ids:
            if id not in removals:
                reason = f"side {self.side}, {table} record {id}: the CRM gave no result for it"
                removals[id] = Removal(id, error=reason)
        return removals

    def _removal(
        self, table: str, id: str, result: Mapping[str, Any], details: Mapping[str, Any]
    ) -> Removal:
        if result.get("status") == "success":
            return Removal(id)
        code = str(result.get("code") or "ERROR")
        if code in GONE_CODES and not details.get("api_name"):
            return Removal(id, gone=True)
        reason = f"side {self.side}, {table} record {id}: {code}"
        message = result.get("message")
        if message:
            reason += f": {message}"
        return Removal(id, error=self.client.redactor.scrub(reason))


__all__ = ["GONE_CODES", "CrmRemover"]
