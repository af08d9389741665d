"""Every hypothesis strategy of the test suite, in one place.

- canonical values (text, whole numbers, Decimal money, dates, aware UTC times, booleans);
- dots and vector clocks;
- registers built from random *histories* (replicas writing and merging), so that every
  generated register is one a real run could reach and one dot never carries two values;
- raw side values and random edit scripts on the two sides of the ``customers`` module
  (inserts, updates, deletes, full and partial sync cycles, injected crashes, poison values
  another program writes and later fixes).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from conflicts import RESOLVER, Register
from journal import Dot, VectorClock

SIDES = ("books", "crm")
ACTORS = (*SIDES, RESOLVER)

# -- canonical values ---------------------------------------------------------------------

texts = st.text(min_size=1, max_size=12).map(lambda s: unicodedata.normalize("NFC", s))
money = st.decimals(
    min_value=Decimal("-100000"),
    max_value=Decimal("100000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31))
utc_datetimes = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
canonical_values = st.one_of(
    st.none(), texts, st.integers(-(10**12), 10**12), st.booleans(), money, dates, utc_datetimes
)

# -- dots and clocks ----------------------------------------------------------------------


def dots(actors: Sequence[str] = ACTORS) -> st.SearchStrategy[Dot]:
    return st.builds(Dot, st.sampled_from(actors), st.integers(1, 6))


def vector_clocks(actors: Sequence[str] = ACTORS) -> st.SearchStrategy[VectorClock]:
    return st.dictionaries(st.sampled_from(actors), st.integers(0, 6)).map(VectorClock)


# -- registers from histories -------------------------------------------------------------


@attrs.frozen
class History:
    """What replicas of one field reached, and every write (as a delta) they made."""

    replicas: tuple[Register, ...]
    deltas: tuple[Register, ...]


@st.composite
def histories(draw: st.DrawFn, actors: Sequence[str] = ACTORS, max_steps: int = 14) -> History:
    """Replicas (one per actor) that write with their own clock as context and merge
    each other's state in any order: every state a real run of the field could reach."""
    replicas = [Register() for _ in actors]
    deltas: list[Register] = []
    n = len(actors)
    for _ in range(draw(st.integers(0, max_steps))):
        i = draw(st.integers(0, n - 1))
        if draw(st.booleans()):
            actor = actors[i]
            dot = replicas[i].clock.next_dot(actor)
            delta = Register.delta(
                dot, draw(canonical_values), draw(utc_datetimes), replicas[i].clock
            )
            replicas[i] = replicas[i].merge(delta)
            deltas.append(delta)
        else:
            j = draw(st.integers(0, n - 1))
            replicas[j] = replicas[j].merge(replicas[i])
    return History(tuple(replicas), tuple(deltas))


@st.composite
def register_families(draw: st.DrawFn, size: int = 3) -> tuple[Register, ...]:
    """``size`` registers of one field out of one history (so their dots agree)."""
    history = draw(histories())
    pool = list(history.replicas) + list(history.deltas) + [Register()]
    return tuple(draw(st.sampled_from(pool)) for _ in range(size))


registers = register_families(1).map(lambda family: family[0])

# -- record states as the reducer keeps them ----------------------------------------------

# wire values: text, whole numbers (past 64 bits too), booleans (never equal to 1 here),
# tagged decimals and dates, lines
wire_values = st.one_of(
    st.none(),
    st.sampled_from(["Acme", "", "Pune"]),
    st.integers(-2, 2),
    st.sampled_from([2**70, -(2**64)]),
    st.booleans(),
    st.sampled_from([{"$decimal": "1.5"}, {"$decimal": "1.50"}, {"$date": "2026-01-05"}]),
    st.lists(st.fixed_dictionaries({"qty": st.integers(0, 1) | st.booleans()}), max_size=2),
)
# times as a state holds them: UTC ISO text, mostly canonical (stored as integers), or as
# a side gave it
_ATS = st.sampled_from(
    ["2026-01-05T09:00:00.000000+00:00", "2026-01-06T09:00:00.000000+00:00", "2026-01-06Z"]
)
_STATE_SIDES = ("books", "crm", "books:acme")
_small_clocks = st.dictionaries(st.sampled_from(_STATE_SIDES), st.integers(1, 3), max_size=3)


