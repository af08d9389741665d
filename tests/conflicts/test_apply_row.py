"""The reducer's fold of stored rows (``RecordReducer.apply_row``, a replay's fast path) is
its fold of entries: a replay of rows of every shape gives the live state, the shapes a
sync writes are folded without ``apply``, and anything else goes through it."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflicts import RecordReducer
from conflicts.reducer import _observe_values, _utc_of
from conflicts.register import write_clock, write_register
from conflicts.state import new_state
from journal import Dot, Journal, Kind, NewEntry, VectorClock, replay, verify
from journal.entry import utc_text
from journal.names import FieldNames

T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
BIG = 123456789012345678901234567890


def _observed(
    side: str, counter: int, context: dict[str, int], fields: dict[str, Any], **meta: Any
) -> NewEntry:
    return NewEntry(
        Kind.OBSERVED,
        "customers",
        "books:1",
        side,
        Dot(side, counter),
        VectorClock(context),
        fields,
        {"id": "b1" if side == "books" else "c1", **meta},
        at=T0 + dt.timedelta(seconds=counter),
    )


def _applied(side: str, fields: dict[str, Any], **meta: Any) -> NewEntry:
    return NewEntry(
        Kind.APPLIED,
        "customers",
        "books:1",
        side,
        meta.pop("dot", None),
        meta.pop("context", VectorClock.of(books=1)),
        fields,
        {"id": "b1" if side == "books" else "c1", **meta},
    )


FIELDS = {"name": "Acme", "limit": Decimal("12.50"), "since": dt.date(2020, 1, 2), "n": 3}

# each a sequence of entries about one record, shapes a sync writes and others
SCRIPTS: dict[str, list[NewEntry]] = {
    "sync": [
        _observed("books", 1, {}, FIELDS, key="acme", modified=T0),
        _applied("crm", FIELDS, create=True, done=True),
        _observed("crm", 1, {"books": 1}, {**FIELDS, "name": "Acme Ltd"}, key="acme ltd"),
        _observed("books", 2, {"books": 1}, {**FIELDS, "n": 4}, modified=T0.isoformat()),
    ],
    "near, absent, no key": [
        _observed("books", 1, {}, {"name": "A", "fax": None}, near="a", absent=["fax"]),
        _observed("crm", 1, {}, {"name": "B"}, key=None, near="b"),
    ],
    "a deal's baseline": [_observed("books", 1, {}, FIELDS, baseline=True)],
    "concurrent writes": [
        _observed("books", 1, {}, {"name": "A"}),
        _observed("crm", 1, {}, {"name": "B"}),
        _observed("books", 2, {"books": 1, "crm": 1}, {"name": "C"}),
        _observed("books", 2, {"books": 1, "crm": 1}, {"name": "C"}),  # delivered again
        _observed("crm", 1, {}, {"name": "B"}),  # superseded, delivered after
    ],
    "an integer past 64 bits": [_observed("books", 1, {}, {"visits": BIG, "n": 2**63 - 1})],
    "lines": [_observed("books", 1, {}, {"lines": [{"qty": Decimal("1.5"), "item": "x"}]})],
    "a meta key it does not read": [_observed("books", 1, {}, FIELDS, by="someone")],
    "a side id of another type": [_observed("books", 1, {}, FIELDS, id=7)],
    "an undo's restore": [
        _observed("books", 1, {}, FIELDS),
        _applied("books", {"name": "Old"}, dot=Dot("crm", 1), done=True),
    ],
    "a clone renamed": [
        _observed("books", 1, {}, FIELDS),
        _applied(
            "crm",
            {"name": "Acme (2)"},
            create=True,
            done=False,
            renamed=[{"field": "name", "from": "Acme", "to": "Acme (2)"}],
        ),
    ],
    "an applied write made by hand": [_applied("crm", FIELDS, context=None)],
    "a refused write then applied": [
        _observed("books", 1, {}, FIELDS),
        NewEntry(
            Kind.ERROR,
            "customers",
            "books:1",
            "crm",
            meta={"reason": "no", "stage": "write", "attempt": 1, "done": True},
        ),
        _applied("crm", FIELDS, create=True, done=True),
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_a_replay_of_the_rows_is_the_live_state(tmp_path, name):
    """Appended live (``apply``), replayed from rows (``apply_row``): the same tables."""
    with Journal(tmp_path / "j.db", RecordReducer(labels={"customers": "name"})) as journal:
        for entry in SCRIPTS[name]:
            journal.append([entry])
        result = verify(journal)
        assert result.ok, result.problem


def _rows(journal: Journal) -> list[tuple[Any, ...]]:
    return [row for rows in journal.row_batches() for row in rows]


class _Counting(RecordReducer):
    def __init__(self) -> None:
        super().__init__()
        self.applied: list[str] = []

    def apply(self, view: Any, entry: Any) -> None:
        self.applied.append(str(entry.kind))
        super().apply(view, entry)


def test_a_syncs_rows_are_folded_without_building_entries(tmp_path):
    """Observations and applied writes of the shapes a sync writes never reach ``apply``;
    rows of other shapes do (and a row of another kind)."""
    with Journal(tmp_path / "j.db", RecordReducer()) as journal:
        journal.append(SCRIPTS["sync"] + SCRIPTS["a meta key it does not read"])
        journal.append(SCRIPTS["an integer past 64 bits"] + SCRIPTS["an undo's restore"][1:])
        rows = _rows(journal)
        reducer = _Counting()
        with Journal(tmp_path / "r.db", reducer) as target:
            target.view.names = journal.names  # the rows' journal's field names
            for row in rows:
                reducer.apply_row(target.view, row)
    assert reducer.applied == ["observed", "observed", "applied"]


# -- a replay record by record ---------------------------------------------------------------


def _obs(rid: str, side: str, side_id: str, counter: int = 1, **fields: Any) -> NewEntry:
    return NewEntry(
        Kind.OBSERVED,
        "customers",
        rid,
        side,
        Dot(side, counter),
        VectorClock(),
        {"name": "Acme", **fields},
        {"id": side_id, "key": "acme"},
    )


def _by_record(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the replays folded record by record from now on."""
    calls: list[int] = []
    real = replay.fold_records

    def spy(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(replay, "fold_records", spy)
    return calls


def _sync(rid: str) -> list[NewEntry]:
    return [
        _obs(rid, "books", f"b{rid}"),
        NewEntry(
            Kind.APPLIED,
            "customers",
            rid,
            "crm",
            context=VectorClock.of(books=1),
            fields={"name": "Acme"},
            meta={"id": f"c{rid}", "create": True, "done": True},
        ),
    ]


def test_a_syncs_journal_replays_record_by_record(tmp_path, monkeypatch):
    """Records whose entries interleave, a cursor, a write intent, a conflict and its
    resolution, a config entry: folded record by record, the live state."""
    calls = _by_record(monkeypatch)
    with Journal(tmp_path / "j.db", RecordReducer(labels={"customers": "name"})) as journal:
        journal.append(_sync("books:1") + _sync("books:2"))
        journal.append([_obs(f"books:{i}", "books", f"bbooks:{i}", 2, n=i) for i in (2, 1, 3)])
        journal.append(
            [
                NewEntry(Kind.CURSOR, "customers", None, "books", meta={"cursor": 5}),
                NewEntry(Kind.INTENT, "customers", None, "crm", meta={"writes": {"books:1": None}}),
                NewEntry(Kind.CONFIG, "@journal", None, None, meta={"fingerprint": "f"}),
                NewEntry(Kind.CURSOR, "customers", None, "books", meta={"cursor": 7}),
            ]
        )
        journal.append([_conflict("books:1")])
        journal.append([_resolution("books:1", journal.last_seq)])
        assert verify(journal).ok
    assert calls == [1]


def test_a_side_id_linked_to_two_records_ends_where_the_later_entry_put_it(tmp_path, monkeypatch):
    """Links are the table records share: folded record by record, a side's id two
    records linked is the later entry's (here the record folded first), as in seq order."""
    calls = _by_record(monkeypatch)
    with Journal(tmp_path / "j.db", RecordReducer()) as journal:
        journal.append([_obs("books:2", "crm", "c9"), _obs("books:1", "crm", "c9")])
        journal.append([_obs("books:3", "crm", "c8"), _obs("books:1", "crm", "c8", 2)])
        assert journal.rid_for("customers", "crm", "c9") == "books:1"
        result = verify(journal)
        assert result.ok, result.problem
    assert calls == [1]


def _conflict(rid: str) -> NewEntry:
    return NewEntry(
        Kind.CONFLICT,
        "customers",
        rid,
        meta={
            "field": "name",
            "status": "open",
            "policy": "hold",
            "siblings": [],
            "dots": [],
            "winner": None,
            "reason": "r",
        },
    )


def _resolution(rid: str, conflict: int) -> NewEntry:
    return NewEntry(
        Kind.RESOLUTION, "customers", rid, meta={"conflict": conflict, "by": "ann", "take": "books"}
    )


# entries that cross records: a replay folds in seq order instead
CROSSING: dict[str, Any] = {
    "a retry asked": lambda seq: NewEntry(
        Kind.INTENT, "customers", None, "crm", meta={"retry": ["books:1"], "by": "ann"}
    ),
    "records settled": lambda seq: NewEntry(
        Kind.INTENT, "customers", None, "crm", meta={"settled": ["books:2"]}
    ),
    "a deleted integration": lambda seq: NewEntry(
        Kind.CONFIG, "@journal", None, None, meta={"event": "delete", "modules": ["customers"]}
    ),
    "an undo's unlink": lambda seq: NewEntry(
        Kind.LINK,
        "customers",
        "books:1",
        "crm",
        meta={
            "unlinked": True,
            "id": "cbooks:1",
            "from": "crm:1",
            "policy": "link",
            "key": "acme",
            "undoes": 1,
            "by": "ann",
        },
    ),
    "a cursor on a record": lambda seq: NewEntry(
        Kind.CURSOR, "customers", "books:1", "books", meta={"cursor": 5}
    ),
    "another record's conflict resolved": lambda seq: _resolution("books:1", seq),
}


@pytest.mark.parametrize("name", sorted(CROSSING))
def test_entries_that_cross_records_replay_in_seq_order(tmp_path, monkeypatch, name):
    calls = _by_record(monkeypatch)
    with Journal(tmp_path / "j.db", RecordReducer()) as journal:
        journal.append(_sync("books:1") + _sync("books:2"))
        journal.append([_conflict("books:2")])
        journal.append([CROSSING[name](journal.last_seq)])
        journal.append([_obs("books:1", "books", "bbooks:1", 2, n=5)])
        result = verify(journal)
        assert result.ok, result.problem
    assert calls == []


def test_a_kind_the_reducer_does_not_know_replays_in_seq_order():
    """A newer entry's kind (not one of journal.Kind): no fold by record."""
    reducer = RecordReducer()
    assert reducer.folds_per_record(frozenset({"observed", "applied"}), lambda kinds: [])
    assert not reducer.folds_per_record(frozenset({"observed", "bulk"}), lambda kinds: [])


@given(st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2))])))
def test_a_stored_times_utc_text_is_told_from_its_text_alone(at):
    """The fast path's ``utc_text`` of a stored time (``$datetime``, as the journal writes
    it) is the one the datetime gives, whatever the time."""
    text = at.isoformat()
    assert _utc_of(text) == utc_text(dt.datetime.fromisoformat(text))


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00+00:00", "2026-11-01T24:00:00+00:00"])
def test_a_time_that_is_none_is_refused_by_the_fast_path_as_by_apply(text):
    with pytest.raises(ValueError):
        _utc_of(text)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_fold_by_record_in_batches_of_any_size_is_the_live_state(tmp_path, monkeypatch, batch):
    """A record whose rows a batch ends among is read back from the row its flush wrote."""
    calls = _by_record(monkeypatch)
    with Journal(tmp_path / "j.db", RecordReducer()) as journal:
        journal.append(_sync("books:1") + _sync("books:2"))
        journal.append([_obs(f"books:{i}", "books", f"bbooks:{i}", 2, n=i) for i in (2, 1)])
        result = verify(journal, batch=batch)
        assert result.ok, result.problem
    assert calls == [1]


