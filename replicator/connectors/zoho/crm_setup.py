"""What ``replicator setup`` asks of a Zoho CRM organisation: its fields, and new ones.

Zoho CRM's fields API (``/crm/v8/settings/fields``, see the v8 reference ``fields.json``):

- ``GET /settings/fields?module=X`` lists a module's fields (``api_name``, ``id``,
  ``data_type``, ``custom_field``, ``unique`` (an object, or null when the field is not
  unique), ``pick_list_values`` of ``{display_value, actual_value, id}``);
- ``POST /settings/fields?module=X`` with ``{"fields": [{field_label, data_type, length,
  unique, pick_list_values}]}`` creates custom fields (201; each answer ``{code, status,
  details: {id}}``); CRM derives the API name from the label (``Replicator Id`` ->
  ``Replicator_Id``);
- ``PATCH /settings/fields/{id}?module=X`` with ``{"fields": [{pick_list_values}]}`` updates
  one field: the values it has are sent back with their ids and the new ones without, so
  the list is whole whether CRM merges or replaces it.

Calls go through the CRM connector's own :class:`~.http.ApiClient` (its token, limits and
retries), counted as ``meta`` calls.  Nothing here reads the config: the setup command
(:mod:`replicator.cli.setup_check`) decides what to ask for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import httpx

from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import body_of
from replicator.errors import ZohoError

# the CRM data type a custom field gets for a canonical type (hints.CRM_FIELD_TYPES names
# the same types as CRM's settings pages show them)
CRM_DATA_TYPES = {
    "text": "text",
    "integer": "integer",
    "decimal": "double",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
    "picklist": "picklist",
}
TEXT_LENGTH = 255


@attrs.frozen
class CrmField:
    """One field of a CRM module, as the fields API describes it."""

    api_name: str
    id: str
    data_type: str
    custom: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()  # a picklist's actual values
    raw_values: tuple[Mapping[str, Any], ...] = attrs.field(default=(), eq=False, repr=False)

    def has_value(self, value: str) -> bool:
        """Whether the picklist offers ``value`` (its actual or its display value)."""
        shown = {str(v.get("display_value")) for v in self.raw_values}
        return value in self.values or value in shown


def label_of(api_name: str) -> str:
    """The label that makes CRM name a new field ``api_name`` (``Replicator_Id`` ->
    ``Replicator Id``)."""
    return api_name.replace("_", " ")


class CrmFields:
    """The fields API of one CRM side, through its connector's API client."""

    def __init__(self, client: ApiClient, side: str) -> None:
        self.client = client
        self.side = side

    def read(self, table: str) -> dict[str, CrmField]:
        """The module's fields by API name (empty for a module CRM does not have)."""
        where = f"side {self.side}: GET /settings/fields?module={table}"
        response = self.client.request(
            "GET", "/settings/fields", kind="meta", params={"module": table}
        )
        if response.status_code == 204:
            return {}
        if response.status_code >= 400:
            error = self.client.error(response, where)
            if error.code == "INVALID_MODULE":
                return {}
            raise error
        fields: dict[str, CrmField] = {}
        for raw in body_of(response).get("fields") or []:
            if not isinstance(raw, dict) or not raw.get("api_name"):
                continue
            picks = tuple(v for v in raw.get("pick_list_values") or [] if isinstance(v, dict))
            name = str(raw["api_name"])
            fields[name] = CrmField(
                name,
                str(raw.get("id") or ""),
                str(raw.get("data_type") or ""),
                custom=bool(raw.get("custom_field")),
                unique=bool(raw.get("unique")),
                values=tuple(str(v.get("actual_value")) for v in picks),
                raw_values=picks,
            )
        return fields

    def create(
        self,
        table: str,
        api_name: str,
        kind: str,
        *,
        unique: bool = False,
        values: Sequence[str] = (),
    ) -> str:
        """Create custom field ``api_name`` of canonical type ``kind`` (a picklist with
        ``values``); returns its id.  Raises :class:`ZohoError` naming the field when CRM
        refuses it."""
        where = f"side {self.side}: POST /settings/fields?module={table} ({api_name})"
        data_type = CRM_DATA_TYPES.get(kind)
        if data_type is None:
            raise ZohoError(f"{where}: a {kind} field cannot be made through the fields API")
        spec: dict[str, Any] = {"field_label": label_of(api_name), "data_type": data_type}
        if data_type == "text":
            spec["length"] = TEXT_LENGTH
        if unique:
            spec["unique"] = {"casesensitive": "false"}
        if data_type == "picklist":
            spec["pick_list_values"] = [{"display_value": v, "actual_value": v} for v in values]
        response = self.client.request(
            "POST",
            "/settings/fields",
            kind="meta",
            params={"module": table},
            json_body={"fields": [spec]},
        )
        answer = self._answer(response, where)
        return str((answer.get("details") or {}).get("id") or "")

    def add_values(self, table: str, field: CrmField, values: Sequence[str]) -> None:
        """Add ``values`` to picklist ``field`` (the values it has are kept)."""
        where = (
            f"side {self.side}: PATCH /settings/fields/{field.id}?module={table} ({field.api_name})"
        )
        kept = [
            {k: v[k] for k in ("id", "display_value", "actual_value") if k in v}
            for v in field.raw_values
        ]
        added = [{"display_value": v, "actual_value": v} for v in values]
        response = self.client.request(
            "PATCH",
            f"/settings/fields/{field.id}",
            kind="meta",
            params={"module": table},
            json_body={"fields": [{"pick_list_values": kept + added}]},
        )
        self._answer(response, where)

    def _answer(self, response: httpx.Response, where: str) -> Mapping[str, Any]:
        """The one field's answer of a create or update; raises :class:`ZohoError` with
        CRM's code and message when it was refused."""
        body = body_of(response)
        answers = body.get("fields") if isinstance(body, dict) else None
        first = answers[0] if isinstance(answers, list) and answers else None
        answer: Mapping[str, Any] = first if isinstance(first, dict) else {}
        if response.status_code < 400 and answer.get("status", "success") == "success":
            return answer
        if not answer.get("code"):
            raise self.client.error(response, where)
        details = answer.get("details") if isinstance(answer.get("details"), dict) else {}
        reason = f" ({details['reason']})" if details and details.get("reason") else ""
        raise ZohoError(
            self.client.redactor.scrub(
                f"{where}: HTTP {response.status_code} {answer['code']}: "
                f"{answer.get('message') or ''}{reason}"
            ),
            status=response.status_code,
            code=str(answer["code"]),
        )


def fields_api(connector: Any) -> CrmFields | None:
    """The fields API of a CRM connector (None for a connector that is not Zoho CRM's)."""
    client = getattr(connector, "client", None)
    if not isinstance(client, ApiClient) or not client.base_path.startswith("/crm"):
        return None
    return CrmFields(client, str(getattr(connector, "side", "crm")))


__all__ = ["CRM_DATA_TYPES", "CrmField", "CrmFields", "fields_api", "label_of"]
