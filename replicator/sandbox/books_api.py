"""Books v3 endpoints under ``/books/v3/`` (every call but ``/organizations`` names an
``organization_id``; the gateway checks it).

Per resource (contacts, items, estimates, salesorders, invoices, purchaseorders, expenses):

- ``GET /{resource}``: ``page``, ``per_page`` (at most 200), ``sort_column`` and
  ``sort_order`` (``A`` / ``D``), ``page_context.has_more_page``; filters: ``filter_by``
  (``Status.All`` / ``Status.Active`` / ``Status.Crm`` / ``Status.<status>``),
  ``search_text``, exact
  filters (``contact_type``, ``status``, ``customer_id``, ``vendor_id``, ``zcrm_account_id``,
  ``zcrm_contact_id``, ``zcrm_vendor_id``, ``zcrm_potential_id``, ``product_type``, ``sku``),
  name filters with ``_startswith`` / ``_contains`` variants, and ``last_modified_time``
  (records modified strictly after it) where the spec has it: invoices, sales orders and
  purchase orders.  Lists show a summary; ``GET /{resource}/{id}`` shows everything.
- ``POST /{resource}`` creates one record (201); ``PUT /{resource}/{id}`` updates;
  ``DELETE /{resource}/{id}``.
- ``PUT /{resource}`` with ``X-Unique-Identifier-Key`` / ``-Value`` updates the record
  holding that unique custom field value; with ``X-Upsert: true`` it creates one when none
  does (201).
- Status endpoints: invoices ``/status/sent|void|draft``, estimates
  ``/status/sent|accepted|declined``, sales orders ``/status/open|void``, purchase orders
  ``/status/open|billed|cancelled``; contacts and items ``/active`` and ``/inactive``.  A
  move the current status does not allow (an estimate is accepted or declined once sent, a
  void invoice is not voided again...) is 400 code 4 naming both statuses; a move bumps
  ``last_modified_time``.  A void invoice or sales order and a cancelled purchase order
  take no ``PUT`` until a status endpoint moves them back; a sent invoice may be edited.
- Customer documents (estimates, sales orders, invoices) carry ``billing_address`` and
  ``shipping_address``: a create without one takes the customer's (so does an update
  that changes the customer), as Books fills them in; ``salesperson_name`` and the CRM
  deal they belong to (``zcrm_potential_id`` / ``zcrm_potential_name``), which lists
  filter on.  A line needs an ``item_id`` or a ``name`` (then it keeps the ``name`` and
  ``description`` it is given).
- Expenses: an expense account (``account_id``, or ``account_name``), an ``amount`` above
  zero, a ``date``, and optionally ``customer_id`` (the expense is then billable:
  ``unbilled``), ``description``, ``reference_number`` and the deal fields; lists filter on
  ``customer_id`` and ``zcrm_potential_id`` like the others.  The accounts are a fixed
  set (:data:`.books_schema.EXPENSE_ACCOUNTS`).
- Users: ``GET /users`` (``filter_by=Status.All|Active|Inactive|Invited``) and ``GET
  /users/{id}`` (or ``me``): the sandbox CRM's users, by email.
- Settings: ``GET /settings/taxes`` (``POST`` adds one), ``GET /settings/taxes/{id}``,
  ``GET /settings/currencies`` (``filter_by=Currencies.ExcludeBaseCurrency``) and
  ``GET /settings/currencies/{id}``.
- A list sorted by ``created_time`` / ``last_modified_time`` with no filter but
  ``last_modified_time`` reads and renders only the page it answers, from an index (its
  cost does not grow with the records); other lists render every record to filter and
  sort on what Books shows.  A page number is a position in the order as it stands when
  the page is asked for: a record edited between two pages shifts the ones after it.
- Contact persons: ``POST /contacts/contactpersons``, ``PUT`` / ``DELETE
  /contacts/contactpersons/{id}``, ``POST /contacts/contactpersons/{id}/primary``, ``GET
  /contacts/{id}/contactpersons[/{person_id}]``.  A create and an update need a
  ``first_name``; an update names the person's own ``contact_id`` (both required by the
  spec; a person does not move between contacts).  Persons are part of their contact: any
  change to one (add, edit, delete, mark primary) moves the contact's
  ``last_modified_time``.  Neither the spec nor Zoho's pages say whether Books does so; the
  primary person's fields are the contact's own (list answers show them), and the
  ``contactpersons`` table of the connector relies on it to find changed persons.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .books_data import BooksData
from .books_schema import BOOKS_USERS, RESOURCES, Resource, TaxSpecError
from .clock import parse_time
from .errors import BOOKS_CODES, BooksError
from .store import Row
from .web import books_body, int_param, state

Handler = Callable[[Request], Awaitable[Response]]
EXACT = (
    "contact_type",
    "status",
    "customer_id",
    "vendor_id",
    "zcrm_account_id",
    "zcrm_contact_id",
    "zcrm_vendor_id",
    "zcrm_potential_id",
    "product_type",
    "sku",
)
# exact filters on a field a list shows as it is stored (always set), per resource: a list
# sorted by time and filtered on these alone is read from the store's index, one page
INDEXED = {"contacts": ("contact_type",)}
NAMES = (
    "contact_name",
    "company_name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "name",
    "description",
    "customer_name",
    "vendor_name",
    "reference_number",
    "invoice_number",
    "estimate_number",
    "salesorder_number",
    "purchaseorder_number",
)


def _bad_param(name: str) -> BooksError:
    return BooksError(400, BOOKS_CODES["invalid_param"], f"Invalid value passed for {name}")


def _bad_body(name: str) -> BooksError:
    return BooksError(400, BOOKS_CODES["invalid_body"], f"Invalid value passed for {name}")


def _org(request: Request) -> str:
    return str(request.scope["sandbox.org"])


def _data(request: Request) -> BooksData:
    return state(request).books


def _ok(message: str, status: int = 200, /, **payload: Any) -> JSONResponse:
    return JSONResponse({"code": 0, "message": message, **payload}, status_code=status)


def _matches(record: dict[str, Any], key: str, value: str) -> bool:
    for suffix in ("_startswith", "_contains", ""):
        if key.endswith(suffix) and key[: len(key) - len(suffix)] in NAMES:
            field = key[: len(key) - len(suffix)]
            actual = str(record.get(field, "") or "").lower()
            wanted = value.lower()
            if suffix == "_startswith":
                return actual.startswith(wanted)
            if suffix == "_contains":
                return wanted in actual
            return actual == wanted
    return True


def _list(resource: Resource) -> Handler:
    async def handler(request: Request) -> Response:
        data, org, q = _data(request), _org(request), request.query_params
        page = int_param(q.get("page"), 1)
        if page is None:
            raise _bad_param("page")
        per_page = int_param(q.get("per_page"), 200)
        if per_page is None or per_page > 200:
            raise _bad_param("per_page")
        column = q.get("sort_column", resource.default_sort[0])
        if column not in resource.sort_columns:
            raise _bad_param("sort_column")
        order = {"A": "A", "ascending": "A", "D": "D", "descending": "D"}.get(
            q.get("sort_order", resource.default_sort[1])
        )
        if order is None:
            raise _bad_param("sort_order")
        since: float | None = None
        if resource.modified_filter and q.get("last_modified_time"):
            try:
                since = parse_time(q["last_modified_time"])
            except ValueError:
                raise _bad_param("last_modified_time") from None
        contacts = resource.path == "contacts"
        applied = q.get("filter_by", "Status.All")
        if _by_time_only(q, column, applied, INDEXED.get(resource.path, ())):
            # nothing to filter or sort on but the stored times: one page from the index
            found = data.store.page(
                "books",
                org,
                resource.path,
                "created" if column == "created_time" else "modified",
                limit=per_page + 1,
                descending=order == "D",
                offset=(page - 1) * per_page,
                modified_after=since,
                equal={f"$.{k}": v for k, v in q.items() if k in EXACT},
            )
            found, more = found[:per_page], len(found) > per_page
            # the money of the page's contacts only: their documents, not every document
            money = data.contact_money(org, [r.id for r in found]) if contacts else None
            records = [data.render(org, resource, r, full=False, money=money) for r in found]
            return _page(resource, records, page, per_page, more, applied, column, order)
        money = data.contact_money(org) if contacts else None
        rows = data.rows(org, resource.path)
        if since is not None:
            rows = [r for r in rows if int(r.modified) > since]
        pairs = [(r, data.render(org, resource, r, full=False, money=money)) for r in rows]
        if applied == "Status.Crm":
            pairs = [(r, rec) for r, rec in pairs if rec.get("is_linked_with_zohocrm")]
        elif applied != "Status.All":
            wanted = applied.partition(".")[2].lower()
            if not wanted:
                raise _bad_param("filter_by")
            pairs = [
                (r, rec)
                for r, rec in pairs
                if str(rec.get("status", "")).replace("_", "") == wanted
            ]
        for key, value in q.items():
            if key in EXACT:
                pairs = [(r, rec) for r, rec in pairs if str(rec.get(key, "")) == value]
            else:
                pairs = [(r, rec) for r, rec in pairs if _matches(rec, key, value)]
        if q.get("search_text"):
            needle = q["search_text"].lower()
            pairs = [
                (r, rec)
                for r, rec in pairs
                if any(needle in str(rec.get(k, "")).lower() for k in NAMES)
            ]
        pairs.sort(
            key=lambda p: (_sort_key(p[0], p[1], column), int(p[0].id)), reverse=order == "D"
        )
        chunk = pairs[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(pairs)
        return _page(
            resource, [rec for _, rec in chunk], page, per_page, more, applied, column, order
        )

    return handler


def _by_time_only(
    q: Mapping[str, str], column: str, applied: str, stored: tuple[str, ...] = ()
) -> bool:
    """Whether a list query sorts by a stored time and filters on nothing but
    ``last_modified_time`` and the exact filters in ``stored`` (fields a list shows as they
    are stored): the rows need no rendering to be chosen."""
    if column not in ("created_time", "last_modified_time") or applied != "Status.All":
        return False
    if q.get("search_text"):
        return False
    return not any(
        (key in EXACT and (key not in stored or not q[key]))
        or any(
            key.endswith(suffix) and key[: len(key) - len(suffix)] in NAMES
            for suffix in ("_startswith", "_contains", "")
        )
        for key in q
    )


def _page(
    resource: Resource,
    records: list[dict[str, Any]],
    page: int,
    per_page: int,
    more: bool,
    applied: str,
    column: str,
    order: str,
) -> Response:
    context = {
        "page": page,
        "per_page": per_page,
        "has_more_page": more,
        "report_name": resource.report_name,
        "applied_filter": applied,
        "sort_column": column,
        "sort_order": order,
        "search_criteria": [],
    }
    return _ok("success", **{resource.path: records, "page_context": context})


def _sort_key(row: Row, record: dict[str, Any], column: str) -> Any:
    if column == "created_time":
        return int(row.created)
    if column == "last_modified_time":
        return int(row.modified)
    value = record.get(column, "")
    if isinstance(value, int | float):
        return (0, value, "")
    return (1, 0, str(value or "").lower())


def _get(resource: Resource) -> Handler:
    async def handler(request: Request) -> Response:
        data, org = _data(request), _org(request)
        row = data.get(org, resource, request.path_params["record_id"])
        return _ok("success", **{resource.singular: data.render(org, resource, row, full=True)})

    return handler


def _create(resource: Resource) -> Handler:
    async def handler(request: Request) -> Response:
        data, org = _data(request), _org(request)
        row = data.create(org, resource, await books_body(request))
        return _ok(
            resource.messages["create"],
            201,
            **{resource.singular: data.render(org, resource, row, full=True)},
        )

    return handler


def _update(resource: Resource) -> Handler:
    async def handler(request: Request) -> Response:
        data, org = _data(request), _org(request)
        row = data.update(
            org, resource, request.path_params["record_id"], await books_body(request)
        )
        return _ok(
            resource.messages["update"],
            **{resource.singular: data.render(org, resource, row, full=True)},
        )

    return handler


def _upsert(resource: Resource) -> Handler:
    async def handler(request: Request) -> Response:
        data, org = _data(request), _org(request)
        key = request.headers.get("x-unique-identifier-key")
        value = request.headers.get("x-unique-identifier-value")
        if not key:
            raise _bad_param("X-Unique-Identifier-Key")
        if not value:
            raise _bad_param("X-Unique-Identifier-Value")
        body = await books_body(request)
        with data.store.transaction():
            found = data.find_by_custom(org, resource, key, value)
            if found is not None:
                row = data.update(org, resource, found.id, body)
                message, status = resource.messages["update"], 200
            elif request.headers.get("x-upsert", "").lower() == "true":
                given = [c for c in body.get("custom_fields") or [] if isinstance(c, dict)]
                if not any(c.get("api_name") == key for c in given):
                    given.append({"api_name": key, "value": value})
                row = data.create(org, resource, {**body, "custom_fields": given})
                message, status = resource.messages["create"], 201
            else:
                raise BooksError(404, BOOKS_CODES["not_found"], resource.messages["missing"])
        return _ok(
            message, status, **{resource.singular: data.render(org, resource, row, full=True)}
        )

    return handler


def _delete(resource: Resource) -> Handler:
    async def handler(request: Request) -> Response:
        _data(request).delete(_org(request), resource, request.path_params["record_id"])
        return _ok(resource.messages["delete"])

    return handler


def _status(resource: Resource, action: str) -> Handler:
    async def handler(request: Request) -> Response:
        message = _data(request).set_status(
            _org(request), resource, request.path_params["record_id"], action
        )
        return _ok(message, resource.status_http)

    return handler


def _activity(resource: Resource, status: str) -> Handler:
    async def handler(request: Request) -> Response:
        data, org = _data(request), _org(request)
        with data.store.transaction():
            row = data.get(org, resource, request.path_params["record_id"])
            data.touch(org, resource, row, {**row.data, "status": status})
        return _ok(f"The {resource.label} has been marked as {status}.")

    return handler


# -- contact persons -------------------------------------------------------------------------


def _person_owner(data: BooksData, org: str, person_id: str) -> tuple[Row, int]:
    for row in data.rows(org, "contacts"):
        for index, person in enumerate(row.data.get("contact_persons") or []):
            if person["contact_person_id"] == person_id:
                return row, index
    raise BooksError(404, BOOKS_CODES["not_found"], "Contact person does not exist.")


def _person_out(contact: Row, person: dict[str, Any]) -> dict[str, Any]:
    return {"contact_id": contact.id, **person, "is_added_in_portal": False}


async def create_person(request: Request) -> Response:
    data, org = _data(request), _org(request)
    body = await books_body(request)
    if not str(body.get("first_name") or "").strip():
        raise BooksError(400, BOOKS_CODES["invalid_body"], "Invalid value passed for first_name")
    contacts = RESOURCES["contacts"]
    with data.store.transaction():
        contact = data.get(org, contacts, str(body.get("contact_id") or ""))
        persons = list(contact.data.get("contact_persons") or [])
        person = data.person(body, None)
        if not persons:
            person["is_primary_contact"] = True
        persons.append(person)
        contact = data.touch(org, contacts, contact, {**contact.data, "contact_persons": persons})
    return _ok(
        "The contactperson has been Created", 201, contact_person=_person_out(contact, person)
    )


async def update_person(request: Request) -> Response:
    data, org = _data(request), _org(request)
    body = await books_body(request)
    if not str(body.get("first_name") or "").strip():
        raise BooksError(400, BOOKS_CODES["invalid_body"], "Invalid value passed for first_name")
    contacts = RESOURCES["contacts"]
    with data.store.transaction():
        contact, index = _person_owner(data, org, request.path_params["person_id"])
        if str(body.get("contact_id") or "") != contact.id:
            raise BooksError(
                400, BOOKS_CODES["invalid_body"], "Invalid value passed for contact_id"
            )
        persons = [dict(p) for p in contact.data["contact_persons"]]
        primary = persons[index]["is_primary_contact"]
        persons[index] = data.person(body, persons[index])
        persons[index]["is_primary_contact"] = primary
        contact = data.touch(org, contacts, contact, {**contact.data, "contact_persons": persons})
    return _ok(
        "The contactperson details has been updated.",
        contact_person=_person_out(contact, persons[index]),
    )


async def delete_person(request: Request) -> Response:
    data, org = _data(request), _org(request)
    with data.store.transaction():
        contact, index = _person_owner(data, org, request.path_params["person_id"])
        persons = [dict(p) for p in contact.data["contact_persons"]]
        gone = persons.pop(index)
        if gone["is_primary_contact"] and persons:
            persons[0]["is_primary_contact"] = True
        data.touch(
            org, RESOURCES["contacts"], contact, {**contact.data, "contact_persons": persons}
        )
    return _ok("The contact person has been deleted.")


async def primary_person(request: Request) -> Response:
    data, org = _data(request), _org(request)
    with data.store.transaction():
        contact, index = _person_owner(data, org, request.path_params["person_id"])
        persons = [
            dict(p, is_primary_contact=i == index)
            for i, p in enumerate(contact.data["contact_persons"])
        ]
        data.touch(
            org, RESOURCES["contacts"], contact, {**contact.data, "contact_persons": persons}
        )
    return _ok("This contact person has been marked as your primary contact person.")


async def list_persons(request: Request) -> Response:
    data, org = _data(request), _org(request)
    contact = data.get(org, RESOURCES["contacts"], request.path_params["record_id"])
    persons = [_person_out(contact, p) for p in contact.data.get("contact_persons") or []]
    return _ok(
        "success",
        contact_persons=persons,
        page_context={
            "page": 1,
            "per_page": 200,
            "has_more_page": False,
            "sort_column": "contact_person_id",
            "sort_order": "A",
        },
    )


async def get_person(request: Request) -> Response:
    data, org = _data(request), _org(request)
    contact = data.get(org, RESOURCES["contacts"], request.path_params["record_id"])
    person = next(
        (
            p
            for p in contact.data.get("contact_persons") or []
            if p["contact_person_id"] == request.path_params["person_id"]
        ),
        None,
    )
    if person is None:
        raise BooksError(404, BOOKS_CODES["not_found"], "Contact person does not exist.")
    return _ok("success", contact_person=_person_out(contact, person))


# -- settings: taxes and currencies ------------------------------------------------------------


def _tax_out(tax: dict[str, Any]) -> dict[str, Any]:
    return {
        **tax,
        "tax_percentage": float(tax["tax_percentage"]),
        "tax_specific_type": "",
        "is_value_added": False,
        "is_editable": True,
    }


def _settings_page(request: Request, key: str, records: list[dict[str, Any]]) -> Response:
    q = request.query_params
    page = int_param(q.get("page"), 1)
    if page is None:
        raise _bad_param("page")
    per_page = int_param(q.get("per_page"), 200)
    if per_page is None or per_page > 200:
        raise _bad_param("per_page")
    chunk = records[(page - 1) * per_page : page * per_page]
    context = {
        "page": page,
        "per_page": per_page,
        "has_more_page": page * per_page < len(records),
        "report_name": key.capitalize(),
        "applied_filter": q.get("filter_by", ""),
    }
    return _ok("success", **{key: chunk, "page_context": context})


async def list_taxes(request: Request) -> Response:
    taxes = state(request).books_schema.taxes(_org(request))
    return _settings_page(request, "taxes", [_tax_out(t) for t in taxes])


async def get_tax(request: Request) -> Response:
    tax = state(request).books_schema.tax(_org(request), request.path_params["tax_id"])
    if tax is None:
        raise BooksError(404, BOOKS_CODES["not_found"], "Tax does not exist.")
    return _ok("success", tax=_tax_out(tax))


async def create_tax(request: Request) -> Response:
    body = await books_body(request)
    try:
        tax = state(request).books_schema.add_tax(_org(request), body)
    except TaxSpecError as exc:
        if exc.duplicate:
            raise BooksError(400, BOOKS_CODES["exists"], "This tax name already exists.") from None
        raise _bad_body(exc.field) from None
    return _ok("The tax has been added.", 201, tax=_tax_out(tax))


async def list_currencies(request: Request) -> Response:
    currencies = state(request).books_schema.currencies(_org(request))
    applied = request.query_params.get("filter_by")
    if applied == "Currencies.ExcludeBaseCurrency":
        currencies = [c for c in currencies if not c["is_base_currency"]]
    elif applied:
        raise _bad_param("filter_by")
    return _settings_page(request, "currencies", currencies)


async def get_currency(request: Request) -> Response:
    found = state(request).books_schema.currency(_org(request), request.path_params["currency_id"])
    if found is None:
        raise BooksError(404, BOOKS_CODES["not_found"], "Currency does not exist.")
    return _ok("success", currency=found)


# -- users ------------------------------------------------------------------------------------


def _user_out(user: Mapping[str, Any], *, full: bool) -> dict[str, Any]:
    out = {**user, "photo_url": "", "is_customer_segmented": False, "is_vendor_segmented": False}
    if full:  # one user also lists its emails, as the spec's get-a-user answer does
        out["email_ids"] = [{"email": user["email"], "is_selected": True}]
    return out


async def list_users(request: Request) -> Response:
    applied = request.query_params.get("filter_by", "Status.All")
    if applied not in ("Status.All", "Status.Active", "Status.Inactive", "Status.Invited"):
        raise _bad_param("filter_by")
    wanted = applied.partition(".")[2].lower()
    users = [
        _user_out(u, full=False) for u in BOOKS_USERS if wanted == "all" or u["status"] == wanted
    ]
    return _settings_page(request, "users", users)


async def get_user(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    found = next(
        (
            u
            for u in BOOKS_USERS
            if u["user_id"] == user_id or (user_id == "me" and u["is_current_user"])
        ),
        None,
    )
    if found is None:
        raise BooksError(404, BOOKS_CODES["not_found"], "User does not exist.")
    return _ok("success", user=_user_out(found, full=True))


# -- organisations -----------------------------------------------------------------------------


async def organizations(request: Request) -> Response:
    return _ok("success", organizations=state(request).books_schema.organizations())


async def organization(request: Request) -> Response:
    org = state(request).books_schema.organization(request.path_params["organization_id"])
    if org is None:
        raise BooksError(404, BOOKS_CODES["not_found"], "Organization does not exist.")
    return _ok("success", organization=org)


def _routes() -> list[Route]:
    base = "/books/v3"
    people = f"{base}/contacts/contactpersons"
    routes = [
        Route(f"{base}/organizations", organizations, methods=["GET"]),
        Route(f"{base}/organizations/{{organization_id}}", organization, methods=["GET"]),
        Route(f"{base}/users", list_users, methods=["GET"]),
        Route(f"{base}/users/{{user_id}}", get_user, methods=["GET"]),
        Route(f"{base}/settings/taxes", list_taxes, methods=["GET"]),
        Route(f"{base}/settings/taxes", create_tax, methods=["POST"]),
        Route(f"{base}/settings/taxes/{{tax_id}}", get_tax, methods=["GET"]),
        Route(f"{base}/settings/currencies", list_currencies, methods=["GET"]),
        Route(f"{base}/settings/currencies/{{currency_id}}", get_currency, methods=["GET"]),
        Route(people, create_person, methods=["POST"]),
        Route(f"{people}/{{person_id}}", update_person, methods=["PUT"]),
        Route(f"{people}/{{person_id}}", delete_person, methods=["DELETE"]),
        Route(f"{people}/{{person_id}}/primary", primary_person, methods=["POST"]),
        Route(f"{base}/contacts/{{record_id}}/contactpersons", list_persons, methods=["GET"]),
        Route(
            f"{base}/contacts/{{record_id}}/contactpersons/{{person_id}}",
            get_person,
            methods=["GET"],
        ),
    ]
    for resource in RESOURCES.values():
        path = f"{base}/{resource.path}"
        one = f"{path}/{{record_id}}"
        routes += [
            Route(path, _list(resource), methods=["GET"]),
            Route(path, _create(resource), methods=["POST"]),
            Route(path, _upsert(resource), methods=["PUT"]),
            Route(one, _get(resource), methods=["GET"]),
            Route(one, _update(resource), methods=["PUT"]),
            Route(one, _delete(resource), methods=["DELETE"]),
        ]
        for action in resource.statuses:
            routes.append(
                Route(f"{one}/status/{action}", _status(resource, action), methods=["POST"])
            )
        if resource.path in ("contacts", "items"):
            routes += [
                Route(f"{one}/active", _activity(resource, "active"), methods=["POST"]),
                Route(f"{one}/inactive", _activity(resource, "inactive"), methods=["POST"]),
            ]
    return routes


ROUTES = _routes()

__all__ = ["ROUTES"]
