"""What the Zoho Books connector and its contact persons share: the API reads and writes
of one organisation, and the conversion between records and column values.

:class:`BooksApi` is the bottom layer of :class:`~.books.ZohoBooksConnector` and what
:class:`~.books_persons.ContactPersons` calls: every call carries ``organization_id``;
lists come in pages of up to 200 (``page_context.has_more_page``), the ``Date`` of each
list answer kept (:attr:`BooksApi.page_dates`, the server's time of a walk); a record read
whole remembers its contact persons' ids; a write that fails for now (retryable) comes back
as the error instead of raising, so the batch goes on.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import httpx

from replicator.connectors.base import Cursor, SideModule, utc_now
from replicator.connectors.zoho.books_tables import (
    ALIASES,
    NUMBERS,
    OBJECTS,
    PERSONS,
    TABLES,
    Table,
    flatten,
    primary_person,
    time_text,
    to_number,
)
from replicator.connectors.zoho.cursors import (
    EPOCH,
    overlap_start,
    parse_time,
    server_time,
    zoho_time,
)
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import body_of, digest
from replicator.errors import ZohoError

Now = Callable[[], dt.datetime]

PER_PAGE = 200  # the most a Books list answers per page


@attrs.frozen
class Held:
    """A record as this connector last read or wrote it: its modification time, a hash of
    each column's value, and whether those values stand for the whole record (read whole
    at a settled time, or answered by our write).  A list row showing that time and those
    values of the columns it carries is that record unchanged: it is not read whole again.
    """

    time: str
    hashes: Mapping[str, str]
    complete: bool

    @classmethod
    def of(cls, time: str, values: Mapping[str, Any], *, complete: bool) -> Held:
        return cls(time, {c: digest({c: v}) for c, v in values.items()}, complete)

    def shows(self, row: Mapping[str, Any], *, but: str | None = None) -> bool:
        """Whether a list row's columns (but one) hold the values this record held."""
        return all(self.hashes.get(c) == digest({c: v}) for c, v in row.items() if c != but)

    def moved(self, time: str, row: Mapping[str, Any]) -> Held:
        """This record after a change of ours that a list ``row`` at ``time`` shows."""
        hashes = {**self.hashes, **{c: digest({c: v}) for c, v in row.items()}}
        return Held(time, hashes, self.complete)


