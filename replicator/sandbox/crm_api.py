"""CRM v8 record endpoints under ``/crm/v8/{module}``.

- ``GET /{module}``: ``fields`` is mandatory (at most 50), ``per_page`` at most 200,
  ``page`` reaches the first 2,000 records only (beyond: 400
  ``DISCRETE_PAGINATION_LIMIT_EXCEEDED``); ``info.next_page_token`` (valid 24 hours) pages
  on up to 100,000 records.  ``sort_by`` id | Created_Time | Modified_Time, ``sort_order``
  asc | desc (default ``id`` desc), ``cvid``, ``ids``, and the ``If-Modified-Since`` header
  (records modified strictly after it).  A page, by number or by token, is the slice at
  its position of the order as it stands when it is asked for (a record edited or deleted
  between two pages shifts the ones after it); without ``cvid`` it is read from an index,
  at the cost of the page however many records the module holds.  Nothing to return: 204
  with no body, or 304 when ``If-Modified-Since`` was given (Zoho's "not modified").  Lists
  never show line items.
- ``GET /{module}/{id}``: every field, line items included; 204 if there is no such record.
- ``POST /{module}``, ``PUT /{module}``, ``PUT /{module}/{id}``, ``POST /{module}/upsert``:
  at most 100 records; per-record results; 201 all created, 200 all updated (or an upsert
  that updated any), 207 mixed, 400 all refused (412 when every refusal is
  ``ALREADY_MODIFIED`` under ``If-Unmodified-Since``).  Writes cost a credit per 10 records.
- ``DELETE /{module}?ids=`` (at most 100) and ``DELETE /{module}/{id}``.
- ``GET /{module}/deleted?type=all|recycle|permanent`` with ``If-Modified-Since``.
- ``GET /{module}/search`` with ``criteria``, ``email``, ``phone`` or ``word``; at most
  2,000 results; 204 when none.  Records written less than ``search_lag`` seconds ago are
  not found yet, as on the real index.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import crm_time, parse_time
from .crm_query import Matcher, check_criteria, parse_criteria
from .crm_schema import ADMIN, Module, user
from .errors import CrmError
from .store import Row
from .web import crm_body, int_param, no_content, state

MAX_FIELDS = 50
MAX_PER_PAGE = 200
PAGE_LIMIT = 2_000
TOKEN_LIMIT = 100_000
TOKEN_TTL = 86_400.0
MAX_WRITE = 100
SORTS = ("id", "Created_Time", "Modified_Time")
ORDERS = {"id": "id", "Created_Time": "created", "Modified_Time": "modified"}  # the store's


def invalid_param(name: str, **details: Any) -> CrmError:
    return CrmError(400, "INVALID_DATA", "invalid data", {"param_name": name, **details})


def module_of(request: Request) -> Module:
    module = state(request).crm_schema.module(request.path_params["module"])
    if module is None:
        raise CrmError(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            {"resource_path_index": 0},
        )
    return module


def fields_param(request: Request, module: Module, *, required: bool) -> set[str] | None:
    raw = request.query_params.get("fields")
    if raw is None or not raw.strip():
        if required:
            raise CrmError(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "fields"},
            )
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > MAX_FIELDS:
        raise CrmError(
            400,
            "LIMIT_EXCEEDED",
            "Max field limit exceeded",
            {"limit": MAX_FIELDS, "param_name": "fields"},
        )
    return set(names)


def per_page_param(request: Request) -> int:
    per_page = int_param(request.query_params.get("per_page"), MAX_PER_PAGE)
    if per_page is None or per_page > MAX_PER_PAGE:
        raise invalid_param("per_page", maximum=MAX_PER_PAGE)
    return per_page


def since_header(request: Request) -> float | None:
    raw = request.headers.get("if-modified-since")
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise invalid_param("If-Modified-Since") from None


def matcher(request: Request, module: Module) -> Matcher:
    st = state(request)
    return Matcher(module, st.crm.resolver(), st.clock.now(), ADMIN.id, st.settings.tz)


def view_filter(request: Request, module: Module, rows: list[Row], cvid: str | None) -> list[Row]:
    if not cvid:
        return rows
    view = state(request).crm_schema.view(module, cvid)
    if view is None:
        raise invalid_param("cvid")
    match = matcher(request, module)
    return [r for r in rows if match.view_matches(r, view["criteria"])]


def _empty(since: float | None) -> Response:
    return no_content(304 if since is not None else 204)


# -- reading -----------------------------------------------------------------------------------


async def list_records(request: Request) -> Response:
    st, module = state(request), module_of(request)
    q = request.query_params
    fields = fields_param(request, module, required=True)
    per_page = per_page_param(request)
    token = q.get("page_token")
    if token:
        if "page" in q:
            raise invalid_param("page", reason="page and page_token are exclusive")
        saved = st.store.kv_get(f"crm.page_token.{token}")
        if (
            saved is None
            or saved["module"] != module.api_name
            or saved["expires"] <= st.clock.now()
        ):
            raise invalid_param("page_token")
        query, offset, page = saved["query"], saved["offset"], saved["page"]
        if offset >= TOKEN_LIMIT:
            raise CrmError(
                400,
                "LIMIT_REACHED",
                "maximum response iteration limit reached",
                {"limit": TOKEN_LIMIT},
            )
    else:
        page = int_param(q.get("page"), 1)
        if page is None:
            raise invalid_param("page")
        offset = (page - 1) * per_page
        if offset + per_page > PAGE_LIMIT:
            raise CrmError(
                400,
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                "cannot fetch more than 2000 records using page. Use page_token "
                "to fetch further records.",
                {"limit": PAGE_LIMIT},
            )
        header = since_header(request)
        query = {
            "sort_by": q.get("sort_by", "id"),
            "sort_order": q.get("sort_order", "desc"),
            "cvid": q.get("cvid"),
            "since": header,
            "ids": q.get("ids"),
        }
    if query["sort_by"] not in SORTS:
        raise invalid_param("sort_by", supported_values=list(SORTS))
    if query["sort_order"] not in ("asc", "desc"):
        raise invalid_param("sort_order", supported_values=["asc", "desc"])
    chunk, more = _select(request, module, query, offset, per_page)
    if not chunk:
        return _empty(query["since"])
    resolve = st.crm.resolver()
    data = [st.crm.render(module, r, fields=fields, resolve=resolve) for r in chunk]
    info: dict[str, Any] = {
        "per_page": per_page,
        "count": len(chunk),
        "page": page,
        "sort_by": query["sort_by"],
        "sort_order": query["sort_order"],
        "more_records": more,
        "next_page_token": None,
        "previous_page_token": None,
        "page_token_expiry": None,
    }
    if more:
        new_token = secrets.token_hex(24)
        expires = st.clock.now() + TOKEN_TTL
        st.store.kv_set(
            f"crm.page_token.{new_token}",
            {
                "module": module.api_name,
                "query": query,
                "offset": offset + per_page,
                "page": page + 1,
                "expires": expires,
            },
        )
        info["next_page_token"] = new_token
        info["page_token_expiry"] = crm_time(expires, st.settings.tz)
    return JSONResponse({"data": data, "info": info})


def _select(
    request: Request, module: Module, query: dict[str, Any], offset: int, per_page: int
) -> tuple[list[Row], bool]:
    """The records of one page (and whether more follow): from the store's index when no
    custom view filters them (the page's cost, however many records the module holds),
    else every record through the view's criteria."""
    st = state(request)
    order = ORDERS[query["sort_by"]]
    descending = query["sort_order"] == "desc"
    wanted = {i.strip() for i in str(query["ids"]).split(",")} if query["ids"] else None
    if not query["cvid"]:
        rows = st.store.page(
            "crm",
            "",
            module.api_name,
            order,
            limit=per_page + 1,
            descending=descending,
            offset=offset,
            modified_after=query["since"],
            ids=wanted,
        )
        return rows[:per_page], len(rows) > per_page
    rows = view_filter(request, module, st.crm.rows(module), query["cvid"])
    if query["since"] is not None:
        rows = [r for r in rows if int(r.modified) > query["since"]]
    if wanted is not None:
        rows = [r for r in rows if r.id in wanted]
    rows.sort(key=lambda r: r.order_key(order), reverse=descending)
    return rows[offset : offset + per_page], offset + per_page < len(rows)


async def get_record(request: Request) -> Response:
    st, module = state(request), module_of(request)
    record_id = request.path_params["record_id"]
    if not record_id.isdigit():
        raise CrmError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": record_id})
    fields = fields_param(request, module, required=False)
    row = st.crm.get(module, record_id)
    if row is None:
        return no_content()
    since = since_header(request)
    if since is not None and int(row.modified) <= since:
        return no_content(304)
    return JSONResponse({"data": [st.crm.render(module, row, fields=fields, line_items=True)]})


async def deleted_records(request: Request) -> Response:
    st, module = state(request), module_of(request)
    kind = request.query_params.get("type", "all")
    if kind not in ("all", "recycle", "permanent"):
        raise invalid_param("type", supported_values=["all", "recycle", "permanent"])
    per_page = per_page_param(request)
    page = int_param(request.query_params.get("page"), 1)
    if page is None:
        raise invalid_param("page")
    since = since_header(request)
    found = st.store.deleted_page(  # one page from the feed's index, and one record more
        "crm",
        "",
        module.api_name,
        limit=per_page + 1,
        offset=(page - 1) * per_page,
        kind=None if kind == "all" else kind,
        since=since,
    )
    chunk, more = found[:per_page], len(found) > per_page
    if not chunk:
        return _empty(since)
    tz = st.settings.tz

    def who(user_id: str) -> dict[str, str] | None:
        found = user(user_id)
        return {"name": found.full_name, "id": found.id} if found else None

    data = [
        {
            "deleted_by": who(d.deleted_by),
            "id": d.id,
            "display_name": d.display_name,
            "type": d.kind,
            "created_by": who(d.created_by),
            "deleted_time": crm_time(d.deleted, tz),
        }
        for d in chunk
    ]
    return JSONResponse(
        {
            "data": data,
            "info": {
                "per_page": per_page,
                "count": len(chunk),
                "page": page,
                "more_records": more,
            },
        }
    )


async def search_records(request: Request) -> Response:
    st, module = state(request), module_of(request)
    q = request.query_params
    if not any(q.get(k) for k in ("criteria", "email", "phone", "word")):
        raise CrmError(
            400,
            "EXPECTED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_names": ["criteria", "email", "phone", "word"]},
        )
    fields = fields_param(request, module, required=False)
    per_page = per_page_param(request)
    page = int_param(q.get("page"), 1)
    if page is None:
        raise invalid_param("page")
    if page * per_page > PAGE_LIMIT:
        raise CrmError(
            400,
            "LIMIT_REACHED",
            "maximum response iteration limit reached",
            {"limit": str(PAGE_LIMIT)},
        )
    match = matcher(request, module)
    indexed_before = st.clock.now() - st.settings.search_lag
    rows = [
        r
        for r in view_filter(request, module, st.crm.rows(module), q.get("cvid"))
        if r.modified <= indexed_before or st.settings.search_lag == 0
    ]
    if q.get("criteria"):
        tree = parse_criteria(q["criteria"])
        check_criteria(tree, module)
        rows = [r for r in rows if match.matches(r, tree)]
    else:
        rows = [
            r
            for r in rows
            if match.quick(r, email=q.get("email"), phone=q.get("phone"), word=q.get("word"))
        ]
    rows = rows[:PAGE_LIMIT]
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk:
        return no_content()
    resolve = st.crm.resolver()
    data = [st.crm.render(module, r, fields=fields, resolve=resolve) for r in chunk]
    return JSONResponse(
        {
            "data": data,
            "info": {
                "per_page": per_page,
                "count": len(chunk),
                "page": page,
                "more_records": page * per_page < len(rows),
            },
        }
    )


