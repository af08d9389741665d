"""What the Books contact persons table keeps between calls: its columns, where each person
lives (:class:`Directory`), the contacts one push has read (:class:`Batch`), and the queue
of a pull's changes cut into pages (:data:`Entry`, :func:`split`, :func:`commit`).

See :mod:`.books_persons` for the table itself.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from replicator.connectors.base import Change
from replicator.connectors.zoho.books_tables import PERSON_COLUMNS

WRITABLE = (
    "salutation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "designation",
    "department",
    "skype",
)
READ_ONLY = ("contact_person_id", "is_primary_contact", "is_added_in_portal")
COLUMNS = ("contact_id", *WRITABLE, "is_primary_contact")
FIELDS = {
    "contact_person_id": "text",
    "contact_id": "text",
    **dict.fromkeys(WRITABLE, "text"),
    "is_primary_contact": "boolean",
}
PRIMARY = PERSON_COLUMNS  # a contact's list answer shows these of its primary person
MATCH = ("first_name", "last_name", "email")
SETTLED = dt.timedelta(seconds=1)

# one change of a pull (or None) and what to remember once its page is committed
Entry = tuple[Change | None, Callable[[], None]]
Seen = tuple[str, str]  # (contact id, digest of the values last seen or written)


@attrs.define
class Parent:
    """A contact as read whole: its modification time and its persons by id."""

    time: str | None
    persons: dict[str, dict[str, Any]]


@attrs.define
class Batch:
    """What one push has read: each parent contact once, and whether it walked."""

    parents: dict[str, Parent | None] = attrs.field(factory=dict)
    walked: bool = False


@attrs.define
class Directory:
    """Where each person of a view lives, as last read, and how far the walks went."""

    upto: str | None = None  # the newest contact time of the last complete walk
    parent: dict[str, str] = attrs.field(factory=dict)  # person id -> contact id
    people: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # person id -> person
    roster: dict[str, set[str]] = attrs.field(factory=dict)  # contact id -> person ids
    times: dict[str, str | None] = attrs.field(factory=dict)  # contact id -> its time

    def file(self, contact_id: str, persons: Sequence[Mapping[str, Any]], time: str | None) -> None:
        """A contact's persons as just read (none: it has none, or is gone)."""
        for id in self.roster.pop(contact_id, set()):
            self.parent.pop(id, None)
            self.people.pop(id, None)
        ids = set()
        for person in persons:
            id = str(person["contact_person_id"])
            self.parent[id], self.people[id] = contact_id, dict(person)
            ids.add(id)
        if ids:
            self.roster[contact_id] = ids
        self.times[contact_id] = time

    def add(self, contact_id: str, person: Mapping[str, Any]) -> None:
        id = str(person["contact_person_id"])
        self.parent[id], self.people[id] = contact_id, dict(person)
        self.roster.setdefault(contact_id, set()).add(id)


def count(queue: Sequence[Entry]) -> int:
    return sum(1 for change, _ in queue if change is not None)


def split(queue: list[Entry], size: int) -> tuple[list[Entry], list[Entry]]:
    """The entries up to the ``size``-th change, and the rest."""
    count = 0
    for index, (change, _) in enumerate(queue):
        if change is not None:
            count += 1
            if count == size:
                return queue[: index + 1], queue[index + 1 :]
    return queue, []


def changes(entries: Sequence[Entry]) -> tuple[Change, ...]:
    return tuple(change for change, _ in entries if change is not None)


def commit(entries: Sequence[Entry]) -> None:
    for _, remember in entries:
        remember()


def shows_no_person(record: Mapping[str, Any]) -> bool:
    """Whether a contact's list answer shows it has no primary person (so none at all)."""
    return all(key in record for key in PRIMARY) and not any(record[key] for key in PRIMARY)


def match_key(values: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(values.get(k) or "").strip().casefold() for k in MATCH)


def view_key(filters: Mapping[str, str]) -> str:
    return urllib.parse.urlencode(sorted(filters.items()))


__all__ = [
    "COLUMNS",
    "FIELDS",
    "MATCH",
    "PRIMARY",
    "READ_ONLY",
    "SETTLED",
    "WRITABLE",
    "Batch",
    "Directory",
    "Entry",
    "Parent",
    "Seen",
    "changes",
    "commit",
    "count",
    "match_key",
    "shows_no_person",
    "split",
    "view_key",
]
