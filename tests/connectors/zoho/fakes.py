"""Small fakes of Zoho CRM v8 and Books v3 for ``httpx.MockTransport``, from the API specs.

They hold records in dicts, stamp modification times from a :class:`FakeClock` at whole
seconds, and log every request, so a test can check what the connector sent.  ``insert`` /
``update`` / ``delete`` play "another program" (a person in the web UI).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from replicator.connectors.zoho.values import dumps

T0 = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.UTC)
TOKEN = "1000.fake-access-token-abcdef"
REFRESH = "1000.fake-refresh-token-123456"
SECRET = "fake-client-secret-987654"


class FakeClock:
    """One time line for the client's monotonic clock, its sleeps and the servers' wall."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def wall(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=int(self.t))


def crm_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def books_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def reply(
    status: int, body: Any = None, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, content=dumps(body).encode(), headers=headers)


def token_handler(request: httpx.Request, api_domain: str) -> httpx.Response:
    """``POST /oauth/v2/token``: a refresh answers a token, anything else is refused."""
    form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
    if form.get("grant_type") == "refresh_token" and form.get("refresh_token") == REFRESH:
        return reply(
            200,
            {
                "access_token": TOKEN,
                "expires_in": 3600,
                "api_domain": api_domain,
                "token_type": "Bearer",
            },
        )
    return reply(200, {"error": "invalid_code"})