# -- writing -----------------------------------------------------------------------------------


def write_status(results: Sequence[dict[str, Any]], mode: str) -> int:
    ok = [r for r in results if r["status"] == "success"]
    if not ok:
        if results and all(r["code"] == "ALREADY_MODIFIED" for r in results):
            return 412
        return 400
    if len(ok) < len(results):
        return 207
    if mode == "insert" or (mode == "upsert" and all(r["action"] == "insert" for r in ok)):
        return 201
    return 200


async def _records_in(request: Request) -> tuple[list[Any], dict[str, Any]]:
    body = await crm_body(request)
    if not isinstance(body, dict) or "data" not in body:
        raise CrmError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "data", "json_path": "$.data"},
        )
    records = body["data"]
    if not isinstance(records, list) or not records:
        raise CrmError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": "data", "json_path": "$.data", "expected_data_type": "jsonarray"},
        )
    if len(records) > MAX_WRITE:
        raise CrmError(
            400,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            {"limit": MAX_WRITE, "api_name": "data", "json_path": "$.data"},
        )
    return records, body


def _charge(request: Request, count: int) -> None:
    st = state(request)
    extra = max(1, math.ceil(count / 10)) - 1
    if extra:
        st.crm_limiter.charge(extra, st.settings)


def _failing(request: Request, count: int) -> dict[int, str]:
    st = state(request)
    template = getattr(request.scope.get("route"), "path", None)
    return st.faults.failing_records("crm", request.method, request.url.path, template, count)


