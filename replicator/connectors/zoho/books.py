"""A side that is a Zoho Books organisation, through the v3 REST API (``{api_domain}/books/v3``).

Every call carries ``organization_id``.  ``SideModule.table`` is an endpoint: ``contacts``,
``items``, ``invoices``, ``estimates``, ``salesorders``, ``purchaseorders``; ``customers``
and ``vendors`` are ``contacts`` of that ``contact_type``.  ``id`` may stay ``id`` (the
table's own id key, such as ``contact_id``, is used).  ``view`` is ``customer`` / ``vendor``
(contacts), a ``filter_by`` value such as ``Status.Active``, or a query string of list
filters (``contact_type=customer&filter_by=Status.Active``).

**Pull.**  Pages of 200 (``page``, ``per_page``, ``page_context.has_more_page``).  How
changes are found depends on what each list offers:

- ``contacts`` (no modified filter): sorted by ``last_modified_time`` descending, the walk
  stops at the watermark - overlap;
- ``invoices``, ``salesorders``, ``purchaseorders``: the ``last_modified_time`` filter;
- ``items``, ``estimates`` (neither): every pull reads them all, emits what differs from
  what this process last saw, and reports rows gone since its last full read as deleted
  (no view set; Books has no deleted-records feed, so deletes elsewhere go unseen).

*The cursor* is ``[records, read_at]``: the largest ``last_modified_time`` read, as ISO UTC
text (``2026-11-27T10:00:00+00:00``; a table without times uses the read's clock time),
and the server's time (``Date``) when the pull began, which narrows the next read's
overlap as for CRM (:func:`~replicator.connectors.zoho.cursors.overlap_start`).  Without a
``Date`` it is the watermark text alone, and that form is accepted too.  A walk in
descending or no order cannot move it until it ends, so its pages carry the previous
cursor and a last, empty page the new one.  Records the overlap window brings again
are dropped if this connector has already seen or written that (time, values): no echo.

**Contact persons.**  A contact's ``first_name``, ``last_name``, ``email``, ``phone`` and
``mobile`` are its primary contact person's (list answers show them at the top level;
a whole record only inside ``contact_persons``, which is where Books takes them on input:
a top-level ``phone`` is ignored).  Writing one of them writes the primary contact person
(made on a create, or when the contact has none), naming the contact's other persons by id
so Books keeps them; their ids come from the last whole record read or written, read again
once the contact changed since.

**Custom fields** ``custom_fields: [{api_name, value}]`` become columns named by their API
name, which Books starts with ``cf_`` (``cf_region``; a name without it gets it); a column
starting with ``cf_`` is written back as a custom field.  Top-level ``cf_x`` /
``cf_x_unformatted`` keys of a list answer are read too (the unformatted one wins).  List
answers that lack a mapped column are completed from ``GET /{table}/{id}``, only for rows
that changed: a record read whole (or written: the write's answer is the whole record) is
not read again while its list row shows that modification time and the same values in
the columns the row carries, once the read came at least a second after that time (a read
within that very second may have missed a change made later in it, Books' times having
whole seconds; it is read whole again next time).  A change another program makes in the
very second of our own write, to columns only a whole record shows, is missed until the
record changes again (a window of one call, as for an update).

**Addresses.**  ``billing_address.city`` (any part of ``billing_address`` or
``shipping_address``) is a column of its own; a write sends only the parts it changes
inside the object, which Books merges into the address.  A contacts list answer carries no
addresses, so mapping them costs one ``GET`` per changed contact read.

**Push.**  One record per call (Books has no bulk write).  A create is
``PUT /{table}`` with ``X-Unique-Identifier-Key: <key_field>``, ``X-Unique-Identifier-Value:
<Write.key>``, ``X-Upsert: true`` (``key_field`` is a unique custom field, by default
``cf_replicator_id``), so a retried create finds what it made.  Before updates, a table
with a modified order is listed once from the last watermark: a record changed since this
connector last read it is left alone with ``Outcome(retry=True)``; other tables are read
record by record.  Books has no conditional update, so a change landing between that read
and the write is overwritten (a window of one call).  The client's limiter keeps to 100
requests a minute per organisation, so a sync never meets Books' 429.

**Documents** (``estimates``, ``salesorders``, ``invoices``, ``purchaseorders``): the
``line_items`` column holds the lines in the transactions contract's neutral form, written
whole; ``status`` is written through the status endpoints after the PUT of the other
fields (a status alone is one status call; its answer carries no record, so the list row
showing that status, no later than the call's server time, is taken as our change and not
read whole; an estimate in draft is sent before it is accepted or declined); an empty
``reference_number`` reads the document number; ``salesperson`` is an email (the Books
user's ``salesperson_name``); ``zcrm_potential_id`` / ``zcrm_potential_name`` the deal;
``currency_code`` is written as Books' ``currency_id``.  What cannot be sent (an amount of
more than 2 decimal places, a tax percentage Books has no tax of, a status no endpoint
sets, a currency not the organisation's, a sales person's email no Books user has)
refuses that record's write, naming the line and field, before any write call:
:mod:`.books_documents`.  Lists carry no lines, so a document costs
one ``GET`` each time its list row changes.

**Contact persons** as records of their own are the table ``contactpersons``, served by
:mod:`~replicator.connectors.zoho.books_persons` (found through the contacts feed).

The tables and the flattening of records: :mod:`.books_tables`; the API calls and the
conversion of values, shared with the contact persons: :mod:`.books_api`; documents:
:mod:`.books_documents`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from replicator.connectors.base import (
    SEARCH_LIMIT,
    BaseConnector,
    Change,
    Cursor,
    Outcome,
    Page,
    SideModule,
    Write,
    memory_key,
    utc_now,
)
from replicator.connectors.zoho.books_api import PER_PAGE, BooksApi, Held, Now
from replicator.connectors.zoho.books_directory import SETTLED
from replicator.connectors.zoho.books_documents import (
    DOCUMENTS,
    STATUS,
    Documents,
    Plan,
    TaxNames,
    read_document,
    route,
    tax_names,
)
from replicator.connectors.zoho.books_persons import ContactPersons
from replicator.connectors.zoho.books_tables import (
    ALIASES,
    FILTERED,
    MODIFIED,
    PERSON_COLUMNS,
    PERSONS,
    SCANNED,
    SORTED,
    TABLES,
    Table,
    books_time,
    flatten,
    kind,
    time_text,
)
from replicator.connectors.zoho.credentials import open_auth
from replicator.connectors.zoho.cursors import (
    EPOCH,
    marks,
    parse_time,
    server_time,
    zoho_time,
)
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.limits import RateLimiter, Sleep
from replicator.connectors.zoho.values import body_of, digest
from replicator.errors import ConfigError, ZohoError

SEARCH_PAGES = 10
DELETED = "(deleted)"

Known = tuple[str, str | None]


class ZohoBooksConnector(BooksApi, BaseConnector):
    """A Zoho Books organisation as a side; see the module docstring.  The API it calls and
    the conversion of records are :class:`~.books_api.BooksApi`'s."""

    # amounts keep fixed decimal places: a rounding of our write read back is no change
    rounds_amounts = True

    def __init__(
        self,
        side: str,
        *,
        client: ApiClient,
        organization_id: str,
        key_field: str | None = "cf_replicator_id",
        overlap: float = 300.0,
        now: Now = utc_now,
        taxes: TaxNames | None = None,
    ) -> None:
        super().__init__(
            side, client=client, organization_id=organization_id, overlap=overlap, now=now
        )
        self.key_field = key_field
        self._known: dict[str, dict[str, Known]] = {}
        # module -> id -> what its last read or our last write left (see Held)
        self._whole: dict[str, dict[str, Held]] = {}
        # module -> id -> (the server's time, the status) of a status we set since: a list
        # row no later than that time showing that status is our own change
        self._moved: dict[str, dict[str, tuple[dt.datetime, str]]] = {}
        self._read_upto: dict[str, str] = {}
        self._read_at: dict[str, str | None] = {}  # module -> server time the last pull read
        self._made: dict[tuple[str, str], str] = {}
        self._persons = ContactPersons(self, TABLES["contacts"])  # the contactpersons table
        self._documents = Documents(self, taxes=taxes)  # estimates, invoices...: see there

    def __repr__(self) -> str:
        return f"ZohoBooksConnector(side={self.side!r}, client={self.client!r})"

    # -- reading -----------------------------------------------------------------------

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        if module.table == PERSONS:
            yield from self._persons.pull(module, since, page_size=page_size)
            return
        records_since, read_since = self._parse_cursor(since)
        table, filters = self._table(module)
        self._documents.new_batch()
        known = self._known.setdefault(memory_key(module), {})
        whole = self._whole.setdefault(memory_key(module), {})
        moved = self._moved.setdefault(memory_key(module), {})
        self._absent.pop(table.path, None)
        floor = records_since or EPOCH
        newest = floor
        start = self._start(records_since, read_since)
        self._page_dates = []
        cut = None if table.feed == SCANNED else start  # a scan reads and compares it all
        params: dict[str, Any] = dict(filters)
        if table.feed == SORTED:
            params.update(sort_column=MODIFIED, sort_order="D")
        elif table.feed == FILTERED and start is not None:
            params[MODIFIED] = books_time(start)
        seen: set[str] = set()
        read_at: str | None = None  # the server's time when this pull began reading

        def cursor(records: str, read: str | None) -> Cursor:
            if read_at is None:
                return records
            return marks(records, read, floor=floor, previous=read_since, overlap=self.overlap)

        for records in self._pages(table, params, min(PER_PAGE, page_size)):
            if read_at is None and self._page_dates:
                read_at = zoho_time(self._page_dates[0])
            changes = []
            older = False
            for record in records:
                id = str(record[table.id])
                text = time_text(record)
                if cut is not None and text is not None and text < cut:
                    older = True  # sorted: all that follows is older; filtered: a stray
                    continue
                if text is not None:
                    newest = max(newest, text)
                seen.add(id)
                mine = moved.pop(id, None)
                held = whole.get(id)
                if held is not None and text is not None and id in known:
                    row = self._row_values(module, table, record)
                    if held.time == text and held.complete and held.shows(row):
                        known[id] = (text, known[id][1])
                        continue  # as when last read whole: not read (nor emitted) again
                    if mine and self._ours(mine, text, row.get("status"), held, row):
                        known[id] = (text, None)  # our status change, and nothing else
                        whole[id] = held.moved(text, row)
                        continue
                self._last_read = None
                values = self._values(module, table, record)
                self._note_whole(whole, id, text, values)
                now_known = (text or "", digest(values))
                if known.get(id) != now_known:
                    modified = parse_time(text) or self.now()
                    changes.append(Change(id, values, modified=modified))
                    if known.get(id, ("",))[0] != now_known[0]:
                        self._people.pop(id, None)  # its persons may have changed too
                known[id] = now_known
            yield Page(tuple(changes), cursor(floor, read_since))
            if older and table.feed == SORTED:
                break
        gone: list[Change] = []
        if table.feed == SCANNED:
            if newest == floor:
                newest = max(floor, zoho_time(self.now()))
            if not module.view and module.table not in ALIASES:
                for id, state in list(known.items()):
                    if id not in seen and state[0] != DELETED:
                        gone.append(Change(id, {}, modified=self.now(), deleted=True))
                        known[id] = (DELETED, None)
                        whole.pop(id, None)
        self._read_upto[memory_key(module)] = newest
        self._read_at[memory_key(module)] = read_at
        yield Page(tuple(gone), cursor(newest, read_at))

    def _note_whole(
        self, whole: dict[str, Held], id: str, text: str | None, values: Mapping[str, Any]
    ) -> None:
        """Remember a record as a pull read it.  Read whole, it stands for the next pulls
        once its time has settled: a read within the very second of its time may have
        missed a change made later in it (Books' times have whole seconds), so that one is
        read whole again next time."""
        read = self._last_read
        if read is None or read[0] != id:  # its list row had every column
            if text is not None:
                whole[id] = Held.of(text, values, complete=True)
            return
        moment = parse_time(read[1])
        settled = moment is not None and read[2] - moment >= SETTLED
        whole[id] = Held.of(read[1] or "", values, complete=settled)

    def _row_values(
        self, module: SideModule, table: Table, record: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The module's columns a list row shows, in the side form."""
        flat = flatten(record)
        values = {c: flat[c] for c in module.columns if c in flat}
        read_document(table, record, values)
        return values

    def _values(
        self,
        module: SideModule,
        table: Table,
        record: Mapping[str, Any],
        *,
        complete: bool = True,
    ) -> dict[str, Any]:
        """The module's columns of a record, a document's in the side form of its lines
        and its sales person by email (see :mod:`.books_documents`)."""
        wire = self._documents.wire(table, module)
        values = super()._values(wire, table, record, complete=complete)
        read_document(table, record, values)
        if wire is not module:
            self._documents.read_salesperson(module, values)
        return values

    def get(self, module: SideModule, id: str) -> Change | None:
        if module.table == PERSONS:
            return self._persons.get(module, id)
        table, _ = self._table(module)
        record = self._read_one(table, id)
        if record is None:
            return None
        modified = parse_time(record.get(MODIFIED)) or self.now()
        return Change(str(record.get(table.id, id)), self._values(module, table, record), modified)

    def search(self, module: SideModule, text: str) -> list[Change]:
        """Records whose match columns contain ``text`` (Books ``search_text``), at most 100."""
        text = text.strip()
        if not module.match or not text:
            return []
        if module.table == PERSONS:
            return self._persons.search(module, text)
        table, filters = self._table(module)
        needle = text.casefold()
        found: list[Change] = []
        params = {**filters, "search_text": text}
        for page, records in enumerate(self._pages(table, params, PER_PAGE), start=1):
            for record in records:
                values = self._values(module, table, record)
                if any(needle in str(values.get(c) or "").casefold() for c in module.match):
                    modified = parse_time(record.get(MODIFIED)) or self.now()
                    found.append(Change(str(record[table.id]), values, modified=modified))
                    if len(found) == SEARCH_LIMIT:
                        return found
            if page == SEARCH_PAGES:
                break
        return found

    def schema(self, module: SideModule) -> dict[str, str]:
        """Standard fields, those of a sample record, its custom fields, and the key field.

        The sample (a list call and a read) is taken only when the module's columns are not
        all standard or ``cf_`` fields (or it names none): a sync checking its field map
        before each cycle then costs Books nothing."""
        if module.table == PERSONS:
            return self._persons.schema(module)
        table, filters = self._table(module)
        schema = {table.id: "text", **table.fields}
        covered = module.columns and all(c in schema or c.startswith("cf_") for c in module.columns)
        sample = [] if covered else next(iter(self._pages(table, filters, 1, limit=1)), [])
        if sample:
            record = self._read_one(table, str(sample[0][table.id])) or sample[0]
            for field in record.get("custom_fields") or []:
                if isinstance(field, dict) and field.get("api_name"):
                    name = str(field["api_name"])
                    name = name if name.startswith("cf_") else f"cf_{name}"
                    schema[name] = str(field.get("data_type") or "custom")
            for key, value in flatten(record).items():
                schema.setdefault(key, kind(value))
        # Books offers no API listing custom fields: mapped cf_ columns are taken on trust
        for column in module.columns:
            if column.startswith("cf_"):
                schema.setdefault(column, "custom")
        if self.key_field:
            schema.setdefault(self.key_field, "custom")
        return schema

    def views(self, module: SideModule) -> list[str]:
        """The list filters a module's ``view`` may name (Books has no saved views)."""
        if module.table == PERSONS:
            return self._persons.views(module)
        table, _ = self._table(module)
        return list(table.views)

    def base_currency(self) -> str:
        """The organisation's base currency code (``GET /organizations/{id}``,
        ``currency_code``); read once per connector."""
        return str(self.organization()["currency_code"])

    def close(self) -> None:
        self.client.close()

    # -- writing -----------------------------------------------------------------------

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        if not writes:
            return []
        if module.table == PERSONS:
            return self._persons.push(module, writes)
        table, filters = self._table(module)
        self._documents.new_batch()
        changed = self._changed_since_read(module, table, writes)
        return [self._push_one(module, table, filters, write, changed) for write in writes]

    def _push_one(
        self,
        module: SideModule,
        table: Table,
        filters: Mapping[str, str],
        write: Write,
        changed: Mapping[str, str] | None,
    ) -> Outcome:
        id = (
            str(write.id)
            if write.id is not None
            else self._made.get((memory_key(module), write.key))
        )
        retried_create = write.id is None and id is not None
        values: Mapping[str, Any] = write.values
        plan = Plan(values)
        if table.path in DOCUMENTS:
            plan = self._documents.plan(table, values, creating=write.id is None)
            if plan.error is not None:
                what = f"record {id}" if id is not None else f"new record {write.key}"
                error = f"side {self.side}, {module.table} {what}: {plan.error}; not sent"
                return Outcome(write.key, id, error=error, retry=plan.retry)
        if id is not None:
            state = self._state(module, table, id, changed)
            if state == "missing":
                if not retried_create:
                    return Outcome(write.key, id, error=self._missing(module, id))
                id = None  # another program deleted what we made: make it again
            elif state == "unread":
                if retried_create:  # the record we made was edited since: leave the edit
                    return Outcome(write.key, id)
                return Outcome(
                    write.key,
                    id,
                    retry=True,
                    error=f"side {self.side}: record {id} of {module.table} changed since it "
                    "was last read; not overwritten (it is read and merged on the next cycle)",
                )
        body = {**self._to_api(table, plan.values), **plan.body}
        if id is not None and not body and plan.status is not None:
            return self._move(module, table, write, id, plan.status)  # a status change alone
        if table.path == "contacts" and any(k in body for k in PERSON_COLUMNS):
            person = {k: body.pop(k) for k in PERSON_COLUMNS if k in body}
            persons = self._persons_body(table, id, person)
            if persons:
                body["contact_persons"] = persons
        if id is not None:
            response = self._write("PUT", f"/{table.path}/{id}", body, {})
        else:
            if table.path == "contacts" and "contact_type" in filters:
                body.setdefault("contact_type", filters["contact_type"])
            headers: dict[str, str] = {}
            if self.key_field:
                custom = body.setdefault("custom_fields", [])
                custom.append({"api_name": self.key_field, "value": write.key})
                headers = {
                    "X-Unique-Identifier-Key": self.key_field,
                    "X-Unique-Identifier-Value": write.key,
                    "X-Upsert": "true",
                }
            response = self._write(
                "PUT" if self.key_field else "POST", f"/{table.path}", body, headers
            )
        outcome = self._outcome(module, table, write, id, response)
        if plan.status is None or not outcome.ok or outcome.id is None:
            return outcome
        record = self._answered(table, response)
        if record is not None and record.get("status") == plan.status:
            return outcome  # there already (a create retried after its status was set)
        current = record.get("status") if record is not None else None
        return self._move(
            module, table, write, outcome.id, plan.status, current=str(current or "") or None
        )

    def _move(
        self,
        module: SideModule,
        table: Table,
        write: Write,
        id: str,
        status: str,
        *,
        current: str | None = None,
    ) -> Outcome:
        """Move a document to ``status`` from ``current`` (None: not known), through the
        statuses Books needs on the way (an estimate in draft is sent before it is
        accepted: :func:`~.books_documents.route`).  Moved from a status not known, a
        refusal reads the document, and the move is routed from the status it shows."""
        steps = route(table.path, current, status)
        for step in steps[:-1]:
            outcome, _ = self._move_once(module, table, write, id, step)
            if not outcome.ok:
                return outcome
        outcome, record = self._move_once(module, table, write, id, steps[-1])
        if outcome.ok or current is not None or record is None:
            return outcome
        shown = str(record.get(STATUS) or "")
        if len(route(table.path, shown, status)) < 2:
            return outcome
        return self._move(module, table, write, id, status, current=shown)

    def _move_once(
        self, module: SideModule, table: Table, write: Write, id: str, status: str
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """Set a document's status through its status endpoint.  Its answer carries no
        record: the status and the server's time are kept, so that the list row showing
        them is known as our change (not read whole); a refusal reads the document, as a
        retried write finds it there already, and returns it too (None: not read)."""
        path = f"/{table.path}/{id}/status/{status}"
        what = f"side {self.side}, {module.table} record {id}: status {status}"
        response = self._write("POST", path, None, {})
        if isinstance(response, ZohoError):
            return Outcome(write.key, id, error=f"{what}: {response}", retry=True), None
        answer = body_of(response)
        code = answer.get("code") if isinstance(answer, dict) else None
        if response.status_code < 300 and code in (0, None):
            moment = server_time(response) or self.now()
            self._moved.setdefault(memory_key(module), {})[id] = (moment, status)
            return Outcome(write.key, id), None
        if response.status_code == 404:
            return Outcome(write.key, id, error=self._missing(module, id)), None
        try:
            record = self._read_one(table, id)
        except ZohoError as exc:
            if not exc.retryable:
                raise
            record = None  # the next pull reads it
        if record is not None:
            self._remember_written(module, table, id, record)
            if record.get("status") == status:
                return Outcome(write.key, id), record  # there already (a retried write)
        message = answer.get("message") if isinstance(answer, dict) else None
        reason = f"{what}: HTTP {response.status_code}"
        if code not in (0, None):
            reason += f" code {code}"
        if message:
            reason += f": {message}"
        return Outcome(write.key, id, error=self.client.redactor.scrub(reason)), record

    def _answered(
        self, table: Table, response: httpx.Response | ZohoError
    ) -> dict[str, Any] | None:
        """The record a successful write answered, or None."""
        if isinstance(response, ZohoError) or response.status_code >= 300:
            return None
        answer = body_of(response)
        if not isinstance(answer, dict) or answer.get("code") not in (0, None):
            return None
        record = answer.get(table.one)
        return record if isinstance(record, dict) else None

    def _remember_written(
        self, module: SideModule, table: Table, id: str, record: Mapping[str, Any]
    ) -> None:
        """What a write of ours left, as read whole: its pull is no change, and costs no
        read while its list row shows these values (a change another program makes in that
        very second to what a list row does not show is missed, a window of one call as
        for an update)."""
        text = time_text(record)
        if text is None:
            return
        values = self._values(module, table, record, complete=False)
        self._known.setdefault(memory_key(module), {})[id] = (text, digest(values))
        self._whole.setdefault(memory_key(module), {})[id] = Held.of(text, values, complete=True)
        self._moved.get(memory_key(module), {}).pop(id, None)

    @staticmethod
    def _ours(
        moved: tuple[dt.datetime, str],
        text: str,
        status: Any,
        held: Held | None = None,
        row: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether a document showing ``text`` and ``status`` (and, given, the list
        ``row``) is as our status change left it, no later than its server time (a change
        another program makes in that very second to what a list row does not show is
        missed, as for a write)."""
        moment = parse_time(text)
        if moment is None or moment > moved[0] or status != moved[1]:
            return False
        return held is None or row is None or held.shows(row, but=STATUS)

    def _outcome(
        self,
        module: SideModule,
        table: Table,
        write: Write,
        id: str | None,
        response: httpx.Response | ZohoError,
    ) -> Outcome:
        if isinstance(response, ZohoError):
            return Outcome(write.key, id, error=str(response), retry=True)
        answer = body_of(response)
        code = answer.get("code") if isinstance(answer, dict) else None
        record = self._answered(table, response)
        if record is not None:
            new_id = str(record.get(table.id) or id)
            self._remember_people(table, record)
            if write.id is None:
                self._made[(memory_key(module), write.key)] = new_id
            self._remember_written(module, table, new_id, record)
            return Outcome(write.key, new_id)
        if response.status_code == 404 and id is not None:
            return Outcome(write.key, id, error=self._missing(module, id))
        what = f"record {id}" if id is not None else f"new record {write.key}"
        message = answer.get("message") if isinstance(answer, dict) else None
        reason = f"side {self.side}, {module.table} {what}: HTTP {response.status_code}"
        if code not in (0, None):
            reason += f" code {code}"
        if message:
            reason += f": {message}"
        return Outcome(write.key, id, error=self.client.redactor.scrub(reason))

    def _persons_body(
        self, table: Table, id: str | None, person: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """``contact_persons`` for a write of primary-person columns: the contact's other
        persons by id (so Books keeps them) and the primary one with the new values."""
        primary: str | None = None
        others: tuple[str, ...] = ()
        if id is not None:
            if id not in self._people:
                self._read_one(table, id)  # remembers its persons
            primary, others = self._people.get(id, (None, ()))
        if primary is None and not any(v not in (None, "") for v in person.values()):
            return []  # nothing to say about a person the contact does not have
        mine = {**person, "is_primary_contact": True}
        if primary is not None:
            mine["contact_person_id"] = primary
        return [*({"contact_person_id": other} for other in others), mine]

    def _missing(self, module: SideModule, id: str) -> str:
        return f"side {self.side}: no record with id {id} in {module.table} (deleted?)"

    def _changed_since_read(
        self, module: SideModule, table: Table, writes: Sequence[Write]
    ) -> dict[str, str] | None:
        """Ids changed after the last pull's watermark, with their times, in one listing.

        None when the table has no modified order or nothing was pulled yet in this
        process: each record is then read by id.
        """
        mark = self._read_upto.get(memory_key(module))
        targets = any(w.id is not None or (memory_key(module), w.key) in self._made for w in writes)
        if table.feed == SCANNED or mark is None or not targets:
            return None
        start = self._start(mark, self._read_at.get(memory_key(module)))
        params: dict[str, Any] = {}
        if table.feed == SORTED:
            params.update(sort_column=MODIFIED, sort_order="D")
        elif start is not None:
            params[MODIFIED] = books_time(start)
        changed: dict[str, str] = {}
        for records in self._pages(table, params, PER_PAGE):
            older = False
            for record in records:
                text = time_text(record)
                if text is None or (start is not None and text < start):
                    older = True
                    continue
                changed[str(record[table.id])] = text
            if older and table.feed == SORTED:
                break
        return changed

    def _state(
        self, module: SideModule, table: Table, id: str, changed: Mapping[str, str] | None
    ) -> str | None:
        """``missing``, ``unread`` (changed since this connector last read or wrote it),
        or None (safe to write)."""
        known = self._known.get(memory_key(module), {}).get(id)
        moved = self._moved.get(memory_key(module), {}).get(id)
        if changed is not None:
            if id not in changed:
                return None  # untouched since before the watermark: a missing id answers 404
            moment = parse_time(changed[id])
            if moved is not None and moment is not None and moment <= moved[0]:
                return None  # changed by our status change only
            if known is not None:
                return "unread" if known[0] != changed[id] else None
            return "unread" if changed[id] > self._read_upto[memory_key(module)] else None
        record = self._read_one(table, id)
        if record is None:
            return "missing"
        text = time_text(record) or ""
        now = (text, digest(self._values(module, table, record, complete=False)))
        if moved is not None and self._ours(moved, text, record.get(STATUS)):
            self._remember_written(module, table, id, record)
            return None
        if known is not None:
            same = known[0] == now[0] if known[1] is None else known == now
            return None if same else "unread"
        mark = self._read_upto.get(memory_key(module))
        return "unread" if mark is None or text > mark else None


def from_options(
    side: str,
    options: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Now = utc_now,
) -> ZohoBooksConnector:
    """A Books connector from a side's options (``[sides.NAME]`` in the config).

    Options: ``credentials``, ``data_centre`` / ``accounts_url``, ``api_domain``,
    ``organization_id`` (or in the credentials), ``key_field``, ``overlap_seconds``,
    ``timeout``, ``max_retries``, ``requests_per_minute`` (default 100, Books' limit per
    organisation), ``taxes`` (a tax percentage -> the name of the Books tax a document line
    of that percentage gets, when several share it: ``{"20" = "VAT"}``).  ``transport``
    carries both OAuth and API calls.
    """
    try:
        taxes = tax_names(options.get("taxes") or {})
    except ValueError as exc:
        raise ConfigError(f"[sides.{side}]", "taxes", str(exc)) from None
    auth, credentials = open_auth(side, options, env=env, transport=transport, clock=clock)
    if not credentials.organization_id:
        raise ConfigError(
            str(options.get("credentials") or "(environment)"),
            "organization_id",
            f"side {side}: Zoho Books needs the organisation id (set organization_id in "
            "[sides.NAME], the credentials file or REPLICATOR_ZOHO_ORGANIZATION_ID; "
            "GET /books/v3/organizations lists them)",
        )
    client = ApiClient(
        auth,
        "/books/v3",
        name=f"side {side} (Zoho Books)",
        transport=transport,
        timeout=float(options.get("timeout", 30.0)),
        retries=int(options.get("max_retries", 5)),
        rate=RateLimiter(int(options.get("requests_per_minute", 100)), clock=clock, sleep=sleep),
        sleep=sleep,
        clock=clock,
    )
    return ZohoBooksConnector(
        side,
        client=client,
        organization_id=credentials.organization_id,
        key_field=options.get("key_field", "cf_replicator_id"),
        overlap=float(options.get("overlap_seconds", 300.0)),
        now=now,
        taxes=taxes,
    )


__all__ = ["ZohoBooksConnector", "from_options"]
