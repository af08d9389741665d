"""CRM v8 endpoints that are not records: metadata, organisation, users, notifications.

- ``GET /settings/modules`` and ``/settings/modules/{api_name}`` (the one module with
  its fields described);
- ``GET /settings/fields?module=X`` (every field as :mod:`.crm_describe` gives it; ``X``
  may also be a line-item subform, ``Quoted_Items``, whose own fields are described),
  ``GET /settings/fields/{id}?module=X``, ``POST /settings/fields?module=X`` to add custom
  fields (``{fields: [{field_label, data_type, length, unique, pick_list_values}]}``) and
  ``PATCH`` (or ``PUT``) ``/settings/fields[/{id}]?module=X`` to add picklist values (a
  deal ``Stage`` value with its ``probability``: ``{actual_value, probability}``).  The
  ``Stage`` field's values carry their ``probability``, ``forecast_type`` (``Closed Won``
  at 100, ``Closed Lost`` at 0, else ``Open``) and ``forecast_category``;
- ``GET /settings/custom_views?module=X`` and ``/settings/custom_views/{id}?module=X``
  (with ``criteria``; 204 for an unknown id);
- ``GET /org``, ``GET /org/taxes`` (the taxes line items name) and ``GET /users``
  (``type=AllUsers|ActiveUsers|DeactiveUsers|CurrentUser``: :mod:`.crm_users`);
- ``/actions/watch`` (see :mod:`replicator.sandbox.notifications`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .crm_describe import describe_field, describe_module, describe_view
from .crm_schema import ADMIN, Module
from .crm_users import users
from .errors import CrmError, RecordRejected
from .web import crm_body, int_param, no_content, state


def _module_param(request: Request, *, subforms: bool = False) -> Module:
    """The ``module`` parameter's module; ``subforms``: a line-item subform's own module
    (``Quoted_Items``) too, as ``GET /settings/fields`` takes it."""
    name = request.query_params.get("module")
    if not name:
        raise CrmError(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "module"},
        )
    schema = state(request).crm_schema
    module = schema.module(name) or (schema.subform(name) if subforms else None)
    if module is None:
        raise CrmError(
            400, "INVALID_MODULE", "the module name given seems to be invalid", {"api_name": name}
        )
    return module


def _fields(request: Request, module: Module) -> list[dict[str, Any]]:
    schema = state(request).crm_schema
    return [
        describe_field(
            module,
            field,
            index,
            schema.subform(field.api_name) if field.data_type == "subform" else None,
        )
        for index, field in enumerate(module.fields)
    ]


def _describe_module(request: Request, module: Module, *, fields: bool) -> dict[str, Any]:
    views = state(request).crm_schema.views(module)
    return describe_module(
        module,
        fields=_fields(request, module) if fields else [],
        default_view=describe_view(module, views[0]),
    )


async def modules(request: Request) -> Response:
    return JSONResponse(
        {
            "modules": [
                _describe_module(request, m, fields=False)
                for m in state(request).crm_schema.modules()
            ]
        }
    )


async def module_detail(request: Request) -> Response:
    module = state(request).crm_schema.module(request.path_params["api_name"])
    if module is None:
        raise CrmError(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            {"resource_path_index": 2},
        )
    return JSONResponse({"modules": [_describe_module(request, module, fields=True)]})


async def fields(request: Request) -> Response:
    module = _module_param(request, subforms=True)
    return JSONResponse({"fields": _fields(request, module)})


def _field_index(module: Module, wanted: str) -> int | None:
    return next(
        (i for i, f in enumerate(module.fields) if wanted in (f.id, f.api_name)),
        None,
    )


async def field_detail(request: Request) -> Response:
    module = _module_param(request, subforms=True)
    wanted = request.path_params["field_id"]
    index = _field_index(module, wanted)
    if index is None:
        raise CrmError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": wanted})
    return JSONResponse({"fields": [_fields(request, module)[index]]})


async def _field_specs(request: Request) -> list[Any]:
    body = await crm_body(request)
    specs = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(specs, list) or not specs:
        raise CrmError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "fields", "json_path": "$.fields"},
        )
    return specs


def _refused(index: int, reason: str) -> dict[str, Any]:
    return {
        "code": "INVALID_DATA",
        "details": {"api_name": "fields", "json_path": f"$.fields[{index}]", "reason": reason},
        "message": "invalid data",
        "status": "error",
    }


async def create_fields(request: Request) -> Response:
    """``POST /settings/fields?module=X``: each of ``fields`` becomes a custom field; its
    api_name, unless given, is its label with underscores for spaces, as Zoho makes it."""
    st, module = state(request), _module_param(request)
    results = []
    for index, spec in enumerate(await _field_specs(request)):
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
            results.append(_refused(index, str(exc)))
    ok = sum(r["status"] == "success" for r in results)
    return JSONResponse({"fields": results}, status_code=201 if ok == len(results) else 400)


async def update_fields(request: Request) -> Response:
    """``PATCH`` (or ``PUT``) ``/settings/fields[/{id}]?module=X``: adds the
    ``pick_list_values`` given to a picklist field (the field's id in the path, or in each
    of ``fields``); a new deal ``Stage`` value needs its ``probability``.  Values it has
    already are kept once; nothing else can change here."""
    st, module = state(request), _module_param(request)
    path_id = request.path_params.get("field_id")
    results = []
    for index, spec in enumerate(await _field_specs(request)):
        try:
            if not isinstance(spec, dict):
                raise ValueError("not an object")
            wanted = str(path_id or spec.get("id") or spec.get("api_name") or "")
            if not wanted:
                raise ValueError("the field's id is required")
            if "pick_list_values" not in spec:
                raise ValueError("only pick_list_values can be added here")
            current = st.crm_schema.module(module.api_name) or module
            found = _field_index(current, wanted)
            if found is None:
                raise ValueError(f"{module.api_name} has no field {wanted}")
            field = current.fields[found]
            st.crm_schema.add_picklist_values(current, field, spec["pick_list_values"])
            results.append(
                {
                    "code": "SUCCESS",
                    "details": {"id": field.id},
                    "message": "field updated successfully",
                    "status": "success",
                }
            )
        except ValueError as exc:
            results.append(_refused(index, str(exc)))
    ok = sum(r["status"] == "success" for r in results)
    status = 200 if ok == len(results) else 207 if ok else 400
    return JSONResponse({"fields": results}, status_code=status)


async def custom_views(request: Request) -> Response:
    st, module = state(request), _module_param(request)
    views = st.crm_schema.views(module)
    per_page = int_param(request.query_params.get("per_page"), 200) or 200
    page = int_param(request.query_params.get("page"), 1) or 1
    chunk = views[(page - 1) * per_page : page * per_page]
    return JSONResponse(
        {
            "custom_views": [describe_view(module, v) for v in chunk],
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
    return JSONResponse({"custom_views": [describe_view(module, view)]})


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
                    "mc_status": True,  # records carry Currency and Exchange_Rate
                    "domain_name": "org-sandbox",
                    "zgid": "700000001",
                    "type": "production",
                    "license_details": {"paid": True, "paid_type": "enterprise"},
                }
            ]
        }
    )


async def org_taxes(request: Request) -> Response:
    """The org's taxes, which a line item names in its ``line_tax``."""
    taxes = state(request).crm_schema.taxes.all()
    return JSONResponse(
        {
            "org_taxes": {
                "taxes": [t.describe() for t in taxes],
                # a line takes a tax at the org's rate: CRM's "modify tax rates" is off
                "preference": {"auto_populate_tax": False, "modify_tax_rates": False},
            }
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
    Route("/crm/v8/settings/fields", update_fields, methods=["PATCH", "PUT"]),
    Route("/crm/v8/settings/fields/{field_id}", field_detail, methods=["GET"]),
    Route("/crm/v8/settings/fields/{field_id}", update_fields, methods=["PATCH", "PUT"]),
    Route("/crm/v8/settings/custom_views", custom_views, methods=["GET"]),
    Route("/crm/v8/settings/custom_views/{view_id}", custom_view, methods=["GET"]),
    Route("/crm/v8/org", org, methods=["GET"]),
    Route("/crm/v8/org/taxes", org_taxes, methods=["GET"]),
    Route("/crm/v8/users", users, methods=["GET"]),
    Route("/crm/v8/actions/watch", watch_list, methods=["GET"]),
    Route("/crm/v8/actions/watch", watch_enable, methods=["POST"]),
    Route("/crm/v8/actions/watch", watch_update, methods=["PUT"]),
    Route("/crm/v8/actions/watch", watch_disable, methods=["PATCH"]),
    Route("/crm/v8/actions/watch", watch_delete, methods=["DELETE"]),
]

__all__ = ["ROUTES"]
