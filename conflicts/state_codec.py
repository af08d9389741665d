"""A record's state as stored: a compact, canonical text of the JSON :mod:`conflicts.state`
keeps in memory, decoded back to exactly that JSON.

The state in memory repeats itself: every field's register carries the side's time of its
write and a clock that, after a plain change, says no more than its one sibling's dot; every
side the record is on holds the same values again.  Stored as it is, a synced record of
eight fields took about 1.5 KB, most of the journal's file.  Stored here (state version 7),
what can be told from the rest is left out:

- the fields whose register is one sibling whose dot is its whole clock are grouped by
  that write: ``g``: ``[[side, counter, at, {field: value}], ...]`` (the side's time of a
  write is said once, not once per field); other registers stay in ``f`` as they are;
- the sides are ``h`` (a state stored before this form has ``s``: it is read as it is,
  so a journal not yet rebuilt, on PostgreSQL say, still opens); a side's values (``v``)
  are said only where they differ from the field's one value:
  ``v`` holds the differing ones, ``-`` names the fields with one value the side does not
  hold; its clock (``c``) only when it is not the record's; its id as ``i``, ``del`` only
  when set;
- ``o`` (the origin side) only when the rid does not start with it; ``k``, ``st``, ``d``,
  ``e``, ``x`` and ``n`` only when not the value a new record has.

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
    if raw["k"] is not None:
        out["k"] = raw["k"]
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
    groups: dict[tuple[str, int, str], dict[str, Any]] = {}
    rest: dict[str, Any] = {}
    single: dict[str, Any] = {}  # field -> its one value
    for name, reg in raw["f"].items():
        siblings, reg_clock = reg
        if len(siblings) == 1:
            side, counter, value, at = siblings[0]
            single[name] = value
            if len(reg_clock) == 1 and reg_clock.get(side) == counter:
                dot_at = (side, counter, at)
                group = groups.get(dot_at)
                if group is None:
                    groups[dot_at] = {name: value}
                else:
                    group[name] = value
                continue
        rest[name] = reg
    if groups:
        out["g"] = [[side, n, at, values] for (side, n, at), values in sorted(groups.items())]
    if rest:
        out["f"] = rest
    sides: Raw = {}
    single_json = _json(single) if len(raw["s"]) else None
    for side, held in raw["s"].items():
        # keys a side holds only sometimes (``a``: a clone's other name), as they are
        packed: Raw = {k: v for k, v in held.items() if k not in _HELD} if len(held) > 4 else {}
        if held["id"] is not None:
            packed["i"] = held["id"]
        if held["c"] != clock:
            packed["c"] = held["c"]
        if held["del"]:
            packed["del"] = True
        values = held["v"]
        if values.keys() == single.keys() and (
            _json(values) == single_json
            if single_json is not None
            else all(_identical(v, single[k]) for k, v in values.items())
        ):
            sides[side] = packed  # the usual case: the side holds every field's one value
            continue
        differing = {
            name: value
            for name, value in values.items()
            if name not in single or not _identical(value, single[name])
        }
        if differing:
            packed["v"] = differing
        lacking = sorted(name for name in single if name not in values)
        if lacking:
            packed["-"] = lacking
        sides[side] = packed
    out["h"] = sides
    return out


def unpack(packed: Raw) -> Raw:
    """The state a stored form stands for (keys in sorted order, as the stored JSON of
    earlier versions decoded)."""
    rid = packed["r"]
    fields: dict[str, Any] = packed.get("f") or {}
    single = {name: reg[0][0][2] for name, reg in fields.items() if len(reg[0]) == 1}
    for side, counter, at, values in packed.get("g", ()):
        for name, value in values.items():
            fields[name] = [[[side, counter, value, at]], {side: counter}]
            single[name] = value
    fields = dict(sorted(fields.items()))
    single = dict(sorted(single.items()))
    clock = packed["c"]
    sides: Raw = {}
    for side in sorted(packed["h"]):
        held = packed["h"][side]
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
        out = {
            "c": dict(clock) if c is None else c,
            "del": "del" in held,
            "id": held.get("i"),
            "v": values,
        }
        if len(held.keys() - _HELD_STORED):
            out.update((k, v) for k, v in held.items() if k not in _HELD_STORED)
            out = dict(sorted(out.items()))
        sides[side] = out
    raw: Raw = {
        "c": clock,
        "d": packed.get("d", False),
        "e": packed.get("e") or {},
        "f": fields,
        "k": packed.get("k"),
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
_STORED = _PACKED | {"g", "h"}


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
    return unpack(stored) if "h" in stored else stored


__all__ = ["decode_state", "encode_state", "pack", "unpack"]