@st.composite
def raw_registers(draw: st.DrawFn) -> list[Any]:
    """A register as a state stores it: ``[siblings, clock]``; its clock often only its
    siblings' dots, sometimes more."""
    dots_ = draw(
        st.lists(
            st.tuples(st.sampled_from(_STATE_SIDES), st.integers(1, 3)),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    siblings = [[side, n, draw(wire_values), draw(_ATS)] for side, n in sorted(dots_)]
    clock = {side: n for side, n, _, _ in siblings}
    for side, n in draw(_small_clocks).items():
        clock[side] = max(clock.get(side, 0), n)
    return [siblings, clock]


@st.composite
def raw_states(draw: st.DrawFn) -> dict[str, Any]:
    """A record's state as :mod:`conflicts.state` keeps it in memory (keys sorted, as a
    stored state decodes): fields, sides holding their values or others, the keys a state
    holds only sometimes."""
    origin = draw(st.sampled_from(("", *_STATE_SIDES)))  # "": a state made by an entry of no side
    rid = draw(st.sampled_from([f"{origin}:1", "crm:9", f"{origin}:7~2"]))
    names_ = st.sampled_from(["name", "email", "qty", "lines"])
    fields = draw(st.dictionaries(names_, raw_registers()))
    clock = draw(_small_clocks)
    sides = {}
    for side in draw(st.lists(st.sampled_from(_STATE_SIDES), unique=True, max_size=3)):
        values = {}
        for name, reg in fields.items():
            how = draw(st.sampled_from(["same", "same", "other", "lacking"]))
            if how == "same":
                values[name] = reg[0][0][2]
            elif how == "other":
                values[name] = draw(wire_values)
        if draw(st.booleans()):
            values["extra"] = draw(wire_values)
        held = {
            "c": dict(clock) if draw(st.booleans()) else draw(_small_clocks),
            "del": draw(st.booleans()),
            "id": draw(st.none() | st.sampled_from(["1", "48768"])),
            "v": dict(sorted(values.items())),
        }
        if draw(st.booleans()):
            held = {"a": {"name": ["Acme", "Acme (2)"]}, **held}
        sides[side] = held
    raw = {
        "c": clock,
        "d": draw(st.booleans()),
        "e": draw(st.sampled_from([{}, {"crm": "refused"}])),
        "f": dict(sorted(fields.items())),
        "k": draw(st.none() | st.sampled_from(["Acme", ""])),
        "m": "customers",
        "n": draw(st.none() | st.just("merged into crm:2 (link)")),
        "o": origin,
        "r": rid,
        "s": dict(sorted(sides.items())),
        "st": draw(st.sampled_from(["active", "merged", "held"])),
        "x": draw(st.sampled_from([{}, {"name": {"id": 3, "dots": [["crm", 1]], "open": True}}])),
    }
    extras = {
        "b": {"name": "Acme"},
        "na": True,
        "nk": "acme",
        "re": {"crm": "bad"},
        "rt": {"crm": [1, None]},
        "tg": {"deal": "crm:5", "t": "quote", "out": "won", "only": ["books"], "v": {}},
    }
    for key in draw(st.lists(st.sampled_from(sorted(extras)), unique=True)):
        raw[key] = extras[key]
    return dict(sorted(raw.items()))


# -- raw side values ----------------------------------------------------------------------

CAFE = "Caf\u00e9"
# a few names, so that inserts on both sides meet as duplicates; the NFD spelling and the
# trailing space check that keys compare canonical text exactly
names = (
    st.sampled_from(
        ["Acme", "Beta", "Gamma", CAFE, unicodedata.normalize("NFD", CAFE), "Acme ", ""]
    )
    | st.none()
)
emails = st.sampled_from(["a@example.com", "b@example.com", "c@example.com", ""]) | st.none()


@st.composite
def raw_amounts(draw: st.DrawFn) -> Any:
    """An amount as a side might hold it: text with or without trailing zeros, a Decimal,
    a whole number, or nothing."""
    if draw(st.integers(0, 5)) == 0:
        return None
    amount = draw(
        st.decimals(
            min_value=Decimal("0"),
            max_value=Decimal("999"),
            places=2,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    form = draw(st.sampled_from(["text", "padded", "decimal", "int"]))
    if form == "text":
        return str(amount.normalize()) if amount == amount.to_integral_value() else str(amount)
    if form == "padded":
        return f"{amount:.2f}"
    if form == "int" and amount == amount.to_integral_value():
        return int(amount)
    return amount


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": names,
    "email": emails,
    "credit_limit": raw_amounts(),
}
FIELDS = tuple(FIELD_VALUES)

rows = st.fixed_dictionaries(FIELD_VALUES)
"""A whole record in canonical field names with raw values (the harness renames columns)."""

changes = st.sets(st.sampled_from(FIELDS), min_size=1).flatmap(
    lambda names: st.fixed_dictionaries({name: FIELD_VALUES[name] for name in sorted(names)})
)
"""Some fields of a record, for an update."""

# -- edit scripts -------------------------------------------------------------------------


@attrs.frozen
class Insert:
    side: str
    values: dict[str, Any]


@attrs.frozen
class Update:
    side: str
    pick: int  # which existing row (modulo the rows the side has)
    values: dict[str, Any]


@attrs.frozen
class EditBoth:
    """Both sides change one record they share before the next sync (concurrent writes)."""

    pick: int  # which linked record (modulo the records linked on both sides)
    books: dict[str, Any]
    crm: dict[str, Any]


@attrs.frozen
class Delete:
    side: str
    pick: int


@attrs.frozen
class Fault:
    """Something failing once in a cycle, at ``where``:

    - ``pull``: the side's pull, after ``after`` pages (between pages, or after the last);
    - ``push_before``: the side's push, before it writes anything;
    - ``push_partial``: the side's push, after writing its first ``after`` rows;
    - ``push_after``: the side's push, after writing every row but before the engine has
      the outcomes (so nothing of it is journaled);
    - ``journal``: the ``after``-th journal append of the cycle (a crash between any two
      journaled steps);
    - ``blind``: not a failure: the side's pull sees nothing (only the other side syncs);
    - ``down``: the side is unavailable for the whole cycle: every pull, push and read of
      it fails with a ConnectorError (the other side is still pulled);
    - ``locked``: another program holds the side's database locked for the whole cycle
      (a real ``BEGIN EXCLUSIVE`` on a SQLite side; on a memory side the same as ``down``);
    - ``redeliver``: not a failure: the side's pull hands every page over twice (the same
      changes delivered again);
    - ``stop``: a stop is asked for (the daemon's SIGTERM sets ``engine.stop_requested``)
      from the ``after``-th time the engine asks on: between any two pages or batches.

    ``side`` ``*`` arms both sides: whichever gets there first fails."""

    side: str
    where: str
    after: int = 0


@attrs.frozen
class Resolve:
    """A person settles an open conflict (``pick`` modulo the open ones), taking the value
    of side ``take`` (or, for a duplicate group, ``clone`` / ``skip``)."""

    pick: int
    take: str


@attrs.frozen
class Callback:
    """A notification names rows of ``side`` (``picks`` modulo the rows it has), delivered
    ``times`` times: the engine re-reads them now (``Engine.sync_ids``)."""

    side: str
    picks: tuple[int, ...]
    times: int = 1


@attrs.frozen
class Poison:
    """Another program writes a value no sync can read or convert into one ``field`` of a
    row of ``side`` (``pick`` modulo its rows): the ``which``-th poison of that field the
    side can hold (:data:`POISONS`)."""

    side: str
    pick: int
    field: str
    which: int = 0


@attrs.frozen
class Fix:
    """Another program sets a valid value (``values[field]`` of the poisoned field) in a
    poisoned field (``pick`` modulo the fields poisoned now)."""

    pick: int
    values: dict[str, Any]


@attrs.frozen
class Cycle:
    """A sync cycle: full, one side's pull only (``only``), or failing with ``fault``."""

    only: str | None = None
    fault: Fault | None = None

    @property
    def full(self) -> bool:
        return self.only is None and self.fault is None


# Values no sync can read or convert, each with a connector that can hold it ("both": SQLite
# and memory sides).  None parses to a value a valid edit could make (see ``valid_value``):
# "1,505" is neither 1505 nor 1.505 (three places), "12345abc" not 12345 (past 999), the
# bytes ff 41 never "A", "\ufffdA" nor "\xffA".  A memory side (a JSON side's values) can
# also hold a lone surrogate and amounts the journal must not hold as they are.
POISONS: dict[str, tuple[tuple[Any, str], ...]] = {
    "name": ((b"\xffA", "both"), ("x\ud800y", "memory")),
    "email": ((b"\xffA", "both"), ("x\ud800y", "memory")),
    "credit_limit": (
        ("1,505", "both"),
        ("12345abc", "both"),
        (Decimal("Infinity"), "memory"),
        (Decimal("1E+999999999"), "memory"),  # exact, but a billion digits in plain notation
    ),
}


def poisons_for(field: str, connector: str) -> list[Any]:
    """The poisons of ``field`` a side of ``connector`` (``memory`` or ``sqlite``) can hold."""
    return [value for value, where in POISONS[field] if where in ("both", connector)]


_KNOWN_NAMES = {
    unicodedata.normalize("NFC", n)
    for n in ["Acme", "Beta", "Gamma", CAFE, "Acme ", "Delta", "Initech", "Vandelay", "Zed"]
}
_KNOWN_EMAILS = {"a@example.com", "b@example.com", "c@example.com"}


def valid_value(field: str, value: Any) -> bool:
    """Whether canonical ``value`` of ``field`` is one a valid edit could have made (a clone
    renamed by ``clone_name`` keeps its name as a prefix): nothing read from a poison, no
    guess at one, no float."""
    if value is None:
        return True
    if field == "name":
        return isinstance(value, str) and any(
            value == n or value.startswith(n + " (") for n in _KNOWN_NAMES
        )
    if field == "email":
        return value in _KNOWN_EMAILS
    if field == "credit_limit":
        return (
            isinstance(value, Decimal)
            and value.is_finite()
            and Decimal(0) <= value <= Decimal(999)
            and value.as_tuple().exponent >= -2  # type: ignore[operator]
        )
    return False


sides = st.sampled_from(SIDES)
inserts = st.builds(Insert, sides, rows)
updates = st.builds(Update, sides, st.integers(0, 50), changes)
deletes = st.builds(Delete, sides, st.integers(0, 50))
concurrent_edits = st.builds(EditBoth, st.integers(0, 50), changes, changes)
faults = st.one_of(
    st.builds(
        Fault,
        st.sampled_from(["*", "*", *SIDES]),
        st.sampled_from(["pull", "push_before", "push_after", "push_partial"]),
        st.integers(0, 3),
    ),
    st.builds(Fault, st.just("*"), st.just("journal"), st.integers(0, 8)),
    # a side down or locked for a whole cycle, the same changes delivered twice
    st.builds(Fault, st.sampled_from(SIDES), st.sampled_from(["down", "locked", "redeliver"])),
    # the daemon's SIGTERM: a stop asked for between any two pages or batches
    st.builds(Fault, st.just("*"), st.just("stop"), st.integers(0, 6)),
)
callbacks = st.builds(
    Callback,
    sides,
    st.lists(st.integers(0, 50), min_size=1, max_size=3).map(tuple),
    st.integers(1, 2),
)
poisonings = st.builds(
    Poison, sides, st.integers(0, 50), st.sampled_from(FIELDS), st.integers(0, 3)
)
fixes = st.builds(Fix, st.integers(0, 20), rows)
resolutions = st.builds(Resolve, st.integers(0, 20), st.sampled_from([*SIDES, "clone", "skip"]))
full_cycles = st.just(Cycle())
partial_cycles = st.builds(Cycle, only=sides) | st.builds(Cycle, fault=faults)
edits = st.one_of(inserts, inserts, updates, updates, concurrent_edits, deletes)


def scripts(*, max_steps: int = 14) -> st.SearchStrategy[list[Any]]:
    """Edits on both sides interleaved with full and partial cycles and resolutions."""
    step = st.one_of(
        inserts,
        inserts,
        updates,
        concurrent_edits,
        deletes,
        full_cycles,
        full_cycles,
        partial_cycles,
        partial_cycles,
        resolutions,
        callbacks,
    )
    return st.lists(step, max_size=max_steps)


def poison_scripts(*, max_steps: int = 14) -> st.SearchStrategy[list[Any]]:
    """Rows synced once, then edits, poisons, fixes, full and partial cycles (crashes, a
    side down or locked, stops, pages twice), callbacks and resolutions, poisons often."""
    step = st.one_of(
        poisonings,
        poisonings,
        fixes,
        inserts,
        updates,
        concurrent_edits,
        deletes,
        full_cycles,
        full_cycles,
        partial_cycles,
        resolutions,
        callbacks,
    )
    half = max_steps // 2
    return st.tuples(
        st.lists(inserts, min_size=1, max_size=4),
        st.lists(step, max_size=half),
        poisonings,  # at least one
        st.lists(step, max_size=half),
    ).map(lambda s: [*s[0], Cycle(), *s[1], s[2], *s[3]])


# -- first syncs that get interrupted ----------------------------------------------------------

FIRST_NAMES = ("Acme", "Beta", "Gamma", "Delta", "Initech", "Vandelay", CAFE, "Zed")


@st.composite
def shared_seeds(draw: st.DrawFn) -> list[Insert]:
    """Rows both sides hold before their first sync, each name at most once per side and
    most of them on both sides: the duplicate policy must pair every one of them."""
    chosen = draw(st.lists(st.sampled_from(FIRST_NAMES), min_size=1, max_size=6, unique=True))
    out = []
    for name in chosen:
        where = draw(st.sampled_from(["both", "both", "both", "books", "crm"]))
        for side in SIDES if where == "both" else (where,):
            values = {"name": name, "email": draw(emails), "credit_limit": draw(raw_amounts())}
            out.append(Insert(side, values))
    return draw(st.permutations(out))


interruptions = st.one_of(st.builds(Cycle, fault=faults), st.builds(Cycle, fault=faults), callbacks)
"""A cycle failing, stopped or with a side down, or a callback (maybe delivered twice)."""


def conflict_scripts(max_rounds: int = 3) -> st.SearchStrategy[list[Any]]:
    """Records synced to both sides, then rounds of concurrent edits to them, syncs (some
    partial) and a person's resolutions: scripts that keep conflicts coming."""
    rounds = st.tuples(
        st.lists(concurrent_edits, min_size=1, max_size=2),
        st.lists(edits, max_size=2),
        st.one_of(full_cycles, full_cycles, partial_cycles),
        st.lists(resolutions, max_size=2),
    ).map(lambda r: [*r[0], *r[1], r[2], *r[3]])
    return st.tuples(
        st.lists(inserts, min_size=1, max_size=4), st.lists(rounds, min_size=1, max_size=max_rounds)
    ).map(lambda s: [*s[0], Cycle(), *(step for r in s[1] for step in r)])


@attrs.frozen
class Seed:
    """One record a side holds before the first sync, with its own modification time."""

    side: str
    values: dict[str, Any]
    modified: dt.datetime


seeds = st.builds(
    Seed,
    sides,
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["Acme", "Beta", CAFE]),
            "email": emails,
            "credit_limit": raw_amounts(),
        }
    ),
    st.datetimes(
        min_value=dt.datetime(2024, 1, 1),
        max_value=dt.datetime(2024, 1, 2),
        timezones=st.just(dt.UTC),
    ),
)


__all__ = [
    "ACTORS",
    "CAFE",
    "Callback",
    "Cycle",
    "Delete",
    "EditBoth",
    "FIELDS",
    "FIELD_VALUES",
    "Fault",
    "History",
    "Insert",
    "Resolve",
    "SIDES",
    "Seed",
    "Update",
    "callbacks",
    "canonical_values",
    "changes",
    "concurrent_edits",
    "conflict_scripts",
    "FIRST_NAMES",
    "Fix",
    "POISONS",
    "Poison",
    "fixes",
    "poison_scripts",
    "poisonings",
    "poisons_for",
    "valid_value",
    "interruptions",
    "shared_seeds",
    "dates",
    "deletes",
    "dots",
    "edits",
    "emails",
    "faults",
    "full_cycles",
    "histories",
    "inserts",
    "money",
    "names",
    "partial_cycles",
    "raw_amounts",
    "raw_registers",
    "raw_states",
    "register_families",
    "registers",
    "resolutions",
    "rows",
    "scripts",
    "seeds",
    "texts",
    "updates",
    "utc_datetimes",
    "vector_clocks",
    "wire_values",
]
