"""A record's state as stored: a compact, canonical text of the JSON :mod:`conflicts.state`
keeps in memory, decoded back to exactly that JSON.

The state in memory repeats itself: every field's register carries the side's time of its
write and a clock that, after a plain change, says no more than its one sibling's dot (or
the record's clock); every side the record is on holds the same values again.  Stored as
it is, a synced record of eight fields took about 1.5 KB, most of the journal's file.
Stored here (state version 11), what can be told from the rest is left out:

- the fields whose register is one sibling whose dot is its whole clock are grouped by
  that write: ``g``: ``[[side, counter, at, {field: value}], ...]`` (the side's time of a
  write is said once, not once per field), and so are those whose one sibling's clock is
  the record's clock (the group's fifth item is ``1``); ``at`` is an integer of the
  time's digits (``YYMMDDhhmmssffffff``) when it is UTC ISO text of this century as
  :func:`journal.entry.utc_text` writes it, else the text; other registers stay in ``f``
  as they are;
- the sides are ``y``; a side's values (``v``) are said only where they differ from the
  field's one value: ``v`` holds the differing ones, ``-`` names the fields with one
  value the side does not hold; its clock (``c``) only when it is not the record's; its
  id as ``i`` unless it is the rid's tail (``side:id``: the side the record was made
  on), ``null`` for none; ``del`` only when set;
- ``o`` (the origin side) only when the rid does not start with it; ``k`` (the match
  key) as ``K``, the field whose one value it is, when there is one; ``st``, ``d``,
  ``e``, ``x`` and ``n`` only when not the value a new record has.

A state stored by version 7 or 8 (sides in ``h``, an absent ``i`` for no id, times as
text, no group of the record's clock) and one stored whole before version 7 are read as
they are, so a journal not yet rebuilt (one whose key is missing, say) still opens.

Keys the state holds only sometimes (``nk``, ``na``, ``tg``, ``b``, ``rt``, ``re``) are
stored as they are.  The text is canonical (sorted keys, groups in dot order): two equal
states encode to the same text, so a replay's state compares with the live one as text.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from journal.entry import fast_dumps

Raw = dict[str, Any]

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME  # as fast_dumps
# orjson reads an integer past 64 bits as a float (and refuses to write one): a state holding
# one is written by the standard encoder with this mark after it, JSON whitespace orjson never
# writes, and read back by the standard parser, which keeps integers of any size exact.  The
# hot path (no such integer) stays one orjson call each way, with no scan of the text.
_WIDE = "\n"

# the keys every state has (conflicts.state.new_state), packed below; the others pass as
# they are
_PACKED = frozenset({"m", "r", "o", "k", "f", "c", "s", "st", "d", "e", "x", "n"})
_ACTIVE = "active"
_UNSET: Any = object()
_WHOLE = ((), (1,))  # a group's fifth item: none, or 1 (its registers' clock is the record's)


def _identical(a: Any, b: Any) -> bool:
    """Whether two wire values are the same JSON (``1`` is not ``True``, nor ``[1]`` ``[True]``)."""
    if a is b:  # the usual case: a side holds the very value its register has
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        return a.keys() == b.keys() and all(_identical(v, b[k]) for k, v in a.items())
    if kind is list:
        return len(a) == len(b) and all(map(_identical, a, b))
    return bool(a == b)


def _json(values: dict[str, Any]) -> bytes | None:
    """Wire values as canonical JSON, to compare in one C call (None: an integer past 64
    bits, compared value by value)."""
    try:
        return orjson.dumps(values, option=_SORTED)
    except orjson.JSONEncodeError:
        return None


def _compact_time(at: Any) -> Any:
    """A register's time as an integer of its digits when it is UTC ISO text as
    :func:`journal.entry.utc_text` writes it, of a year 2000-2099 (``YYMMDDhhmmssffffff``:
    the text comes back from it digit for digit); any other time as it is."""
    if (
        type(at) is str
        and len(at) == 32
        and at.startswith("20")
        and at.endswith("+00:00")
        and at[4] == "-"
        and at[7] == "-"
        and at[10] == "T"
        and at[13] == ":"
        and at[16] == ":"
        and at[19] == "."
    ):
        digits = at[2:4] + at[5:7] + at[8:10] + at[11:13] + at[14:16] + at[17:19] + at[20:26]
        if digits.isascii() and digits.isdigit():
            return int(digits)
    return at


def _time_text(digits: int) -> str:
    """The UTC ISO text whose digits :func:`_compact_time` kept."""
    d = f"{digits:018d}"
    return f"20{d[0:2]}-{d[2:4]}-{d[4:6]}T{d[6:8]}:{d[8:10]}:{d[10:12]}.{d[12:]}+00:00"


def pack(raw: Raw) -> Raw:
    """The stored form of a state (see the module's docstring)."""
    rid = raw["r"]
    clock = raw["c"]
    out: Raw = {"m": raw["m"], "r": rid, "c": clock}
    if len(raw) > _BASE_KEYS:  # keys a state holds only sometimes: as they are
        for extra in raw.keys() - _PACKED:
            out[extra] = raw[extra]
    origin = raw["o"]
    if rid.partition(":")[0] != origin:
        out["o"] = origin
    if raw["n"] is not None:
        out["n"] = raw["n"]
    if raw["st"] != _ACTIVE:
        out["st"] = raw["st"]
    if raw["d"] is not False:
        out["d"] = raw["d"]
    if raw["e"]:
        out["e"] = raw["e"]
    if raw["x"]:
        out["x"] = raw["x"]
    groups: dict[tuple[str, int, str, int], dict[str, Any]] = {}
    rest: dict[str, Any] = {}
    single: dict[str, Any] = {}  # field -> its one value
    for name, reg in raw["f"].items():
        siblings, reg_clock = reg
        if len(siblings) == 1:
            side, counter, value, at = siblings[0]
            single[name] = value
            # a register whose clock is its one sibling's dot (0), or the record's (1)
            if len(reg_clock) == 1 and reg_clock.get(side) == counter:
                whole = 0
            elif reg_clock == clock and reg_clock.get(side) == counter:
                whole = 1
            else:
                rest[name] = reg
                continue
            dot_at = (side, counter, at, whole)
            group = groups.get(dot_at)
            if group is None:
                groups[dot_at] = {name: value}
            else:
                group[name] = value
            continue
        rest[name] = reg
    key = raw["k"]
    if key is not None:
        named = None
        if type(key) is str and key in single.values():
            named = min(n for n, v in single.items() if type(v) is str and v == key)
        if named is None:
            out["k"] = key
        else:
            out["K"] = named  # the match key is that field's one value
    if groups:
        out["g"] = [
            [side, n, _compact_time(at), values, *_WHOLE[whole]]
            for (side, n, at, whole), values in sorted(groups.items())
        ]
    if rest:
        out["f"] = rest
    sides: Raw = {}
    single_json: Any = _UNSET  # made once, when a side's values compare equal to it
    for side, held in raw["s"].items():
        # keys a side holds only sometimes (``a``: a clone's other name), as they are
        packed: Raw = {k: v for k, v in held.items() if k not in _HELD} if len(held) > 4 else {}
        side_id = held["id"]
        # no id: the side's id is the rid's tail (``side:id``, the record made there)
        if side_id is None:
            packed["i"] = None
        elif not (
            type(side_id) is str
            and len(rid) == len(side) + 1 + len(side_id)
            and rid.startswith(side)
            and rid.endswith(side_id)
            and rid[len(side)] == ":"
        ):
            packed["i"] = side_id
        if held["c"] != clock:
            packed["c"] = held["c"]
        if held["del"]:
            packed["del"] = True
        values = held["v"]
        # equal as Python values (one C call) is not yet the same JSON (``1`` is ``True``)
        if values == single:
            if single_json is _UNSET:
                single_json = _json(single)
            if (
                _json(values) == single_json
                if single_json is not None
                else all(_identical(v, single[k]) for k, v in values.items())
            ):
                sides[side] = packed  # the usual case: the side holds every field's one value
                continue
        differing = {}
        for name, value in values.items():
            one = single.get(name, _UNSET)
            if value is not one and (one is _UNSET or not _identical(value, one)):
                differing[name] = value
        if differing:
            packed["v"] = differing
        lacking = sorted(name for name in single if name not in values)
        if lacking:
            packed["-"] = lacking
        sides[side] = packed
    out["y"] = sides
    return out


def unpack(packed: Raw) -> Raw:
    """The state a stored form stands for (keys in sorted order, as the stored JSON of
    earlier versions decoded)."""
    rid = packed["r"]
    fields: dict[str, Any] = packed.get("f") or {}
    single = {name: reg[0][0][2] for name, reg in fields.items() if len(reg[0]) == 1}
    clock = packed["c"]
    for group in packed.get("g", ()):
        side, counter, at, values = group[:4]
        if type(at) is int:
            at = _time_text(at)
        whole = len(group) > 4
        for name, value in values.items():
            fields[name] = [[[side, counter, value, at]], dict(clock) if whole else {side: counter}]
            single[name] = value
    fields = dict(sorted(fields.items()))
    single = dict(sorted(single.items()))
    v9 = "y" in packed  # the sides as version 9 stores them (version 7: ``h``)
    sides: Raw = {}
    stored_sides = packed["y"] if v9 else packed["h"]
    for side in sorted(stored_sides):
        held = stored_sides[side]
        lacking = held.get("-")
        values = (
            {name: value for name, value in single.items() if name not in lacking}
            if lacking
            else dict(single)
        )
        differing = held.get("v")
        if differing:
            values.update(differing)
            values = dict(sorted(values.items()))
        c = held.get("c")
        if "i" in held:
            side_id = held["i"]
        elif v9:
            side_id = rid[len(side) + 1 :]
        else:
            side_id = None
        out = {
            "c": dict(clock) if c is None else c,
            "del": "del" in held,
            "id": side_id,
            "v": values,
        }
        if len(held.keys() - _HELD_STORED):
            out.update((k, v) for k, v in held.items() if k not in _HELD_STORED)
            out = dict(sorted(out.items()))
        sides[side] = out
    named = packed.get("K")
    raw: Raw = {
        "c": clock,
        "d": packed.get("d", False),
        "e": packed.get("e") or {},
        "f": fields,
        "k": packed.get("k") if named is None else single[named],
        "m": packed["m"],
        "n": packed.get("n"),
        "o": packed["o"] if "o" in packed else rid.partition(":")[0],
        "r": rid,
        "s": sides,
        "st": packed.get("st", _ACTIVE),
        "x": packed.get("x") or {},
    }
    if len(packed.keys() - _STORED):  # keys a state holds only sometimes, in their place
        raw.update((key, packed[key]) for key in packed.keys() - _STORED)
        raw = dict(sorted(raw.items()))
    return raw


_BASE_KEYS = len(_PACKED)
# what every side holds, and its packed keys: a key a side (or a state) holds only
# sometimes never takes one of these names (nor a state's ``g`` or ``h``)
_HELD = frozenset({"id", "c", "v", "del"})
_HELD_STORED = frozenset({"i", "c", "v", "del", "-"})
_STORED = _PACKED | {"g", "h", "y", "K"}


def encode_state(raw: Raw) -> str:
    """The stored text of a state: canonical, compact (see the module's docstring)."""
    packed = pack(raw)
    try:
        return orjson.dumps(packed, option=_SORTED).decode()
    except orjson.JSONEncodeError:
        return fast_dumps(packed) + _WIDE


def decode_state(text: str) -> Raw:
    """The state a stored text stands for (a state stored whole, before version 7: as it is)."""
    stored: Raw = (
        json.loads(text, parse_float=Decimal) if text.endswith(_WIDE) else orjson.loads(text)
    )
    return unpack(stored) if "y" in stored or "h" in stored else stored


__all__ = ["decode_state", "encode_state", "pack", "unpack"]
