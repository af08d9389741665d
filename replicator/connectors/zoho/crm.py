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

**Lookups.**  ``{"id", "name"}`` reads as the id under the field's name; ``Field.name``
(any ``Field.key``) is a read-only column with that part.  Writing a lookup field sends
``{"id": value}``; ``Field.key`` columns are not written.

**Push.**  Updates go ``PUT /{Module}`` and creates ``POST /{Module}/upsert`` with
``duplicate_check_fields=[key_field]`` (the unique custom field holding ``Write.key``,
``Replicator_Id`` by default), 100 records a call; per-record answers map to outcomes in
input order.  *Never overwrite an unread change*: before updating, the records are read by
id; one whose (``Modified_Time``, values) differs from what this connector last read or
wrote (or, never read here, is newer than the last pull's watermark) is left alone with
``Outcome(retry=True)``; the update carries ``If-Unmodified-Since`` = the newest
``Modified_Time`` of that read, so a change in between answers 412 ``ALREADY_MODIFIED``,
also ``retry=True``.  (Zoho's times have whole seconds: a change in the same second as the
read with the same values is indistinguishable.)  A create retried in the same process is
an update of the record it made, and leaves that record alone if it changed since.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import httpx

from replicator.connectors.base import (
    Change,
    Cursor,
    Outcome,
    Page,
    SideModule,
    Write,
    memory_key,
    utc_now,
)
from replicator.connectors.zoho.credentials import open_auth
from replicator.connectors.zoho.cursors import (
    EPOCH,
    idle_mark,
    overlap_start,
    parse_time,
    read_mark,
    server_time,
    utc_text,
)
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.limits import CreditBudget, Sleep
from replicator.connectors.zoho.values import body_of, chunks, digest
from replicator.errors import ZohoError

Now = Callable[[], dt.datetime]

MODIFIED = "Modified_Time"
FIELDS_PER_CALL = 50
PER_PAGE = 200
PAGE_RECORDS = 2000  # `page` reaches this many records; `page_token` goes further
IDS_PER_CALL = 100
WRITES_PER_CALL = 100
SEARCH_LIMIT = 100
MAX_PASSES = 3
DELETED = "(deleted)"
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})
USER_TYPES = frozenset({"ownerlookup", "userlookup"})
NUMBER_TYPES = frozenset({"currency", "double", "decimal", "percent", "integer", "bigint", "long"})
RETRY_CODES = frozenset(
    {
        "ALREADY_MODIFIED",
        "INTERNAL_ERROR",
        "TOO_MANY_REQUESTS",
        "RATE_LIMIT_EXCEEDED",
        "RECORD_LOCKED",
        "LOCKED",
    }
)

Known = tuple[str, str | None]  # (Modified_Time as UTC text, digest of the values or None)


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


