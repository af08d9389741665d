"""Match keys and duplicate decisions.

A record that exists on one side only and whose match key equals that of records on the
other side (also on one side only) forms a *group*.  The decision depends on the group as a
set, never on the order its members arrived in: one incoming and one existing record follow
the policy; anything larger goes to a person.

With suggestions on, records whose exact keys differ but whose *near keys* (the normalised
keys: case, spacing, punctuation and legal suffixes folded) are equal form a *near group*.
Such a group is never paired silently: :func:`near_group` names the members a person is
asked about (a suggestion), leaving out exact duplicates, which the policy decides.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from conflicts.policy import DuplicatePolicy

LEGAL_SUFFIXES = {
    "ltd": "limited",
    "limited": "limited",
    "inc": "incorporated",
    "incorporated": "incorporated",
    "corp": "corporation",
    "corporation": "corporation",
    "co": "company",
    "company": "company",
    "llc": "llc",
    "plc": "plc",
    "gmbh": "gmbh",
    "pvt": "private",
    "private": "private",
    "llp": "llp",
    "sa": "sa",
    "ag": "ag",
    "bv": "bv",
}

_SUFFIX_FORMS = frozenset(LEGAL_SUFFIXES.values())
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def exact_key(value: Any) -> str | None:
    """The default match key: the value as text, exactly (no value, no key)."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def normalised_key(value: Any) -> str | None:
    """A looser key for suggestions: case, spacing and punctuation folded, and legal
    suffixes at the end dropped ("Hooli Inc." and "Hooli", "Acme Ltd" and "ACME Limited"
    share one); a name that is only a suffix keeps it."""
    text = exact_key(value)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT.sub(" ", text)
    words = [LEGAL_SUFFIXES.get(w, w) for w in _SPACE.split(text.strip()) if w]
    while len(words) > 1 and words[-1] in _SUFFIX_FORMS:
        words.pop()
    return " ".join(words) or None


def match_key(values: Sequence[Any]) -> str | None:
    """The key of a record from its match fields' values (all must be present)."""
    parts = [exact_key(v) for v in values]
    if any(p is None for p in parts):
        return None
    return "\x1f".join(p for p in parts if p is not None)


def near_key(values: Sequence[Any]) -> str | None:
    """The near key of a record from its match fields' values (all must normalise)."""
    parts = [normalised_key(v) for v in values]
    if any(p is None for p in parts):
        return None
    return "\x1f".join(p for p in parts if p is not None)


NEAR_REASON = "near match: names differ only in case/spacing/punctuation/legal suffix"


@attrs.frozen
class Member:
    rid: str
    origin: str


@attrs.frozen
class GroupDecision:
    """``action``: none | pair | skip | ambiguous; ``pair`` is (incoming, existing)."""

    action: str
    pair: tuple[Member, Member] | None = None
    members: tuple[Member, ...] = ()
    reason: str = ""


def decide(policy: DuplicatePolicy, incoming_side: str, members: Sequence[Member]) -> GroupDecision:
    """What to do with the single-sided records sharing one match key."""
    ordered = tuple(sorted(members, key=lambda m: m.rid))
    incoming = [m for m in ordered if m.origin == incoming_side]
    existing = [m for m in ordered if m.origin != incoming_side]
    if policy is DuplicatePolicy.CLONE or not incoming or not existing:
        return GroupDecision("none", members=ordered)
    if len(incoming) == 1 and len(existing) == 1:
        pair = (incoming[0], existing[0])
        if policy is DuplicatePolicy.SKIP:
            return GroupDecision(
                "skip",
                pair,
                ordered,
                f"{incoming[0].rid} on {incoming[0].origin} and {existing[0].rid} on "
                f"{existing[0].origin} share the match key: the skip policy leaves both unsynced",
            )
        return GroupDecision(
            "pair",
            pair,
            ordered,
            f"duplicate of {existing[0].rid}: {policy.value} policy links them",
        )
    return GroupDecision(
        "ambiguous",
        None,
        ordered,
        f"{len(incoming)} record(s) on {incoming_side} and {len(existing)} elsewhere share one "
        "match key: a person must choose",
    )


