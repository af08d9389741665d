"""What the Zoho CRM connector's reads and writes share: its state, the API reads, and the
conversion between CRM records and column values.

:class:`CrmApi` is the bottom layer of :class:`~.crm.ZohoCRMConnector`: it holds what the
connector remembers (records read or written, field types, views), lists and reads records
(``fields`` in groups of at most 50, pages then ``page_token``, ``If-Modified-Since``), and
turns records into column values and back.

**Lookups.**  ``{"id", "name"}`` reads as the id under the field's name; ``Field.name``
(any ``Field.key``) is a read-only column with that part.  Writing a lookup field sends
``{"id": value}``; ``Field.key`` columns are not written.  A deal's ``Owner`` (``{id,
name, email}``) reads as the owner's email (:data:`BY_EMAIL`): a deal's salesperson is
known in Books by email, never by a CRM user id (deals are read, never written).

**Read-only fields** (``read_only`` or ``field_read_only`` in the fields metadata, and the
totals CRM computes, ``Sub_Total`` and ``Grand_Total``) are never sent: a write asking for
one leaves it out, as the app would ignore it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from replicator.connectors.base import SideModule, utc_now
from replicator.connectors.zoho.crm_stages import Stages
from replicator.connectors.zoho.cursors import EPOCH, overlap_start, parse_time, zoho_time
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import body_of, chunks
from replicator.errors import ZohoError

Now = Callable[[], dt.datetime]

MODIFIED = "Modified_Time"
FIELDS_PER_CALL = 50
PER_PAGE = 200
PAGE_RECORDS = 2000  # `page` reaches this many records; `page_token` goes further
IDS_PER_CALL = 100
DELETED = "(deleted)"
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})
USER_TYPES = frozenset({"ownerlookup", "userlookup"})
NUMBER_TYPES = frozenset({"currency", "double", "decimal", "percent", "integer", "bigint", "long"})
COMPUTED = frozenset({"Sub_Total", "Grand_Total"})  # read-only whatever the metadata says
# (module, user lookup) read as the user's email rather than the user's id
BY_EMAIL = frozenset({("Deals", "Owner")})

Known = tuple[str, str | None]  # (Modified_Time as UTC text, digest of the values or None)


class CrmApi:
    """The state and API reads of a CRM side (see the module docstring)."""

    def __init__(
        self,
        side: str,
        *,
        client: ApiClient,
        overlap: float = 300.0,
        now: Now = utc_now,
    ) -> None:
        self.side = side
        self.client = client
        self.http_client: httpx.Client | None = client.http  # the daemon counts its answers
        self.overlap = dt.timedelta(seconds=overlap)
        self.now = now
        # what this connector last read or wrote, per module (two modules may share a table,
        # with other views or criteria: each must see the other's writes as changes)
        self._known: dict[str, dict[str, Known]] = {}
        self._read_upto: dict[str, str] = {}  # module -> records watermark of the last pull
        self._types: dict[str, dict[str, str]] = {}  # table -> api_name -> data_type
        self._read_only: dict[str, frozenset[str]] = {}  # table -> fields a write may not set
        self._lookups: dict[str, set[str]] = {}  # table -> fields read as {id, ...}
        self._views: dict[str, list[dict[str, Any]]] = {}
        self._base_currency: str | None = None
        self._stages = Stages()  # deal stage probabilities (see crm_stages)

    def _list(
        self,
        module: SideModule,
        fields: list[str],
        per_page: int,
        start: str | None,
        cvid: str | None,
        *,
        read_at: str | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], httpx.Response]]:
        """Pages of records modified after ``start`` (all when None), oldest first; the
        overlap before ``start`` narrows when the last read (``read_at``) came after it."""
        modified_field = module.modified or MODIFIED
        params: dict[str, Any] = {
            "fields": ",".join(fields),
            "per_page": per_page,
            "sort_by": modified_field,
            "sort_order": "asc",
        }
        if cvid:
            params["cvid"] = cvid
        page, token, newest = 1, None, start
        while True:
            query = dict(params)
            if token:
                query["page_token"] = token
            else:
                query["page"] = page
            since = self._since_header(start, read_at)
            response = self._get(f"/{module.table}", query, since, kind="list")
            body = body_of(response)
            data = [r for r in body.get("data") or [] if isinstance(r, dict) and "id" in r]
            for record in data:
                moment = parse_time(record.get(modified_field))
                if moment is not None:
                    newest = max(newest or EPOCH, zoho_time(moment))
            yield data, response
            info = body.get("info") or {}
            if not data or not info.get("more_records"):
                return
            if token or (page + 1) * per_page > PAGE_RECORDS:
                token = info.get("next_page_token")
                if not token:  # no token offered: go on from the newest time read
                    if newest is None or newest == start:
                        return
                    start, page, read_at = newest, 1, None
                    continue
            else:
                page += 1

    def _complete(
        self, module: SideModule, records: list[dict[str, Any]], groups: list[list[str]]
    ) -> list[dict[str, Any]]:
        """The other field groups of listed records, merged by id (re-read if they moved)."""
        if not groups or not records:
            return records
        modified_field = module.modified or MODIFIED
        by_id = {str(r["id"]): dict(r) for r in records}
        for group in groups:
            for chunk in chunks(list(by_id), IDS_PER_CALL):
                for part in self._by_ids(module, chunk, [group]):
                    record = by_id.get(str(part["id"]))
                    if record is None:
                        continue
                    if part.get(modified_field) != record.get(modified_field):
                        # changed between the calls: keep the older time, so the newer one
                        # (at the end of this listing, or in the next pull) is read whole
                        part = {k: v for k, v in part.items() if k != modified_field}
                    record.update(part)
        return list(by_id.values())

    def _by_ids(
        self, module: SideModule, ids: list[str], groups: list[list[str]]
    ) -> list[dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for group in groups:
            params = {"ids": ",".join(ids), "fields": ",".join(group)}
            response = self._get(f"/{module.table}", params, None, kind="read")
            for record in body_of(response).get("data") or []:
                if isinstance(record, dict) and "id" in record:
                    merged.setdefault(str(record["id"]), {}).update(record)
        return list(merged.values())

    def _get(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        *,
        kind: str,
    ) -> httpx.Response:
        """A read; 204 and 304 come back empty, other failures raise :class:`ZohoError`."""
        response = self.client.request("GET", path, kind=kind, params=params, headers=headers)
        if response.status_code in (204, 304):
            kept = {k: v for k, v in response.headers.items() if k.lower() == "date"}
            return httpx.Response(204, headers=kept, request=response.request)
        if response.status_code >= 400:
            raise self.client.error(response, f"side {self.side}: GET {path}")
        return response

    def _since_header(self, since: str | None, read_at: str | None = None) -> dict[str, str]:
        if not since or since <= EPOCH:
            return {}
        moment = parse_time(since)
        if moment is None:
            return {}
        start = overlap_start(moment, parse_time(read_at), self.overlap)
        return {"If-Modified-Since": zoho_time(start)}

    def _query_start(self, since: str | None) -> str | None:
        return since if since and since > EPOCH else None

    def _modified(self, module: SideModule, record: Mapping[str, Any]) -> tuple[dt.datetime, str]:
        moment = parse_time(record.get(module.modified or MODIFIED))
        if moment is None:
            moment = self.now()
        return moment, zoho_time(moment)

    def _values(self, module: SideModule, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record's columns, lookups flattened (see the module docstring)."""
        lookups = self._lookups.setdefault(module.table, set())
        columns = module.columns or tuple(k for k in record if k != "id")
        values: dict[str, Any] = {}
        for column in columns:
            field, dot, part = column.partition(".")
            raw = record.get(field) if dot else record.get(column)
            if dot:
                values[column] = raw.get(part) if isinstance(raw, dict) else None
            elif (module.table, column) in BY_EMAIL:
                values[column] = raw.get("email") if isinstance(raw, dict) else raw
            elif isinstance(raw, dict) and "id" in raw:
                lookups.add(column)
                values[column] = str(raw["id"]) if raw["id"] is not None else None
            else:
                values[column] = raw
        self._stages.saw(module.table, values)
        return values

    def _to_api(self, module: SideModule, values: Mapping[str, Any]) -> dict[str, Any]:
        """Column values as the API takes them: lookups as ``{id}``, numbers as numbers,
        read-only fields left out."""
        types = self._field_types(module) if values else {}
        lookups = self._lookups.get(module.table, set())
        record: dict[str, Any] = {}
        for column, value in values.items():
            if "." in column or self._is_read_only(module, column):
                continue  # Field.name (a lookup's part) and totals are the app's to set
            kind = types.get(column, "")
            if value is not None and (kind in LOOKUP_TYPES or column in lookups):
                record[column] = {"id": str(value)}
            elif isinstance(value, str) and kind in NUMBER_TYPES:
                record[column] = to_number(value)
            else:
                record[column] = value
        return record

    def _field_groups(self, module: SideModule) -> list[list[str]]:
        """The fields to ask for, in groups of at most 50, each with the modified field."""
        modified_field = module.modified or MODIFIED
        if module.columns:
            names = [c.partition(".")[0] for c in module.columns]
        else:
            names = list(self._field_types(module))
        names = [n for n in dict.fromkeys(names) if n not in ("id", modified_field)]
        size = FIELDS_PER_CALL - 1
        groups = [[modified_field, *names[i : i + size]] for i in range(0, len(names), size)]
        return groups or [[modified_field]]

    def _field_types(self, module: SideModule, *, refresh: bool = False) -> dict[str, str]:
        types = self._types.get(module.table)
        if types is None or refresh:
            response = self._get("/settings/fields", {"module": module.table}, None, kind="meta")
            fields = body_of(response).get("fields") or []
            fields = [f for f in fields if isinstance(f, dict) and f.get("api_name")]
            types = {str(f["api_name"]): str(f.get("data_type") or "") for f in fields}
            self._types[module.table] = types
            self._read_only[module.table] = frozenset(
                str(f["api_name"])
                for f in fields
                if f.get("read_only") is True or f.get("field_read_only") is True
            )
        return types

    def _is_read_only(self, module: SideModule, column: str) -> bool:
        """Whether a write may not set ``column`` (by the fields metadata last read)."""
        return column in COMPUTED or column in self._read_only.get(module.table, frozenset())

    def _custom_views(self, module: SideModule) -> list[dict[str, Any]]:
        views = self._views.get(module.table)
        if views is None:
            views = []
            for page in range(1, 11):
                params = {"module": module.table, "page": page, "per_page": PER_PAGE}
                response = self._get("/settings/custom_views", params, None, kind="meta")
                body = body_of(response)
                views.extend(v for v in body.get("custom_views") or [] if isinstance(v, dict))
                if not (body.get("info") or {}).get("more_records"):
                    break
            self._views[module.table] = views
        return views

    def _cvid(self, module: SideModule) -> str | None:
        """The custom view id of ``module.view`` (an id, or a view's name)."""
        view = module.view
        if not view:
            return None
        if view.isdigit():
            return view
        for candidate in self._custom_views(module):
            names = {candidate.get(k) for k in ("name", "display_value", "system_name")}
            if view in names:
                return str(candidate["id"])
        known = ", ".join(self._view_names(module)) or "none"
        raise ZohoError(f"side {self.side}: {module.table} has no custom view {view!r} ({known})")

    def _view_names(self, module: SideModule) -> list[str]:
        return [str(v.get("name") or v.get("display_value")) for v in self._custom_views(module)]


def to_number(text: str) -> Any:
    try:
        number = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return text  # let the API say what is wrong with it
    if number == number.to_integral_value() and "." not in text and "e" not in text.lower():
        return int(number)
    return number


def not_found(exc: ZohoError) -> bool:
    """A read of something that is not there (Zoho says 404, or 400 INVALID_DATA on the id)."""
    if exc.status in (204, 404):
        return True
    return exc.status == 400 and exc.code in ("INVALID_DATA", "NO_RECORDS_FOUND", "NOT_FOUND")


__all__ = ["COMPUTED", "CrmApi", "Known", "Now", "not_found", "to_number"]
