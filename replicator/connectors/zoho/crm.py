"""A side that is a Zoho CRM organisation, through the v8 REST API (``{api_domain}/crm/v8``).

``SideModule.table`` is the module's API name (``Accounts``), ``columns`` are field API names,
``id`` is ``id``, ``modified`` is ``Modified_Time`` (the default), ``view`` a custom view's
id or name (sent as ``cvid``).

**Pull.**  Records come sorted by ``Modified_Time`` ascending, ``per_page`` up to 200,
``page`` up to 2,000 records and then ``page_token``.  ``fields`` takes at most 50 names:
the first group is listed, the other groups are read for the same ids (``?ids=``) and
merged by id.  An incremental pull sends ``If-Modified-Since`` = watermark - overlap, then
reads ``/{Module}/deleted?type=all`` the same way (``Change(deleted=True)``).

*The cursor* is ``[records, deleted, read_at]``: ISO UTC texts (``2026-11-27T10:00:00+00:00``),
the largest ``Modified_Time`` and ``deleted_time`` read, one per feed, so a crash between
the feeds loses neither, and the server's time (``Date``) when the pull began; text order
is time order and the cursor only grows.  ``[records, deleted]`` (no ``Date`` seen) and a
plain ISO text (both watermarks) are accepted.  The next read starts the overlap before
the records watermark, or, when the last read came well after it, at the watermark's own
second (see :func:`~replicator.connectors.zoho.cursors.overlap_start`): an idle sync then
re-reads nothing.  Records inside the overlap window come again; the connector
drops those whose (``Modified_Time``, values) it has already seen or written (no echo), and
the engine de-duplicates by content across restarts.  A record seen twice in one pull
moved (it changed while paging), which may have shifted another past a page boundary: the
pull walks again from the page where it first saw it.

*Line items* (the subforms of Quotes, Sales_Orders, Invoices, Purchase_Orders, as the
neutral lines form) are not listed: a pull mapping one reads by id (``GET /{Module}/{id}``)
the records of each page whose lines it does not hold at their ``Modified_Time``, one call
each (see :mod:`.crm_lines`).

Lookups and the conversion of records to column values: :mod:`.crm_api`; line items:
:mod:`.crm_lines`; writes and the rule that an unread change is never overwritten:
:mod:`.crm_push`.  The class is built in layers, one module each:
:class:`~.crm_api.CrmApi` (state, API reads, conversion) <- :class:`~.crm_lines.CrmLines`
(line items) <- :class:`~.crm_push.CrmPush` (push) <- :class:`ZohoCRMConnector` (pull,
get, search, schema, views, deal stage probabilities (:mod:`.crm_stages`), watch channels).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx

from replicator.connectors.base import (
    SEARCH_LIMIT,
    BaseConnector,
    Change,
    Cursor,
    Page,
    SideModule,
    memory_key,
    utc_now,
)
from replicator.connectors.zoho.credentials import open_auth
from replicator.connectors.zoho.crm_api import (
    DELETED,
    LOOKUP_TYPES,
    PAGE_RECORDS,
    PER_PAGE,
    Now,
    not_found,
)
from replicator.connectors.zoho.crm_lines import line_columns
from replicator.connectors.zoho.crm_push import CrmPush
from replicator.connectors.zoho.crm_stages import stage_probabilities
from replicator.connectors.zoho.cursors import (
    EPOCH,
    idle_mark,
    parse_time,
    read_mark,
    server_time,
    zoho_time,
)
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.limits import CreditBudget, Sleep
from replicator.connectors.zoho.values import body_of, digest
from replicator.errors import ZohoError

MAX_PASSES = 3


def parse_cursor(since: Cursor | None) -> tuple[str | None, str | None, str | None]:
    """``(records, deleted, read_at)`` of a cursor (None: a snapshot; read_at None: unknown)."""
    if since is None:
        return None, None, None
    if isinstance(since, str):
        return since, since, None
    if (
        isinstance(since, list | tuple)
        and len(since) in (2, 3)
        and all(isinstance(s, str) for s in since)
    ):
        return since[0], since[1], (since[2] if len(since) == 3 else None)
    raise TypeError(f"a Zoho CRM cursor is [records, deleted, read_at] ISO texts, not {since!r}")


@attrs.define
class _Marks:
    """The watermarks of a pull in progress, and when (server time) it began reading."""

    records: str
    deleted: str | None
    read_at: str | None = None
    overlap: dt.timedelta = dt.timedelta(0)
    since: tuple[str, str | None] | None = None  # the records mark and read mark it began at

    def cursor(self) -> list[str]:
        marks = [self.records, self.deleted or EPOCH]
        if not self.read_at:
            return marks
        if self.since is not None and self.since[1] and self.records == self.since[0]:
            return [*marks, idle_mark(self.records, self.since[1], self.read_at, self.overlap)]
        return [*marks, read_mark(self.records, self.read_at, self.overlap)]


class ZohoCRMConnector(CrmPush, BaseConnector):
    """A Zoho CRM organisation as a side; see the module docstring.  Its options and
    :meth:`push` are :class:`~.crm_push.CrmPush`'s."""

    # amounts keep fixed decimal places: a rounding of our write read back is no change
    rounds_amounts = True
    notifies = True  # the watch API: enable, update and disable notification channels

    def __repr__(self) -> str:
        return f"ZohoCRMConnector(side={self.side!r}, client={self.client!r})"

    # -- reading -----------------------------------------------------------------------

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        records_since, deleted_since, read_at = parse_cursor(since)
        per_page = min(PER_PAGE, page_size)
        groups = self._field_groups(module)
        cvid = self._cvid(module)
        memo = memory_key(module)
        known = self._known.setdefault(memo, {})
        marks = _Marks(records_since or EPOCH, deleted_since, overlap=self.overlap)
        if records_since is not None:
            marks.since = (records_since, read_at)
        seen: dict[str, tuple[str, int]] = {}  # id -> (Modified_Time, index of its page)
        page_marks: list[str] = []  # the last Modified_Time of each page listed
        starts: list[str | None] = [self._query_start(records_since)]
        yielded = False
        passes = 0
        while starts and passes < MAX_PASSES:
            start, passes = starts.pop(0), passes + 1
            rewalk_from: str | None = None
            seen_at = read_at if passes == 1 else None  # a re-walk reads the whole overlap
            for records, response in self._list(
                module, groups[0], per_page, start, cvid, read_at=seen_at
            ):
                server_now = server_time(response)
                if marks.read_at is None and server_now is not None:
                    marks.read_at = zoho_time(server_now)
                if marks.deleted is None:  # a snapshot: deletions before it do not matter
                    marks.deleted = zoho_time(server_now or self.now())
                records = self._complete(module, records, groups[1:])
                lines = self._pull_lines(module, records) if line_columns(module) else None
                changes = []
                for record in records:
                    id = str(record["id"])
                    modified, text = self._modified(module, record)
                    before = seen.get(id)
                    if before is not None and before[0] != text:
                        moved_from = page_marks[before[1]]
                        rewalk_from = min(rewalk_from or moved_from, moved_from)
                    seen[id] = (text, len(page_marks))
                    marks.records = max(marks.records, text)
                    values = self._values(module, record)
                    if lines is not None:
                        if id not in lines:
                            continue  # deleted before its lines were read: the feed says so
                        values.update(lines[id])
                    now_known = (text, digest(values))
                    if known.get(id) != now_known:
                        changes.append(Change(id, values, modified=modified))
                    known[id] = now_known
                page_marks.append(marks.records)
                self._read_upto[memo] = marks.records
                yield Page(tuple(changes), marks.cursor())
                yielded = True
            if rewalk_from is not None:
                starts.append(rewalk_from)
        if marks.deleted is None:
            marks.deleted = zoho_time(self.now())
        if records_since is not None:
            yield from self._pull_deleted(module, marks, deleted_since, per_page)
        elif not yielded:
            self._read_upto[memo] = marks.records
            yield Page((), marks.cursor())

    def _pull_deleted(
        self, module: SideModule, marks: _Marks, since: str | None, per_page: int
    ) -> Iterator[Page]:
        """The deleted-records feed; its watermark moves only once it is read to the end."""
        known = self._known.setdefault(memory_key(module), {})
        headers = self._since_header(since)
        newest = marks.deleted or EPOCH
        pending: list[Change] = []
        page = 1
        while True:
            params = {"type": "all", "page": page, "per_page": per_page}
            response = self._get(f"/{module.table}/deleted", params, headers, kind="deleted")
            body = body_of(response)
            data = [d for d in body.get("data") or [] if isinstance(d, dict) and d.get("id")]
            changes = []
            for entry in data:
                id = str(entry["id"])
                moment = parse_time(entry.get("deleted_time"))
                if moment is not None:
                    newest = max(newest, zoho_time(moment))
                if known.get(id, ("",))[0] != DELETED:
                    changes.append(Change(id, {}, modified=moment or self.now(), deleted=True))
                known[id] = (DELETED, None)
            more = bool((body.get("info") or {}).get("more_records")) and bool(data)
            if changes and more:
                yield Page(tuple(changes), marks.cursor())
            else:
                pending.extend(changes)
            if not more:
                break
            page += 1
        marks.deleted = newest
        yield Page(tuple(pending), marks.cursor())

    def get(self, module: SideModule, id: str) -> Change | None:
        record = self._fetch(module, id)
        if record is None:
            return None
        modified, text = self._modified(module, record)
        values = self._values(module, record)
        values.update(self._held_lines(module, id, text))  # a null subform reads as no lines
        return Change(str(record.get("id", id)), values, modified=modified)

    def search(self, module: SideModule, text: str) -> list[Change]:
        """Records whose match columns contain ``text`` (CRM ``word`` search, or ``criteria``
        when the text is one, like ``(Account_Name:starts_with:Acme)``), at most 100."""
        text = text.strip()
        if not module.match or not text:
            return []
        criteria = text.startswith("(") and text.endswith(")")
        needle = text.casefold()
        found: list[Change] = []
        for page in range(1, PAGE_RECORDS // PER_PAGE + 1):
            params: dict[str, Any] = {"page": page, "per_page": PER_PAGE}
            params["criteria" if criteria else "word"] = text
            try:
                response = self._get(f"/{module.table}/search", params, None, kind="search")
            except ZohoError as exc:
                if not_found(exc):
                    break
                raise
            body = body_of(response)
            for record in body.get("data") or []:
                values = self._values(module, record)
                hit = criteria or any(
                    needle in str(values.get(c) or "").casefold() for c in module.match
                )
                if hit:
                    modified, _ = self._modified(module, record)
                    found.append(Change(str(record["id"]), values, modified=modified))
                    if len(found) == SEARCH_LIMIT:
                        return found
            if not (body.get("info") or {}).get("more_records"):
                break
        return found

    def schema(self, module: SideModule) -> dict[str, str]:
        """Field API name -> data type, plus ``id`` and a ``Field.name`` per lookup."""
        types = self._field_types(module, refresh=True)
        schema = {module.id: "bigint", **types}
        for name, kind in types.items():
            if kind in LOOKUP_TYPES:
                schema[f"{name}.name"] = "text"
        return schema

    def views(self, module: SideModule) -> list[str]:
        """The names of the module's custom views (use one as ``view``, or its id)."""
        return self._view_names(module)

    def probabilities(
        self, module: SideModule, field: str, *, stages: Iterable[str] = ()
    ) -> Mapping[str, int] | None:
        """A picklist's value -> probability (Deals ``Stage``: 100 won, 0 lost), by actual
        and display value, from the fields metadata (``GET /settings/fields``); None when
        the field has none.  Read once for the connector's life, and again (once per
        stage) when a record read since, or ``stages``, shows a stage it does not know."""

        def read() -> dict[str, int] | None:
            response = self._get("/settings/fields", {"module": module.table}, None, kind="meta")
            return stage_probabilities(body_of(response).get("fields") or [], field)

        return self._stages.probabilities((module.table, field), read, stages=stages)

    def base_currency(self) -> str:
        """The organisation's base currency as an ISO code (``GET /org``, ``iso_code``);
        read once per connector: changing it in CRM takes a new connector."""
        if self._base_currency is None:
            response = self._get("/org", None, None, kind="meta")
            orgs = body_of(response).get("org") or [{}]
            code = orgs[0].get("iso_code") if isinstance(orgs[0], dict) else None
            if not isinstance(code, str) or not code:
                raise ZohoError(f"side {self.side}: GET /org answered no iso_code (base currency)")
            self._base_currency = code
        return self._base_currency

    def close(self) -> None:
        self.client.close()

    # -- notifications: the watch API ---------------------------------------------------

    def enable_notifications(self, channels: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Subscribe watch channels (``POST /actions/watch``), each ``{channel_id, events,
        notify_url, token, channel_expiry}`` (an aware datetime or ISO text).  A channel id
        already subscribed takes the new settings.  Returns each channel's details; a
        refused channel raises :class:`ZohoError` naming it, never its token."""
        return self._watch("POST", channels)

    def update_notifications(self, channels: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace subscribed channels' settings (``PUT /actions/watch``): a renewal sends
        a later ``channel_expiry``.  A channel that is not subscribed raises ZohoError."""
        return self._watch("PUT", channels)

    def disable_notifications(self, channel_ids: Sequence[str]) -> None:
        """Remove channels (``DELETE /actions/watch?channel_ids=``); one already gone (or
        expired) is not an error."""
        if not channel_ids:
            return
        params = {"channel_ids": ",".join(str(c) for c in channel_ids)}
        response = self.client.request(
            "DELETE", "/actions/watch", kind="meta", params=params, idempotent=True
        )
        if response.status_code >= 400:
            raise self.client.error(response, f"side {self.side}: DELETE /actions/watch")

    def _watch(self, method: str, channels: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        where = f"side {self.side}: {method} /actions/watch"
        items = []
        for channel in channels:
            item = dict(channel)
            expiry = item.get("channel_expiry")
            if isinstance(expiry, dt.datetime):
                item["channel_expiry"] = zoho_time(expiry)
            items.append(item)
        if not items:
            return []
        response = self.client.request(
            method, "/actions/watch", kind="meta", json_body={"watch": items}, idempotent=True
        )
        if response.status_code >= 400:
            raise self.client.error(response, where)
        results = body_of(response).get("watch") or []
        if len(results) != len(items):
            raise ZohoError(f"{where}: {len(results)} answers for {len(items)} channels")
        out = []
        for item, result in zip(items, results, strict=True):
            if not isinstance(result, dict) or result.get("status") != "success":
                result = result if isinstance(result, dict) else {}
                field = (result.get("details") or {}).get("api_name")
                raise ZohoError(
                    f"{where}: channel {item.get('channel_id')}: {result.get('code')} "
                    f"{result.get('message') or ''}" + (f" (field {field})" if field else ""),
                    status=response.status_code,
                    code=result.get("code"),
                )
            out.append(dict(result.get("details") or {}))
        return out


def from_options(
    side: str,
    options: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Now = utc_now,
) -> ZohoCRMConnector:
    """A CRM connector from a side's options (``[sides.NAME]`` in the config).

    Options: ``credentials``, ``data_centre`` / ``accounts_url``, ``api_domain`` (see
    :mod:`replicator.connectors.zoho.credentials`), ``key_field``, ``overlap_seconds``, ``timeout``,
    ``max_retries``, ``concurrency`` (default 5), ``credit_budget`` (credits per 24 h; none
    by default), ``triggers`` (workflow triggers to run on writes; none by default),
    ``taxes`` (percentage -> the CRM tax a line of it takes when several have that
    percentage: what ``[integration.transactions] taxes.crm`` gives the side).
    ``transport`` (an ``httpx.MockTransport``, say) carries both OAuth and API calls.
    """
    auth, _ = open_auth(side, options, env=env, transport=transport, clock=clock)
    budget = options.get("credit_budget")
    client = ApiClient(
        auth,
        "/crm/v8",
        name=f"side {side} (Zoho CRM)",
        transport=transport,
        timeout=float(options.get("timeout", 30.0)),
        retries=int(options.get("max_retries", 5)),
        credits=CreditBudget(int(budget), clock=clock) if budget else None,
        concurrency=int(options.get("concurrency", 5)),
        sleep=sleep,
        clock=clock,
    )
    return ZohoCRMConnector(
        side,
        client=client,
        key_field=options.get("key_field", "Replicator_Id"),
        overlap=float(options.get("overlap_seconds", 300.0)),
        triggers=list(options.get("triggers", ())),
        tax_names=[str(name) for name in dict(options.get("taxes") or {}).values()],
        now=now,
    )


__all__ = ["ZohoCRMConnector", "from_options", "parse_cursor"]
