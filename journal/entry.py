"""Journal entries, their kinds, and the canonical encoding the hash chain is computed over.

Values inside ``fields`` and ``meta`` are canonical: ``str``, ``int``, ``bool``, ``None``,
:class:`~decimal.Decimal` (money, never float), :class:`~datetime.date` and aware UTC
:class:`~datetime.datetime`, lists and string-keyed dicts of those.  They are written as JSON
with sorted keys and no spaces; the non-JSON types are tagged (``{"$decimal": "12.5"}``) so
that a replay reads back exactly the values that were written.

The hash of an entry is ``HMAC-SHA256(key, prev_hash + US + canonical row)`` where the
canonical row is the entry's columns (everything but ``hash``) joined by the unit separator
``\\x1f`` and the key (a :class:`ChainKey`) is kept outside the journal file, so a chain
recomputed without the key does not verify.  Journals made before keyed chains used plain
``sha256`` of the same text; their entries still verify that way (see
:mod:`journal.store`: the ``chain`` entry that upgrades them names the first keyed seq).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, NamedTuple

import attrs
import orjson

from journal.clock import Dot, VectorClock
from journal.errors import ChainKeyError, EncodingError, StorageError

GENESIS = "0" * 64
SEP = "\x1f"  # between the columns of the text an entry's hash is computed over
_SEP = SEP


class Kind(enum.StrEnum):
    """What an entry records."""

    OBSERVED = "observed"  # a change read from a side (dot + causal context + changed fields)
    TOMBSTONE = "tombstone"  # a delete seen on a side; never propagated
    INTENT = "intent"  # the writes planned for a record, journaled before the push
    APPLIED = "applied"  # a write a side accepted (its id and the values it now holds)
    ERROR = "error"  # a write a side rejected, or a value that would not convert
    LINK = "link"  # a record paired with an existing record on another side (duplicates)
    MERGED = "merged"  # a record folded into another one by a duplicate decision
    SKIPPED = "skipped"  # a duplicate left alone under the skip policy
    CONFLICT = "conflict"  # concurrent values of one field, with the winner and why
    RESOLUTION = "resolution"  # a person's decision on a conflict
    CURSOR = "cursor"  # a side's watermark moved
    CONFIG = "config"  # the configuration in force changed
    TRIGGER = "trigger"  # a deal trigger set a document's values, or did nothing and why


# -- canonical values --------------------------------------------------------------------


def canonical_decimal(value: Decimal) -> str:
    """``12.50`` and ``12.5`` are one amount: the shortest plain notation of the value."""
    text = str(value)
    if "E" not in text and "N" not in text and "n" not in text and "I" not in text:
        # plain notation already: only trailing zeros after the point can differ
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "0", "") else text
    if not value.is_finite():
        raise EncodingError(f"not a finite amount: {value}")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": canonical_decimal(value)}
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise EncodingError(f"naive datetime {value!r}: times are aware UTC")
        return {"$datetime": value.astimezone(dt.UTC).isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, float):  # pragma: no cover - json handles floats before calling us
        raise EncodingError("floats are not canonical values; use Decimal")
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise EncodingError(f"cannot encode {type(value).__name__} value {value!r}")


def to_wire(value: Any) -> Any:
    """A canonical value in its JSON form: what the journal stores, comparable with ``==``.

    Lists and dicts are converted through (a document's lines are a list of dicts of
    amounts); a dict with one ``$decimal`` / ``$date`` / ``$datetime`` key is a tagged
    value, its own wire form.

    Equal values have equal wire forms (``Decimal('1.50')`` and ``Decimal('1.5')`` both
    become ``{"$decimal": "1.5"}``), so materialised state can keep and compare values as
    plain JSON without decoding them.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is list or kind is tuple:
        return [to_wire(v) for v in value]
    if kind is dict:
        # a dict inside a value (a document's line): its values in wire form too; a tagged
        # value (``{"$decimal": "1.5"}``) holds only text, so it is its own wire form
        return {k: to_wire(v) for k, v in value.items()}
    return _default(value)


def from_wire(value: Any) -> Any:
    """The canonical value of a wire form (the inverse of :func:`to_wire`)."""
    if type(value) is dict:
        if len(value) == 1 and next(iter(value)) in _TAGS:  # a tagged value: one value
            return _hook(value)
        return {k: from_wire(v) for k, v in value.items()}
    if type(value) is list:
        return [from_wire(v) for v in value]
    return value


