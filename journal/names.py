"""Field names interned per module: the compact form of a sync entry's ``fields``.

An observation or an applied write stores its fields as ``[mask, value, ...]``: bit ``i`` of
``mask`` says the entry holds the module's ``i``-th field name, and the values follow in
the order of their bits, each in its wire form (:func:`journal.entry.to_wire`), instead of
a JSON object repeating every name in every entry (about a third of the bytes of a synced
record's entries).  The form describes itself: a ``fields`` text of the first formats is
always an object (``{``), a compact one a list (``[``), so a journal holds both, and one
written before this change reads as it did, with no format number and no upgrade.

A module's name order is declared by the entries that first use its names, in their own
text: an entry holding names the order lacks starts with them, ``[["new", "names"], mask,
value, ...]`` (sorted), and they are appended to the order before its mask is read.  So
the order is the concatenation of a module's declarations in seq order, chained like every
other byte of the entries, and it only grows: a mask means the same names under every
later order, and no entry is added to the journal for it (the seq of every entry is what
it was).  The declarations are few (a module's first entry, then an entry with a field
new to the module), found on open by a partial index (:data:`DECLARED`); another process
may declare names since, so :meth:`FieldNames.expand` reads them again before it refuses a
mask past the order it knows.

An applied write whose fields are those of an observation of its own record (a first
copy's create copies the observation it came from; an edit round's update the edit) is
stored by reference to it: ``[-d]``, the observation being the entry ``d`` seqs before this
one (a mask is never negative, so the form tells itself apart).  The SQLite journal's
append looks up, in one query a batch, each applied write's record's latest observation
(:meth:`FieldNames.numbered`), and the reference is written only when that observation's
values are the very text the write's own would be: decoded, the reference gives exactly
the values the full form stored (:meth:`FieldNames.copied`).  A reference that names no
entry, or an entry that is not an observation of the same record (a hand edit), is a
:class:`~journal.errors.StorageError` naming the entry.  A journal written before holds
none, and reads as it did; the PostgreSQL journal writes none (it stores the full form).

The chain hashes the stored text, so nothing about it changes; the text is canonical (the
same entry, after the same entries, is the same bytes on any machine).  Decoded, a compact
entry's fields are the very values its object form gave, in the same (sorted) order.  This
module knows no SQL but :data:`DECLARED`: each backend hands it a function that reads the
declaring entries (:func:`sqlite_names` for SQLite).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from journal.entry import (
    NewEntry,
    _tagged,
    _Unusual,
    canonical_decimal,
    check_source,
    dumps,
    referred,
    wire_loads,
)
from journal.errors import EncodingError, StorageError

# the kinds of entry whose fields are written compact: the two a sync writes per record
COMPACT_KINDS = frozenset({"observed", "applied"})
# the SQL condition (SQLite and PostgreSQL) of a row whose fields declare names
DECLARED = "substr(fields, 1, 2) = '[['"

# the declaring entries, in seq order: (module, fields text)
Loader = Callable[[], Iterable[tuple[str, str]]]
# an entry's (module, rid, kind, fields text) by its seq (None: no such entry)
Fetcher = Callable[[int], "tuple[str, str | None, str, str] | None"]
# the latest observation of each of these records of a module: (rid, seq, fields text)
Latest = Callable[[str, list[str]], Iterable[tuple[str, int, str]]]


class FieldNames:
    """The name orders of one journal, by module, read from its declaring entries when
    first needed (``load``; None: a journal of none) and grown by the entries it writes.

    A cache, like the materialised state: :meth:`forget` drops it (a rolled back
    transaction may have declared names that were never stored; another connection may
    have stored some), and the next use reads it again."""

    __slots__ = (
        "_fetch",
        "_index",
        "_keys",
        "_last",
        "_latest",
        "_load",
        "_masks",
        "_orders",
        "_seq",
        "_sources",
    )

    def __init__(
        self,
        load: Loader | None = None,
        fetch: Fetcher | None = None,
        latest: Latest | None = None,
    ) -> None:
        self._load = load
        self._fetch = fetch  # reads a referenced observation (None: a reference is refused)
        self._latest = latest  # finds the observations applied writes may refer to
        # the seq of the entry :meth:`text` made last (None: it writes no reference), and
        # (module, rid) -> (seq, values text) of observations an applied write may refer to
        self._seq: int | None = None
        self._sources: dict[tuple[str, str], tuple[int, str]] = {}
        self._orders: dict[str, list[str]] | None = None
        self._index: dict[str, dict[str, int]] = {}
        # (module, mask) -> the names it holds sorted, and where each one's value is
        self._masks: dict[tuple[str, int], tuple[tuple[str, ...], tuple[int, ...]]] = {}
        # (module, the fields' names in their order) -> the mask, and the names by bit
        self._keys: dict[tuple[str, tuple[str, ...]], tuple[int, tuple[str, ...]]] = {}
        # the fields :meth:`text` made last, and their names by bit (for meta_text's key)
        self._last: tuple[Any, tuple[str, ...]] = (None, ())

    @classmethod
    def of(cls, orders: Mapping[str, Iterable[str]]) -> FieldNames:
        """Orders known already (a test's)."""
        names = cls()
        names._orders = {}
        for module, order in orders.items():
            names._declare(module, list(order))
        return names

    def __getstate__(self) -> dict[str, list[str]]:
        """Pickled (a reducer's decoder handed to a replay's worker): the orders alone."""
        return {module: list(order) for module, order in self._known().items()}

    def __setstate__(self, state: dict[str, list[str]]) -> None:
        self.__init__()  # type: ignore[misc]
        self._orders = {}
        for module, order in state.items():
            self._declare(module, order)

    def forget(self) -> None:
        """Read the orders again at their next use."""
        self._seq = None
        self._sources = {}
        if self._load is not None:
            self._orders = None
            self._index.clear()
            self._keys.clear()
            self._masks.clear()

    def _known(self) -> dict[str, list[str]]:
        orders = self._orders
        if orders is None:
            orders = self._orders = {}
            for module, text in self._load() if self._load is not None else ():
                items = wire_loads(text)
                if type(items) is not list or not items or type(items[0]) is not list:
                    raise EncodingError(f"entry of module {module!r} declares no names")
                self._declare(module, items[0])
        return orders

    def _declare(self, module: str, names: list[str]) -> None:
        assert self._orders is not None
        order = self._orders.setdefault(module, [])
        index = self._index.setdefault(module, {})
        for name in names:
            if type(name) is not str or name in index:
                raise EncodingError(f"module {module!r} declares field name {name!r} again")
            index[name] = len(order)
            order.append(name)

    def order(self, module: str) -> list[str]:
        """The module's names in their order (empty: none declared)."""
        return list(self._known().get(module, ()))

    # -- writing ----------------------------------------------------------------------------

    def text(self, new: NewEntry) -> str:
        """The stored ``fields`` text of ``new``: compact for the kinds a sync writes (its
        names the module's order lacks declared, and from now on in the order), an object
        for the rest.  The caller forgets the orders if the entry is then not stored.

        After :meth:`numbered`, called once an entry in seq order: an applied write whose
        values are those of an observation of its record is its reference (``[-d]``)."""
        seq = self._seq
        if seq is not None:
            seq += 1
            self._seq = seq
        fields = new.fields
        if not fields:
            return "{}"
        kind = new.kind
        if kind not in COMPACT_KINDS:
            return dumps(fields)
        module = new.module
        keys = tuple(fields)
        found = self._keys.get((module, keys))
        if found is not None:
            mask, by_bit = found
            self._last = (fields, by_bit)
            text = _text([mask, *map(fields.__getitem__, by_bit)])
            if seq is not None and new.rid is not None:
                return self._refer(seq, kind, module, new.rid, text)
            return text
        self._known()
        index = self._index.get(module)
        new_names = sorted(set(keys).difference(index or ()))
        if new_names:
            self._declare(module, new_names)
            index = self._index[module]
        assert index is not None
        bits = sorted((index[name], name) for name in keys)
        mask = 0
        for bit, _ in bits:
            mask |= 1 << bit
        by_bit = tuple(name for _, name in bits)
        if len(self._keys) > 4096:  # a module's shapes are few; kept so
            self._keys.clear()
        self._keys[(module, keys)] = (mask, by_bit)
        self._last = (fields, by_bit)
        values = [mask, *map(fields.__getitem__, by_bit)]
        if new_names:
            text = dumps([new_names, *values])
            if seq is not None and new.rid is not None and kind == "observed":
                self._sources[(module, new.rid)] = (seq, _text(values))
            return text
        text = _text(values)
        if seq is not None and new.rid is not None:
            return self._refer(seq, kind, module, new.rid, text)
        return text

    def _refer(self, seq: int, kind: str, module: str, rid: str, text: str) -> str:
        """``text`` (an entry's compact fields, declaring nothing), or the reference of an
        applied write to the observation of its record whose values are that very text;
        an observation's kept as the one its record's writes of the batch may refer to."""
        if kind == "observed":
            self._sources[(module, rid)] = (seq, text)
            return text
        source = self._sources.get((module, rid))
        if source is None or source[1] != text:
            return text
        return f"[{source[0] - seq}]"

    def numbered(self, entries: Iterable[NewEntry], last: int) -> list[NewEntry]:
        """Get ready to make the texts of ``entries``, numbered from ``last + 1`` (each
        :meth:`text` call is the next seq): the latest observation of each record an
        applied write of theirs is about, read in one query a module (without
        :attr:`_latest`, or without an applied write: none, and no reference is written).
        Returns them as a list."""
        batch = entries if type(entries) is list else list(entries)
        self._sources = sources = {}
        self._seq = None
        latest = self._latest
        if latest is None:
            return batch
        wanted: dict[str, set[str]] = {}
        for new in batch:
            if new.kind == "applied" and new.fields and new.rid is not None:
                wanted.setdefault(new.module, set()).add(new.rid)
        if not wanted:  # no applied write: the texts made as ever, nothing kept
            return batch
        self._seq = last
        for module, rids in wanted.items():
            for rid, seq, text in latest(module, sorted(rids)):
                if text[:2] == "[[":  # a declaring observation: its values without the names
                    items = wire_loads(text)
                    if type(items) is not list or len(items) < 2:
                        continue
                    text = _text(items[1:])
                elif text[:1] != "[" or text[1:2] == "-":
                    continue  # its object form (an old journal's): none to refer to
                sources[(module, rid)] = (seq, text)
        return batch

    def done(self, last: int | None = None) -> None:
        """The entries :meth:`numbered` got ready for are made: no more references.
        ``last``: the seq the batch's last entry was given; if the texts made since
        :meth:`numbered` do not count up to it (an entry's texts made some other way), the
        references written would name the wrong entries, so the batch is refused."""
        made, self._seq = self._seq, None
        self._sources = {}
        if last is not None and made is not None and made != last:
            raise EncodingError(
                f"the journal's field texts were made for entries up to {made}, but the "
                f"batch ends at entry {last}: its references would name the wrong entries "
                "(nothing was stored)"
            )

    def meta_text(self, new: NewEntry) -> str:
        """The stored ``meta`` text of ``new``: compact for an observation or an applied
        write (``[id, key, modified, {rest}]``, ``[id, create, done, {rest}]``: the id 0
        when it is the rid's own, ``side:id``; the key the bit of the field whose value it
        is, ``false`` when the entry has none; the flags null when absent; the rest only
        when there is any), an object for the rest.  Called after :meth:`text` made the
        entry's fields (their names declared)."""
        meta = new.meta
        if not meta:
            return "{}"
        kind = new.kind
        side_id = meta.get("id")
        if kind not in COMPACT_KINDS or type(side_id) is not str:
            return dumps(meta, trusted=True)
        first: str | int = 0 if new.rid == f"{new.side}:{side_id}" else side_id
        size = len(meta)
        # the shapes a sync writes, in one orjson call (their values are text and flags)
        if kind == "observed":
            key: Any = meta.get("key", False)
            modified = meta.get("modified")
            if (
                size == 1 + ("key" in meta) + (modified is not None)
                and (key is False or key is None or type(key) is str)
                and (modified is None or type(modified) is str)
            ):
                if type(key) is str:
                    key = self._key_ref(new.module, new.fields, key)
                return _orjson_dumps([first, key, modified]).decode()  # type: ignore[no-any-return]
        else:
            create, done = meta.get("create"), meta.get("done")
            if (
                size == 1 + (create is not None) + (done is not None)
                and (create is None or type(create) is bool)
                and (done is None or type(done) is bool)
            ):
                return _orjson_dumps([first, create, done]).decode()  # type: ignore[no-any-return]
        items: list[Any] = [first]
        rest = dict(meta)
        del rest["id"]
        if kind == "observed":
            key = False  # no key (the module matches nothing)
            if "key" in rest:
                key = rest.pop("key")
                if key is not None:
                    if type(key) is not str:
                        return dumps(meta, trusted=True)
                    key = self._key_ref(new.module, new.fields, key)
            modified = rest.get("modified")
            if modified is not None:
                del rest["modified"]
            items += (key, modified)
        else:
            for name in ("create", "done"):
                flag = rest.get(name)  # None: absent (or stored null, kept in the rest)
                if flag is not None:
                    if type(flag) is not bool:
                        return dumps(meta, trusted=True)
                    del rest[name]
                items.append(flag)
        if rest:
            items.append(rest)
        return _text(items)

    def texts(self, new: NewEntry) -> tuple[str, str]:
        """``(text(new), meta_text(new))``, the same two texts made in one pass for the
        shapes a sync writes (fields of names the module declared, of a shape met before;
        a meta of an observation's or an applied write's usual keys): the values tagged
        in place in the list that is written (:func:`journal.entry.dumps`'s tags, no
        second walk), the meta's match key found in that list.  Anything else goes to
        :meth:`text` and :meth:`meta_text`, the reference a test holds this to."""
        fields = new.fields
        kind = new.kind
        found = (
            self._keys.get((new.module, tuple(fields)))
            if fields and (kind == "observed" or kind == "applied")
            else None
        )
        if found is None:
            return self.text(new), self.meta_text(new)
        mask, by_bit = found
        values = [mask, *map(fields.__getitem__, by_bit)]
        i = 0
        try:
            for value in values:  # journal.entry._tagged of the list, in place
                of = type(value)
                if of is not str and of is not int and value is not None and of is not bool:
                    if of is _Decimal:
                        values[i] = {"$decimal": _canonical_decimal(value)}
                    elif of is _date:
                        values[i] = {"$date": value}
                    else:
                        values[i] = _tagged(value)
                i += 1
            fields_text = _orjson_dumps(values, option=_SORTED).decode()
        except (_Unusual, _JSONEncodeError):
            return self.text(new), self.meta_text(new)  # a float, an integer past 64 bits
        seq = self._seq  # after numbered(): this entry's seq, and it may be a reference
        if seq is not None:
            seq += 1
            self._seq = seq
            if new.rid is not None:
                fields_text = self._refer(seq, kind, new.module, new.rid, fields_text)
        meta = new.meta
        side_id = meta.get("id")
        if type(side_id) is str:
            first: str | int = 0 if new.rid == f"{new.side}:{side_id}" else side_id
            size = len(meta)
            if kind == "observed":
                key: Any = meta.get("key", False)
                modified = meta.get("modified")
                if size == 1 + ("key" in meta) + (modified is not None) and (
                    key is False or key is None or type(key) is str
                ):
                    plain = modified is None or type(modified) is str
                    if not plain and type(modified) is _datetime and modified.tzinfo is _UTC:
                        modified, plain = {"$datetime": modified}, True
                    if plain:
                        if type(key) is str and key in values:
                            # a tagged value is no text: the first equal item is a field's
                            key = self._index[new.module][by_bit[values.index(key, 1) - 1]]
                        return fields_text, _orjson_dumps([first, key, modified]).decode()
            else:
                create, done = meta.get("create"), meta.get("done")
                if (
                    size == 1 + (create is not None) + (done is not None)
                    and (create is None or type(create) is bool)
                    and (done is None or type(done) is bool)
                ):
                    return fields_text, _orjson_dumps([first, create, done]).decode()
        self._last = (fields, by_bit)
        return fields_text, self.meta_text(new)

    def _key_ref(self, module: str, fields: Mapping[str, Any], key: str) -> str | int:
        """An observation's match key as the lowest bit of a field holding it (the key is
        that field's value, as a module matching on one field has it), else the key."""
        index = self._index.get(module, {})
        made, by_bit = self._last
        if made is not fields:  # not the fields text() made last: their bits found here
            if not index.keys() >= fields.keys():
                return key
            by_bit = tuple(sorted(fields, key=index.__getitem__))
        for name in by_bit:
            value = fields[name]
            if type(value) is str and value == key:
                return index[name]
        return key

    def expand_meta(
        self,
        kind: str,
        module: str,
        rid: str | None,
        side: str | None,
        items: list[Any],
        fields: Mapping[str, Any],
        *,
        sort: bool = True,
    ) -> dict[str, Any]:
        """The meta of a compact meta's list (values as ``items`` holds them), its keys
        sorted as an object form's are (``sort`` False: in no order, for a reader that
        only looks keys up); ``fields``: the entry's, decoded."""
        if not items or kind not in COMPACT_KINDS:
            raise EncodingError(f"not a compact meta of an entry of kind {kind!r}")
        first = items[0]
        if type(first) is str:
            meta: dict[str, Any] = {"id": first}
        elif first == 0 and type(first) is int and rid and side and rid.startswith(f"{side}:"):
            meta = {"id": rid[len(side) + 1 :]}  # the rid's own: ``side:id``
        else:
            raise EncodingError(f"a compact meta's id is not one: {first!r}"[:200])
        size = 3
        if kind == "observed":
            key, modified = items[1:3] if len(items) >= 3 else (None, None)
            if key is not False:
                if type(key) is int and type(key) is not bool:
                    order = self._known().get(module, [])
                    found = fields.get(order[key]) if 0 <= key < len(order) else None
                    if type(found) is not str:
                        raise EncodingError(f"a compact meta's key names no text field: {key}")
                    key = found
                meta["key"] = key
            if modified is not None:
                meta["modified"] = modified
        else:
            for name, flag in zip(("create", "done"), items[1:3], strict=False):
                if flag is not None:
                    meta[name] = flag
        if len(items) == size:
            if not sort or kind == "observed":  # id, key, modified: in order already
                return meta
        elif len(items) == size + 1 and type(items[size]) is dict:
            rest = items[size]
            if rest.keys() & meta.keys():
                raise EncodingError("a compact meta says a key twice")
            meta.update(rest)
        else:
            raise EncodingError(f"a compact meta of {len(items)} items")
        return dict(sorted(meta.items())) if sort else meta

    # -- reading ----------------------------------------------------------------------------

    def copied(self, seq: int, module: str, rid: str | None, fields: str) -> tuple[int, str]:
        """The observation an applied write's reference (``fields``, ``[-d]``, of entry
        ``seq`` of record ``rid``) names: its seq and its fields text, read from the
        journal; :class:`~journal.errors.StorageError` naming the entry if the reference
        names no entry, or one that is not an observation of the same record."""
        source = referred(seq, fields)
        if self._fetch is None:
            raise EncodingError(
                f"entry {seq} refers to entry {source} for its fields: it needs the journal's "
                "entries"
            )
        found = self._fetch(source)
        if found is None:
            raise StorageError(
                f"entry {seq} ({module} {rid}) refers to entry {source} for its fields, "
                "which the journal lacks"
            )
        check_source(seq, module, rid, source, *found)
        return source, found[3]

    def shape(self, module: str, mask: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The names a compact text's ``mask`` holds, sorted, and where each one's value
        is in its list (1: just after the mask), as :meth:`expand` reads them
        (:class:`~journal.errors.EncodingError`: a mask past the declared order)."""
        shape = self._masks.get((module, mask))
        return shape if shape is not None else self._shape(module, mask)

    def expand(self, module: str, items: list[Any]) -> dict[str, Any]:
        """The fields of a compact text's list (values as stored), their names sorted as
        an object form's are."""
        start = 1
        if items and type(items[0]) is list:  # a declaration: in the order already
            start = 2
        mask = items[start - 1] if len(items) >= start else None
        if type(mask) is not int or mask < 0:
            raise EncodingError(f"not compact fields: {items!r}"[:200])
        shape = self._masks.get((module, mask))
        if shape is None:
            shape = self._shape(module, mask)
        names, where = shape
        if len(items) != len(names) + start:
            raise EncodingError(
                f"compact fields of module {module!r} hold {len(items) - start} values for "
                f"{len(names)} names"
            )
        if start == 1:
            return {name: items[i] for name, i in zip(names, where, strict=True)}
        return {name: items[i + 1] for name, i in zip(names, where, strict=True)}

    def _shape(self, module: str, mask: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
        order = self._known().get(module, [])
        if mask.bit_length() > len(order) and self._load is not None:
            self.forget()  # another process may have declared names since
            order = self._known().get(module, [])
        if mask.bit_length() > len(order):
            raise EncodingError(
                f"compact fields of module {module!r} name field {mask.bit_length() - 1}, "
                f"but its declared order holds {len(order)} names"
            )
        by_bit = [order[i] for i in range(mask.bit_length()) if mask >> i & 1]
        ranked = sorted(range(len(by_bit)), key=by_bit.__getitem__)
        shape = (tuple(by_bit[i] for i in ranked), tuple(i + 1 for i in ranked))
        if len(self._masks) > 4096:
            self._masks.clear()
        self._masks[(module, mask)] = shape
        return shape


_orjson_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS
_Decimal, _date, _datetime, _UTC = Decimal, dt.date, dt.datetime, dt.UTC
_canonical_decimal = canonical_decimal
_JSONEncodeError = orjson.JSONEncodeError


def _text(items: list[Any]) -> str:
    """:func:`journal.entry.dumps` of a compact list, the same bytes: in one orjson call
    when every value is JSON already (text, an integer, a boolean, None, or a tagged value
    in its wire form, ``{"$decimal": "1.5"}``: what a sync's fields hold), else through
    ``dumps`` (which tags Decimals and dates, and refuses a float)."""
    for value in items:
        kind = type(value)
        if kind is str or kind is int or value is None or kind is bool:
            continue
        if kind is dict and len(value) == 1 and type(next(iter(value.values()))) is str:
            continue
        return dumps(items)
    try:
        return _orjson_dumps(items, option=_SORTED).decode()
    except _JSONEncodeError:  # an integer past 64 bits
        return dumps(items)


def sqlite_names(conn: Any) -> FieldNames:
    """The field names of the journal whose entries ``conn`` (sqlite3) reads, read at
    their first use from the entries that declare them (the partial index
    ``entries_names`` of :mod:`journal.schema`)."""

    def load() -> list[tuple[str, str]]:
        sql = f"SELECT module, fields FROM entries WHERE {DECLARED} ORDER BY seq"
        return [(row[0], row[1]) for row in conn.execute(sql)]

    def fetch(seq: int) -> tuple[str, str | None, str, str] | None:
        sql = "SELECT module, rid, kind, fields FROM entries WHERE seq = ?"
        row = conn.execute(sql, (seq,)).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def latest(module: str, rids: list[str]) -> list[tuple[str, int, str]]:
        # each record's latest observation, by the records' index (module, rid)
        sql = (
            "SELECT e.rid, e.seq, e.fields FROM entries e WHERE e.seq IN (SELECT (SELECT "
            "max(x.seq) FROM entries x WHERE x.module = ? AND "
            "x.rid = j.value AND x.kind = 'observed') FROM json_each(?) j)"
        )
        return conn.execute(sql, (module, orjson.dumps(rids).decode())).fetchall()  # type: ignore[no-any-return]

    return FieldNames(load, fetch, latest)


__all__ = [
    "COMPACT_KINDS",
    "DECLARED",
    "FieldNames",
    "Loader",
    "sqlite_names",
]
