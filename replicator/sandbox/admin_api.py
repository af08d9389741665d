"""The admin API under ``/__admin__/``: no Zoho auth, loopback clients only.

Everything a test or the demo needs to set the scene and look behind it::

    GET    /__admin__/                       summary: record counts, settings, usage
    GET    /__admin__/credentials            the self client (as written to credentials.json)
    GET    /__admin__/settings               PATCH /__admin__/settings {key: value, ...}
    GET    /__admin__/faults                 POST {kind, api, method, path, ...} -> {id}
    DELETE /__admin__/faults[/{id}]
    GET    /__admin__/counters[?api=crm]     DELETE /__admin__/counters
    GET    /__admin__/limits                 DELETE /__admin__/limits (fresh windows)
    POST   /__admin__/oauth/revoke|restore   {client_id?}: a client's tokens stop / work again
    POST   /__admin__/oauth/grant-code       -> {code} for grant_type=authorization_code
    POST   /__admin__/oauth/token            {ttl?}: a long-lived access token outside the limits
    POST   /__admin__/oauth/expire           every access token expires now
    GET    /__admin__/clock                  POST {advance: seconds}
    GET    /__admin__/notifications[?wait=s] DELETE: reset the delivery counts
    POST   /__admin__/crm/fields             {module, field_label, data_type, ...}
    POST   /__admin__/crm/views              {module, name, criteria}
    POST   /__admin__/crm/taxes              {name, value}: an org tax of value percent
    POST   /__admin__/crm/recycle-bin/purge  recycle-bin entries become "permanent"
    GET    /__admin__/crm/{module}           every record, line items included
    POST   /__admin__/crm/{module}           {data: [...]} or one record; ?notify=false
    GET|PATCH|DELETE /__admin__/crm/{module}/{id}
    GET    /__admin__/books/organizations    POST {name}
    PATCH  /__admin__/books/organizations/{organization_id}   {currency_code}: its base currency
    POST   /__admin__/books/customfields     {resource, label, data_type, is_unique, ...}
    GET    /__admin__/books/taxes            POST {tax_name, tax_percentage, is_default_tax?}
                                      (both ?organization_id= / body organization_id)
    GET    /__admin__/books/{resource}       ?organization_id= (default: the first org)
    POST   /__admin__/books/{resource}       also takes status and zcrm_* link fields;
                                      {data: [...]}: many in one transaction -> {data: [{id}]}
    GET|PATCH|DELETE /__admin__/books/{resource}/{id}
    POST   /__admin__/seed                   {name: "demo" | "keys"}
    POST   /__admin__/reset                  wipe records, faults, counters, windows; the
                                      settings the sandbox started with, Books orgs back
                                      to USD (fields, picklist values, views, orgs,
                                      Books and CRM taxes and credentials stay; a seed
                                      may run again)

CRM writes made here are "another program editing the CRM": they are validated like API
writes, made as the user Sam Seller, bump ``Modified_Time`` and fire notifications (unless
``?notify=false``), but cost no credits and meet no faults.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .books_schema import BASE_CURRENCY, CURRENCIES, RESOURCES, Resource
from .crm_describe import describe_field
from .crm_schema import OTHER, Module
from .errors import AdminError, ApiError
from .seed import SEEDED
from .web import parse_json, state

MAX_TTL = 10 * 365 * 86_400  # an admin-minted token lives at most ten years
MAX_WAIT = 600  # seconds GET /notifications?wait= may hold the request
LINK_FIELDS = ("zcrm_account_id", "zcrm_contact_id", "zcrm_vendor_id", "zcrm_product_id", "status")


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return parse_json(raw) if raw.strip() else {}
    except ValueError:
        raise AdminError(400, "bad_json", "the body is not JSON") from None


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AdminError(400, "bad_body", "expected a JSON object")
    return body


def _crm_module(request: Request) -> Module:
    module = state(request).crm_schema.module(request.path_params["module"])
    if module is None:
        raise AdminError(404, "no_module", request.path_params["module"])
    return module


def _books_resource(request: Request) -> tuple[Resource, str]:
    resource = RESOURCES.get(request.path_params["resource"])
    if resource is None:
        raise AdminError(404, "no_resource", request.path_params["resource"])
    st = state(request)
    org = request.query_params.get("organization_id") or st.books_schema.default_org()
    if st.books_schema.organization(org) is None:
        raise AdminError(404, "no_organization", org)
    return resource, org


async def summary(request: Request) -> Response:
    st = state(request)
    return JSONResponse(
        {
            "crm_records": st.store.count("crm"),
            "books_records": st.store.count("books"),
            "settings": st.settings.as_dict(),
            "clock_offset": st.clock.offset,
            "crm_usage": st.crm_limiter.usage(),
            "books_usage": st.books_limiter.usage(),
            "requests": st.counters.total(),
            "faults": len(st.faults.describe()),
        }
    )


async def credentials(request: Request) -> Response:
    return JSONResponse(state(request).credentials(str(request.base_url).rstrip("/")))


async def get_settings(request: Request) -> Response:
    return JSONResponse(state(request).settings.as_dict())


async def patch_settings(request: Request) -> Response:
    st = state(request)
    try:
        st.settings = st.settings.updated(_object(await _json(request)))
    except (ValueError, TypeError) as exc:
        raise AdminError(400, "bad_setting", str(exc)) from None
    return JSONResponse(st.settings.as_dict())


async def list_faults(request: Request) -> Response:
    return JSONResponse({"faults": state(request).faults.describe()})


async def add_fault(request: Request) -> Response:
    try:
        fault = state(request).faults.add(_object(await _json(request)))
    except (ValueError, TypeError) as exc:
        raise AdminError(400, "bad_fault", str(exc)) from None
    return JSONResponse({"id": fault.id}, status_code=201)


async def clear_faults(request: Request) -> Response:
    fault_id = request.path_params.get("fault_id")
    if fault_id is None:
        state(request).faults.clear()
    elif not state(request).faults.remove(fault_id):
        raise AdminError(404, "no_fault", fault_id)
    return JSONResponse({"ok": True})


async def counters(request: Request) -> Response:
    return JSONResponse({"counters": state(request).counters.rows(request.query_params.get("api"))})


async def reset_counters(request: Request) -> Response:
    state(request).counters.reset()
    return JSONResponse({"ok": True})


async def limits(request: Request) -> Response:
    st = state(request)
    return JSONResponse({"crm": st.crm_limiter.usage(), "books": st.books_limiter.usage()})


async def reset_limits(request: Request) -> Response:
    st = state(request)
    st.crm_limiter.reset()
    st.books_limiter.reset()
    return JSONResponse({"ok": True})


async def oauth_action(request: Request) -> Response:
    st, action = state(request), request.path_params["action"]
    body = _object(await _json(request))
    client_id = body.get("client_id")
    try:
        if action in ("revoke", "restore"):
            st.oauth.set_revoked(action == "revoke", client_id)
            return JSONResponse({"ok": True})
        if action == "grant-code":
            return JSONResponse({"code": st.oauth.grant_code(client_id)})
        if action == "expire":
            return JSONResponse({"expired": st.oauth.expire_all()})
        if action == "token":
            ttl = float(body.get("ttl", 86_400))
            if not 0 < ttl <= MAX_TTL:  # also NaN; an infinite ttl has no int()
                raise ValueError(f"ttl must be above 0 and at most {MAX_TTL} s, not {ttl}")
            return JSONResponse(
                {
                    "access_token": st.oauth.static_token(ttl),
                    "api_domain": str(request.base_url).rstrip("/"),
                    "token_type": "Bearer",
                    "expires_in": int(ttl),
                }
            )
    except KeyError:
        raise AdminError(404, "no_client", str(client_id)) from None
    except (TypeError, ValueError) as exc:
        raise AdminError(400, "bad_ttl", str(exc)) from None
    raise AdminError(404, "no_action", action)


async def clock(request: Request) -> Response:
    st = state(request)
    if request.method == "POST":
        body = _object(await _json(request))
        try:
            st.clock.advance(float(body.get("advance", 0)))
        except (TypeError, ValueError) as exc:
            raise AdminError(400, "bad_clock", str(exc)) from None
    return JSONResponse({"now": st.clock.now(), "offset": st.clock.offset})


async def notifications(request: Request) -> Response:
    notifier = state(request).notifier
    if request.method == "DELETE":
        notifier.reset_stats()
        return JSONResponse({"ok": True})
    try:
        wait = float(request.query_params.get("wait", 0) or 0)
    except ValueError:
        wait = math.nan
    if not 0 <= wait <= MAX_WAIT:  # also NaN; a Condition cannot wait forever
        raise AdminError(400, "bad_wait", f"wait must be 0-{MAX_WAIT} seconds")
    idle = notifier.wait_idle(wait) if wait else None
    return JSONResponse(notifier.report() | {"idle": idle})


async def crm_field(request: Request) -> Response:
    schema = state(request).crm_schema
    body = _object(await _json(request))
    try:
        field = schema.add_field(str(body.get("module", "")), body)
    except ValueError as exc:
        raise AdminError(400, "bad_field", str(exc)) from None
    module = schema.module(str(body["module"]))
    assert module is not None  # add_field found it
    return JSONResponse(describe_field(module, field, len(module.fields) - 1), status_code=201)


async def crm_tax(request: Request) -> Response:
    body = _object(await _json(request))
    try:
        tax = state(request).crm_schema.taxes.add(body.get("name"), body.get("value"))
    except ValueError as exc:
        raise AdminError(400, "bad_tax", str(exc)) from None
    return JSONResponse(tax.describe(), status_code=201)


async def crm_view(request: Request) -> Response:
    st = state(request)
    body = _object(await _json(request))
    module = st.crm_schema.module(str(body.get("module", "")))
    if module is None:
        raise AdminError(400, "bad_view", "unknown module")
    try:
        view = st.crm_schema.add_view(module, str(body.get("name", "")), body.get("criteria"))
    except ValueError as exc:
        raise AdminError(400, "bad_view", str(exc)) from None
    return JSONResponse(view, status_code=201)


async def purge(request: Request) -> Response:
    return JSONResponse({"purged": state(request).store.purge_recycle_bin("crm")})


async def crm_records(request: Request) -> Response:
    st, module = state(request), _crm_module(request)
    if request.method == "GET":
        resolve = st.crm.resolver()
        return JSONResponse(
            {
                "data": [
                    st.crm.render(module, r, line_items=True, resolve=resolve)
                    for r in st.crm.rows(module)
                ]
            }
        )
    body = await _json(request)
    records = body["data"] if isinstance(body, dict) and "data" in body else [body]
    notify = request.query_params.get("notify", "true") != "false"
    results = st.crm.write(module, records, mode="insert", user_id=OTHER.id, notify=notify)
    failed = any(r["status"] != "success" for r in results)
    return JSONResponse({"data": results}, status_code=400 if failed else 201)


async def crm_record(request: Request) -> Response:
    st, module = state(request), _crm_module(request)
    record_id = request.path_params["record_id"]
    notify = request.query_params.get("notify", "true") != "false"
    if request.method == "DELETE":
        result = st.crm.delete(module, [record_id], user_id=OTHER.id, notify=notify)[0]
        return JSONResponse(result, status_code=200 if result["status"] == "success" else 404)
    if request.method in ("PATCH", "PUT"):
        changes = _object(await _json(request))
        result = st.crm.write(
            module, [{**changes, "id": record_id}], mode="update", user_id=OTHER.id, notify=notify
        )[0]
        if result["status"] != "success":
            return JSONResponse(result, status_code=400)
    row = st.crm.get(module, record_id)
    if row is None:
        raise AdminError(404, "no_record", record_id)
    return JSONResponse(st.crm.render(module, row, line_items=True))


async def books_orgs(request: Request) -> Response:
    schema = state(request).books_schema
    if request.method == "POST":
        body = _object(await _json(request))
        return JSONResponse(
            schema.add_organization(str(body.get("name") or "Another Org")), status_code=201
        )
    return JSONResponse({"organizations": schema.organizations()})


async def books_org(request: Request) -> Response:
    body = _object(await _json(request))
    org_id = request.path_params["organization_id"]
    try:
        org = state(request).books_schema.set_currency(org_id, str(body.get("currency_code")))
    except KeyError:
        raise AdminError(404, "no_organization", org_id) from None
    except ValueError as exc:
        raise AdminError(400, "bad_currency", str(exc)) from None
    return JSONResponse(org)


async def books_customfield(request: Request) -> Response:
    st = state(request)
    body = _object(await _json(request))
    org = str(body.get("organization_id") or st.books_schema.default_org())
    try:
        field = st.books_schema.add_custom_field(org, str(body.get("resource", "")), body)
    except ValueError as exc:
        raise AdminError(400, "bad_field", str(exc)) from None
    return JSONResponse(field.describe(), status_code=201)


async def books_taxes(request: Request) -> Response:
    st = state(request)
    if request.method == "GET":
        org = request.query_params.get("organization_id") or st.books_schema.default_org()
        if st.books_schema.organization(org) is None:
            raise AdminError(404, "no_organization", org)
        return JSONResponse({"taxes": st.books_schema.taxes(org)})
    body = _object(await _json(request))
    org = str(body.get("organization_id") or st.books_schema.default_org())
    if st.books_schema.organization(org) is None:
        raise AdminError(404, "no_organization", org)
    try:
        tax = st.books_schema.add_tax(org, body)
    except ValueError as exc:
        raise AdminError(400, "bad_tax", str(exc)) from None
    return JSONResponse(tax, status_code=201)


def _books_links(
    request: Request, resource: Resource, org: str, record_id: str, body: dict[str, Any]
) -> None:
    extras = {k: body[k] for k in LINK_FIELDS if k in body}
    if extras:
        data = state(request).books
        row = data.get(org, resource, record_id)
        data.touch(org, resource, row, {**row.data, **extras})


async def books_records(request: Request) -> Response:
    st = state(request)
    resource, org = _books_resource(request)
    if request.method == "GET":
        money = st.books.contact_money(org)
        return JSONResponse(
            {
                "data": [
                    st.books.render(org, resource, r, full=True, money=money)
                    for r in st.books.rows(org, resource.path)
                ]
            }
        )
    body = _object(await _json(request))
    if isinstance(body.get("data"), list):  # many records, all or none
        return _books_create_many(request, resource, org, body["data"])
    try:
        row = st.books.create(org, resource, body)
        _books_links(request, resource, org, row.id, body)
    except ApiError as exc:
        raise AdminError(exc.status, "refused", json.dumps(exc.body)) from None
    row = st.books.get(org, resource, row.id)
    return JSONResponse(st.books.render(org, resource, row, full=True), status_code=201)


def _books_create_many(
    request: Request, resource: Resource, org: str, bodies: list[Any]
) -> Response:
    """``{data: [...]}``: the records made in one transaction (one refused: none made),
    as another program's many writes would be, without a request each (a seed of 50,000
    contacts); answered with their ids, in order."""
    st = state(request)
    made = []
    try:
        with st.store.transaction():
            for body in bodies:
                body = _object(body)
                row = st.books.create(org, resource, body)
                _books_links(request, resource, org, row.id, body)
                made.append({"id": row.id})
    except ApiError as exc:
        raise AdminError(exc.status, "refused", json.dumps(exc.body)) from None
    return JSONResponse({"data": made}, status_code=201)


async def books_record(request: Request) -> Response:
    st = state(request)
    resource, org = _books_resource(request)
    record_id = request.path_params["record_id"]
    try:
        if request.method == "DELETE":
            st.books.delete(org, resource, record_id)
            return JSONResponse({"ok": True})
        if request.method in ("PATCH", "PUT"):
            body = _object(await _json(request))
            if any(k not in LINK_FIELDS for k in body):  # a status alone: no edit (a void
                st.books.update(org, resource, record_id, body)  # invoice takes no edit)
            _books_links(request, resource, org, record_id, body)
        row = st.books.get(org, resource, record_id)
    except ApiError as exc:
        raise AdminError(exc.status, "refused", json.dumps(exc.body)) from None
    return JSONResponse(st.books.render(org, resource, row, full=True))


async def seed(request: Request) -> Response:
    body = _object(await _json(request))
    try:
        counts = state(request).seed(str(body.get("name", "demo")))
    except ValueError as exc:
        raise AdminError(400, "bad_seed", str(exc)) from None
    return JSONResponse({"seeded": counts})


async def reset(request: Request) -> Response:
    st = state(request)
    st.store.wipe()
    for org in st.books_schema.organizations():
        st.books_schema.set_currency(org["organization_id"], CURRENCIES[BASE_CURRENCY][0])
    for flag in SEEDED:  # the records a seed made are gone: it may seed them again
        st.store.kv_set(flag, False)
    st.faults.clear()
    st.counters.reset()
    st.crm_limiter.reset()
    st.books_limiter.reset()
    st.notifier.reset_stats()
    st.settings = st.initial_settings
    return JSONResponse({"ok": True})


_A = "/__admin__"
ROUTES = [
    Route(_A + "/", summary, methods=["GET"]),
    Route(_A + "/credentials", credentials, methods=["GET"]),
    Route(_A + "/settings", get_settings, methods=["GET"]),
    Route(_A + "/settings", patch_settings, methods=["PATCH", "PUT"]),
    Route(_A + "/faults", list_faults, methods=["GET"]),
    Route(_A + "/faults", add_fault, methods=["POST"]),
    Route(_A + "/faults", clear_faults, methods=["DELETE"]),
    Route(_A + "/faults/{fault_id}", clear_faults, methods=["DELETE"]),
    Route(_A + "/counters", counters, methods=["GET"]),
    Route(_A + "/counters", reset_counters, methods=["DELETE"]),
    Route(_A + "/limits", limits, methods=["GET"]),
    Route(_A + "/limits", reset_limits, methods=["DELETE"]),
    Route(_A + "/oauth/{action}", oauth_action, methods=["POST"]),
    Route(_A + "/clock", clock, methods=["GET", "POST"]),
    Route(_A + "/notifications", notifications, methods=["GET", "DELETE"]),
    Route(_A + "/crm/fields", crm_field, methods=["POST"]),
    Route(_A + "/crm/views", crm_view, methods=["POST"]),
    Route(_A + "/crm/taxes", crm_tax, methods=["POST"]),
    Route(_A + "/crm/recycle-bin/purge", purge, methods=["POST"]),
    Route(_A + "/crm/{module}", crm_records, methods=["GET", "POST"]),
    Route(_A + "/crm/{module}/{record_id}", crm_record, methods=["GET", "PATCH", "PUT", "DELETE"]),
    Route(_A + "/books/organizations", books_orgs, methods=["GET", "POST"]),
    Route(_A + "/books/organizations/{organization_id}", books_org, methods=["PATCH", "PUT"]),
    Route(_A + "/books/customfields", books_customfield, methods=["POST"]),
    Route(_A + "/books/taxes", books_taxes, methods=["GET", "POST"]),
    Route(_A + "/books/{resource}", books_records, methods=["GET", "POST"]),
    Route(
        _A + "/books/{resource}/{record_id}",
        books_record,
        methods=["GET", "PATCH", "PUT", "DELETE"],
    ),
    Route(_A + "/seed", seed, methods=["POST"]),
    Route(_A + "/reset", reset, methods=["POST"]),
]

__all__ = ["ROUTES"]