class BooksApi:
    """One Books organisation's API, as the connector and its contact persons use it."""

    def __init__(
        self,
        side: str,
        *,
        client: ApiClient,
        organization_id: str,
        overlap: float = 300.0,
        now: Now = utc_now,
    ) -> None:
        if not organization_id:
            raise ValueError(f"side {side}: Zoho Books needs an organization_id")
        self.side = side
        self.client = client
        self.organization_id = str(organization_id)
        # the account behind this side: the journal refuses to mix two organisations' ids
        self.identity: str | None = self.organization_id
        self.http_client: httpx.Client | None = client.http  # the daemon counts its answers
        self.overlap = dt.timedelta(seconds=overlap)
        self.now = now
        self._page_dates: list[dt.datetime] = []  # the Date of each list answer, this walk
        # table -> columns even a whole record lacked, this pull: not asked for again
        self._absent: dict[str, set[str]] = {}
        # contact id -> (primary person id or None, the other persons' ids), as last read whole
        self._people: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        self._organization: dict[str, Any] | None = None  # read once, on first use
        # the last record read whole: (id, its modification time, the server's time then)
        self._last_read: tuple[str, str | None, dt.datetime] | None = None

    def organization(self) -> dict[str, Any]:
        """The organisation (``GET /organizations/{id}``), read once; it names its base
        currency (``currency_code``, ``currency_id``)."""
        if self._organization is None:
            path = f"/organizations/{self.organization_id}"
            response = self.client.request("GET", path, kind="get", params=self._params())
            if response.status_code >= 400:
                raise self.client.error(response, f"side {self.side}: GET {path}")
            organization = body_of(response).get("organization")
            code = organization.get("currency_code") if isinstance(organization, dict) else None
            if not isinstance(organization, dict) or not isinstance(code, str) or not code:
                raise ZohoError(f"side {self.side}: GET {path} answered no currency_code")
            self._organization = organization
        return self._organization

    def _write(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> httpx.Response | ZohoError:
        try:
            return self.client.request(
                method,
                path,
                kind="write",
                params=self._params(),
                json_body=body,
                headers=headers,
            )
        except ZohoError as exc:
            if not exc.retryable:
                raise
            return exc

    def _remember_people(self, table: Table, record: Mapping[str, Any]) -> None:
        if table.path != "contacts" or table.id not in record:
            return
        persons = record.get("contact_persons")
        persons = persons if isinstance(persons, list) else []  # a whole record without: none
        primary = primary_person(persons)
        ids = [
            str(p["contact_person_id"])
            for p in persons
            if isinstance(p, dict) and p.get("contact_person_id")
        ]
        first = (
            str(primary["contact_person_id"])
            if primary and primary.get("contact_person_id")
            else None
        )
        self._people[str(record[table.id])] = (first, tuple(i for i in ids if i != first))

    def table_of(self, module: SideModule) -> tuple[Table, dict[str, str]]:
        """The Books table a module names and the filters its view adds."""
        return self._table(module)

    def _table(self, module: SideModule) -> tuple[Table, dict[str, str]]:
        name, filters = module.table, {}
        if name in ALIASES:
            name, kind = ALIASES[name]
            filters["contact_type"] = kind
        table = TABLES.get(name)
        if table is None:
            choices = ", ".join([*TABLES, *ALIASES, PERSONS])
            raise ZohoError(f"side {self.side}: Books has no table {name!r} (choices: {choices})")
        view = module.view
        if view:
            if "=" in view:
                filters.update(urllib.parse.parse_qsl(view))
            elif view in ("customer", "vendor") and table.path == "contacts":
                filters["contact_type"] = view
            else:
                filters["filter_by"] = view
        return table, filters

    def _params(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"organization_id": self.organization_id, **(extra or {})}

    def _pages(
        self, table: Table, params: Mapping[str, Any], per_page: int, *, limit: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        page = 1
        while True:
            query = self._params({**params, "page": page, "per_page": per_page})
            response = self.client.request("GET", f"/{table.path}", kind="list", params=query)
            if response.status_code >= 400:
                raise self.client.error(response, f"side {self.side}: GET /{table.path}")
            date = server_time(response)
            if date is not None:
                self._page_dates.append(date)
            body = body_of(response)
            records = [
                r for r in body.get(table.path) or [] if isinstance(r, dict) and table.id in r
            ]
            yield records
            more = bool((body.get("page_context") or {}).get("has_more_page"))
            if not more or not records or (limit is not None and page >= limit):
                return
            page += 1

    def _read_one(self, table: Table, id: str) -> dict[str, Any] | None:
        response = self.client.request(
            "GET", f"/{table.path}/{id}", kind="get", params=self._params()
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise self.client.error(response, f"side {self.side}: GET /{table.path}/{id}")
        record = body_of(response).get(table.one)
        if not isinstance(record, dict):
            return None
        self._remember_people(table, record)
        self._last_read = (id, time_text(record), server_time(response) or self.now())
        return record

    def _values(
        self,
        module: SideModule,
        table: Table,
        record: Mapping[str, Any],
        *,
        complete: bool = True,
    ) -> dict[str, Any]:
        """The module's columns of a record; a list answer lacking some is read whole."""
        flat = flatten(record)
        absent = self._absent.setdefault(table.path, set())
        lacking = set(module.columns) - set(flat) - absent
        if complete and lacking:
            whole = self._read_one(table, str(record[table.id]))
            if whole is not None:
                flat = {**flat, **flatten(whole)}
                absent.update(lacking - set(flat))
        if not module.columns:
            return {k: v for k, v in flat.items() if k != table.id}
        return {column: flat.get(column) for column in module.columns}

    def _to_api(self, table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
        """Column values as Books takes them: ``cf_`` columns as custom fields."""
        body: dict[str, Any] = {}
        custom = []
        for column, value in values.items():
            key, dot, part = column.partition(".")
            if dot and key in OBJECTS:  # a part of an address: the others are left as they are
                body.setdefault(key, {})[part] = value
            elif column.startswith("cf_"):
                custom.append({"api_name": column, "value": value})
            elif isinstance(value, str) and table.fields.get(column) in NUMBERS:
                body[column] = to_number(value)
            else:
                body[column] = value
        if custom:
            body["custom_fields"] = custom
        return body

    def _start(self, since: str | None, read_at: str | None = None) -> str | None:
        """Where a read from ``since`` begins: the watermark less the overlap, narrowed
        when the last read (``read_at``) came after it (see ``overlap_start``)."""
        if not since or since <= EPOCH:
            return None
        moment = parse_time(since)
        if moment is None:
            return None
        return zoho_time(overlap_start(moment, parse_time(read_at), self.overlap))

    def _parse_cursor(self, since: Cursor | None) -> tuple[str | None, str | None]:
        """``(records, read_at)`` of a cursor: an ISO text, or ``[records, read_at]``."""
        if since is None or isinstance(since, str):
            return since, None
        if (
            isinstance(since, list | tuple)
            and len(since) == 2
            and all(isinstance(s, str) for s in since)
        ):
            return since[0], (since[1] if since[1] > EPOCH else None)
        raise TypeError(
            f"{self.side}: a Zoho Books cursor is an ISO text or [records, read_at], not {since!r}"
        )

    def _list_persons(
        self, contact_id: str
    ) -> tuple[list[dict[str, Any]] | None, dt.datetime | None]:
        """A contact's persons (``GET /contacts/{id}/contactpersons``, every page) and the
        server's time of the answer; None when the contact is gone."""
        path = f"/contacts/{contact_id}/contactpersons"
        persons: list[dict[str, Any]] = []
        read: dt.datetime | None = None
        page = 1
        while True:
            query = self._params({"page": page, "per_page": PER_PAGE})
            response = self.client.request("GET", path, kind="list", params=query)
            if response.status_code == 404:
                return None, server_time(response)
            if response.status_code >= 400:
                raise self.client.error(response, f"side {self.side}: GET {path}")
            read = read or server_time(response)
            body = body_of(response)
            body = body if isinstance(body, dict) else {}
            found = [
                p
                for p in body.get("contact_persons") or []
                if isinstance(p, dict) and p.get("contact_person_id")
            ]
            persons += found
            if not (body.get("page_context") or {}).get("has_more_page") or not found:
                return persons, read
            page += 1


__all__ = ["PER_PAGE", "BooksApi", "Held", "Now"]