def same_wire(a: Any, b: Any) -> bool:
    """Equality of wire forms that tells ``1`` from ``True``."""
    return a == b and type(a) is type(b)


_TAGS = frozenset({"$decimal", "$datetime", "$date"})


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key == "$decimal":
            return Decimal(value)
        if key == "$datetime":
            return dt.datetime.fromisoformat(value)
        if key == "$date":
            return dt.date.fromisoformat(value)
    return obj


_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default, allow_nan=False
)
# orjson writes the same bytes as the encoder above for canonical values, an order of
# magnitude faster; the standard encoder stays for what orjson refuses (integers past 64 bits)
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_orjson_dumps = orjson.dumps


def fast_dumps(value: Any) -> str:
    """Canonical JSON of trusted JSON-native data (materialised state, wire values)."""
    try:
        return _orjson_dumps(value, option=_ORJSON).decode()
    except orjson.JSONEncodeError:
        return _encoder.encode(value)


def _refuse_floats(value: Any) -> None:
    # the C encoder writes floats itself, without asking ``default``: look for them first
    kind = type(value)
    if kind is dict and _CONTAINERS.isdisjoint(map(type, value.values())):
        return  # flat and float-free (most fields): told in one pass in C
    if kind is float:
        raise EncodingError(f"float {value!r} is not a canonical value; use Decimal")
    if kind is dict:
        for item in value.values():
            if type(item) in _CONTAINERS:
                _refuse_floats(item)
    elif kind is list or kind is tuple:
        for item in value:
            if type(item) in _CONTAINERS:
                _refuse_floats(item)


_CONTAINERS = {float, dict, list, tuple}


class _Unusual(Exception):
    """A value :func:`_tagged` leaves to the general encoder (see :func:`dumps`)."""


_PLAIN = frozenset({str, int, bool, type(None)})
_UTC = dt.UTC


def _tagged(value: Any) -> Any:
    """``value`` with its Decimals, dates and datetimes in their tags, for orjson to write
    without a ``default`` callback (a call back into Python per value is most of an
    entry's encoding): a date or datetime stays inside its tag, as orjson writes it the
    way ``isoformat`` does (a datetime in UTC first).  Raises :class:`_Unusual` on any
    other type (a float among them), which :func:`dumps` leaves to the general encoder,
    so the bytes are those it writes."""
    kind = type(value)
    if kind is dict:
        out = None
        for name, item in value.items():
            kind = type(item)
            if kind in _PLAIN:
                continue
            if out is None:
                out = value.copy()
            # the leaves of a flat dict (most fields and metas) here, without a call each
            if kind is Decimal:
                out[name] = {"$decimal": canonical_decimal(item)}
            elif kind is dt.date:
                out[name] = {"$date": item}
            elif kind is dt.datetime and item.tzinfo is _UTC:
                out[name] = {"$datetime": item}
            else:
                out[name] = _tagged(item)
        return value if out is None else out
    if kind in _PLAIN:
        return value
    if kind is Decimal:
        return {"$decimal": canonical_decimal(value)}
    if kind is dt.datetime:
        if value.tzinfo is not _UTC:
            if value.tzinfo is None or value.utcoffset() is None:
                raise EncodingError(f"naive datetime {value!r}: times are aware UTC")
            value = value.astimezone(_UTC)
        return {"$datetime": value}
    if kind is dt.date:
        return {"$date": value}
    if kind is list or kind is tuple:
        return [item if type(item) in _PLAIN else _tagged(item) for item in value]
    raise _Unusual


_SORTED = orjson.OPT_SORT_KEYS


def dumps(value: Any, *, trusted: bool = False) -> str:
    """Canonical JSON of a value (sorted keys, tagged Decimal / date / datetime).

    ``trusted``: the caller built the value from canonical values only (materialised state),
    so the walk that refuses floats is skipped.
    """
    try:
        return _orjson_dumps(_tagged(value), option=_SORTED).decode()
    except (_Unusual, orjson.JSONEncodeError):
        pass  # a float, an integer past 64 bits, a set, a key not a string: as below
    if not trusted:
        _refuse_floats(value)
    try:
        return _orjson_dumps(value, default=_default, option=_ORJSON).decode()
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, EncodingError):
            raise exc.__cause__ from None
    try:
        return _encoder.encode(value)
    except ValueError as exc:
        raise EncodingError(str(exc)) from exc