async def _write(request: Request, mode: str, records: list[Any], body: dict[str, Any]) -> Response:
    st, module = state(request), module_of(request)
    _charge(request, len(records))
    unmodified = request.headers.get("if-unmodified-since")
    try:
        since = parse_time(unmodified) if unmodified else None
    except ValueError:
        raise invalid_param("If-Unmodified-Since") from None
    check = body.get("duplicate_check_fields")
    if check is not None:
        names = {f.api_name for f in module.fields}
        if not isinstance(check, list) or any(c not in names for c in check):
            raise CrmError(
                400,
                "INVALID_DATA",
                "invalid data",
                {"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields"},
            )
    results = st.crm.write(
        module,
        records,
        mode=mode,
        duplicate_check_fields=check,
        failing=_failing(request, len(records)),
        unmodified_since=since,
    )
    return JSONResponse({"data": results}, status_code=write_status(results, mode))


async def insert_records(request: Request) -> Response:
    records, body = await _records_in(request)
    return await _write(request, "insert", records, body)


async def update_records(request: Request) -> Response:
    records, body = await _records_in(request)
    return await _write(request, "update", records, body)


async def update_record(request: Request) -> Response:
    records, body = await _records_in(request)
    record_id = request.path_params["record_id"]
    records = [{**(r if isinstance(r, dict) else {}), "id": record_id} for r in records[:1]]
    return await _write(request, "update", records, body)