_sides = st.sampled_from(["books", "crm", "x"])
_clocks = st.dictionaries(_sides, st.integers(1, 4), max_size=3)
_dots = st.tuples(_sides, st.integers(1, 4))


@given(
    siblings=st.lists(_dots, max_size=2, unique=True),
    clock=_clocks,
    dot=_dots,
    context=_clocks,
    value=st.sampled_from(["a", "b", None, 1]),
)
def test_an_observations_register_write_is_write_register(siblings, clock, dot, context, value):
    """The fold's write of a field (its usual case spelled out in ``_observe_values``) is
    ``write_register``'s, for any register and write, consistent or not."""
    reg = [[[side, n, f"v{side}{n}", "t0"] for side, n in sorted(siblings)], clock]
    raw = new_state("customers", "books:1", "books")
    raw["f"]["f"] = reg
    side, counter = dot
    seen = write_clock(side, counter, context)
    expected = write_register(copy.deepcopy(reg), side, counter, value, "t1", seen)
    _observe_values(raw, side, side, counter, dict(context), "t1", {"f": value}, None)
    assert raw["f"]["f"] == expected


# -- a record's first observation, built at once ---------------------------------------------

_names = st.sampled_from(["name", "email", "limit", "since", "n", "ok"])
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["", "Acme", "é"]),
    st.decimals(places=2, min_value=-100, max_value=100),
    st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2021, 1, 1)),
)
_meta = st.fixed_dictionaries(
    {},
    optional={
        "key": st.one_of(st.none(), st.sampled_from(["acme", "b"])),
        "near": st.sampled_from(["acme", "b"]),
        "modified": st.sampled_from([T0, T0.isoformat(), "2026-11-27T10:00:00.5+00:00"]),
        "absent": st.just(["n"]),
        "baseline": st.booleans(),
    },
)


