"""A small synchronous client of the admin API, for tests, benchmarks and the demo.

Each method is one admin call (see :mod:`replicator.sandbox.admin_api`); a refused call
raises :class:`AdminError` carrying the admin API's answer.
"""

from __future__ import annotations

from typing import Any

import httpx

from .errors import AdminError


class AdminClient:
    """``/__admin__/`` of a sandbox at ``url``."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        # one client for every call: making an httpx.Client costs tens of milliseconds
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._http.request(
            method,
            f"{self.url}/__admin__{path}",
            json=body,
            params={k: v for k, v in params.items() if v is not None},
        )
        if response.status_code >= 400:
            try:
                answer = response.json()
            except ValueError:
                answer = {"error": "http", "detail": response.text}
            raise AdminError(
                response.status_code,
                answer.get("error", "error"),
                answer.get("detail", str(answer)),
            )
        return response.json()

    # faults, counters, settings
    def add_fault(self, kind: str, **spec: Any) -> str:
        return str(self.call("POST", "/faults", {"kind": kind, **spec})["id"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        self.call("DELETE", "/faults")

    def counters(self, api: str | None = None) -> list[dict[str, Any]]:
        return list(self.call("GET", "/counters", api=api)["counters"])

    def count(self, method: str, path: str, status: int | str | None = None) -> int:
        """Requests answered for one route template (and status)."""
        return sum(
            r["count"]
            for r in self.counters()
            if r["method"] == method
            and r["path"] == path
            and (status is None or r["status"] == str(status))
        )

    def reset_counters(self) -> None:
        self.call("DELETE", "/counters")

    def settings(self, **changes: Any) -> dict[str, Any]:
        if changes:
            return dict(self.call("PATCH", "/settings", changes))
        return dict(self.call("GET", "/settings"))

    def reset_limits(self) -> None:
        self.call("DELETE", "/limits")

    # OAuth and time
    def revoke(self, client_id: str | None = None) -> None:
        self.call("POST", "/oauth/revoke", {"client_id": client_id} if client_id else {})

    def restore(self, client_id: str | None = None) -> None:
        self.call("POST", "/oauth/restore", {"client_id": client_id} if client_id else {})

    def grant_code(self) -> str:
        return str(self.call("POST", "/oauth/grant-code", {})["code"])

    def static_token(self, ttl: float = 86_400.0) -> str:
        """An access token valid ``ttl`` seconds that no refresh limit touches."""
        return str(self.call("POST", "/oauth/token", {"ttl": ttl})["access_token"])

    def expire_tokens(self) -> int:
        return int(self.call("POST", "/oauth/expire", {})["expired"])

    def advance_clock(self, seconds: float) -> float:
        return float(self.call("POST", "/clock", {"advance": seconds})["offset"])

    # schema
    def add_crm_field(
        self, module: str, field_label: str, data_type: str = "text", **spec: Any
    ) -> dict[str, Any]:
        return dict(
            self.call(
                "POST",
                "/crm/fields",
                {"module": module, "field_label": field_label, "data_type": data_type, **spec},
            )
        )

    def add_crm_tax(self, name: str, value: Any) -> dict[str, Any]:
        """A new CRM org tax of ``value`` percent, as ``GET /org/taxes`` lists it."""
        return dict(self.call("POST", "/crm/taxes", {"name": name, "value": value}))

    def add_crm_view(self, module: str, name: str, criteria: Any) -> dict[str, Any]:
        return dict(
            self.call("POST", "/crm/views", {"module": module, "name": name, "criteria": criteria})
        )

    def add_books_field(
        self, resource: str, label: str, data_type: str = "text", **spec: Any
    ) -> dict[str, Any]:
        return dict(
            self.call(
                "POST",
                "/books/customfields",
                {"resource": resource, "label": label, "data_type": data_type, **spec},
            )
        )

    # records, bypassing the API
    def crm_records(self, module: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/crm/{module}")["data"])

    def crm_create(self, module: str, *records: dict[str, Any], notify: bool = True) -> list[str]:
        answer = self.call(
            "POST", f"/crm/{module}", {"data": list(records)}, notify=None if notify else "false"
        )
        return [r["details"]["id"] for r in answer["data"]]

    def crm_record(self, module: str, record_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/crm/{module}/{record_id}"))

    def crm_update(
        self, module: str, record_id: str, notify: bool = True, **fields: Any
    ) -> dict[str, Any]:
        return dict(
            self.call(
                "PATCH", f"/crm/{module}/{record_id}", fields, notify=None if notify else "false"
            )
        )

    def crm_delete(self, module: str, record_id: str, notify: bool = True) -> None:
        self.call("DELETE", f"/crm/{module}/{record_id}", notify=None if notify else "false")

    def books_records(
        self, resource: str, organization_id: str | None = None
    ) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/books/{resource}", organization_id=organization_id)["data"])

    def books_create(
        self, resource: str, body: dict[str, Any], organization_id: str | None = None
    ) -> dict[str, Any]:
        return dict(self.call("POST", f"/books/{resource}", body, organization_id=organization_id))

    def books_create_many(
        self, resource: str, *bodies: dict[str, Any], organization_id: str | None = None
    ) -> list[str]:
        """Many records in one request and one transaction (one refused: none made);
        their ids, in order."""
        answer = self.call(
            "POST", f"/books/{resource}", {"data": list(bodies)}, organization_id=organization_id
        )
        return [str(made["id"]) for made in answer["data"]]

    def books_update(
        self,
        resource: str,
        record_id: str,
        body: dict[str, Any],
        organization_id: str | None = None,
    ) -> dict[str, Any]:
        return dict(
            self.call(
                "PATCH", f"/books/{resource}/{record_id}", body, organization_id=organization_id
            )
        )

    def books_delete(
        self, resource: str, record_id: str, organization_id: str | None = None
    ) -> None:
        self.call("DELETE", f"/books/{resource}/{record_id}", organization_id=organization_id)

    def add_organization(self, name: str) -> dict[str, Any]:
        return dict(self.call("POST", "/books/organizations", {"name": name}))

    def set_books_currency(
        self, currency_code: str, organization_id: str | None = None
    ) -> dict[str, Any]:
        """Make ``currency_code`` a Books org's base currency (default: the first org).
        The CRM org's is a setting: ``settings(crm_currency="EUR")``."""
        org = (
            organization_id
            or self.call("GET", "/books/organizations")["organizations"][0]["organization_id"]
        )
        return dict(
            self.call("PATCH", f"/books/organizations/{org}", {"currency_code": currency_code})
        )

    def add_books_tax(
        self,
        tax_name: str,
        tax_percentage: Any,
        *,
        is_default_tax: bool = False,
        organization_id: str | None = None,
    ) -> dict[str, Any]:
        """A new tax of a Books org (default: the first org); its stored form."""
        body = {
            "tax_name": tax_name,
            "tax_percentage": tax_percentage,
            "is_default_tax": is_default_tax,
            "organization_id": organization_id,
        }
        return dict(self.call("POST", "/books/taxes", body))

    # notifications, seeding, reset
    def notifications(self, wait: float = 0.0) -> dict[str, Any]:
        return dict(self.call("GET", "/notifications", wait=wait or None))

    def seed(self, name: str = "demo") -> dict[str, int]:
        return dict(self.call("POST", "/seed", {"name": name})["seeded"])

    def reset(self) -> None:
        self.call("POST", "/reset", {})


__all__ = ["AdminClient"]