async def upsert_records(request: Request) -> Response:
    records, body = await _records_in(request)
    return await _write(request, "upsert", records, body)


async def delete_records(request: Request) -> Response:
    st, module = state(request), module_of(request)
    raw = request.query_params.get("ids", "")
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids:
        raise CrmError(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "ids"},
        )
    if len(ids) > MAX_WRITE:
        raise CrmError(
            400,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            {"limit": MAX_WRITE, "param_name": "ids"},
        )
    _charge(request, len(ids))
    results = st.crm.delete(module, ids)
    ok = sum(r["status"] == "success" for r in results)
    status = 200 if ok == len(results) else 207 if ok else 400
    return JSONResponse({"data": results}, status_code=status)


async def delete_record(request: Request) -> Response:
    st, module = state(request), module_of(request)
    results = st.crm.delete(module, [request.path_params["record_id"]])
    return JSONResponse(
        {"data": results}, status_code=200 if results[0]["status"] == "success" else 400
    )


_MODULE = "/crm/v8/{module}"
ROUTES = [
    Route(_MODULE + "/upsert", upsert_records, methods=["POST"]),
    Route(_MODULE + "/deleted", deleted_records, methods=["GET"]),
    Route(_MODULE + "/search", search_records, methods=["GET"]),
    Route(_MODULE + "/{record_id}", get_record, methods=["GET"]),
    Route(_MODULE + "/{record_id}", update_record, methods=["PUT"]),
    Route(_MODULE + "/{record_id}", delete_record, methods=["DELETE"]),
    Route(_MODULE, list_records, methods=["GET"]),
    Route(_MODULE, insert_records, methods=["POST"]),
    Route(_MODULE, update_records, methods=["PUT"]),
    Route(_MODULE, delete_records, methods=["DELETE"]),
]

__all__ = ["ROUTES", "write_status"]