def _has_float(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list:
        items = value
    else:
        return kind is float
    for item in items:
        kind = type(item)
        if kind is float or ((kind is dict or kind is list) and _has_float(item)):
            return True
    return False


_orjson_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def wire_loads(text: str) -> Any:
    """The wire form (:func:`to_wire`) of canonical JSON: tagged values stay tagged.

    orjson reads it, an order of magnitude faster than the standard parser; but orjson
    reads an integer past 64 bits as a float, so a result holding a float (canonical JSON
    holds none: it is such an integer, or a fraction written by another program) is read
    again by the standard parser, which keeps integers of any size exact and reads a bare
    fraction as a Decimal rather than through a float.
    """
    try:
        value = _orjson_loads(text)
    except _JSONDecodeError:
        return json.loads(text, parse_float=Decimal)  # its error, or what orjson refuses
    if _has_float(value):
        return json.loads(text, parse_float=Decimal)
    return value


def loads(text: str | None) -> Any:
    """The values of canonical JSON: tagged values decoded (``Decimal``, ``date``, aware
    ``datetime``), integers of any size exact, a bare fraction (which canonical JSON never
    holds) a Decimal rather than a float."""
    if text is None:
        return None
    value = wire_loads(text)
    if "$" not in text:  # nothing tagged (the cheap test of the common case)
        return value
    return from_wire(value)


def utc_text(at: dt.datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise EncodingError(f"naive datetime {at!r}: times are aware UTC")
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_MIN_MICROS = -62_135_596_800_000_000  # 0001-01-01 (journal.schema.MIN_MICROS)
_MAX_MICROS = 253_402_300_799_999_999  # the end of 9999 (journal.schema.MAX_MICROS)


def micros_of(at: dt.datetime) -> int:
    """An aware time as the integer microseconds since the epoch a journal of format 3
    stores (:data:`journal.schema.ENTRIES_FORMAT_3`), exact."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise EncodingError(f"naive datetime {at!r}: times are aware UTC")
    return (at - _EPOCH) // _MICROSECOND


def micros_text(micros: Any) -> str:
    """The text of a stored ``micros`` (:func:`utc_text` of its time, what formats 1 and 2
    store and what the chain hashes); for a value that is not an integer of a time,
    ``"not a time: "`` and the value, which no time's text equals (so an edit to the
    column changes the text hashed) and no reader decodes."""
    if type(micros) is int and _MIN_MICROS <= micros <= _MAX_MICROS:
        return (_EPOCH + dt.timedelta(microseconds=micros)).isoformat(timespec="microseconds")
    return f"not a time: {micros}"  # as stored: a NUL in it stays one (journal.replay)


# -- entries -----------------------------------------------------------------------------


@attrs.frozen
class NewEntry:
    """An entry before the journal numbers and chains it.

    ``fields`` holds canonical values or their wire form (:func:`to_wire`): both are
    stored as the same JSON, and read back as canonical values.
    """

    kind: Kind
    module: str
    rid: str | None = None
    side: str | None = None
    dot: Dot | None = None
    context: VectorClock | None = None
    fields: dict[str, Any] = attrs.field(factory=dict)
    meta: dict[str, Any] = attrs.field(factory=dict)
    at: dt.datetime | None = None
    # the typed payload ``meta`` was encoded from (journal.payloads.new_entry), handed on
    # to the stored entry so the reducer need not decode the meta it was just made from;
    # not stored, not compared
    payload: Any = attrs.field(default=None, eq=False, repr=False)


class Entry(NamedTuple):
    """One row of the journal, as stored.

    A tuple (made in one step by the append and the decoder, where an attrs value set its
    thirteen attributes one by one: most of the cost of an entry's value), compared
    without its ``payload``, like a frozen value."""

    seq: int
    at: dt.datetime
    module: str
    rid: str | None
    side: str | None
    kind: Kind
    dot: Dot | None
    context: VectorClock | None
    fields: dict[str, Any]
    meta: dict[str, Any]
    prev_hash: str
    hash: str
    # the payload the writer built (see NewEntry.payload); None for an entry read back;
    # not compared, not shown
    payload: Any = None

    def __eq__(self, other: object) -> bool:
        if type(other) is not Entry:
            return NotImplemented
        return self[:12] == other[:12]  # type: ignore[index]

    def __ne__(self, other: object) -> bool:
        if type(other) is not Entry:
            return NotImplemented
        return self[:12] != other[:12]  # type: ignore[index]

    def __hash__(self) -> int:
        return hash(self[:12])

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(_SHOWN, self, strict=False))
        return f"Entry({shown})"

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON view of the entry (for export); values keep their tags."""
        return {
            "seq": self.seq,
            "at": utc_text(self.at),
            "module": self.module,
            "rid": self.rid,
            "side": self.side,
            "kind": str(self.kind),
            "dot": self.dot.to_json() if self.dot else None,
            "context": self.context.to_json() if self.context is not None else None,
            "fields": json.loads(dumps(self.fields)),
            "meta": json.loads(dumps(self.meta)),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


_SHOWN = Entry._fields[:12]
_tuple_new = tuple.__new__


# A stored row: (seq, at, module, rid, side, kind, dot, context, fields, meta, prev_hash, hash)
Row = tuple[int, str, str, str | None, str | None, str, str | None, str | None, str, str, str, str]


class ChainKey:
    """The journal key: the secret an HMAC-SHA256 chain is computed with.

    Never printed: its ``repr`` and ``str`` hide it.  HMAC-SHA256 is computed from two
    sha256 states keyed once (RFC 2104: the inner one after ``key ^ ipad``, the outer one
    after ``key ^ opad``) and copied per entry: a copy of a sha256 state is one C call,
    cheaper than a copy of an HMAC object (OpenSSL 3's is slower than the hashing of a
    journal row) or keying a new HMAC each time.
    """

    __slots__ = ("_inner", "_outer", "_secret")

    SIZE = 32  # bytes of a generated key (64 hex digits in a key file)
    _BLOCK = 64  # sha256's block size

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ChainKeyError("a journal key must be at least 16 bytes (32 hex digits)")
        self._secret = secret  # for a worker process (:meth:`__reduce__`), never shown
        if len(secret) > self._BLOCK:
            secret = hashlib.sha256(secret).digest()
        padded = secret.ljust(self._BLOCK, b"\0")
        self._inner: Any = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer: Any = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    @classmethod
    def generate(cls) -> tuple[ChainKey, str]:
        """A new random key and its hex text (what a key file holds)."""
        text = secrets.token_hex(cls.SIZE)
        return cls(bytes.fromhex(text)), text

    @classmethod
    def from_text(cls, text: str) -> ChainKey:
        """A key from its hex text (a key file or an environment variable)."""
        try:
            secret = bytes.fromhex(text.strip())
        except ValueError:
            raise ChainKeyError("a journal key is hex digits (64 of them)") from None
        return cls(secret)

    def digest(self, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` under the key, as 64 hex digits."""
        return self.raw_digest(data).hex()

    def raw_digest(self, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under the key, as its 32 bytes (what a journal of
        format 3 stores): a check compares it with the stored bytes, no hex made."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        """A key pickles as its secret: only to hand it to a replay's worker process
        through a pipe (:mod:`journal.replay`); never written anywhere."""
        return (ChainKey, (self._secret,))

    def __repr__(self) -> str:
        return "ChainKey(***)"

    __str__ = __repr__


def chain_text(
    prev_hash: str,
    seq: int,
    at: str,
    module: str,
    rid: str | None,
    side: str | None,
    kind: str,
    dot: str | None,
    context: str | None,
    fields: str,
    meta: str,
) -> bytes:
    """The canonical bytes an entry's hash is computed over."""
    return _SEP.join(
        (
            prev_hash,
            str(seq),
            at,
            module,
            rid or "",
            side or "",
            kind,
            dot or "",
            context or "",
            fields,
            meta,
        )
    ).encode("utf-8")


def chain_hash(
    prev_hash: str,
    seq: int,
    at: str,
    module: str,
    rid: str | None,
    side: str | None,
    kind: str,
    dot: str | None,
    context: str | None,
    fields: str,
    meta: str,
    *,
    key: ChainKey | None = None,
) -> str:
    """The link of an entry to its predecessor: HMAC-SHA256 under ``key`` over the canonical
    row, or plain sha256 (``key`` None: the chain of journals made before keyed chains)."""
    data = chain_text(prev_hash, seq, at, module, rid, side, kind, dot, context, fields, meta)
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return key.digest(data)


def _context_text(context: VectorClock) -> str:
    """The stored text of a causal context (few distinct ones: cached by value)."""
    counters = context.counters
    text = _CONTEXTS.get(counters)
    if text is None:
        if len(_CONTEXTS) >= 4096:
            _CONTEXTS.clear()
        text = _CONTEXTS[counters] = fast_dumps(context.to_json())
    return text


_CONTEXTS: dict[tuple[tuple[str, int], ...], str] = {}


def _dot_text(dot: Dot) -> str:
    """A dot's canonical JSON: written directly unless its side needs escaping (a quote, a
    backslash, a control character), then by the canonical encoder."""
    side = dot.side
    if '"' in side or "\\" in side or not side.isprintable():
        return _encoder.encode(dot.to_json())
    return f'["{side}",{dot.counter}]'


def chained_rows(
    entries: Iterable[NewEntry],
    *,
    seq: int,
    prev: str,
    key: ChainKey | None,
    now: dt.datetime,
    format: int = 1,  # noqa: A002 - the entries format (journal.schema), as Journal names it
    texts: Callable[[NewEntry], tuple[str, str]] | None = None,
) -> tuple[list[Any], list[Entry]]:
    """Number ``entries`` from ``seq + 1`` and chain them from ``prev``: the rows every
    backend stores (text for text, so the chain is the same bytes wherever it is kept) and
    the entries as stored.  An entry without ``at`` gets ``now`` (to the microsecond, UTC).
    ``format``: the entries format the rows are for (:data:`journal.schema.STORED_COLUMNS`):
    1, the hashes' hex text; 2, their 32 bytes; 3, no link, the hash's bytes and the time
    as integer microseconds (:func:`micros_of`).  The chain is the same in every format.
    ``texts``: what makes an entry's stored ``fields`` and ``meta``, the journal's compact
    ones (:meth:`journal.names.FieldNames.texts`).

    The hot path of every append: each value is encoded once (:func:`dumps`), the
    canonical text (:func:`chain_text`'s bytes) is made inline and hashed with the key's
    copied sha256 states (:meth:`ChainKey.digest`, inlined), a batch's shared time and
    clocks are formatted once, and each entry is made as the tuple it is in one step.
    ``tests/journal/test_entry.py`` holds all of it to a slow reference (the standard
    encoder, :func:`chain_hash`).
    """
    now_text = utc_text(now)
    now_at = dt.datetime.fromisoformat(now_text)  # the stored (microsecond, UTC) instant
    inner: Any = None if key is None else key._inner
    outer: Any = None if key is None else key._outer
    sha256 = hashlib.sha256
    make = _tuple_new
    rows: list[Any] = []
    stored: list[Entry] = []
    add_row, add_entry = rows.append, stored.append
    prev_bytes = bytes.fromhex(prev)
    binary, micros = format == 2, format == 3
    now_micros = micros_of(now_at)
    last_at: dt.datetime | None = None
    last_at_text, last_micros = now_text, now_micros
    for new in entries:
        seq += 1
        at_value = new.at
        if at_value is None:
            at, at_value, at_micros = now_text, now_at, now_micros
        elif at_value is last_at:
            at, at_micros = last_at_text, last_micros
        else:
            at = last_at_text = utc_text(at_value)
            at_micros = last_micros = micros_of(at_value)
            last_at = at_value
        new_kind = new.kind
        kind = new_kind._value_  # its text (``.value`` is a Python-level descriptor)
        new_dot = new.dot
        dot = None if new_dot is None else _dot_text(new_dot)
        context = None if new.context is None else _context_text(new.context)
        if texts is not None:  # the journal's compact fields and meta (journal.names)
            fields, meta = texts(new)
        else:
            fields = dumps(new.fields) if new.fields else "{}"
            meta = dumps(new.meta, trusted=True) if new.meta else "{}"
        module, rid, side = new.module, new.rid, new.side
        # chain_text's bytes, made inline (a call an entry less)
        data = (
            f"{prev}\x1f{seq}\x1f{at}\x1f{module}\x1f{rid or ''}\x1f{side or ''}\x1f{kind}"
            f"\x1f{dot or ''}\x1f{context or ''}\x1f{fields}\x1f{meta}"
        ).encode()
        if inner is None:
            raw = sha256(data).digest()
        else:
            hashed = inner.copy()
            hashed.update(data)
            keyed = outer.copy()
            keyed.update(hashed.digest())
            raw = keyed.digest()
        digest = raw.hex()
        if micros:
            add_row((seq, at_micros, module, rid, side, kind, dot, context, fields, meta, raw))
        elif binary:
            add_row((seq, at, module, rid, side, kind, dot, context, fields, meta, prev_bytes, raw))
            prev_bytes = raw
        else:
            add_row((seq, at, module, rid, side, kind, dot, context, fields, meta, prev, digest))
        add_entry(
            make(
                Entry,
                (
                    seq,
                    at_value,
                    module,
                    rid,
                    side,
                    new_kind,
                    new_dot,
                    new.context,
                    new.fields,
                    new.meta,
                    prev,
                    digest,
                    new.payload,
                ),
            )
        )
        prev = digest
    return rows, stored


def chain_row(row: Row | tuple[Any, ...]) -> tuple[int, str, str, bytes]:
    """A stored row as a chain check reads it: ``(seq, prev_hash, hash, tail)``, the tail
    the canonical text after ``prev_hash`` and its separator (for a backend whose database
    does not make the text itself; :func:`journal.anchors.chain_texts`)."""
    seq, at, module, rid, side, kind, dot, context, fields, meta, prev_hash, hash_ = row
    text = chain_text("", seq, at, module, rid, side, kind, dot, context, fields, meta)
    return seq, prev_hash, hash_, text[1:]


def row_hash(row: Row, key: ChainKey | None = None) -> str:
    return chain_hash(row[10], *row[:10], key=key)


def entry_from_row(row: Row | tuple[Any, ...], names: Any = None) -> Entry:
    return EntryDecoder(names=names).entry(row)


class EntryDecoder:
    """Stored rows to entries, for a stream of them (a replay, a read): what rows of one
    batch share (their time, a clock) is decoded once.

    ``wire_fields``: an entry's ``fields`` are left in their wire form (:func:`to_wire`:
    tagged values stay tagged, as stored), for a reducer that passes every field value
    through :func:`to_wire` anyway (``Reducer.wire_fields``); decoding them into Decimals and
    dates only for it to encode them again is most of a replay's decoding.

    ``names``: the journal's :class:`~journal.names.FieldNames`, which expands the compact
    ``fields`` of a sync's entries (``[mask, value, ...]``); without it such an entry is
    refused with :class:`~journal.errors.EncodingError`.
    """

    __slots__ = (
        "_at",
        "_at_text",
        "_context",
        "_context_text",
        "_observed",
        "names",
        "wire_fields",
    )

    def __init__(self, *, wire_fields: bool = False, names: Any = None) -> None:
        self.wire_fields = wire_fields
        self.names = names
        # the last observation decoded (seq, module, rid, fields text, the names read with):
        # what the applied write after it most often refers to for its fields (journal.names)
        self._observed: tuple[int, str, str | None, str, Any] = (0, "", None, "", None)
        self._at_text: str | None = None
        self._at: dt.datetime | None = None
        self._context_text: str | None = None
        self._context: VectorClock | None = None

    def entry(self, row: Row | tuple[Any, ...]) -> Entry:
        seq, at, module, rid, side, kind, dot, context, fields, meta, prev_hash, hash_ = row
        if at != self._at_text:
            self._at_text, self._at = at, dt.datetime.fromisoformat(at)
        if context is None:
            clock = None
        elif context == self._context_text:
            clock = self._context
        else:
            clock = VectorClock.from_json(wire_loads(context))
            self._context_text, self._context = context, clock
        if fields == "{}":
            values: dict[str, Any] = {}
        elif fields[:1] == "[":
            if fields[1:2] == "-":  # an applied write's reference to an observation
                values = self._copied(seq, module, rid, kind, fields)
            else:
                values = self._compact(module, fields)
                if kind == "observed":
                    self._observed = (seq, module, rid, fields, self.names)
        elif self.wire_fields:
            values = wire_loads(fields)
        else:
            values = loads(fields)
        return _tuple_new(  # type: ignore[no-any-return]
            Entry,
            (
                seq,
                self._at,
                module,
                rid,
                side,
                _KINDS.get(kind) or Kind(kind),
                _dot(dot) if dot else None,
                clock,
                values,
                {}
                if meta == "{}"
                else loads(meta)
                if meta[:1] != "["
                else self._compact_meta(kind, module, rid, side, meta, values),
                prev_hash,
                hash_,
                None,
            ),
        )

    def _compact_meta(
        self,
        kind: str,
        module: str,
        rid: str | None,
        side: str | None,
        meta: str,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        """The meta of a compact meta text (:meth:`journal.names.FieldNames.meta_text`)."""
        if self.names is None:
            raise EncodingError(f"a compact meta of module {module!r} needs the journal's names")
        items = loads(meta)
        if type(items) is not list:
            raise EncodingError(f"not a compact meta: {meta[:100]!r}")
        found: dict[str, Any] = self.names.expand_meta(kind, module, rid, side, items, fields)
        return found

    def _copied(
        self, seq: int, module: str, rid: str | None, kind: str, fields: str
    ) -> dict[str, Any]:
        """The values of an applied write stored by reference to an observation of its
        record (:mod:`journal.names`): the observation's, read from the journal unless it
        is the one decoded last."""
        if self.names is None:
            raise EncodingError(f"entry {seq} refers to another for its fields: needs the journal")
        if kind != "applied":
            raise EncodingError(f"entry {seq} ({kind}) refers to another for its fields")
        source = referred(seq, fields)
        last = self._observed
        if last[0] == source and last[4] is self.names:
            check_source(seq, module, rid, source, last[1], last[2], "observed", last[3])
            text = last[3]
        else:
            source, text = self.names.copied(seq, module, rid, fields)
        return self._compact(module, text)

    def _compact(self, module: str, fields: str) -> dict[str, Any]:
        """The values of compact fields (:mod:`journal.names`)."""
        if self.names is None:
            raise EncodingError(f"compact fields of module {module!r} need the journal's names")
        items = wire_loads(fields)
        if type(items) is not list:
            raise EncodingError(f"not compact fields: {fields[:100]!r}")
        values: dict[str, Any] = self.names.expand(module, items)
        if self.wire_fields or "$" not in fields:
            return values
        return from_wire(values)  # type: ignore[no-any-return]


def referred(seq: int, fields: str) -> int:
    """The seq an applied write's reference (``[-d]``, entry ``seq``'s fields) names."""
    distance = fields[2:-1]
    if not (
        fields[:2] == "[-"
        and fields[-1:] == "]"
        and distance.isascii()
        and distance.isdigit()
        and distance[:1] != "0"
    ):
        raise EncodingError(f"entry {seq}'s fields are not a reference: {fields[:100]!r}")
    return seq - int(distance)


def check_source(
    seq: int,
    module: str,
    rid: str | None,
    source: int,
    its_module: str,
    its_rid: str | None,
    its_kind: str,
    its_fields: str,
) -> None:
    """Entry ``source`` (its module, rid, kind and fields text) is what entry ``seq`` of
    ``module`` / ``rid`` may refer to for its fields: an observation of the same record,
    in compact form; else :class:`~journal.errors.StorageError` naming both."""
    if its_kind != "observed" or its_module != module or its_rid != rid or rid is None:
        raise StorageError(
            f"entry {seq} ({module} {rid}) refers to entry {source} for its fields, which "
            f"is not an observation of its record (it is {its_kind}, of {its_module} "
            f"{its_rid}): the journal was edited"
        )
    if its_fields[:1] != "[" or its_fields[1:2] == "-":
        raise StorageError(
            f"entry {seq} ({module} {rid}) refers to entry {source} for its fields, whose "
            "fields are not compact values: the journal was edited"
        )


_KINDS = {k.value: k for k in Kind}


def _dot(text: str) -> Dot:
    """A stored dot: ``["side",n]`` as :func:`chained_rows` writes it, read without a JSON
    parser unless the side holds a quote or a backslash (then written by ``json.dumps``)."""
    side, sep, counter = text[2:-1].rpartition('",')
    plain = text[:2] == '["' and sep and '"' not in side and "\\" not in side
    if plain and counter.isascii() and counter.isdigit():
        return Dot(side, int(counter))
    return Dot.from_json(wire_loads(text))


__all__ = [
    "GENESIS",
    "SEP",
    "ChainKey",
    "Entry",
    "EntryDecoder",
    "Kind",
    "NewEntry",
    "Row",
    "canonical_decimal",
    "chain_hash",
    "chain_row",
    "chained_rows",
    "chain_text",
    "check_source",
    "dumps",
    "entry_from_row",
    "fast_dumps",
    "from_wire",
    "loads",
    "micros_of",
    "micros_text",
    "referred",
    "row_hash",
    "same_wire",
    "to_wire",
    "utc_text",
    "wire_loads",
]
