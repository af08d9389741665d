"""What an entry's ``meta`` says, typed: one frozen class per kind of entry (per variant where
the meta differs), and one codec between them and the stored JSON.

As eventsourcing's ``Mapper`` stands between domain events and stored events, :func:`encode`
and :func:`decode` stand between a payload and the ``meta`` column: writers build
``new_entry(Observed(...), module, rid, side, ...)`` (the kind is the class's) and the
reducer, the engine, the command line and replay read :func:`payload_of` (``expect`` when
the class is known), never ``meta["..."]``.  :func:`value_or` reads a *maybe* field as
``meta.get`` did.

*Required* is kept to the keys every version of the writers wrote (checked against the
history of the writers and every entry the test suite writes); a key an entry made by
hand may lack (an applied entry's ``create``) is *maybe* instead.

The stored format is the contract, not the classes: ``encode(decode(kind, meta))`` is
``meta`` again, key for key and value for value, for every entry any version wrote
(tested over the a5dca57 fixture journal and by hypothesis).  Three rules make that exact:

* a key's presence follows its field's mode: *required* (always written; a stored meta
  without it is refused with :class:`~journal.errors.PayloadError`), *omitted* (written
  only when not its default: ``near`` of an observation when there is one) or *maybe*
  (written unless :data:`ABSENT`, for the keys whose presence itself says something: an
  observation's ``key`` is absent when the module matches nothing, ``None`` when a match
  field is empty);
* keys no field knows, and an omitted field's default stored explicitly by an older
  version (``"retry": false``), are kept in ``extra`` and written back as they were: an
  old journal loses nothing, and readers simply do not see them;
* values stay canonical (:mod:`journal.entry`): lists come back as tuples, nested
  mappings as they were stored.

Variants of one kind are told apart by what their meta holds, in the order the reducer
has always used: an ``intent`` with ``retry`` is a :class:`RetryIntent`, with ``settled``
a :class:`SettledIntent`, else a :class:`WriteIntent`; a ``link`` with ``"unlinked":
true`` is an :class:`Unlinked`; a ``conflict`` with
``"duplicate": true`` is a :class:`DuplicateConflict`; a ``resolution`` with a
``decision`` a :class:`DuplicateResolution`; a ``trigger`` with ``action`` a
:class:`DealAssociation`, with ``create`` a :class:`Triggered`, else a
:class:`TriggerSkipped`; a ``config`` entry by its ``event`` or its
telling key (``fingerprint``, ``identities``, ``trigger``, ``chain``, ``complete``).  A
``config`` meta of no known shape is an :class:`OtherConfig` holding it all in ``extra``
(config entries are where new facts appear first); any other kind missing a required key
is refused.

One module, over 600 lines, on purpose: the classes are one table (a kind, its variants and
their keys), read side by side with the codec that walks it; split, a reader would hop files
to see which variant a meta decodes to.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import attrs

from journal.entry import Entry, Kind, NewEntry
from journal.errors import PayloadError


class Absent(enum.Enum):
    """The type of :data:`ABSENT`: a key the meta does not hold (falsy, like a missing key
    read with ``.get``)."""

    ABSENT = "absent"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent.ABSENT

_REQUIRED, _OMITTED, _MAYBE = "required", "omitted", "maybe"


def _required(key: str | None = None, *, converter: Callable[[Any], Any] | None = None) -> Any:
    return attrs.field(kw_only=True, converter=converter, metadata={"key": key, "mode": _REQUIRED})


def _omitted(
    default: Any, key: str | None = None, *, converter: Callable[[Any], Any] | None = None
) -> Any:
    return attrs.field(
        default=default,
        kw_only=True,
        converter=converter,
        metadata={"key": key, "mode": _OMITTED},
    )


def _maybe(key: str | None = None, *, converter: Callable[[Any], Any] | None = None) -> Any:
    return attrs.field(
        default=ABSENT, kw_only=True, converter=converter, metadata={"key": key, "mode": _MAYBE}
    )


def _names(value: Any) -> Any:
    """A stored list as a tuple (ABSENT and None pass through)."""
    if value is ABSENT or value is None:
        return value
    return tuple(value)


@attrs.frozen
class Payload:
    """The typed meta of one entry.  ``extra``: stored keys no field of the class knows."""

    KIND: ClassVar[Kind]
    # keys every entry of the class holds with this value; they tell the variant apart
    FIXED: ClassVar[Mapping[str, Any]] = {}

    extra: Mapping[str, Any] = attrs.field(factory=dict, kw_only=True)


# -- records ---------------------------------------------------------------------------------


@attrs.frozen
class Observed(Payload):
    """A change read from a side: its id there, and what the reducer needs besides the
    fields (the match keys, the side's own time, fields it never held)."""

    KIND = Kind.OBSERVED

    id: str = _required()
    # the exact match key: ABSENT when the module matches nothing, None when a field is empty
    key: str | None | Absent = _maybe()
    near: str | None = _omitted(None)  # the normalised key, for suggestions
    modified: str | dt.datetime | None = _omitted(None)  # UTC ISO text (once an aware time)
    absent: tuple[str, ...] = _omitted((), converter=_names)  # empty fields never held
    # read in a deal watch module's first read: the deal was there before its triggers
    # were on, and its values then are their baseline (conflicts.deals.decide)
    baseline: bool = _omitted(False)


@attrs.frozen
class Tombstone(Payload):
    """A delete seen on a side (never propagated), or one we made there at a person's
    request (``disable --remove-crm-copies``): then ``by`` (who asked), ``reason`` (why),
    ``request`` (the seq of the :class:`CopiesRemoval` entry that listed it) and ``gone``
    (the record was gone already when the delete was sent)."""

    KIND = Kind.TOMBSTONE

    id: str = _required()
    by: str | None = _omitted(None)
    reason: str | None = _omitted(None)
    request: int | None = _omitted(None)
    gone: bool = _omitted(False)


@attrs.frozen
class WriteIntent(Payload):
    """The writes about to be sent to the entry's side: record id -> the side's id (None:
    a create), durable before the side sees them."""

    KIND = Kind.INTENT

    writes: Mapping[str, str | None] = _required()


@attrs.frozen
class SettledIntent(Payload):
    """Records with nothing to write: they no longer need attention."""

    KIND = Kind.INTENT

    settled: tuple[str, ...] = _required(converter=_names)


@attrs.frozen
class RetryIntent(Payload):
    """Records whose refused writes are to be tried again at the next sync."""

    KIND = Kind.INTENT

    retry: tuple[str, ...] = _required(converter=_names)
    by: str = _required()


@attrs.frozen
class Cursor(Payload):
    """A side's watermark moved (whatever JSON value the connector keeps)."""

    KIND = Kind.CURSOR

    cursor: Any = _required()


@attrs.frozen
class Applied(Payload):
    """A write a side accepted: its id there; ``done``: the record's last write of the
    batch (ABSENT in entries written before it existed)."""

    KIND = Kind.APPLIED

    id: str = _required()
    # every version writes it; ABSENT only in an entry made by hand, read as an update
    create: bool | Absent = _maybe()
    done: bool | Absent = _maybe()
    # duplicates = "clone": the name each renamed field was sent under, and why
    renamed: tuple[Mapping[str, Any], ...] = _omitted((), converter=_names)


@attrs.frozen
class Failure(Payload):
    """An ``error`` entry: a write a side refused, or a value that would not read or convert.

    ``stage``: ``read`` or ``write``.  ``id``: the side's id (ABSENT when the write was never
    sent; None for a refused create or a row without an id); ``field`` and ``value``: the
    field and its bad value, for a field's error; ``heals``: the side's next change clears
    it; ``attempt``: the number of a refused write's attempt (retried with backoff);
    ``retry``: the side asked for a retry; ``done``: the record's last write of the batch.
    """

    KIND = Kind.ERROR

    reason: str = _required()
    stage: str = _required()
    id: str | None | Absent = _maybe()
    field: str | None = _omitted(None)
    value: Any = _maybe()
    heals: bool = _omitted(False)
    done: bool | Absent = _maybe()
    retry: bool = _omitted(False)
    attempt: int | None = _omitted(None)


@attrs.frozen
class Linked(Payload):
    """A record paired with an existing record on the entry's side (duplicates).

    ``fill``: under ``link``, the fields whose values fill a gap (ABSENT under
    ``overwrite``); ``empty``: the fields the side holds empty."""

    KIND = Kind.LINK

    id: str | None = _required()
    policy: str = _required()
    from_: str = _required("from")  # the record it was
    key: str | None = _required()
    by: str | None = _omitted(None)
    modified: str | dt.datetime | None = _omitted(None)
    fill: tuple[str, ...] | Absent = _maybe(converter=_names)
    empty: tuple[str, ...] = _omitted((), converter=_names)


@attrs.frozen
class Unlinked(Payload):
    """A link a run made (a :class:`Linked` entry) dropped by ``replicator undo``: the side's
    record ``id`` leaves the entry's record and is record ``from_`` again (the record it was,
    merged into this one by the link: active again, on its own).  ``policy`` and ``key``
    are the link's, so an undo of the undo can make it again; ``undoes``: the run undone."""

    KIND = Kind.LINK
    FIXED = {"unlinked": True}

    id: str = _required()
    from_: str = _required("from")
    policy: str = _required()
    key: str | None = _required()
    undoes: int = _required()
    by: str = _required()


@attrs.frozen
class Merged(Payload):
    """A record folded into another one by a duplicate decision."""

    KIND = Kind.MERGED

    into: str = _required()
    policy: str = _required()
    key: str | None = _required()
    by: str | None = _omitted(None)


@attrs.frozen
class Skipped(Payload):
    """A duplicate left alone under the skip policy."""

    KIND = Kind.SKIPPED

    reason: str = _required()
    key: str | None = _required()


@attrs.frozen
class ValueConflict(Payload):
    """Concurrent values of one field: the siblings, the winner (None: held for a person)
    and why.  Also the data of the conflict's row."""

    KIND = Kind.CONFLICT

    field: str = _required()
    status: str = _required()  # open, resolved
    policy: str = _required()
    siblings: tuple[Mapping[str, Any], ...] = _required(converter=_names)
    dots: tuple[Any, ...] = _required(converter=_names)
    winner: Mapping[str, Any] | None = _required()
    reason: str = _required()


@attrs.frozen
class DuplicateConflict(Payload):
    """A group of records that may be one, held for a person (``suggestion``: a near match)."""

    KIND = Kind.CONFLICT
    FIXED = {"duplicate": True}

    field: str = _required()
    status: str = _required()
    key: str | None = _required()
    candidates: tuple[Mapping[str, Any], ...] = _required(converter=_names)
    reason: str = _required()
    policy: str = _required()
    dots: tuple[Any, ...] = _required(converter=_names)
    suggestion: bool = _omitted(False)
    near_key: str | None = _omitted(None)


@attrs.frozen
class ValueResolution(Payload):
    """A person's decision on a field conflict: the value of side ``take``, or ``value``."""

    KIND = Kind.RESOLUTION

    conflict: int = _required()
    by: str = _required()
    take: str | None = _omitted(None)
    value: Any = _maybe()


@attrs.frozen
class DuplicateResolution(Payload):
    """A person's ``link`` / ``clone`` / ``skip`` on a duplicate group (``with_``: the
    record a link pairs with)."""

    KIND = Kind.RESOLUTION

    conflict: int = _required()
    by: str = _required()
    decision: str = _required()
    suggestion: bool = _omitted(False)
    with_: str | None = _omitted(None, "with")


# -- deal triggers and associations -----------------------------------------------------------


@attrs.frozen
class Triggered(Payload):
    """A deal trigger set a document's values (the entry's fields): the deal's rid, the
    trigger (``quote`` | ``invoice``), the deal's ``outcome`` (``open`` | ``won`` |
    ``lost``), ``create`` on the entry that makes the document record, ``only`` the sides
    the document is written to (the Books side), and why."""

    KIND = Kind.TRIGGER

    deal: str = _required()
    trigger: str = _required()
    outcome: str = _required()
    create: bool = _required()
    only: tuple[str, ...] = _required(converter=_names)
    reason: str = _required()


@attrs.frozen
class TriggerSkipped(Payload):
    """A deal trigger that did nothing, and why (``document``: the document's rid when
    there is one; ``outcome`` None when the deal's stage has none)."""

    KIND = Kind.TRIGGER

    trigger: str = _required()
    outcome: str | None = _required()
    reason: str = _required()
    document: str | None = _required()


@attrs.frozen
class DealAssociation(Payload):
    """A person associated a Books document (``invoice/<Books id>``) with a CRM deal, or
    dissociated it (``action``), and the document's number, for people."""

    KIND = Kind.TRIGGER

    document: str = _required()
    deal: str = _required()
    deal_name: str | None = _required()
    action: str = _required()  # associate, dissociate
    by: str = _required()
    number: str | None = _required()


# -- config entries: the settings, runs, a person's decisions, the journal's own -------------


@attrs.frozen
class SettingsInForce(Payload):
    """The settings in force (``by``: the command that saved them without syncing)."""

    KIND = Kind.CONFIG

    fingerprint: str = _required()
    file: str = _required()
    settings: Mapping[str, Any] = _required()
    by: str | None = _omitted(None)


@attrs.frozen
class SideIdentities(Payload):
    """The account each side syncs with, first seen or changed."""

    KIND = Kind.CONFIG

    identities: Mapping[str, Any] = _required()


@attrs.frozen
class RunMarker(Payload):
    """The end of a sync cycle (or fetch) that wrote entries or failed."""

    KIND = Kind.CONFIG

    trigger: str = _required()
    started: str = _required()
    ended: str = _required()
    modules: tuple[str, ...] = _required(converter=_names)
    counts: Mapping[str, Mapping[str, Mapping[str, int]]] = _required()
    first: int = _required()
    last: int = _required()
    ms: int = _required()
    paused: tuple[str, ...] = _omitted((), converter=_names)
    record: Mapping[str, str] | None = _omitted(None)
    error: str | None = _omitted(None)
    undoes: int | None = _omitted(None)  # ``replicator undo``: the run it reverted


@attrs.frozen
class PulledMarker(Payload):
    """A side of a module was pulled to its end once."""

    KIND = Kind.CONFIG

    complete: bool = _required()


@attrs.frozen
class Paused(Payload):
    """A person paused these modules (none: every module)."""

    KIND = Kind.CONFIG
    FIXED = {"event": "pause"}

    modules: tuple[str, ...] = _required(converter=_names)
    by: str = _omitted("person")  # "console:<name>" from the web console


@attrs.frozen
class Resumed(Payload):
    """A person resumed these modules (none: every module)."""

    KIND = Kind.CONFIG
    FIXED = {"event": "resume"}

    modules: tuple[str, ...] = _required(converter=_names)
    by: str = _omitted("person")  # "console:<name>" from the web console


@attrs.frozen
class Disabled(Payload):
    """A person stopped all sync."""

    KIND = Kind.CONFIG
    FIXED = {"event": "disable"}


@attrs.frozen
class Enabled(Payload):
    """A person let sync run again."""

    KIND = Kind.CONFIG
    FIXED = {"event": "enable"}


@attrs.frozen
class IntegrationDeleted(Payload):
    """The integration was deleted: these modules start afresh (``dropped``: module ->
    how many records, links, cursors and conflicts went)."""

    KIND = Kind.CONFIG
    FIXED = {"event": "delete"}

    modules: tuple[str, ...] = _required(converter=_names)
    # every version writes it; ABSENT only in an entry made by hand
    dropped: Mapping[str, Mapping[str, int]] | Absent = _maybe()


@attrs.frozen
class CopiesRemoval(Payload):
    """A person asked to remove the CRM-side copies of Books documents (``disable
    --remove-crm-copies``), journaled before the first delete is sent: who asked and why,
    the side of each module's copies (``sides``: module -> side) and the records listed,
    module -> record id -> the copy's id on that side.  Each copy removed is a
    :class:`Tombstone` naming this entry; :class:`CopiesRemoved` ends the job."""

    KIND = Kind.CONFIG
    FIXED = {"event": "remove-crm-copies"}

    by: str = _required()
    reason: str = _required()
    sides: Mapping[str, str] = _required()
    records: Mapping[str, Mapping[str, str]] = _required()


@attrs.frozen
class CopiesRemoved(Payload):
    """The removal asked at entry ``request`` ran to its end: per module, how many copies
    were ``removed``, were ``gone`` already and ``failed`` (each failure is an ``error``
    entry of its record).  A request without one was interrupted."""

    KIND = Kind.CONFIG
    FIXED = {"event": "removed-crm-copies"}

    request: int = _required()
    counts: Mapping[str, Mapping[str, int]] = _required()


@attrs.frozen
class CredentialsReplaced(Payload):
    """A side's credentials were replaced: the file and the names of the keys, never a secret."""

    KIND = Kind.CONFIG
    FIXED = {"event": "credentials"}

    side: str = _required()
    file: str = _required()
    keys: tuple[str, ...] = _required(converter=_names)


@attrs.frozen
class ChainKeyed(Payload):
    """The journal's chain is keyed from ``keyed_from`` (entries before it are unkeyed)."""

    KIND = Kind.CONFIG

    chain: str = _required()
    keyed_from: int = _required()
    unkeyed: tuple[int, ...] = _required(converter=_names)
    reason: str = _required()


@attrs.frozen
class TriggersRepaired(Payload):
    """Missing or altered append-only triggers were re-created."""

    KIND = Kind.CONFIG
    FIXED = {"event": "repair-triggers"}

    recreated: tuple[str, ...] = _required(converter=_names)


@attrs.frozen
class StateUpgraded(Payload):
    """The materialised state was rebuilt by replaying entries with another reducer version."""

    KIND = Kind.CONFIG
    FIXED = {"event": "state-upgrade"}

    old: int = _required("from")
    new: int = _required("to")
    entries: tuple[int, ...] = _required(converter=_names)
    reason: str = _required()


@attrs.frozen
class ForcedWrite(Payload):
    """A write went past a failed tail check (``--force``): the problem and the anchor."""

    KIND = Kind.CONFIG
    FIXED = {"event": "forced-write"}

    by: str = _required()
    problem: str = _required()
    anchor: Mapping[str, Any] | None = _required()


@attrs.frozen
class IntegrationUsers(Payload):
    """A person added or removed integration users (CRM users who may see a customer's
    Books documents in the console): ``action`` add | remove, their emails, and who."""

    KIND = Kind.CONFIG
    FIXED = {"event": "integration-users"}

    action: str = _required()
    emails: tuple[str, ...] = _required(converter=_names)
    by: str = _required()


@attrs.frozen
class OtherConfig(Payload):
    """A ``config`` meta of no shape above: kept whole in ``extra``."""

    KIND = Kind.CONFIG


# -- the codec --------------------------------------------------------------------------------

_Field = tuple[str, str, str, Any]  # attribute, stored key, mode, default
_FIELDS: dict[type[Payload], tuple[_Field, ...]] = {}


def _fields(cls: type[Payload]) -> tuple[_Field, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = tuple(
            (a.name, a.metadata.get("key") or a.name, a.metadata["mode"], a.default)
            for a in attrs.fields(cls)
            if a.name != "extra"
        )
        _FIELDS[cls] = found
    return found


def _is(value: Any, default: Any) -> bool:
    """``value`` is the default itself (``0`` is not ``False``, ``[]`` is ``()``)."""
    if isinstance(default, tuple):
        return isinstance(value, (tuple, list)) and len(value) == 0
    return value is default or (type(value) is type(default) and value == default)


def _stored(value: Any) -> Any:
    """A field's value as the meta holds it: tuples become lists again."""
    if isinstance(value, tuple):
        return [_stored(v) for v in value]
    return value


def encode(payload: Payload) -> dict[str, Any]:
    """The ``meta`` of an entry holding ``payload``: what the journal stores."""
    kind = type(payload)
    if kind is Observed and not payload.extra:
        return _encode_observed(payload)  # type: ignore[arg-type]
    if kind is Applied and not payload.extra:
        return _encode_applied(payload)  # type: ignore[arg-type]
    return _encode(payload)


def _encode_observed(p: Observed) -> dict[str, Any]:
    """:func:`_encode` of an observation, written out (a sync writes one per record read);
    a test holds the two to the same meta."""
    meta: dict[str, Any] = {"id": p.id}
    if p.key is not ABSENT:
        meta["key"] = p.key
    if p.near is not None:
        meta["near"] = p.near
    if p.modified is not None:
        meta["modified"] = p.modified
    absent = p.absent  # _is(absent, ()) and _is(baseline, False), inlined
    if not (isinstance(absent, (tuple, list)) and not absent):
        meta["absent"] = _stored(absent)
    if p.baseline is not False:
        meta["baseline"] = p.baseline
    return meta


def _encode_applied(p: Applied) -> dict[str, Any]:
    """:func:`_encode` of an applied write, written out (one per record written)."""
    meta: dict[str, Any] = {"id": p.id}
    if p.create is not ABSENT:
        meta["create"] = p.create
    if p.done is not ABSENT:
        meta["done"] = p.done
    renamed = p.renamed
    if not (isinstance(renamed, (tuple, list)) and not renamed):
        meta["renamed"] = _stored(renamed)
    return meta


def _encode(payload: Payload) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for name, key, mode, default in _fields(type(payload)):
        value = getattr(payload, name)
        if mode == _MAYBE and value is ABSENT:
            continue
        if mode == _OMITTED and _is(value, default):
            continue
        meta[key] = _stored(value)
    meta.update(payload.FIXED)
    for key, value in payload.extra.items():
        if key in meta:
            raise PayloadError(
                f"{type(payload).__name__}: extra key {key!r} is one of its fields; set the field"
            )
        meta[key] = value
    return meta


def decode(kind: Kind, meta: Mapping[str, Any]) -> Payload:
    """The payload of an entry of ``kind`` whose meta is ``meta`` (its variant told by what
    the meta holds); :class:`PayloadError` if a required key is missing."""
    cls = variant(kind, meta)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    known = set(cls.FIXED)
    for name, key, mode, default in _fields(cls):
        known.add(key)
        if key not in meta:
            if mode == _REQUIRED:
                raise PayloadError(
                    f"a {kind} entry's meta has no {key!r} (a {cls.__name__} holds it): "
                    f"keys {sorted(meta)}"
                )
            continue
        value = meta[key]
        if mode == _OMITTED and _is(value, default):
            extra[key] = value  # an older version wrote the default: kept as written
            continue
        kwargs[name] = value
    for key, value in meta.items():
        if key not in known:
            extra[key] = value
    return cls(**kwargs, extra=extra)


_EVENTS: dict[str, type[Payload]] = {
    "pause": Paused,
    "resume": Resumed,
    "disable": Disabled,
    "enable": Enabled,
    "delete": IntegrationDeleted,
    "credentials": CredentialsReplaced,
    "remove-crm-copies": CopiesRemoval,
    "removed-crm-copies": CopiesRemoved,
    "repair-triggers": TriggersRepaired,
    "forced-write": ForcedWrite,
    "integration-users": IntegrationUsers,
    "state-upgrade": StateUpgraded,
}
# a config entry without an event, told by the key only its class holds
_CONFIG_KEYS: tuple[tuple[str, type[Payload]], ...] = (
    ("fingerprint", SettingsInForce),
    ("identities", SideIdentities),
    ("trigger", RunMarker),
    ("chain", ChainKeyed),
    ("complete", PulledMarker),
)
_ONLY: dict[Kind, type[Payload]] = {
    Kind.OBSERVED: Observed,
    Kind.TOMBSTONE: Tombstone,
    Kind.CURSOR: Cursor,
    Kind.APPLIED: Applied,
    Kind.ERROR: Failure,
    Kind.MERGED: Merged,
    Kind.SKIPPED: Skipped,
}


def variant(kind: Kind, meta: Mapping[str, Any]) -> type[Payload]:
    """The payload class of an entry of ``kind`` whose meta is ``meta``."""
    only = _ONLY.get(kind)
    if only is not None:
        return only
    if kind is Kind.LINK:
        return Unlinked if meta.get("unlinked") is True else Linked
    if kind is Kind.INTENT:
        if "retry" in meta:
            return RetryIntent
        return SettledIntent if "settled" in meta else WriteIntent
    if kind is Kind.CONFLICT:
        return DuplicateConflict if meta.get("duplicate") is True else ValueConflict
    if kind is Kind.RESOLUTION:
        return DuplicateResolution if "decision" in meta else ValueResolution
    if kind is Kind.TRIGGER:
        if "action" in meta:
            return DealAssociation
        return Triggered if "create" in meta else TriggerSkipped
    if kind is Kind.CONFIG:
        event = meta.get("event")
        if event is not None:
            return _EVENTS.get(event, OtherConfig) if isinstance(event, str) else OtherConfig
        for key, cls in _CONFIG_KEYS:
            if key in meta:
                return cls
        return OtherConfig
    raise PayloadError(f"no payload for entries of kind {kind!r}")  # pragma: no cover


def payload_of(entry: Entry) -> Payload:
    """The payload of a stored entry (the writer's own, when the entry was just appended
    by :func:`new_entry`: the very value its meta decodes to)."""
    kept = entry.payload
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    return decode(entry.kind, entry.meta)


T = TypeVar("T")
D = TypeVar("D")


def value_or(value: T | Absent, default: D) -> T | D:
    """``value``, or ``default`` when the meta does not hold it (``meta.get(key, default)``)."""
    return default if value is ABSENT else value


def event_of(payload: Payload) -> str | None:
    """The ``event`` a config entry names (its class's, or an unknown one kept in extra)."""
    event = payload.FIXED.get("event", payload.extra.get("event"))
    return event if isinstance(event, str) else None


P = TypeVar("P", bound=Payload)


def expect(entry: Entry, cls: type[P]) -> P:
    """The payload of ``entry``, which must be a ``cls`` (PayloadError naming the entry
    otherwise)."""
    found = payload_of(entry)
    if not isinstance(found, cls):
        raise PayloadError(
            f"entry {entry.seq} ({entry.kind}) holds a {type(found).__name__}, not a {cls.__name__}"
        )
    return found


def new_entry(
    payload: Payload,
    module: str,
    rid: str | None = None,
    side: str | None = None,
    **options: Any,
) -> NewEntry:
    """A :class:`NewEntry` of the payload's kind holding it (``options``: dot, context,
    fields, at).

    The payload rides along (:attr:`~journal.entry.NewEntry.payload`) when decoding its
    meta gives it back equal in every part the reducer reads: the classes whose values are
    flat (a tuple of names, a mapping of texts).  A payload holding nested tuples (a
    conflict's dots) would come back from its meta with lists in their place, so those
    are decoded from the meta as ever."""
    kept = payload if type(payload) in _KEPT else None
    return NewEntry(payload.KIND, module, rid, side, meta=encode(payload), payload=kept, **options)


# payloads equal to their meta decoded (see new_entry): the kinds every sync writes by the
# thousand.  Not Cursor: a cursor given as a tuple comes back a list.
_KEPT = frozenset({Observed, Applied, Tombstone, Failure, WriteIntent, SettledIntent})

PAYLOADS: tuple[type[Payload], ...] = (
    Observed,
    Tombstone,
    WriteIntent,
    SettledIntent,
    RetryIntent,
    Cursor,
    Applied,
    Failure,
    Linked,
    Unlinked,
    Merged,
    Skipped,
    ValueConflict,
    DuplicateConflict,
    ValueResolution,
    DuplicateResolution,
    Triggered,
    TriggerSkipped,
    DealAssociation,
    SettingsInForce,
    SideIdentities,
    RunMarker,
    PulledMarker,
    Paused,
    Resumed,
    Disabled,
    Enabled,
    IntegrationDeleted,
    CredentialsReplaced,
    CopiesRemoval,
    CopiesRemoved,
    ChainKeyed,
    StateUpgraded,
    TriggersRepaired,
    ForcedWrite,
    IntegrationUsers,
    OtherConfig,
)

__all__ = [
    "ABSENT",
    "PAYLOADS",
    "Absent",
    "Applied",
    "ChainKeyed",
    "CopiesRemoval",
    "CopiesRemoved",
    "CredentialsReplaced",
    "Cursor",
    "DealAssociation",
    "Disabled",
    "DuplicateConflict",
    "DuplicateResolution",
    "Enabled",
    "Failure",
    "ForcedWrite",
    "IntegrationDeleted",
    "IntegrationUsers",
    "Linked",
    "Merged",
    "Observed",
    "OtherConfig",
    "Paused",
    "Payload",
    "PulledMarker",
    "Resumed",
    "RetryIntent",
    "RunMarker",
    "SettingsInForce",
    "SettledIntent",
    "SideIdentities",
    "Skipped",
    "Tombstone",
    "StateUpgraded",
    "TriggerSkipped",
    "Triggered",
    "TriggersRepaired",
    "Unlinked",
    "ValueConflict",
    "ValueResolution",
    "WriteIntent",
    "decode",
    "encode",
    "event_of",
    "expect",
    "new_entry",
    "payload_of",
    "value_or",
    "variant",
]