@attrs.frozen
class Candidate:
    """A record on one side only in a near group, with its exact match key."""

    rid: str
    origin: str
    key: str | None


def near_group(
    candidates: Sequence[Candidate], linked: Sequence[Candidate] = ()
) -> tuple[Candidate, ...]:
    """Of the single-sided records sharing one near key, those to suggest to a person.

    A record whose exact key is shared with another side (by a candidate, or by a record
    ``linked`` on both sides already, keyed by the side it came from) is an exact
    duplicate, which the module's policy decides: it is left out.  The rest is a
    suggestion when it spans two sides or more, and nothing otherwise.  Order-free: the
    result is sorted by rid.
    """
    sides_of: dict[str | None, set[str]] = {}
    for c in (*candidates, *linked):
        sides_of.setdefault(c.key, set()).add(c.origin)
    rest = sorted(
        {c for c in candidates if c.key is None or len(sides_of[c.key]) < 2},
        key=lambda c: c.rid,
    )
    if len({c.origin for c in rest}) < 2:
        return ()
    return tuple(rest)


# -- clone names ----------------------------------------------------------------------------

# the name a clone gets on a side already holding its name: the record's name, the side it
# came from and its id there (so each side shows where its renamed copy came from)
DEFAULT_CLONE_NAME = "{name} ({side} {id})"
CLONE_NAME_FIELDS = ("name", "side", "id", "n")


def _fields(template: str) -> list[str]:
    """The placeholders a name rule uses (ValueError when it is no format text)."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]


def clone_name_problem(template: object) -> str | None:
    """Why ``template`` is no clone name rule (None when it is one)."""
    if not isinstance(template, str) or not template.strip():
        return f"must be a non-empty text such as {DEFAULT_CLONE_NAME!r}, not {template!r}"
    try:
        fields = _fields(template)
    except ValueError as exc:
        return f"{template!r} is not a name rule: {exc}"
    unknown = sorted({f for f in fields if f not in CLONE_NAME_FIELDS})
    if unknown:
        return f"{template!r} names {{{unknown[0]}}}: a rule may use only " + ", ".join(
            f"{{{f}}}" for f in CLONE_NAME_FIELDS
        )
    if "name" not in fields:
        return f"{template!r} must keep the record's name: put {{name}} in it"
    try:
        template.format(name="x", side="s", id="1", n=2)
    except (ValueError, IndexError, KeyError) as exc:
        return f"{template!r} is not a name rule: {exc}"
    return None


def clone_name(
    template: str, *, name: str, side: str, id: str, taken: Callable[[str], bool]
) -> str:
    """The name a clone gets where ``name`` is taken: the rule filled in (``{n}`` counts
    from 2); while that is taken too, ``{n}`` counts on, or a rule without ``{n}`` gets
    " (2)", " (3)"... appended.  A function of its arguments: the same names taken give
    the same name."""
    n = 2
    if "n" in _fields(template):
        while True:
            candidate = template.format(name=name, side=side, id=id, n=n)
            if candidate != name and not taken(candidate):
                return candidate
            n += 1
    base = template.format(name=name, side=side, id=id, n=n)
    candidate = base
    while candidate == name or taken(candidate):
        candidate = f"{base} ({n})"
        n += 1
    return candidate


__all__ = [
    "CLONE_NAME_FIELDS",
    "DEFAULT_CLONE_NAME",
    "NEAR_REASON",
    "Candidate",
    "GroupDecision",
    "Member",
    "clone_name",
    "clone_name_problem",
    "decide",
    "exact_key",
    "match_key",
    "near_group",
    "near_key",
    "normalised_key",
]
