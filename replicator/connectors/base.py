"""The connector protocol every side implements (DESIGN section 6).

A connector speaks its side's own language: column names and raw values.  The field map
(:mod:`replicator.config.mapping`) turns those into canonical values and back; the engine never
sees a connector's internals, and a connector never sees the journal.

Contract (checked by ``tests/connectors/contract.py`` for every implementation):

- ``pull(module, since)`` yields pages of changes made by *others* since ``since``, in order;
  each page carries a cursor covering it.  Asking for the next page says the previous one
  is committed: a connector may forget what that cursor covers.  Cursors only grow.
  ``since=None`` takes a snapshot of every existing row first.  Changes the connector
  itself pushed are not returned (no echo).  A deleted row comes as
  ``Change(id, {}, deleted=True)``.  A row that cannot be a record (no id, a shared id)
  comes as a change with a ``problem``, never silently left out; a value that cannot be
  read (bytes that are not UTF-8 in a text column) comes as it is (``bytes``), for the
  field map to report as that one field's error.
- ``push(module, writes)`` returns one :class:`Outcome` per write, in input order.  A create
  carries ``key`` (our record id); pushing a create again with the same key returns the
  record already made instead of a second one.  One rejected write never stops the others.
- ``get``, ``search``, ``schema``, ``views`` read without changing anything; ``search``
  answers at most :data:`SEARCH_LIMIT` records.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, cast, runtime_checkable

import attrs

if TYPE_CHECKING:  # for the type of http_client only: a connector need not speak HTTP
    import httpx

Cursor = int | str | list[Any]
SEARCH_LIMIT = 100  # records a search answers at most: enough to choose from by eye


@attrs.frozen
class SideModule:
    """A module as one side sees it: where its records live and which columns matter."""

    name: str  # the module's canonical name (customers, items, ...)
    table: str  # the side's table / API module
    id: str = "id"  # the column holding the side's record id
    columns: tuple[str, ...] = ()  # the columns to read and write (mapped fields)
    match: tuple[str, ...] = ()  # the columns of the duplicate match key
    modified: str | None = None  # the column with the side's modification time, if any
    view: str | None = None  # only records in this view / matching these criteria
    # local criteria (column -> wanted value, list of values, or {"present": bool}): rows
    # that do not match are not synced; the engine applies them after a pull
    where: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    create: Mapping[str, Any] = attrs.field(factory=dict, eq=False)  # columns set on a create


def matches(where: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether a row's values meet local criteria (see :attr:`SideModule.where`)."""
    for column, wanted in where.items():
        value = values.get(column)
        if isinstance(value, Mapping) and "id" in value:  # a lookup read whole
            value = value["id"]
        if isinstance(wanted, Mapping):
            present = value is not None and value != ""
            if present != bool(wanted.get("present", True)):
                return False
        elif isinstance(wanted, list | tuple):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


@attrs.frozen
class Change:
    """One record as changed on a side: its id, its raw values, and when it changed.

    ``problem``: the side holds a row it cannot give as a record (no id, an id two rows
    share, an id that is not text), and says why, naming the row; ``id`` is the shared id,
    or empty when there is none.  The engine journals it as an error and syncs nothing of
    it; the row is read again once it changes."""

    id: str
    values: Mapping[str, Any] = attrs.field(factory=dict)
    modified: dt.datetime | None = None  # aware UTC
    deleted: bool = False
    problem: str | None = None


@attrs.frozen
class Page:
    changes: tuple[Change, ...]
    cursor: Cursor


@attrs.frozen
class Write:
    """One record to create (``id`` None) or update, in the side's columns."""

    key: str  # our record id: a retried create finds the record it already made
    id: str | None
    values: Mapping[str, Any]


@attrs.frozen
class Outcome:
    """What became of one write: the side's id, or why it was refused."""

    key: str
    id: str | None
    error: str | None = None
    retry: bool = False  # a passing failure (timeout, 5xx): try again next cycle
    values: Mapping[str, Any] | None = None  # the values the side now holds, when it says

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Connector(Protocol):
    """What the engine asks of every side (the optional capabilities are declared on
    :class:`BaseConnector`)."""

    side: str

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]: ...

    def get(self, module: SideModule, id: str) -> Change | None: ...

    def search(self, module: SideModule, text: str) -> list[Change]: ...

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]: ...

    def schema(self, module: SideModule) -> dict[str, str]: ...

    def views(self, module: SideModule) -> list[str]: ...

    def close(self) -> None: ...


class Notifications(Protocol):
    """A side that calls back when its records change (Zoho CRM's watch channels), so a
    daemon can sync a module at once instead of at the next poll."""

    def enable_notifications(
        self, channels: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]: ...

    def update_notifications(
        self, channels: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]: ...

    def disable_notifications(self, channel_ids: Sequence[str]) -> None: ...