class FakeCRM:
    """Enough of CRM v8 for the connector: list, ids, get, search, deleted, writes, settings.

    A field of type ``subform`` (line items) is shown only by the single-record GET; a write
    of it changes the rows it names by ``id`` (``"_delete": null`` removes one), adds those
    without one (new row ids) and keeps the rest, as CRM does.  ``read_only`` fields are
    so marked in the metadata and ignored by writes; ``taxes`` is what ``GET /org/taxes``
    answers (None: that call is not served)."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        fields: Mapping[str, str] | None = None,
        mandatory: tuple[str, ...] = ("name",),
    ) -> None:
        self.clock = clock
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.deleted: dict[str, list[dict[str, Any]]] = {}
        self.fields = dict(fields or {"name": "text", "email": "email", "city": "text"})
        self.fields.setdefault("Replicator_Id", "text")
        self.mandatory = mandatory
        self.requests: list[httpx.Request] = []
        self.ids = itertools.count(4876876000000333001)
        self.views = [{"id": "4876876000000087501", "name": "All Accounts"}]
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.read_only: set[str] = set()
        self.taxes: list[dict[str, Any]] | None = None
        self.row_ids = itertools.count(4876876000000555001)

    # -- another program ---------------------------------------------------------------

    def insert(self, module: str, values: Mapping[str, Any]) -> str:
        id = str(next(self.ids))
        self.records.setdefault(module, {})[id] = {
            "id": id,
            **values,
            "Modified_Time": crm_time(self.clock.wall()),
        }
        return id

    def update(self, module: str, id: str, values: Mapping[str, Any]) -> None:
        record = self.records[module][id]
        record.update(values)
        record["Modified_Time"] = crm_time(self.clock.wall())

    def delete(self, module: str, id: str) -> None:
        del self.records[module][id]
        self.deleted.setdefault(module, []).append(
            {"id": id, "deleted_time": crm_time(self.clock.wall()), "type": "recycle"}
        )

    def rows(self, module: str) -> dict[str, dict[str, Any]]:
        return {
            id: {k: v for k, v in r.items() if k not in ("id", "Modified_Time")}
            for id, r in self.records.get(module, {}).items()
        }

    # -- the API -----------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        path = request.url.path
        if path == "/oauth/v2/token":
            return token_handler(request, "https://crm.test")
        if request.headers.get("authorization") != f"Zoho-oauthtoken {TOKEN}":
            return reply(401, {"code": "INVALID_TOKEN", "message": "invalid oauth token"})
        parts = path.removeprefix("/crm/v8/").split("/")
        query = request.url.params
        if parts[0] == "settings":
            return self._settings(parts[1], query)
        if parts == ["org", "taxes"]:
            if self.taxes is None:
                return reply(404, {"code": "INVALID_URL_PATTERN", "status": "error"})
            return reply(200, {"org_taxes": {"taxes": self.taxes}})
        module = parts[0]
        if request.method == "GET":
            if len(parts) == 2 and parts[1] == "deleted":
                return self._deleted(module, request)
            if len(parts) == 2 and parts[1] == "search":
                return self._search(module, query)
            if len(parts) == 2:
                record = self.records.get(module, {}).get(parts[1])
                if record is None:
                    return reply(204)
                return reply(200, {"data": [dict(record)]})
            if "ids" in query:
                return self._by_ids(module, query)
            return self._list(module, request)
        body = json.loads(request.content)
        if request.method == "PUT":
            return self._update(module, body["data"], request.headers.get("if-unmodified-since"))
        if parts[-1] == "upsert":
            return self._upsert(module, body["data"], body.get("duplicate_check_fields") or [])
        return self._upsert(module, body["data"], [])

    def _settings(self, what: str, query: httpx.QueryParams) -> httpx.Response:
        if what == "fields":
            fields = [
                {"api_name": k, "data_type": v, "read_only": k in self.read_only}
                for k, v in self.fields.items()
            ]
            return reply(200, {"fields": fields})
        return reply(200, {"custom_views": self.views, "info": {"more_records": False}})

    def _pick(self, record: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
        shown = [f for f in fields if f in record and self.fields.get(f) != "subform"]
        return {"id": record["id"], **{f: record.get(f) for f in shown}}

    def _list(self, module: str, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        fields = query.get("fields", "").split(",")
        if not query.get("fields") or len(fields) > 50:
            return reply(
                400,
                {
                    "code": "REQUIRED_PARAM_MISSING",
                    "status": "error",
                    "message": "fields: 1 to 50",
                    "details": {},
                },
            )
        per_page = int(query.get("per_page", 200))
        records = sorted(
            self.records.get(module, {}).values(), key=lambda r: (r["Modified_Time"], r["id"])
        )
        since = request.headers.get("if-modified-since")
        if since:
            records = [r for r in records if parse(r["Modified_Time"]) > parse(since)]
        if "page_token" in query:
            offset = int(query["page_token"].removeprefix("tok-"))
            page = offset // per_page + 1
        else:
            page = int(query.get("page", 1))
            if page * per_page > 2000:
                return reply(
                    400,
                    {
                        "code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                        "status": "error",
                        "message": "use page_token",
                        "details": {},
                    },
                )
            offset = (page - 1) * per_page
        chunk = records[offset : offset + per_page]
        if not chunk:
            return reply(204)
        more = offset + per_page < len(records)
        info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": more}
        if more:
            info["next_page_token"] = f"tok-{offset + per_page}"
        return reply(200, {"data": [self._pick(r, fields) for r in chunk], "info": info})

    def _by_ids(self, module: str, query: httpx.QueryParams) -> httpx.Response:
        fields = query.get("fields", "").split(",")
        ids = query["ids"].split(",")
        assert len(ids) <= 100 and len(fields) <= 50
        table = self.records.get(module, {})
        found = [self._pick(table[id], fields) for id in ids if id in table]
        return reply(200, {"data": found, "info": {"more_records": False}}) if found else reply(204)

    def _search(self, module: str, query: httpx.QueryParams) -> httpx.Response:
        word = query["word"].casefold()
        found = [
            dict(r)
            for r in self.records.get(module, {}).values()
            if any(isinstance(v, str) and word in v.casefold() for v in r.values())
        ]
        per_page, page = int(query.get("per_page", 200)), int(query.get("page", 1))
        chunk = found[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(found)
        return reply(200, {"data": chunk, "info": {"more_records": more}}) if chunk else reply(204)

    def _deleted(self, module: str, request: httpx.Request) -> httpx.Response:
        entries = list(reversed(self.deleted.get(module, [])))
        since = request.headers.get("if-modified-since")
        if since:
            entries = [e for e in entries if parse(e["deleted_time"]) > parse(since)]
        query = request.url.params
        per_page, page = int(query.get("per_page", 200)), int(query.get("page", 1))
        chunk = entries[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(entries)
        return reply(200, {"data": chunk, "info": {"more_records": more}}) if chunk else reply(204)

    def _check(self, data: Mapping[str, Any], creating: bool, index: int) -> dict[str, Any] | None:
        unknown = [k for k in data if k != "id" and k not in self.fields]
        if unknown:
            return _crm_error("INVALID_DATA", "invalid data", unknown[0], index)
        for field in self.mandatory:
            if (creating or field in data) and data.get(field) in (None, ""):
                return _crm_error("MANDATORY_NOT_FOUND", "required field not found", field, index)
        return None

    def _stamp(self, record: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        for key, value in data.items():
            if key in self.read_only:
                continue
            if self.fields.get(key) == "subform":
                value = self._rows(record.get(key) or [], value)
            elif isinstance(value, dict) and "id" in value:
                value = {"id": value["id"], "name": f"name of {value['id']}"}
            record[key] = value
        record["Modified_Time"] = crm_time(self.clock.wall())
        return record

    def _rows(self, old: list[dict[str, Any]], given: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = {row["id"]: dict(row) for row in old}
        for row in given:
            id = row.get("id")
            if id is not None and "_delete" in row:
                del rows[id]
                continue
            if id is None:
                id = str(next(self.row_ids))
                rows[id] = {"id": id}
            for key, value in row.items():
                if key == "Product_Name":
                    value = {"id": value["id"], "name": f"name of {value['id']}"}
                elif key == "line_tax":  # as read back: with the tax's amount on the line
                    value = [{**tax, "value": 0.0, "id": f"tax-{tax['name']}"} for tax in value]
                rows[id][key] = value
        return list(rows.values())

    def _success(self, record: Mapping[str, Any], action: str) -> dict[str, Any]:
        return {
            "code": "SUCCESS",
            "status": "success",
            "action": action,
            "message": f"record {'added' if action == 'insert' else 'updated'}",
            "details": {"id": record["id"], "Modified_Time": record["Modified_Time"]},
        }

    def _upsert(self, module: str, data: list[dict[str, Any]], keys: list[str]) -> httpx.Response:
        assert len(data) <= 100
        table = self.records.setdefault(module, {})
        results, actions = [], []
        for index, item in enumerate(data):
            match = next(
                (
                    r
                    for r in table.values()
                    for k in keys
                    if item.get(k) is not None and r.get(k) == item.get(k)
                ),
                None,
            )
            error = self._check(item, match is None, index)
            if error is not None:
                results.append(error)
                actions.append("error")
                continue
            if match is None:
                id = str(next(self.ids))
                match = table[id] = {"id": id}
                action = "insert"
            else:
                action = "update"
            results.append(self._success(self._stamp(match, item), action))
            actions.append(action)
        return reply(_crm_status(actions), {"data": results})

    def _update(
        self, module: str, data: list[dict[str, Any]], unmodified: str | None
    ) -> httpx.Response:
        assert len(data) <= 100
        table = self.records.setdefault(module, {})
        results, actions = [], []
        for index, item in enumerate(data):
            record = table.get(str(item.get("id")))
            if record is None:
                results.append(
                    _crm_error("INVALID_DATA", "the id given seems to be invalid", "id", index)
                )
                actions.append("error")
                continue
            if unmodified and parse(record["Modified_Time"]) > parse(unmodified):
                results.append(
                    {
                        "code": "ALREADY_MODIFIED",
                        "status": "error",
                        "message": "record modified since",
                        "details": {"id": record["id"]},
                    }
                )
                actions.append("error")
                continue
            error = self._check({k: v for k, v in item.items() if k != "id"}, False, index)
            if error is not None:
                results.append(error)
                actions.append("error")
                continue
            results.append(self._success(self._stamp(record, item), "update"))
            actions.append("update")
        return reply(_crm_status(actions), {"data": results})


def _crm_error(code: str, message: str, field: str, index: int) -> dict[str, Any]:
    return {
        "code": code,
        "status": "error",
        "message": message,
        "details": {"api_name": field, "json_path": f"$.data[{index}].{field}"},
    }


def _crm_status(actions: list[str]) -> int:
    if all(a == "error" for a in actions):
        return 400
    if any(a == "error" for a in actions):
        return 207
    return 201 if all(a == "insert" for a in actions) else 200


BOOKS_TABLES = {
    "contacts": ("contact_id", "contact", "contact_name"),
    "items": ("item_id", "item", "name"),
    "invoices": ("invoice_id", "invoice", "customer_id"),
}
# what a list answer shows of a contact, as the spec's list-contacts-response
CONTACT_LIST_KEYS = {
    "contact_id",
    "contact_name",
    "company_name",
    "contact_type",
    "status",
    "email",
    "phone",
    "created_time",
    "last_modified_time",
}


PERSON_KEYS = ("first_name", "last_name", "email", "phone", "mobile")


class FakeBooks:
    """Enough of Books v3 for the connector, including the 100-a-minute limit."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        org: str = "10234695",
        per_minute: int = 100,
        tables: Mapping[str, tuple[str, str, str]] = BOOKS_TABLES,
        contact_list_keys: set[str] | None = CONTACT_LIST_KEYS,
    ) -> None:
        self.clock = clock
        self.tables = dict(tables)
        self.contact_list_keys = contact_list_keys
        self.org = org
        self.per_minute = per_minute
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in self.tables}
        self.requests: list[httpx.Request] = []
        self.ids = itertools.count(460000000026049)
        self.windows: dict[int, int] = {}
        self.refused = 0
        self.unique = "cf_replicator_id"

    # -- another program ---------------------------------------------------------------

    def insert(self, table: str, values: Mapping[str, Any], custom: Mapping[str, Any] = {}) -> str:
        id_key = self.tables[table][0]
        id = str(next(self.ids))
        now = books_time(self.clock.wall())
        record = {id_key: id, **values, "created_time": now, "last_modified_time": now}
        record["custom_fields"] = [{"api_name": k, "value": v} for k, v in custom.items()]
        self.records[table][id] = record
        return id

    def update(self, table: str, id: str, values: Mapping[str, Any]) -> None:
        record = self.records[table][id]
        record.update(values)
        record["last_modified_time"] = books_time(self.clock.wall())

    def delete(self, table: str, id: str) -> None:
        del self.records[table][id]

    def custom(self, table: str, id: str, name: str) -> Any:
        for field in self.records[table][id]["custom_fields"]:
            if field["api_name"] == name:
                return field["value"]
        return None

    # -- the API -----------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth/v2/token":
            return token_handler(request, "https://books.test")
        minute = int(self.clock.t // 60)
        self.windows[minute] = self.windows.get(minute, 0) + 1
        if self.windows[minute] > self.per_minute:
            self.refused += 1
            return reply(
                429,
                {"code": 44, "message": "too many requests"},
                {"Retry-After": str(60 - int(self.clock.t) % 60)},
            )
        if request.url.params.get("organization_id") != self.org:
            return reply(400, {"code": 6041, "message": "organization_id is missing or wrong"})
        parts = request.url.path.removeprefix("/books/v3/").split("/")
        table = parts[0]
        id_key, one, required = self.tables[table]
        rows = self.records[table]
        if request.method == "GET" and len(parts) == 2:
            record = rows.get(parts[1])
            if record is None:
                return reply(404, {"code": 1002, "message": f"{one} does not exist"})
            return reply(200, {"code": 0, "message": "success", one: dict(record)})
        if request.method == "GET":
            return self._list(table, request.url.params)
        body = json.loads(request.content, parse_float=Decimal)
        if request.method == "PUT" and len(parts) == 2:
            record = rows.get(parts[1])
            if record is None:
                return reply(404, {"code": 1002, "message": f"{one} does not exist"})
            return self._save(table, record, body, 200)
        if request.method == "PUT":  # update using a unique custom field, maybe upsert
            key = request.headers["x-unique-identifier-key"]
            value = request.headers["x-unique-identifier-value"]
            match = next(
                (
                    r
                    for r in rows.values()
                    for f in r["custom_fields"]
                    if f["api_name"] == key and f["value"] == value
                ),
                None,
            )
            if match is not None:
                return self._save(table, match, body, 200)
            if request.headers.get("x-upsert") != "true":
                return reply(404, {"code": 1002, "message": "no record with that value"})
        if body.get(required) in (None, ""):
            return reply(400, {"code": 4, "message": f"{required} is required"})
        record = {
            id_key: str(next(self.ids)),
            "custom_fields": [],
            "created_time": books_time(self.clock.wall()),
        }
        rows[record[id_key]] = record
        return self._save(table, record, body, 201)

    def _save(
        self, table: str, record: dict[str, Any], body: Mapping[str, Any], status: int
    ) -> httpx.Response:
        id_key, one, required = self.tables[table]
        if required in body and body[required] in (None, ""):
            return reply(400, {"code": 4, "message": f"{required} is required"})
        for key, value in body.items():
            if key == "contact_persons":  # the primary person's fields read at the top level
                primary = next((p for p in value if p.get("is_primary_contact")), value[0])
                record.update({k: v for k, v in primary.items() if k in PERSON_KEYS})
            elif table == "contacts" and key in PERSON_KEYS:
                continue  # Books takes a contact's email or phone only in contact_persons
            elif key == "custom_fields":
                fields = {f["api_name"]: f for f in record["custom_fields"]}
                for field in value:
                    fields[field["api_name"]] = {
                        "api_name": field["api_name"],
                        "value": field["value"],
                    }
                record["custom_fields"] = list(fields.values())
            else:
                record[key] = value
        record["last_modified_time"] = books_time(self.clock.wall())
        return reply(status, {"code": 0, "message": "saved", one: dict(record)})

    def _list(self, table: str, query: httpx.QueryParams) -> httpx.Response:
        rows = list(self.records[table].values())
        if "contact_type" in query:
            rows = [r for r in rows if r.get("contact_type") == query["contact_type"]]
        if "last_modified_time" in query:
            since = parse(query["last_modified_time"])
            rows = [r for r in rows if parse(r["last_modified_time"]) >= since]
        if "search_text" in query:
            text = query["search_text"].casefold()
            rows = [r for r in rows if text in str(r.get(self.tables[table][2])).casefold()]
        if query.get("sort_column") == "last_modified_time":
            rows.sort(key=lambda r: r["last_modified_time"], reverse=query.get("sort_order") == "D")
        per_page, page = int(query.get("per_page", 200)), int(query.get("page", 1))
        assert per_page <= 200
        chunk = rows[(page - 1) * per_page : page * per_page]
        if table == "contacts" and self.contact_list_keys is not None:
            chunk = [{k: v for k, v in r.items() if k in self.contact_list_keys} for r in chunk]
        context = {"page": page, "per_page": per_page, "has_more_page": page * per_page < len(rows)}
        return reply(200, {"code": 0, "message": "success", table: chunk, "page_context": context})


DOCUMENT_TABLES = {
    **BOOKS_TABLES,
    "estimates": ("estimate_id", "estimate", "customer_id"),
    "salesorders": ("salesorder_id", "salesorder", "customer_id"),
    "purchaseorders": ("purchaseorder_id", "purchaseorder", "vendor_id"),
}
# a document's status endpoints: the target -> the statuses it may leave (as the sandbox)
STATUS_MOVES = {
    "invoices": {
        "sent": {"draft"},
        "void": {"draft", "sent", "overdue", "partially_paid"},
        "draft": {"void"},
    },
    "estimates": {
        "sent": {"draft"},
        "accepted": {"draft", "sent", "declined", "expired"},
        "declined": {"draft", "sent", "accepted", "expired"},
    },
    "salesorders": {"open": {"draft", "void"}, "void": {"draft", "open"}},
    "purchaseorders": {
        "open": {"draft", "cancelled"},
        "billed": {"open"},
        "cancelled": {"draft", "open"},
    },
}
NUMBER_PREFIX = {
    "invoices": "INV-",
    "estimates": "EST-",
    "salesorders": "SO-",
    "purchaseorders": "PO-",
}
# what a document's list answer lacks (the spec's list responses): read whole for these
DOCUMENT_WHOLE_ONLY = ("line_items", "notes", "terms", "custom_fields")
TAXES = [
    {"tax_id": "9001", "tax_name": "VAT", "tax_percentage": Decimal("20"), "tax_type": "tax"},
    {"tax_id": "9002", "tax_name": "Reduced", "tax_percentage": Decimal("5"), "tax_type": "tax"},
    {"tax_id": "9003", "tax_name": "Sales Tax", "tax_percentage": Decimal("20"), "tax_type": "tax"},
]
CURRENCIES = [
    {"currency_id": "3001", "currency_code": "USD", "is_base_currency": True},
    {"currency_id": "3002", "currency_code": "EUR", "is_base_currency": False},
]


class FakeBooksDocuments(FakeBooks):
    """FakeBooks with the transaction documents: numbers, draft on create, status endpoints,
    list answers without lines, ``/settings/taxes``, ``/settings/currencies`` and the
    organisation.  ``taxes`` / ``currencies`` may be changed by a test (Books' settings)."""

    def __init__(self, clock: FakeClock, **options: Any) -> None:
        options.setdefault("tables", DOCUMENT_TABLES)
        super().__init__(clock, **options)
        self.taxes: list[dict[str, Any]] | None = [dict(t) for t in TAXES]
        self.currencies: list[dict[str, Any]] | None = [dict(c) for c in CURRENCIES]
        self.numbers = itertools.count(1)

    def insert(self, table: str, values: Mapping[str, Any], custom: Mapping[str, Any] = {}) -> str:
        if table in NUMBER_PREFIX:
            number = f"{NUMBER_PREFIX[table]}{next(self.numbers):05d}"
            values = {table.removesuffix("s") + "_number": number, "status": "draft", **values}
        return super().insert(table, values, custom)

    def handler(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.removeprefix("/books/v3/").split("/")
        if parts[0] == "settings" and request.method == "GET":
            self.requests.append(request)
            entries = self.taxes if parts[1] == "taxes" else self.currencies
            if entries is None:  # an API without it (the sandbox's, or an older Books)
                return reply(404, {"code": 5, "message": "Invalid URL Passed"})
            context = {"page": 1, "per_page": 200, "has_more_page": False}
            return reply(200, {"code": 0, parts[1]: entries, "page_context": context})
        if parts[0] == "organizations":
            self.requests.append(request)
            org = {"organization_id": self.org, "currency_id": "3001", "currency_code": "USD"}
            return reply(200, {"code": 0, "organization": org})
        if len(parts) == 4 and parts[2] == "status" and request.method == "POST":
            self.requests.append(request)
            return self._move(parts[0], parts[1], parts[3])
        response = super().handler(request)
        if parts[0] in NUMBER_PREFIX and request.method == "PUT" and response.status_code == 201:
            body = json.loads(response.content, parse_float=Decimal)
            one = self.tables[parts[0]][1]
            record = self.records[parts[0]][body[one][self.tables[parts[0]][0]]]
            record.setdefault("status", "draft")
            record.setdefault(
                parts[0].removesuffix("s") + "_number",
                f"{NUMBER_PREFIX[parts[0]]}{next(self.numbers):05d}",
            )
            return reply(201, {"code": 0, "message": "saved", one: dict(record)})
        return response

    def _save(
        self, table: str, record: dict[str, Any], body: Mapping[str, Any], status: int
    ) -> httpx.Response:
        if table not in NUMBER_PREFIX:
            return super()._save(table, record, body, status)
        body = dict(body)
        if "line_items" in body:  # replaced whole: lines get new ids, taxes their percentage
            body["line_items"] = [self._line(line) for line in body["line_items"]]
        if "currency_id" in body:
            codes = {c["currency_id"]: c["currency_code"] for c in CURRENCIES}
            body["currency_code"] = codes[body["currency_id"]]
        return super()._save(table, record, body, status)

    def _line(self, given: Mapping[str, Any]) -> dict[str, Any]:
        line = {"line_item_id": str(next(self.ids)), "tax_id": "", "tax_percentage": 0, **given}
        tax = next((t for t in self.taxes or [] if t["tax_id"] == line["tax_id"]), None)
        if tax is not None:
            line.update(tax_name=tax["tax_name"], tax_percentage=tax["tax_percentage"])
        return line

    def _move(self, table: str, id: str, target: str) -> httpx.Response:
        record = self.records[table].get(id)
        if record is None:
            return reply(404, {"code": 1002, "message": "does not exist"})
        if record.get("status") not in STATUS_MOVES[table][target]:
            message = f"cannot be marked as {target} while it is {record.get('status')}"
            return reply(400, {"code": 4, "message": message})
        self.update(table, id, {"status": target})
        return reply(200, {"code": 0, "message": f"status changed to {target}"})

    def _list(self, table: str, query: httpx.QueryParams) -> httpx.Response:
        response = super()._list(table, query)
        if table not in NUMBER_PREFIX:
            return response
        body = json.loads(response.content, parse_float=Decimal)
        body[table] = [
            {k: v for k, v in r.items() if k not in DOCUMENT_WHOLE_ONLY} for r in body[table]
        ]
        return reply(200, body)
