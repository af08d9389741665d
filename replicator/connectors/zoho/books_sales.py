"""A Books document's sales person, known by email: the ``salesperson`` column.

A deal's owner is a CRM user known by email (the deals contract, section 7); Books shows a
document's sales person by name (``salesperson_name``).  The column ``salesperson`` of an
estimate or invoice is that person's email: written as the ``salesperson_name`` of the
Books user with that email (``GET /users``, every page; emails compared without case),
read back as that user's email.  An email no Books user has refuses the write, naming the
field; a name no single Books user has reads as the name itself (what Books shows, never
guessed).  The users are read on first use and again, at most once per push or pull, when
a write or a read meets one the list lacks (a user added in Books since).  A read whose
``GET /users`` Books refuses for good (no permission to list users) reads names as they
are rather than failing the pull; a write then fails with Books' reason; a passing
failure (5xx, timeout) or a token refused is raised, as for any call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from replicator.connectors.zoho.values import body_of
from replicator.errors import ZohoAuthError, ZohoError

if TYPE_CHECKING:
    from replicator.connectors.zoho.books_api import BooksApi

SALESPERSON = "salesperson"  # the column: an email
SALESPERSON_NAME = "salesperson_name"  # what Books reads and writes
PER_PAGE = 200


class UnknownEmail(ValueError):
    """A sales person's email no Books user has (the write is refused with this)."""


class Salespeople:
    """The users of one Books organisation, by email and by name."""

    def __init__(self, api: BooksApi) -> None:
        self.api = api
        self._users: list[tuple[str, str]] | None = None  # (name, email)
        self._fresh = False  # read afresh during this push or pull already

    def new_batch(self) -> None:
        """A push or pull begins: a miss may read the users again, once."""
        self._fresh = False

    def name_of(self, email: Any) -> str:
        """The ``salesperson_name`` to write for an email ("" clears it); raises
        :class:`UnknownEmail`."""
        if email in (None, ""):
            return ""
        wanted = str(email).strip().casefold()
        for again in (False, True):
            for name, known in self._list(again=again):
                if known.casefold() == wanted:
                    return name
        raise UnknownEmail(f"{SALESPERSON}: no Books user has the email {str(email)!r}")

    def email_of(self, name: Any) -> Any:
        """The email of the one Books user named ``name``; the name itself when no single
        user has it; None for no sales person."""
        if name in (None, ""):
            return None
        for again in (False, True):
            try:
                users = self._list(again=again)
            except ZohoAuthError:
                raise
            except ZohoError as exc:
                if exc.retryable:
                    raise
                # users cannot be listed: the name as Books shows it, and no other call
                # for them in this pull (a write says Books' reason)
                self._users, self._fresh = [], True
                return name
            emails = {e for n, e in users if n == name}
            if len(emails) == 1:
                return emails.pop()
            if emails:
                return name  # several users share the name: Books' name, not a guess
        return name

    def _list(self, *, again: bool) -> list[tuple[str, str]]:
        if self._users is None or (again and not self._fresh):
            self._fresh = True
            self._users = self._read()
        return self._users

    def _read(self) -> list[tuple[str, str]]:
        users: list[tuple[str, str]] = []
        page = 1
        while True:
            params = self.api._params({"page": page, "per_page": PER_PAGE})
            response = self.api.client.request("GET", "/users", kind="get", params=params)
            if response.status_code >= 400:
                raise self.api.client.error(response, f"side {self.api.side}: GET /users")
            answer = body_of(response)
            answer = answer if isinstance(answer, dict) else {}
            found = [u for u in answer.get("users") or [] if isinstance(u, Mapping)]
            for user in found:
                name, email = user.get("name"), _email(user)
                if isinstance(name, str) and name and email:
                    users.append((name, email))
            more = (answer.get("page_context") or {}).get("has_more_page")
            if not more or not found:
                return users
            page += 1


def _email(user: Mapping[str, Any]) -> str | None:
    """A user's email: ``email`` (the list), or the selected one of ``email_ids``."""
    email = user.get("email")
    if isinstance(email, str) and email:
        return email
    ids = [e for e in user.get("email_ids") or [] if isinstance(e, Mapping) and e.get("email")]
    chosen = next((e for e in ids if e.get("is_selected")), ids[0] if ids else None)
    return str(chosen["email"]) if chosen else None


__all__ = ["SALESPERSON", "SALESPERSON_NAME", "Salespeople", "UnknownEmail"]