@st.composite
def _record_entries(draw: st.DrawFn, rid: str) -> list[NewEntry]:
    side, other = draw(st.permutations(["books", "crm"]))
    counter = draw(st.integers(1, 3))
    context = draw(st.dictionaries(st.just(other), st.integers(1, 3)))
    fields = draw(st.dictionaries(_names, _values, max_size=5))
    first = NewEntry(
        Kind.OBSERVED,
        "customers",
        rid,
        side,
        Dot(side, counter),
        VectorClock(context),
        fields,
        {"id": f"{side}{rid}", **draw(_meta)},
        at=T0,
    )
    out = [first]
    if draw(st.booleans()):
        out.append(
            NewEntry(
                Kind.APPLIED,
                "customers",
                rid,
                other,
                context=VectorClock({**context, side: counter}),
                fields=fields,
                meta={"id": f"{other}{rid}", "create": True, "done": draw(st.booleans())},
            )
        )
    if draw(st.booleans()):
        edit = {**fields, **draw(st.dictionaries(_names, _values, max_size=3))}
        context = {**context, side: counter}
        out.append(
            NewEntry(
                Kind.OBSERVED,
                "customers",
                rid,
                other,
                Dot(other, 1),
                VectorClock(context),
                edit,
                {"id": f"{other}{rid}", **draw(_meta)},
                at=T0,
            )
        )
    return out


_rids = st.lists(st.sampled_from(["books:1", "books:2", "crm:3"]), min_size=1, max_size=3)


@given(_rids, st.data())
def test_a_first_observation_built_at_once_is_the_general_folds(rids, data):
    """A record's first observation (``_first_observed``, a replay's direct path) makes the
    state, the stored columns and the links the general fold makes of it, byte for byte,
    whatever its fields, clock, key, near key and time, and whatever follows it."""
    entries = [entry for rid in rids for entry in data.draw(_record_entries(rid))]
    with Journal(":memory:", RecordReducer()) as journal:
        journal.append(entries)
        rows = sorted(_rows(journal), key=lambda row: (row[2], row[3], row[0]))
        names = FieldNames.of({"customers": journal.names.order("customers")})
    folded = []
    for direct in (True, False):
        reducer = RecordReducer(labels={"customers": "name"})
        reducer.direct = direct
        with Journal(":memory:", reducer) as target:
            view = target.view
            view.names = names  # the rows' journal's field names
            view._link_order = []
            for row in rows:
                view._seq = row[0]
                reducer.apply_row(view, row)
            states = {key: reducer.encode(state) for key, state in view._dirty.items()}
            folded.append((states, list(view._link_order)))
    assert folded[0] == folded[1]
