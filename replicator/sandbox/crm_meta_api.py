"""CRM v8 endpoints that are not records: metadata, organisation, users, notifications.

- ``GET /settings/modules`` and ``/settings/modules/{api_name}``;
- ``GET /settings/fields?module=X`` (every field with ``api_name``, ``data_type``,
  ``length``, ``pick_list_values``, ``custom_field``, ``lookup``...), ``GET
  /settings/fields/{id}?module=X``, and ``POST /settings/fields?module=X`` to add custom
  fields (``{fields: [{field_label, data_type, length, pick_list_values}]}``);
- ``GET /settings/custom_views?module=X`` and ``/settings/custom_views/{id}?module=X``
  (with ``criteria``; 204 for an unknown id);
- ``GET /org`` and ``GET /users`` (``type=AllUsers|ActiveUsers|CurrentUser``);
- ``/actions/watch`` (see :mod:`replicator.sandbox.notifications`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .crm_schema import ADMIN, USERS, Module
from .errors import CrmError, RecordRejected
from .web import crm_body, int_param, no_content, state


def _module_param(request: Request) -> Module:
    name = request.query_params.get("module")
    if not name:
        raise CrmError(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "module"},
        )
    module = state(request).crm_schema.module(name)
    if module is None:
        raise CrmError(
            400, "INVALID_MODULE", "the module name given seems to be invalid", {"api_name": name}
        )
    return module


async def modules(request: Request) -> Response:
    return JSONResponse({"modules": [m.describe() for m in state(request).crm_schema.modules()]})


async def module_detail(request: Request) -> Response:
    module = state(request).crm_schema.module(request.path_params["api_name"])
    if module is None:
        raise CrmError(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            {"resource_path_index": 2},
        )
    return JSONResponse({"modules": [module.describe()]})


async def fields(request: Request) -> Response:
    module = _module_param(request)
    return JSONResponse({"fields": [f.describe(module.api_name) for f in module.fields]})


async def field_detail(request: Request) -> Response:
    module = _module_param(request)
    wanted = request.path_params["field_id"]
    field = next((f for f in module.fields if wanted in (f.id, f.api_name)), None)
    if field is None:
        raise CrmError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": wanted})
    return JSONResponse({"fields": [field.describe(module.api_name)]})


async def create_fields(request: Request) -> Response:
    st, module = state(request), _module_param(request)
    body = await crm_body(request)
    specs = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(specs, list) or not specs:
        raise CrmError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "fields", "json_path": "$.fields"},
        )
    results = []
    for index, spec in enumerate(specs):
        try:
            if not isinstance(spec, dict):
                raise ValueError("not an object")
            field = st.crm_schema.add_field(module.api_name, spec)
            results.append(
                {
                    "code": "SUCCESS",
                    "details": {"id": field.id},
                    "message": "field created",
                    "status": "success",
                }
            )
        except ValueError as exc:
            results.append(
                {
                    "code": "INVALID_DATA",
                    "details": {
                        "api_name": "fields",
                        "json_path": f"$.fields[{index}]",
                        "reason": str(exc),
                    },
                    "message": "invalid data",
                    "status": "error",
                }
            )
    ok = sum(r["status"] == "success" for r in results)
    return JSONResponse({"fields": results}, status_code=201 if ok == len(results) else 400)


def _view_summary(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": view["id"],
        "name": view["name"],
        "display_value": view["display_value"],
        "system_name": view["system_name"],
        "system_defined": view["system_defined"],
        "default": view["default"],
        "module": view["module"],
        "category": "public_views" if view["system_defined"] else "created_by_me",
        "access_type": "public",
        "favorite": None,
        "offline": False,
        "locked": False,
        "created_by": {"name": ADMIN.full_name, "id": ADMIN.id},
        "modified_by": {"name": ADMIN.full_name, "id": ADMIN.id},
        "created_time": None,
        "modified_time": None,
        "last_accessed_time": None,
    }


async def custom_views(request: Request) -> Response:
    st, module = state(request), _module_param(request)
    views = st.crm_schema.views(module)
    per_page = int_param(request.query_params.get("per_page"), 200) or 200
    page = int_param(request.query_params.get("page"), 1) or 1
    chunk = views[(page - 1) * per_page : page * per_page]
    return JSONResponse(
        {
            "custom_views": [_view_summary(v) for v in chunk],
            "info": {
                "per_page": per_page,
                "count": len(chunk),
                "page": page,
                "more_records": page * per_page < len(views),
                "default": views[0]["id"],
                "translation": {
                    "public_views": "Public Views",
                    "other_users_views": "Other Users' Views",
                    "shared_with_me": "Shared With Me",
                    "created_by_me": "Created By Me",
                },
            },
        }
    )


async def custom_view(request: Request) -> Response:
    st, module = state(request), _module_param(request)
    view = st.crm_schema.view(module, request.path_params["view_id"])
    if view is None:
        return no_content()
    shown = ("id", "Owner", module.name_field, "Created_Time", "Modified_Time")
    full = _view_summary(view) | {
        "criteria": view["criteria"],
        "fields": [
            {"api_name": f.api_name, "id": f.id, "_pin": False}
            for f in module.fields
            if f.api_name in shown
        ],
        "sort_by": None,
        "sort_order": None,
        "shared_to": None,
    }
    return JSONResponse({"custom_views": [full]})


# base currency -> (symbol, locale) for /org; another code shows as its own symbol
CURRENCY_LOCALES = {
    "USD": ("$", "en_US"),
    "EUR": ("€", "en_IE"),
    "GBP": ("£", "en_GB"),
    "INR": ("₹", "en_IN"),
}


async def org(request: Request) -> Response:
    settings = state(request).settings
    tz, code = settings.timezone, settings.crm_currency
    symbol, locale = CURRENCY_LOCALES.get(code, (code, "en_US"))
    return JSONResponse(
        {
            "org": [
                {
                    "id": "4876876000000012001",
                    "company_name": "Sandbox Trading Ltd",
                    "primary_email": ADMIN.email,
                    "time_zone": "UTC" if tz == "+00:00" else tz,
                    "iso_code": code,
                    "currency_symbol": symbol,
                    "currency_locale": locale,
                    "country": "United States",
                    "country_code": "US",
                    "mc_status": False,
                    "domain_name": "org-sandbox",
                    "zgid": "700000001",
                    "type": "production",
                    "license_details": {"paid": True, "paid_type": "enterprise"},
                }
            ]
        }
    )


async def users(request: Request) -> Response:
    kind = request.query_params.get("type", "AllUsers")
    chosen = [ADMIN] if kind == "CurrentUser" else list(USERS)
    data = [
        {
            "id": u.id,
            "full_name": u.full_name,
            "email": u.email,
            "first_name": u.full_name.split()[0],
            "last_name": u.full_name.split()[-1],
            "status": "active",
            "confirm": True,
            "role": {"name": "CEO" if u is ADMIN else "Manager", "id": "4876876000000026005"},
            "profile": {"name": "Administrator", "id": "4876876000000026011"},
        }
        for u in chosen
    ]
    return JSONResponse(
        {
            "users": data,
            "info": {"per_page": 200, "count": len(data), "page": 1, "more_records": False},
        }
    )


# -- notifications ----------------------------------------------------------------------------


async def _watch_items(request: Request) -> list[Any]:
    body = await crm_body(request)
    items = body.get("watch") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise CrmError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "watch", "json_path": "$.watch"},
        )
    return items


async def watch_list(request: Request) -> Response:
    notifier = state(request).notifier
    q = request.query_params
    channels = list(notifier.channels().values())
    if q.get("channel_id"):
        channels = [c for c in channels if c["channel_id"] == q["channel_id"]]
    if q.get("module"):
        channels = [c for c in channels if any(e.split(".")[0] == q["module"] for e in c["events"])]
    if not channels:
        return no_content()
    return JSONResponse(
        {
            "watch": [notifier.describe(c) for c in channels],
            "info": {"per_page": 200, "count": len(channels), "page": 1, "more_records": False},
        }
    )


async def _subscribe(request: Request, replace: bool) -> Response:
    notifier = state(request).notifier
    items = await _watch_items(request)
    results: list[dict[str, Any]] = []
    existing = notifier.channels()
    for index, item in enumerate(items):
        try:
            key = str(item.get("channel_id")) if isinstance(item, dict) else ""
            old = existing.get(key)
            if replace and old is None:
                raise RecordRejected(
                    "NOT_SUBSCRIBED", "the channel is not subscribed", {"channel_id": key}
                )
            base = old if (old is not None and not replace) else None
            if replace and old is not None:
                base = {
                    k: old[k]
                    for k in ("channel_id", "events", "notify_url", "token", "channel_expiry")
                }
            channel = notifier.validate(item, index, str(request.base_url), base)
            if old is not None and not replace and "events" in item:
                channel["events"] = list(dict.fromkeys(old["events"] + channel["events"]))
            notifier.subscribe(channel)
            existing[channel["channel_id"]] = channel
            message = (
                "Successfully updated the subscribe details"
                if replace
                else "Successfully subscribed for actions-watch of the given module"
            )
            results.append(
                {
                    "code": "SUCCESS",
                    "details": {"events": notifier.resources(channel)},
                    "message": message,
                    "status": "success",
                }
            )
        except RecordRejected as exc:
            results.append(exc.result())
    failed = any(r["status"] == "error" for r in results)
    return JSONResponse(
        {"watch": results}, status_code=202 if failed else (200 if replace else 201)
    )


async def watch_enable(request: Request) -> Response:
    return await _subscribe(request, replace=False)


async def watch_update(request: Request) -> Response:
    return await _subscribe(request, replace=True)


async def watch_disable(request: Request) -> Response:
    notifier = state(request).notifier
    results = []
    for item in await _watch_items(request):
        key = str(item.get("channel_id", "")) if isinstance(item, dict) else ""
        events = item.get("events") if isinstance(item, dict) else None
        remove = item.get("_delete_events") is True if isinstance(item, dict) else False
        if not notifier.unsubscribe(key, events if remove and isinstance(events, list) else None):
            results.append(
                RecordRejected(
                    "NOT_SUBSCRIBED", "the channel is not subscribed", {"channel_id": key}
                ).result()
            )
            continue
        results.append(
            {
                "code": "SUCCESS",
                "details": {"channel_id": key},
                "message": "Successfully removed the subscribe details",
                "status": "success",
            }
        )
    failed = any(r["status"] == "error" for r in results)
    return JSONResponse({"watch": results}, status_code=202 if failed else 200)


async def watch_delete(request: Request) -> Response:
    notifier = state(request).notifier
    raw = request.query_params.get("channel_ids", "")
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids:
        raise CrmError(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "channel_ids"},
        )
    results = []
    for key in ids:
        if notifier.unsubscribe(key):
            results.append(
                {
                    "code": "SUCCESS",
                    "details": {"channel_id": key},
                    "message": "Successfully un-subscribed from actions-watch",
                    "status": "success",
                }
            )
        else:
            results.append(
                RecordRejected(
                    "NOT_SUBSCRIBED", "the channel is not subscribed", {"channel_id": key}
                ).result()
            )
    failed = any(r["status"] == "error" for r in results)
    return JSONResponse({"watch": results}, status_code=202 if failed else 200)


ROUTES = [
    Route("/crm/v8/settings/modules", modules, methods=["GET"]),
    Route("/crm/v8/settings/modules/{api_name}", module_detail, methods=["GET"]),
    Route("/crm/v8/settings/fields", fields, methods=["GET"]),
    Route("/crm/v8/settings/fields", create_fields, methods=["POST"]),
    Route("/crm/v8/settings/fields/{field_id}", field_detail, methods=["GET"]),
    Route("/crm/v8/settings/custom_views", custom_views, methods=["GET"]),
    Route("/crm/v8/settings/custom_views/{view_id}", custom_view, methods=["GET"]),
    Route("/crm/v8/org", org, methods=["GET"]),
    Route("/crm/v8/users", users, methods=["GET"]),
    Route("/crm/v8/actions/watch", watch_list, methods=["GET"]),
    Route("/crm/v8/actions/watch", watch_enable, methods=["POST"]),
    Route("/crm/v8/actions/watch", watch_update, methods=["PUT"]),
    Route("/crm/v8/actions/watch", watch_disable, methods=["PATCH"]),
    Route("/crm/v8/actions/watch", watch_delete, methods=["DELETE"]),
]

__all__ = ["ROUTES"]
