"""Books contact persons as a table of their own: ``contactpersons`` (customers' people).

Records are contact persons; a record's id is its ``contact_person_id``.  Columns:
``contact_id`` (the parent contact's Books id, or a lookup ``{id, ...}``: required on a
create, never changed: a person does not move between contacts), ``salutation``,
``first_name`` (Books requires it), ``last_name``, ``email``, ``phone``, ``mobile``,
``designation``, ``department``, ``skype``, and ``is_primary_contact`` (read only: a write
ignores it).  Persons have no custom fields
and no modification time of their own: a change carries its contact's ``last_modified_time``.

``view`` works as for contacts: by default the persons of contacts of type ``customer``;
``vendor``, a ``filter_by`` value (``Status.Active``) or a query string of list filters
(``contact_type=customer&filter_by=Status.Active``).

**Pull.**  Books lists no persons across contacts and has no person feed, so changes are
found through the contacts feed: contacts sorted by ``last_modified_time`` descending, down
to the watermark less the overlap (the cursor is the contacts table's, see
:mod:`~replicator.connectors.zoho.books`).  This relies on a person's add, edit or delete
moving its contact's ``last_modified_time``; Books' spec and pages do not say so either way
(the primary person's fields are the contact's own, which list answers show).  The sandbox
behaves so.  Each contact in the window costs one ``GET /contacts/{id}/contactpersons``,
except one whose list answer shows no primary person (``first_name``, ``last_name``,
``email``, ``phone`` and ``mobile`` all blank) and under which no person was seen: it has
no person, and costs nothing (a person with all five blank is missed there).  A first pull
reads every contact of the view that way.  Persons whose values differ from what this
connector last saw or wrote are emitted (no echo); persons gone from a contact read again
come as ``Change(deleted=True)`` when this process had seen them under it (a person this
process never saw goes unreported when deleted, as do the persons of a deleted contact:
Books has no deleted-records feed).  What a page reports is known once it is handed over
(as for contacts); a contact counts as read only with the page holding its last person, so
a pull abandoned midway reads it again.

**get / locate.**  ``GET /contacts/{contact_id}`` (persons and the contact's time in one
call) needs the parent, so the connector remembers each person's contact from every read
and write.  An id it does not know is looked for by walking the contacts of the view (all
of them the first time, then those changed since the last walk; a push walks at most once);
an id found under none is answered as missing (``get`` returns None).  ``search`` walks the
same way and matches the module's ``match`` columns.

**Push.**  Creates are ``POST /contacts/contactpersons`` with ``contact_id``; updates ``PUT
/contacts/contactpersons/{id}`` with the person's ``contact_id`` and every writable field
(current values, then the written ones), so Books' required fields are always there.  Before
writing, the parent contact is read once per batch (``GET /contacts/{id}``).  A person is
left alone with ``Outcome(retry=True)`` when its values differ from what this connector last
saw or wrote, or its contact changed after that other than by this connector's writes (a
person has no time of its own: an edit that kept every value shows only in its contact's
time; our writes are timed by the answer's ``Date``), or, not seen in this process, its
contact changed after the last pull's watermark.  An edit of a sibling person holds the
write back too, until the next pull: cautious, never lossy.  A change landing between that
read and the write is overwritten (a window of one call; Books has no conditional update).

*Idempotent creates.*  Persons have no custom fields, so Books cannot upsert them by our key.
A create first looks in the parent's persons for the one this connector made for that key in
this process, else one with the same ``first_name``, ``last_name`` and ``email`` (trimmed,
case-insensitive; at least one not blank) not made for another key, and reuses it: updated
when unchanged since read, else left as it is (an edit made since is kept).  Residual
risk: a create retried after a crash whose person was renamed meanwhile makes a second
person; a person another program made with the same three values is adopted rather than
duplicated (the same person, most likely).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from replicator.connectors.base import (
    SEARCH_LIMIT,
    Change,
    Cursor,
    Outcome,
    Page,
    SideModule,
    Write,
)
from replicator.connectors.zoho.books_api import PER_PAGE, BooksApi
from replicator.connectors.zoho.books_directory import (
    COLUMNS,
    FIELDS,
    READ_ONLY,
    SETTLED,
    WRITABLE,
    Batch,
    Directory,
    Entry,
    Parent,
    Seen,
    changes,
    commit,
    count,
    match_key,
    shows_no_person,
    split,
    view_key,
)
from replicator.connectors.zoho.books_tables import MODIFIED, PERSONS, Table, time_text
from replicator.connectors.zoho.cursors import EPOCH, marks, parse_time, server_time, zoho_time
from replicator.connectors.zoho.values import body_of, digest
from replicator.errors import ZohoError


class ContactPersons:
    """The ``contactpersons`` table of a :class:`~.books.ZohoBooksConnector`; see the module
    doc."""

    def __init__(self, books: BooksApi, contacts: Table) -> None:
        self.books, self.contacts = books, contacts
        self._seen: dict[str, Seen] = {}  # person id -> what a committed page or a write held
        # person id -> its contact's time when it was read, or the server's when we wrote it
        self._as_of: dict[str, str] = {}
        self._wrote_at: dict[str, str] = {}  # contact id -> the server's time of our last write
        self._members: dict[str, set[str]] = {}  # contact id -> persons seen under it
        self._settled: dict[str, str] = {}  # contact id -> a time whose persons were all read
        self._made: dict[str, str] = {}  # write key -> the person made for it
        self._read_upto: dict[str, str] = {}  # view -> the last pull's watermark
        self._directories: dict[str, Directory] = {}

    # -- reading -----------------------------------------------------------------------

    def pull(self, module: SideModule, since: Cursor | None, *, page_size: int) -> Iterator[Page]:
        books = self.books
        records_since, read_since = books._parse_cursor(since)
        filters = self.filters(module)
        view = view_key(filters)
        floor = records_since or EPOCH
        newest = floor
        start = books._start(records_since, read_since)
        books._page_dates = []
        read_at: str | None = None
        queue: list[Entry] = []
        visited: set[str] = set()

        def cursor(records: str, read: str | None) -> Cursor:
            if read_at is None:
                return records
            return marks(records, read, floor=floor, previous=read_since, overlap=books.overlap)

        params = {**filters, "sort_column": MODIFIED, "sort_order": "D"}
        for records in books._pages(self.contacts, params, PER_PAGE):
            if read_at is None and books._page_dates:
                read_at = zoho_time(books._page_dates[0])
            listed_at = books._page_dates[-1] if books._page_dates else None
            older = False
            for record in records:
                contact_id, text = str(record[self.contacts.id]), time_text(record)
                if start is not None and text is not None and text < start:
                    older = True  # sorted: all that follows is older
                    continue
                if contact_id in visited:  # moved down a page by an edit during the walk
                    continue
                visited.add(contact_id)
                if text is not None:
                    newest = max(newest, text)
                queue += self._contact(module, view, record, text, listed_at)
                while count(queue) > page_size:
                    page, queue = split(queue, page_size)
                    commit(page)
                    yield Page(changes(page), cursor(floor, read_since))
            if older:
                break
        while count(queue) > page_size:
            page, queue = split(queue, page_size)
            commit(page)
            yield Page(changes(page), cursor(floor, read_since))
        commit(queue)
        self._read_upto[view] = newest
        yield Page(changes(queue), cursor(newest, read_at))

    def _contact(
        self,
        module: SideModule,
        view: str,
        record: Mapping[str, Any],
        text: str | None,
        listed_at: dt.datetime | None,
    ) -> list[Entry]:
        """The changes of one contact of the walk, and what to remember of them."""
        contact_id = str(record[self.contacts.id])
        members = set(self._members.get(contact_id, ()))
        if text is not None and self._settled.get(contact_id) == text:
            return []  # its persons were read after that second ended
        if not members and shows_no_person(record):
            return [(None, lambda: self._settle(contact_id, text, listed_at))]
        persons, read = self.books._list_persons(contact_id)
        self.directory(view).file(contact_id, persons or [], text)
        modified = parse_time(text) or self.books.now()
        entries: list[Entry] = []
        present = set()
        for person in persons or []:
            id = str(person["contact_person_id"])
            present.add(id)
            values = self.values(module, contact_id, person)
            seen = (contact_id, digest(values))
            remember = _saw(self, id, seen, text)
            if self._seen.get(id) != seen:
                entries.append((Change(id, values, modified=modified), remember))
            else:
                entries.append((None, remember))
        for id in sorted(members - present):
            gone = Change(id, {}, modified=modified, deleted=True)
            entries.append((gone, _forgot(self, id, contact_id)))
        entries.append((None, lambda: self._settle(contact_id, text, read)))
        return entries

    def _settle(self, contact_id: str, text: str | None, read: dt.datetime | None) -> None:
        """Remember that a contact's persons were read at ``text``; a read within that very
        second may have missed a change made later in it (Zoho's times have whole seconds)."""
        moment = parse_time(text)
        if moment is not None and read is not None and read - moment >= SETTLED:
            self._settled[contact_id] = text or ""
        else:
            self._settled.pop(contact_id, None)

    def get(self, module: SideModule, id: str) -> Change | None:
        filters = self.filters(module)
        contact_id = self._locate(id, filters)
        if contact_id is None:
            return None
        parent = self._read_parent(contact_id, filters)
        person = parent.persons.get(id) if parent is not None else None
        if parent is None or person is None:
            return None
        modified = parse_time(parent.time) or self.books.now()
        return Change(id, self.values(module, contact_id, person), modified=modified)

    def search(self, module: SideModule, text: str) -> list[Change]:
        """Persons whose match columns contain ``text``, ignoring case (at most 100)."""
        text = text.strip()
        if not module.match or not text:
            return []
        filters = self.filters(module)
        self._walk(filters)
        directory = self.directory(view_key(filters))
        needle = text.casefold()
        found: list[Change] = []
        for id, person in directory.people.items():
            contact_id = directory.parent[id]
            values = self.values(module, contact_id, person)
            if any(needle in str(values.get(c) or "").casefold() for c in module.match):
                modified = parse_time(directory.times.get(contact_id)) or self.books.now()
                found.append(Change(id, values, modified=modified))
                if len(found) == SEARCH_LIMIT:
                    break
        return found

    def schema(self, module: SideModule) -> dict[str, str]:
        return dict(FIELDS)

    def views(self, module: SideModule) -> list[str]:
        return list(self.contacts.views)

    # -- writing -----------------------------------------------------------------------

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        filters = self.filters(module)
        batch = Batch()
        return [self._push_one(module, filters, write, batch) for write in writes]

    def _push_one(
        self,
        module: SideModule,
        filters: Mapping[str, str],
        write: Write,
        batch: Batch,
    ) -> Outcome:
        values = {k: v for k, v in write.values.items() if k not in READ_ONLY}
        asked = values.pop("contact_id", None)
        if isinstance(asked, Mapping):  # a lookup read whole
            asked = asked.get("id")
        asked = str(asked) if asked not in (None, "") else None
        id = str(write.id) if write.id is not None else self._made.get(write.key)
        retried_create = write.id is None and id is not None
        try:
            if id is not None:
                contact_id = self._locate(id, filters, batch)
                parent = self._parent(contact_id, filters, batch) if contact_id else None
                current = parent.persons.get(id) if parent is not None else None
                if contact_id is None or parent is None or current is None:
                    if not retried_create:
                        return Outcome(write.key, id, error=self._missing(module, id))
                    id = None  # another program deleted what we made: make it again
                elif asked is not None and asked != contact_id:
                    return Outcome(write.key, id, error=self._moved(id, contact_id, asked))
                elif self._unread(module, filters, id, contact_id, parent, current):
                    if retried_create:  # the person we made was edited since: leave the edit
                        return Outcome(write.key, id)
                    return Outcome(write.key, id, retry=True, error=self._unread_error(id))
                else:
                    return self._update(
                        module, filters, write, id, contact_id, current, values, batch
                    )
            if asked is None:
                return Outcome(
                    write.key,
                    None,
                    error=f"side {self.books.side}: a new contact person ({write.key}) needs "
                    "contact_id, the Books id of its contact",
                )
            parent = self._parent(asked, filters, batch)
            if parent is None:
                return Outcome(
                    write.key,
                    None,
                    error=f"side {self.books.side}: no contact {asked} in Books for new "
                    f"contact person {write.key} (deleted?)",
                )
            twin = self._twin(parent, values)
            if twin is None:
                return self._create(module, filters, write, asked, values, batch)
            self._made[write.key] = twin  # made by an earlier try of this create, most likely
            current = parent.persons[twin]
            if self._unread(module, filters, twin, asked, parent, current):
                return Outcome(write.key, twin)
            return self._update(module, filters, write, twin, asked, current, values, batch)
        except ZohoError as exc:
            if not exc.retryable:
                raise
            return Outcome(write.key, id, error=str(exc), retry=True)

    def _update(
        self,
        module: SideModule,
        filters: Mapping[str, str],
        write: Write,
        id: str,
        contact_id: str,
        current: Mapping[str, Any],
        values: Mapping[str, Any],
        batch: Batch,
    ) -> Outcome:
        body = {
            "contact_id": contact_id,
            **{k: current.get(k) or "" for k in WRITABLE},
            **values,
        }
        return self._send(module, filters, write, id, contact_id, body, current, batch)

    def _create(
        self,
        module: SideModule,
        filters: Mapping[str, str],
        write: Write,
        contact_id: str,
        values: Mapping[str, Any],
        batch: Batch,
    ) -> Outcome:
        body = {"contact_id": contact_id, **values}
        return self._send(module, filters, write, None, contact_id, body, {}, batch)

    def _send(
        self,
        module: SideModule,
        filters: Mapping[str, str],
        write: Write,
        id: str | None,
        contact_id: str,
        body: dict[str, Any],
        current: Mapping[str, Any],
        batch: Batch,
    ) -> Outcome:
        what = f"record {id}" if id is not None else f"new record {write.key}"
        where = f"side {self.books.side}, {module.table} {what}"
        if not str(body.get("first_name") or "").strip():
            return Outcome(write.key, id, error=f"{where}: first_name is required by Books")
        if id is None:
            response = self.books._write("POST", "/contacts/contactpersons", body, {})
        else:
            response = self.books._write("PUT", f"/contacts/contactpersons/{id}", body, {})
        if isinstance(response, ZohoError):
            return Outcome(write.key, id, error=str(response), retry=True)
        answer = body_of(response)
        answer = answer if isinstance(answer, dict) else {}
        code = answer.get("code")
        record = answer.get("contact_person")
        if isinstance(record, list):  # the spec answers a list of one
            record = record[0] if record else None
        if response.status_code < 300 and code in (0, None) and isinstance(record, dict):
            person = {**current, **body, **record}
            person["contact_person_id"] = new_id = str(record.get("contact_person_id") or id)
            at = server_time(response)
            written_at = zoho_time(at) if at is not None else None
            self._wrote(module, filters, contact_id, person, written_at, batch)
            if write.id is None:
                self._made[write.key] = new_id
            return Outcome(write.key, new_id)
        if response.status_code == 404 and id is not None:
            return Outcome(write.key, id, error=self._missing(module, id))
        return Outcome(write.key, id, error=self._refusal(where, response, answer))

    def _wrote(
        self,
        module: SideModule,
        filters: Mapping[str, str],
        contact_id: str,
        person: dict[str, Any],
        at: str | None,
        batch: Batch,
    ) -> None:
        """Remember a person as written at server time ``at``: its values (no echo), its
        contact, the batch's copy of that contact."""
        id = person["contact_person_id"]
        seen = (contact_id, digest(self.values(module, contact_id, person)))
        _saw(self, id, seen, at)()
        if at is not None:
            self._wrote_at[contact_id] = max(at, self._wrote_at.get(contact_id, at))
        self.directory(view_key(filters)).add(contact_id, person)
        parent = batch.parents.get(contact_id)
        if parent is not None:
            parent.persons[id] = person

    def _unread(
        self,
        module: SideModule,
        filters: Mapping[str, str],
        id: str,
        contact_id: str,
        parent: Parent,
        current: Mapping[str, Any],
    ) -> bool:
        """Whether a person changed since this connector last read or wrote it: its values
        differ, or its contact changed since, other than by our writes (a person has no time
        of its own; an edit that kept every value shows only there)."""
        seen = self._seen.get(id)
        if seen is not None:
            if seen != (contact_id, digest(self.values(module, contact_id, current))):
                return True
            as_of = self._as_of.get(id)
            if as_of is None or parent.time is None:
                return False
            return parent.time > max(as_of, self._wrote_at.get(contact_id, as_of))
        mark = self._read_upto.get(view_key(filters))
        return mark is None or (parent.time or "") > mark

    def _twin(self, parent: Parent, values: Mapping[str, Any]) -> str | None:
        """A person of ``parent`` with the written first name, last name and email, not
        made for another key: what an earlier try of this create made, most likely."""
        key = match_key(values)
        if not any(key):
            return None
        claimed = set(self._made.values())
        return next(
            (
                id
                for id, person in parent.persons.items()
                if id not in claimed and match_key(person) == key
            ),
            None,
        )

    # -- helpers -----------------------------------------------------------------------

    def filters(self, module: SideModule) -> dict[str, str]:
        """The contacts list filters of the module's view (customers by default)."""
        filters = {"contact_type": "customer"}
        view = module.view
        if view:
            if "=" in view:
                filters.update(urllib.parse.parse_qsl(view))
            elif view in ("customer", "vendor"):
                filters["contact_type"] = view
            else:
                filters["filter_by"] = view
        return filters

    def directory(self, view: str) -> Directory:
        return self._directories.setdefault(view, Directory())

    def values(
        self, module: SideModule, contact_id: str, person: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The module's columns of a person (every column when it names none)."""
        flat = {**person, "contact_id": contact_id}
        return {column: flat.get(column) for column in module.columns or COLUMNS}

    def _locate(
        self, id: str, filters: Mapping[str, str], batch: Batch | None = None
    ) -> str | None:
        """The contact a person belongs to: as remembered, else found by a walk (at most
        one per batch of writes)."""
        directory = self.directory(view_key(filters))
        if id not in directory.parent and not (batch is not None and batch.walked):
            self._walk(filters)
            if batch is not None:
                batch.walked = True
        return directory.parent.get(id)

    def _walk(self, filters: Mapping[str, str]) -> None:
        """Read the persons of the view's contacts changed since the last walk (all of
        them the first time) into the directory."""
        books = self.books
        directory = self.directory(view_key(filters))
        start = books._start(directory.upto)
        newest = directory.upto or EPOCH
        dates, books._page_dates = books._page_dates, []  # a pull's read time stays its own
        try:
            params = {**filters, "sort_column": MODIFIED, "sort_order": "D"}
            for records in books._pages(self.contacts, params, PER_PAGE):
                older = False
                for record in records:
                    contact_id, text = str(record[self.contacts.id]), time_text(record)
                    if start is not None and text is not None and text < start:
                        older = True
                        continue
                    if text is not None:
                        newest = max(newest, text)
                    if not directory.roster.get(contact_id) and shows_no_person(record):
                        directory.times[contact_id] = text
                        continue
                    persons, _ = self.books._list_persons(contact_id)
                    directory.file(contact_id, persons or [], text)
                if older:
                    break
        finally:
            books._page_dates = dates
        directory.upto = newest

    def _parent(self, contact_id: str, filters: Mapping[str, str], batch: Batch) -> Parent | None:
        if contact_id not in batch.parents:
            batch.parents[contact_id] = self._read_parent(contact_id, filters)
        return batch.parents[contact_id]

    def _read_parent(self, contact_id: str, filters: Mapping[str, str]) -> Parent | None:
        """A contact read whole (``GET /contacts/{id}``): its time and persons."""
        record = self.books._read_one(self.contacts, contact_id)
        directory = self.directory(view_key(filters))
        if record is None:
            directory.file(contact_id, [], None)
            return None
        listed = record.get("contact_persons")
        persons = [
            p
            for p in (listed if isinstance(listed, list) else [])
            if isinstance(p, dict) and p.get("contact_person_id")
        ]
        text = time_text(record)
        directory.file(contact_id, persons, text)
        return Parent(text, {str(p["contact_person_id"]): p for p in persons})

    def _missing(self, module: SideModule, id: str) -> str:
        return f"side {self.books.side}: no record with id {id} in {module.table} (deleted?)"

    def _moved(self, id: str, contact_id: str, asked: str) -> str:
        return (
            f"side {self.books.side}: contact person {id} belongs to contact {contact_id}, "
            f"not {asked}; a person does not move between contacts in Books (delete it and "
            "create one under the other contact)"
        )

    def _unread_error(self, id: str) -> str:
        return (
            f"side {self.books.side}: record {id} of {PERSONS} changed since it was last "
            "read; not overwritten (it is read and merged on the next cycle)"
        )

    def _refusal(self, where: str, response: httpx.Response, answer: Mapping[str, Any]) -> str:
        reason = f"{where}: HTTP {response.status_code}"
        code, message = answer.get("code"), answer.get("message")
        if code not in (0, None):
            reason += f" code {code}"
        if message:
            reason += f": {message}"
        return self.books.client.redactor.scrub(reason)


def _saw(persons: ContactPersons, id: str, seen: Seen, as_of: str | None) -> Callable[[], None]:
    def remember() -> None:
        persons._seen[id] = seen
        persons._members.setdefault(seen[0], set()).add(id)
        if as_of is None:
            persons._as_of.pop(id, None)
        else:
            persons._as_of[id] = as_of

    return remember


def _forgot(persons: ContactPersons, id: str, contact_id: str) -> Callable[[], None]:
    def forget() -> None:
        persons._seen.pop(id, None)
        persons._as_of.pop(id, None)
        persons._members.get(contact_id, set()).discard(id)

    return forget


__all__ = ["ContactPersons"]