class ZohoCRMConnector:
    """A Zoho CRM organisation as a side; see the module docstring."""

    # amounts keep fixed decimal places: a rounding of our write read back is no change
    rounds_amounts = True

    def __init__(
        self,
        side: str,
        *,
        client: ApiClient,
        key_field: str | None = "Replicator_Id",
        overlap: float = 300.0,
        triggers: Sequence[str] = (),
        now: Now = utc_now,
    ) -> None:
        self.side = side
        self.client = client
        self.key_field = key_field
        self.overlap = dt.timedelta(seconds=overlap)
        self.triggers = list(triggers)
        self.now = now
        # what this connector last read or wrote, per module (two modules may share a table,
        # with other views or criteria: each must see the other's writes as changes)
        self._known: dict[str, dict[str, Known]] = {}
        self._read_upto: dict[str, str] = {}  # module -> records watermark of the last pull
        self._users: dict[str, str] | None = None  # active users' ids by email (casefolded)
        self._made: dict[tuple[str, str], str] = {}  # (table, key) -> id a create made
        self._types: dict[str, dict[str, str]] = {}  # table -> api_name -> data_type
        self._lookups: dict[str, set[str]] = {}  # table -> fields read as {id, ...}
        self._views: dict[str, list[dict[str, Any]]] = {}
        self._base_currency: str | None = None

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
                    marks.read_at = utc_text(server_now)
                if marks.deleted is None:  # a snapshot: deletions before it do not matter
                    marks.deleted = utc_text(server_now or self.now())
                records = self._complete(module, records, groups[1:])
                changes = []
                for record in records:
                    id = str(record["id"])
                    modified, text = self._modified(module, record)
                    before = seen.get(id)
                    if before is not None and before[0] != text:
                        moved_from = page_marks[before[1]]
                        rewalk_from = min(rewalk_from or moved_from, moved_from)
                    seen[id] = (text, len(page_marks))
                    values = self._values(module, record)
                    now_known = (text, digest(values))
                    if known.get(id) != now_known:
                        changes.append(Change(id, values, modified=modified))
                    known[id] = now_known
                    marks.records = max(marks.records, text)
                page_marks.append(marks.records)
                self._read_upto[memo] = marks.records
                yield Page(tuple(changes), marks.cursor())
                yielded = True
            if rewalk_from is not None:
                starts.append(rewalk_from)
        if marks.deleted is None:
            marks.deleted = utc_text(self.now())
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
                    newest = max(newest, utc_text(moment))
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
        try:
            response = self._get(f"/{module.table}/{id}", None, None, kind="get")
        except ZohoError as exc:
            if _not_found(exc):
                return None
            raise
        data = body_of(response).get("data") or []
        if not data:
            return None
        record = data[0]
        modified, _ = self._modified(module, record)
        return Change(str(record.get("id", id)), self._values(module, record), modified=modified)

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
                if _not_found(exc):
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
        return [str(v.get("name") or v.get("display_value")) for v in self._custom_views(module)]

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

    def __enter__(self) -> ZohoCRMConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        if not writes:
            return []
        table = module.table
        outcomes: list[Outcome | None] = [None] * len(writes)
        # the same key twice in a batch is one record: the later values win
        leaders: dict[str, int] = {}
        merged: dict[int, dict[str, Any]] = {}
        followers: dict[int, list[int]] = {}
        updates: list[tuple[int, str, bool]] = []  # (index, id, is a retried create)
        creates: list[int] = []
        for i, write in enumerate(writes):
            if write.id is None and write.key in leaders:
                lead = leaders[write.key]
                merged[lead].update(write.values)
                followers.setdefault(lead, []).append(i)
                continue
            merged[i] = dict(write.values)
            if write.id is not None:
                updates.append((i, str(write.id), False))
            else:
                leaders[write.key] = i
                made = self._made.get((table, write.key))
                if made is not None:
                    updates.append((i, made, True))
                else:
                    creates.append(i)
        refused = self._users_by_email(module, merged)
        for i, reason in refused.items():
            outcomes[i] = Outcome(writes[i].key, writes[i].id, error=reason)
        updates = [u for u in updates if u[0] not in refused]
        creates = [i for i in creates if i not in refused]
        if updates:
            current = self._read_by_id(module, [id for _, id, _ in updates])
            ready: list[tuple[int, str, dict[str, Any], str]] = []
            for i, id, retried_create in updates:
                write = writes[i]
                now = current.get(id)
                if now is None:
                    if retried_create:  # another program deleted what we made: make it again
                        creates.append(i)
                    else:
                        outcomes[i] = Outcome(write.key, id, error=self._missing(table, id))
                elif self._unread(memory_key(module), id, now[1]):
                    if retried_create:  # the record we made was edited since: leave the edit
                        outcomes[i] = Outcome(write.key, id)
                    else:
                        outcomes[i] = Outcome(
                            write.key,
                            id,
                            retry=True,
                            error=f"side {self.side}: record {id} of {table} changed since it "
                            "was last read; not overwritten (it is read and merged on the next "
                            "cycle)",
                        )
                else:
                    ready.append((i, id, now[0], now[1][0]))
            for batch in chunks(ready, WRITES_PER_CALL):
                self._update(module, writes, merged, batch, outcomes)
        for batch in chunks(sorted(creates), WRITES_PER_CALL):
            self._create(module, writes, merged, batch, outcomes)
        for lead, others in followers.items():
            for j in others:
                first = outcomes[lead]
                assert first is not None
                outcomes[j] = Outcome(writes[j].key, first.id, error=first.error, retry=first.retry)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    def _users_by_email(
        self, module: SideModule, merged: dict[int, dict[str, Any]]
    ) -> dict[int, str]:
        """``Owner.email`` columns (a user lookup by email) become ``Owner`` ids, in place;
        the writes naming an email no CRM user has, with the reason."""
        columns = [c for c in {c for v in merged.values() for c in v} if c.endswith(".email")]
        types = self._field_types(module) if columns else {}
        columns = [c for c in columns if types.get(c.partition(".")[0]) in USER_TYPES]
        refused: dict[int, str] = {}
        if not columns:
            return refused
        if self._users is None:
            answer = body_of(self._get("/users", {"type": "ActiveUsers"}, None, kind="meta"))
            self._users = {
                str(u["email"]).casefold(): str(u["id"])
                for u in answer.get("users") or []
                if isinstance(u, dict) and u.get("email") and u.get("id")
            }
        for i, values in merged.items():
            for column in columns:
                if column not in values:
                    continue
                email = values.pop(column)
                if email is None:
                    continue
                user = self._users.get(str(email).casefold())
                if user is None:
                    refused[i] = (
                        f"side {self.side}: field {column}: no active CRM user has the email "
                        f"{email!r}"
                    )
                else:
                    values[column.partition(".")[0]] = user
        return refused

    def _update(
        self,
        module: SideModule,
        writes: Sequence[Write],
        merged: Mapping[int, dict[str, Any]],
        batch: list[tuple[int, str, dict[str, Any], str]],
        outcomes: list[Outcome | None],
    ) -> None:
        table = module.table
        data = [{"id": id, **self._to_api(module, merged[i])} for i, id, _, _ in batch]
        # the newest time the pre-read saw: any change after it answers 412
        headers = {"If-Unmodified-Since": max(read_at for *_, read_at in batch)}
        results = self._write(module, "PUT", f"/{table}", data, headers, len(batch))
        for (i, id, before, _), result in zip(batch, results, strict=True):
            expected = self._expected(module, before, merged[i])
            outcomes[i] = self._outcome(module, writes[i], id, result, expected)

    def _create(
        self,
        module: SideModule,
        writes: Sequence[Write],
        merged: Mapping[int, dict[str, Any]],
        batch: list[int],
        outcomes: list[Outcome | None],
    ) -> None:
        table = module.table
        data = []
        for i in batch:
            record = self._to_api(module, merged[i])
            if self.key_field:
                record[self.key_field] = writes[i].key
            data.append(record)
        if self.key_field:
            extra = {"duplicate_check_fields": [self.key_field]}
            results = self._write(module, "POST", f"/{table}/upsert", data, {}, len(batch), extra)
        else:
            results = self._write(module, "POST", f"/{table}", data, {}, len(batch))
        for i, result in zip(batch, results, strict=True):
            expected = self._expected(module, {}, merged[i])
            outcome = self._outcome(module, writes[i], None, result, expected)
            if outcome.ok and outcome.id is not None:
                self._made[(table, writes[i].key)] = outcome.id
                if (result.get("action") or "insert") != "insert":
                    # a create retried after a crash found its record: what it holds is unknown
                    self._forget_values(memory_key(module), outcome.id)
            outcomes[i] = outcome

    def _write(
        self,
        module: SideModule,
        method: str,
        path: str,
        data: list[dict[str, Any]],
        headers: Mapping[str, str],
        count: int,
        extra: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Send one write call; one result dict per record, in order."""
        body = {"data": data, "trigger": self.triggers, **(extra or {})}
        try:
            response = self.client.request(
                method,
                path,
                kind="write",
                json_body=body,
                headers=headers,
                cost=max(1, math.ceil(count / 10)),
                # updates and upserts may be sent twice; a plain insert may not
                idempotent=method != "POST" or path.endswith("/upsert"),
            )
        except ZohoError as exc:
            if not exc.retryable:
                raise
            return [{"status": "error", "code": "RETRY", "message": str(exc)}] * count
        status = response.status_code
        answer = body_of(response)
        results = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(results, list) and len(results) == count:
            return [r if isinstance(r, dict) else {"status": "error"} for r in results]
        if status == 412:
            return [{"status": "error", "code": "ALREADY_MODIFIED", "message": "changed since"}] * (
                count
            )
        if status in (400, 413, 422) and isinstance(answer, dict) and answer.get("code"):
            return [answer] * count  # the request as a whole was refused: each write says why
        raise self.client.error(response, f"{self.client.name}: {method} {path}")

    def _outcome(
        self,
        module: SideModule,
        write: Write,
        id: str | None,
        result: Mapping[str, Any],
        expected: Mapping[str, Any] | None,
    ) -> Outcome:
        details = result.get("details") if isinstance(result.get("details"), dict) else {}
        assert isinstance(details, dict)
        table = module.table
        if result.get("status") == "success":
            new_id = str(details.get("id") or id)
            modified = parse_time(details.get(MODIFIED))
            if modified is not None:  # our write is known: its echo is not a change
                self._known.setdefault(memory_key(module), {})[new_id] = (
                    utc_text(modified),
                    digest(expected) if expected is not None else None,
                )
            return Outcome(write.key, new_id)
        code = str(result.get("code") or "ERROR")
        message = str(result.get("message") or "")
        field = details.get("api_name")
        what = f"record {id}" if id is not None else f"new record {write.key}"
        if code == "RETRY":
            return Outcome(write.key, id, error=message, retry=True)
        if id is not None and code == "INVALID_DATA" and field == "id":
            return Outcome(write.key, id, error=self._missing(table, id))
        if code == "DUPLICATE_DATA" and id is None and field == self.key_field:
            existing = details.get("id") or (details.get("duplicate_record") or {}).get("id")
            if existing:
                self._forget_values(memory_key(module), str(existing))
                return Outcome(write.key, str(existing))
        reason = f"side {self.side}, {table} {what}: {code}"
        if message:
            reason += f": {message}"
        if field:
            reason += f" (field {field})"
        if field and field == self.key_field and code == "INVALID_DATA":
            reason += (
                f"; does {table} have the unique custom field {self.key_field} that holds "
                "replicator's record ids?"
            )
        return Outcome(
            write.key, id, error=self.client.redactor.scrub(reason), retry=code in RETRY_CODES
        )

    def _expected(
        self, module: SideModule, before: Mapping[str, Any], values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """How the record will read after ``values`` are written over ``before``: numbers
        as numbers, a changed lookup's ``Field.name`` unknown.  None if any column is."""
        if not module.columns:
            return None
        types = self._types.get(module.table, {})
        after = dict(before)
        for column, value in values.items():
            if "." in column:
                continue
            if isinstance(value, str) and types.get(column) in NUMBER_TYPES:
                value = _number(value)
            if after.get(column) != value:
                for part in [c for c in after if c.startswith(column + ".")]:
                    del after[part]  # the server names the new lookup target
            after[column] = value
        if not set(module.columns) <= set(after):
            return None
        return {column: after[column] for column in module.columns}

    def _missing(self, table: str, id: str) -> str:
        return f"side {self.side}: no record with id {id} in {table} (deleted?)"

    def _unread(self, memo: str, id: str, now: Known) -> bool:
        """Whether the record changed since this connector last read or wrote it.

        Known values: their time and digest must match.  Known time only (we wrote part of
        the record): the time must match.  Never seen here: it must be no newer than the
        last pull's watermark; with no pull yet in this process, it counts as unread.
        """
        known = self._known.get(memo, {}).get(id)
        if known is not None:
            return known[0] != now[0] if known[1] is None else known != now
        mark = self._read_upto.get(memo)
        return mark is None or now[0] > mark

    def _forget_values(self, memo: str, id: str) -> None:
        known = self._known.setdefault(memo, {})
        known[id] = (known.get(id, (EPOCH, None))[0], None)

    def _read_by_id(
        self, module: SideModule, ids: list[str]
    ) -> dict[str, tuple[dict[str, Any], Known]]:
        """Current values and (Modified_Time, digest) of records, by id; absent ones left out."""
        groups = self._field_groups(module)
        records: dict[str, dict[str, Any]] = {}
        for chunk in chunks(dict.fromkeys(ids), IDS_PER_CALL):
            for record in self._by_ids(module, chunk, groups):
                records[str(record["id"])] = record
        found: dict[str, tuple[dict[str, Any], Known]] = {}
        for id, record in records.items():
            _, text = self._modified(module, record)
            values = self._values(module, record)
            found[id] = (values, (text, digest(values)))
        return found

    # -- reading helpers ---------------------------------------------------------------

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
                    newest = max(newest or EPOCH, utc_text(moment))
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
        return {"If-Modified-Since": utc_text(start)}

    def _query_start(self, since: str | None) -> str | None:
        return since if since and since > EPOCH else None

    def _modified(self, module: SideModule, record: Mapping[str, Any]) -> tuple[dt.datetime, str]:
        moment = parse_time(record.get(module.modified or MODIFIED))
        if moment is None:
            moment = self.now()
        return moment, utc_text(moment)

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
            elif isinstance(raw, dict) and "id" in raw:
                lookups.add(column)
                values[column] = str(raw["id"]) if raw["id"] is not None else None
            else:
                values[column] = raw
        return values

    def _to_api(self, module: SideModule, values: Mapping[str, Any]) -> dict[str, Any]:
        """Column values as the API takes them: lookups as ``{id}``, numbers as numbers."""
        types = self._field_types(module) if values else {}
        lookups = self._lookups.get(module.table, set())
        record: dict[str, Any] = {}
        for column, value in values.items():
            if "." in column:
                continue  # Field.name and the like are read-only parts of a lookup
            kind = types.get(column, "")
            if value is not None and (kind in LOOKUP_TYPES or column in lookups):
                record[column] = {"id": str(value)}
            elif isinstance(value, str) and kind in NUMBER_TYPES:
                record[column] = _number(value)
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
            types = {
                str(f["api_name"]): str(f.get("data_type") or "")
                for f in fields
                if isinstance(f, dict) and f.get("api_name")
            }
            self._types[module.table] = types
        return types

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
        known = ", ".join(self.views(module)) or "none"
        raise ZohoError(f"side {self.side}: {module.table} has no custom view {view!r} ({known})")

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

    def notification_channels(self) -> list[dict[str, Any]]:
        """The live channels (``GET /actions/watch``), without their tokens."""
        response = self._get("/actions/watch", None, None, kind="meta")
        channels = body_of(response).get("watch") or []
        return [
            {k: v for k, v in c.items() if k != "token"} for c in channels if isinstance(c, dict)
        ]

    def _watch(self, method: str, channels: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        where = f"side {self.side}: {method} /actions/watch"
        items = []
        for channel in channels:
            item = dict(channel)
            expiry = item.get("channel_expiry")
            if isinstance(expiry, dt.datetime):
                item["channel_expiry"] = utc_text(expiry)
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
    by default), ``triggers`` (workflow triggers to run on writes; none by default).
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
        now=now,
    )


def _number(text: str) -> Any:
    try:
        number = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return text  # let the API say what is wrong with it
    if number == number.to_integral_value() and "." not in text and "e" not in text.lower():
        return int(number)
    return number


def _not_found(exc: ZohoError) -> bool:
    """A read of something that is not there (Zoho says 404, or 400 INVALID_DATA on the id)."""
    if exc.status in (204, 404):
        return True
    return exc.status == 400 and exc.code in ("INVALID_DATA", "NO_RECORDS_FOUND", "NOT_FOUND")


__all__ = ["ZohoCRMConnector", "from_options", "parse_cursor"]