class BaseConnector(abc.ABC):
    """The lifecycle every connector shares, written once, and the optional capabilities
    declared with the answer a side without them gives (never found by ``getattr``).

    A connector subclasses this, implements the protocol's six methods and, if it holds
    anything (a connection, an HTTP client), overrides :meth:`close`.  ``with connector:``
    closes it on the way out.

    Optional capabilities, each read through the function of its name below (which also
    answers for a connector not built on this class):

    - ``rounds_amounts``: the side keeps amounts to fixed decimal places (a Zoho currency
      field), so a rounding of our write read back is no change;
    - ``identity``: the account behind the side (a Books organisation id), or None: the
      journal refuses to mix two accounts' record ids;
    - ``base_currency``: a method answering the side's base currency as an ISO code (read
      by Zoho's currency rule), or None when the side's amounts carry no currency;
    - ``notifies``: the connector has the :class:`Notifications` methods (Zoho CRM);
    - ``http_client``: the HTTP client the side's answers come through, for the daemon's
      request metrics, or None when the side is not reached over HTTP;
    - ``probabilities``: a method answering a field's stage metadata (a deal's stage ->
      its probability 0..100, as the side defines it), or None when the side has none.
    """

    side: str
    rounds_amounts: ClassVar[bool] = False
    identity: str | None = None
    base_currency: Callable[[], str] | None = None
    notifies: ClassVar[bool] = False
    http_client: httpx.Client | None = None

    @abc.abstractmethod
    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]: ...

    @abc.abstractmethod
    def get(self, module: SideModule, id: str) -> Change | None: ...

    @abc.abstractmethod
    def search(self, module: SideModule, text: str) -> list[Change]: ...

    @abc.abstractmethod
    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]: ...

    @abc.abstractmethod
    def schema(self, module: SideModule) -> dict[str, str]: ...

    @abc.abstractmethod
    def views(self, module: SideModule) -> list[str]: ...

    def probabilities(self, module: SideModule, field: str) -> Mapping[str, int] | None:
        """Each value of the side's stage column ``field`` of ``module`` -> its probability
        (0..100), or None when the side keeps no such metadata (this default)."""
        return None

    def close(self) -> None:  # noqa: B027 - a hook, empty on purpose (as httpx BaseTransport)
        """Release what the connector holds; a connector that holds nothing keeps this."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# The readers of the optional capabilities.  A BaseConnector declares each one; the
# ``getattr`` branch serves a connector that only follows the Connector protocol (every
# connector here is built on the base; wrappers such as the property suite's flaky sides
# are not), so the protocol stays enough to be a side.


def rounds_amounts(connector: object) -> bool:
    """Whether the connector's side keeps amounts to fixed decimal places."""
    if isinstance(connector, BaseConnector):
        return connector.rounds_amounts
    return bool(getattr(connector, "rounds_amounts", False))


def identity(connector: object) -> str | None:
    """The account behind the connector's side, as text, or None when it names none."""
    value = (
        connector.identity
        if isinstance(connector, BaseConnector)
        else getattr(connector, "identity", None)
    )
    return str(value) if value else None


def currency_reader(connector: object) -> Callable[[], str] | None:
    """The connector's ``base_currency`` method, or None when its side has none."""
    if isinstance(connector, BaseConnector):
        return connector.base_currency
    reader = getattr(connector, "base_currency", None)
    return reader if callable(reader) else None


def notifications(connector: object) -> Notifications | None:
    """The connector as a side that calls back on changes, or None when it does not."""
    if isinstance(connector, BaseConnector):
        return cast(Notifications, connector) if connector.notifies else None
    methods = ("enable_notifications", "update_notifications", "disable_notifications")
    if all(callable(getattr(connector, m, None)) for m in methods):
        return cast(Notifications, connector)
    return None


def http_client(connector: object) -> httpx.Client | None:
    """The HTTP client the connector's side answers through, or None."""
    if isinstance(connector, BaseConnector):
        return connector.http_client
    found: httpx.Client | None = getattr(getattr(connector, "client", None), "http", None)
    return found


def probabilities(connector: object, module: SideModule, field: str) -> Mapping[str, int] | None:
    """The stage metadata of ``field`` (a column of ``module``) on the connector's side:
    stage value -> probability (100 won, 0 lost), or None when the side has none."""
    if isinstance(connector, BaseConnector):
        return connector.probabilities(module, field)
    reader = getattr(connector, "probabilities", None)
    if not callable(reader):
        return None
    found: Mapping[str, int] | None = reader(module, field)
    return found


def utc_now() -> dt.datetime:
    """The time now, aware UTC (a connector's default clock)."""
    return dt.datetime.now(dt.UTC)


def memory_key(module: SideModule) -> str:
    """The key under which a connector remembers what it read and wrote of a module's
    records: per module, not per table, since two modules may share a table with other
    views or criteria and each must see the other's writes as changes."""
    return f"{module.name}\x1f{module.table}"


def as_utc(value: Any) -> dt.datetime | None:
    """An ISO text or datetime as aware UTC (naive means UTC); None if it is neither."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


__all__ = [
    "BaseConnector",
    "Change",
    "Connector",
    "Cursor",
    "Notifications",
    "Outcome",
    "Page",
    "SEARCH_LIMIT",
    "SideModule",
    "Write",
    "as_utc",
    "currency_reader",
    "http_client",
    "identity",
    "matches",
    "memory_key",
    "notifications",
    "probabilities",
    "rounds_amounts",
    "utc_now",
]
