"""A client that knows only Zoho's published API: plain httpx, written from the spec.

It gets an access token by refresh, sends ``Authorization: Zoho-oauthtoken``, calls CRM
paths under ``{api_domain}/crm/v8`` and Books paths under ``{api_domain}/books/v3`` with
``organization_id``.  It knows nothing of the sandbox's insides, so it talks to Zoho as
another program would: the sandbox's tests, the integration tests, ``replicator demo`` and
``benchmarks/api_calls.py`` share it (the admin API has :class:`.AdminClient`).

Two levels of one client:

- :class:`ZohoHttp` answers with the raw :class:`httpx.Response` (status, headers, body),
  for tests that check the API's envelope itself;
- :class:`ZohoApi` answers with the JSON body, raises on an error status, and adds the
  record helpers another program edits with (create, update and list CRM records and
  Books contacts).

Credentials are a mapping (``Sandbox.credentials``) or the path of a credentials JSON file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

Credentials = str | Path | Mapping[str, str]


def _keys(credentials: Credentials) -> dict[str, str]:
    keys: Mapping[str, Any] = (
        credentials
        if isinstance(credentials, Mapping)
        else json.loads(Path(credentials).expanduser().read_text(encoding="utf-8"))
    )
    return {str(k): str(v) for k, v in keys.items() if v not in (None, "")}


class ZohoHttp:
    """Zoho's published API, answering with raw responses."""

    def __init__(self, credentials: Credentials, *, timeout: float = 10) -> None:
        self.credentials = _keys(credentials)
        self.http = httpx.Client(timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ZohoHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self, **overrides: str) -> httpx.Response:
        """The OAuth refresh call (``overrides`` replace form fields, to test refusals)."""
        form = {
            "grant_type": "refresh_token",
            "client_id": self.credentials["client_id"],
            "client_secret": self.credentials["client_secret"],
            "refresh_token": self.credentials["refresh_token"],
        } | overrides
        return self.http.post(f"{self.credentials['accounts_url']}/oauth/v2/token", data=form)

    def token(self) -> str:
        """An access token, refreshed once and kept."""
        if self._token is None:
            answer = self.refresh()
            token = answer.json().get("access_token") if answer.status_code < 400 else None
            if not token:
                # the accounts server's answer names the refusal; it carries no secret
                raise RuntimeError(f"token refresh: HTTP {answer.status_code}: {answer.text}")
            self._token = str(token)
        return self._token

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.token()}", **(extra or {})}

    def crm(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        url = f"{self.credentials['api_domain']}/crm/v8{path}"
        return self.http.request(method, url, headers=self.headers(headers), **kwargs)

    def books(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        org: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        url = f"{self.credentials['api_domain']}/books/v3{path}"
        query = {"organization_id": org or self.credentials["organization_id"], **(params or {})}
        return self.http.request(method, url, params=query, headers=self.headers(headers), **kwargs)


class ZohoApi:
    """Another program editing CRM and Books through their published APIs: JSON answers,
    an error status raised, no journal, no echo tracking."""

    def __init__(self, credentials: Credentials, *, timeout: float = 30) -> None:
        self.raw = ZohoHttp(credentials, timeout=timeout)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> ZohoApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def token(self) -> str:
        return self.raw.token()

    @staticmethod
    def _json(method: str, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            url = response.request.url.copy_with(query=None)
            raise RuntimeError(f"{method} {url}: HTTP {response.status_code}: {response.text}")
        return response.json() if response.content else {}

    # -- CRM -------------------------------------------------------------------------------

    def crm(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._json(method, self.raw.crm(method, path, **kwargs))

    def crm_create(self, module: str, *records: Mapping[str, Any]) -> list[str]:
        """Insert records (100 a call); their ids."""
        ids: list[str] = []
        for start in range(0, len(records), 100):
            answer = self.crm(
                "POST", f"/{module}", json={"data": list(records[start : start + 100])}
            )
            for result in answer["data"]:
                if result["status"] != "success":
                    raise RuntimeError(f"CRM {module}: {result}")
                ids.append(str(result["details"]["id"]))
        return ids

    def crm_update(self, module: str, id: str, **fields: Any) -> None:
        [result] = self.crm("PUT", f"/{module}", json={"data": [{"id": id, **fields}]})["data"]
        if result["status"] != "success":
            raise RuntimeError(f"CRM {module} {id}: {result}")

    def crm_records(self, module: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every record of a module with ``fields`` (and ``id``)."""
        records: list[dict[str, Any]] = []
        params: dict[str, Any] = {"fields": ",".join(fields), "per_page": 200}
        page, token = 1, None
        while True:
            query = {**params, **({"page_token": token} if token else {"page": page})}
            answer = self.crm("GET", f"/{module}", params=query)
            records += answer.get("data") or []
            info = answer.get("info") or {}
            if not info.get("more_records"):
                return records
            # past 2,000 records CRM pages by token only
            token = info.get("next_page_token") if page * 200 >= 2000 or token else None
            page += 1

    # -- Books -----------------------------------------------------------------------------

    def books(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        return self._json(method, self.raw.books(method, path, params=params, **kwargs))

    def books_create_contact(
        self,
        name: str,
        *,
        kind: str = "customer",
        phone: str = "",
        website: str = "",
        email: str = "",
    ) -> str:
        body: dict[str, Any] = {"contact_name": name, "contact_type": kind}
        if website:
            body["website"] = website
        if phone or email:
            body["contact_persons"] = [
                {
                    "first_name": name.split()[0],
                    "phone": phone,
                    "email": email,
                    "is_primary_contact": True,
                }
            ]
        return str(self.books("POST", "/contacts", json=body)["contact"]["contact_id"])

    def books_update_contact(self, id: str, **fields: Any) -> None:
        """Update a contact; ``phone`` / ``email`` go to its primary contact person."""
        body = {k: v for k, v in fields.items() if k not in ("phone", "email")}
        person: dict[str, Any] = {k: fields[k] for k in ("phone", "email") if k in fields}
        if person:
            current = self.books("GET", f"/contacts/{id}")["contact"]["contact_persons"]
            primary = next((p for p in current if p["is_primary_contact"]), None)
            others = [
                {"contact_person_id": p["contact_person_id"]} for p in current if p is not primary
            ]
            mine: dict[str, Any] = {**person, "is_primary_contact": True}
            if primary is not None:
                mine["contact_person_id"] = primary["contact_person_id"]
            body["contact_persons"] = [*others, mine]
        self.books("PUT", f"/contacts/{id}", json=body)

    def books_contacts(self, kind: str = "customer") -> list[dict[str, Any]]:
        """Every contact of ``kind`` as the list shows it (primary person's phone and email)."""
        records: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.books(
                "GET", "/contacts", params={"contact_type": kind, "page": page, "per_page": 200}
            )
            records += answer["contacts"]
            if not answer["page_context"]["has_more_page"]:
                return records
            page += 1


__all__ = ["Credentials", "ZohoApi", "ZohoHttp"]
