"""The law of states stored by reference (state version 12): a record whose state is the
fold of a few observations and applied writes of its own stores their seqs instead of its
text, and reads back as exactly the state the fold of before stored as text (values,
registers and their clocks, each side's id, clock and values, status, attention, the
indexed columns, the links), after every step of a script of edits, cycles and crashes
(each a rollback the journal forgets its cache on), and once more after a reopen."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from conflicts import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, replay
from journal.schema import STATE_TABLES, TALLY_TABLES
from tests.journal.by_reference import check_by_reference
from tests.property.test_sync_laws import BATCH_SIZES, CONFLICTS, DUPLICATES, PAGE_SIZES
from tests.property.world import config, open_world
from tests.strategies import Cycle, Insert, edits, faults, full_cycles, partial_cycles

scripts = st.tuples(
    st.lists(edits, min_size=1, max_size=6),
    st.lists(st.one_of(full_cycles, partial_cycles, st.builds(Cycle, fault=faults)), max_size=3),
    st.lists(edits, max_size=4),
    st.lists(st.one_of(full_cycles, st.builds(Cycle, fault=faults)), max_size=2),
).map(lambda p: [*p[0], *p[1], *p[2], *p[3]])


@given(scripts, DUPLICATES, CONFLICTS, PAGE_SIZES, BATCH_SIZES)
def test_a_state_stored_by_reference_reads_as_the_state_stored_as_text(
    script, duplicates, conflicts, page_size, batch_size
):
    """After every step (crashes included), at quiescence and after a reopen, each record
    reads as the fold of before stored it, and the journal verifies."""
    cfg = config(duplicates=duplicates, conflicts=conflicts, page_size=page_size)
    with tempfile.TemporaryDirectory(prefix="by-reference-") as name:
        folder = Path(name)
        with open_world(folder, cfg, batch_size=batch_size) as w:
            for step in script:
                w.apply(step)
                check_by_reference(w.journal, folder)
            w.quiesce()
            check_by_reference(w.journal, folder)
            reducer = w.journal.reducer
        with Journal(folder / "journal.db", reducer) as journal:
            assert not journal.needs_state_upgrade
            check_by_reference(journal, folder)
            result = replay.verify(journal)
            assert result.ok, result.problem


def test_a_first_sync_stores_its_records_by_reference(tmp_path):
    """A first sync of a few rows on each side: every record is an observation and the
    create it made, stored by reference, and reads as stored as text."""
    with open_world(tmp_path, config()) as w:
        for i in range(4):
            w.apply(Insert("books", {"name": f"B{i}"}))
            w.apply(Insert("crm", {"name": f"C{i}"}))
        w.apply(Cycle())
        assert check_by_reference(w.journal, tmp_path) == 8
        states = sqlite3.connect(tmp_path / "journal.db")
        try:
            (n,) = states.execute("SELECT count(*) FROM records WHERE state GLOB '@*'").fetchone()
        finally:
            states.close()
        assert n == 8


# -- a replay stores a record by reference without its state (RecordReducer.referred) -------

_T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
_RIDS = ("books:1", "books:2", "crm:3")
_SIDES = ("books", "crm")
_values = st.one_of(
    st.none(),
    st.sampled_from(["", "Acme", "ACME", "é", "books:1"]),
    st.integers(-2, 2),
    st.just(2**70),
    st.decimals(places=2, min_value=-10, max_value=10),
    st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2020, 2, 1)),
)
_fields = st.dictionaries(st.sampled_from(["name", "party", "city", "n"]), _values, max_size=4)
_clocks = st.dictionaries(st.sampled_from(_SIDES), st.integers(1, 3), max_size=2)
_synced_meta = st.fixed_dictionaries(
    {},
    optional={
        "key": st.one_of(st.none(), st.sampled_from(["acme", "b"])),
        "near": st.sampled_from(["acme", "b"]),
        "modified": st.sampled_from([_T0, _T0.isoformat(), "2026-11-27T10:00:00.5+00:00"]),
    },
)
# mostly a sync's meta; sometimes what a replay folds otherwise
_observed_meta = st.one_of(
    _synced_meta,
    _synced_meta,
    _synced_meta,
    st.fixed_dictionaries(
        {},
        optional={
            "key": st.sampled_from(["acme", "b"]),
            "absent": st.sampled_from([["n"], ["name"], ["party"]]),
            "baseline": st.booleans(),
            "by": st.just("ann"),
        },
    ),
)
_applied_meta = st.one_of(
    st.fixed_dictionaries({}, optional={"create": st.booleans(), "done": st.booleans()}),
    st.fixed_dictionaries({"by": st.just("ann")}, optional={"done": st.booleans()}),
)


@st.composite
def _entry(draw: st.DrawFn, rid: str, side: str | None = None, kind: str | None = None) -> NewEntry:
    """An entry of one of a few records: mostly the observations and applied writes a sync
    writes (any side, dot, context, key, near key, time, done or not), some of shapes a
    replay folds otherwise (a field absent, a baseline, another meta key, an id of another
    side's), and entries of other kinds that change a record (a refused write, a delete,
    a conflict, a skip)."""
    if side is None:
        side = draw(st.sampled_from(_SIDES))
    side_id = draw(st.sampled_from([f"{side}-{rid}", f"{side}-x", rid.split(":")[1]]))
    if kind is None:
        kind = draw(st.sampled_from(["observed"] * 8 + ["applied"] * 4 + ["error", "gone", "skip"]))
    if kind == "observed":
        return NewEntry(
            Kind.OBSERVED,
            "customers",
            rid,
            side,
            Dot(side, draw(st.integers(1, 3))),
            VectorClock(draw(_clocks)),
            draw(_fields),
            {"id": side_id, **draw(_observed_meta)},
            at=_T0,
        )
    if kind == "applied":
        context = draw(st.one_of(st.none(), _clocks))
        return NewEntry(
            Kind.APPLIED,
            "customers",
            rid,
            side,
            context=VectorClock(context) if context is not None else None,
            fields=draw(_fields),
            meta={"id": side_id, **draw(_applied_meta)},
        )
    if kind == "error":
        meta = {"reason": "no", "stage": "write", "attempt": 1, "done": True}
        return NewEntry(Kind.ERROR, "customers", rid, side, meta=meta)
    if kind == "gone":
        return NewEntry(Kind.TOMBSTONE, "customers", rid, side, meta={"id": side_id})
    return NewEntry(
        Kind.SKIPPED, "customers", rid, side, meta={"reason": "kept apart", "key": None}
    )


class _Folding(RecordReducer):
    """The record reducer without ``referred``: a replay folds every record's state."""

    referred = None  # type: ignore[assignment]


def _tables(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
        for table in (*STATE_TABLES, *TALLY_TABLES)
    }


@st.composite
def _journals(draw: st.DrawFn) -> list[list[NewEntry]]:
    """Each record's entries (1 to 5: stored by reference or not; mostly a first copy's
    observation and create, then others), interleaved, in batches of appends."""
    scripts = []
    for rid in _RIDS:
        origin, other = draw(st.permutations(_SIDES))
        script = [draw(_entry(rid, origin, "observed"))]  # as a sync: seen, then copied
        if draw(st.booleans()):
            script.append(draw(_entry(rid, other, "applied")))
        scripts.append(script + draw(st.lists(_entry(rid), max_size=3)))
    order = draw(st.permutations([i for i, script in enumerate(scripts) for _ in script]))
    entries = [scripts[i].pop(0) for i in order]
    cuts = sorted(
        draw(st.sets(st.integers(1, len(entries) - 1), max_size=3)) if len(entries) > 1 else []
    )
    return [entries[a:b] for a, b in zip([0, *cuts], [*cuts, len(entries)], strict=True)]


@given(_journals(), st.sampled_from([1, 2, 3, 1000]))
def test_a_record_stored_by_reference_replays_as_its_fold_stores_it(batches, batch):
    """A replay by record makes the row of a record stored by reference from its entries
    without folding its state (``RecordReducer.referred``): the same tables (records and
    their indexed columns, links, tallies) as the fold of every state, and the live
    state, whatever the records' entries and however the replay's batches cut them."""
    labels, refs = {"customers": "name"}, {"customers": "party"}
    with tempfile.TemporaryDirectory(prefix="referred-") as name:
        folder = Path(name)
        with Journal(folder / "j.db", RecordReducer(labels=labels, refs=refs)) as journal:
            for entries in batches:
                journal.append(entries)
            result = replay.verify(journal, batch=batch)
            assert result.ok, result.problem
            found = []
            for reducer in (RecordReducer(labels, refs), _Folding(labels, refs)):
                journal.reducer = reducer
                target = replay.scratch(str(folder / f"{type(reducer).__name__}.db"))
                try:
                    replay.replay_into(journal, target, batch=batch)
                    found.append(_tables(target))
                finally:
                    target.close()
    assert found[0] == found[1]


class _General(RecordReducer):
    """The record reducer whose ``referred`` reads every row as its fold does."""

    def _synced(self, *args: object) -> None:
        return None


_EDITS = st.sampled_from(["drop", "cut", "swap", "float", "key", "id", "none", "rest"])


def _edited(text: str | None, edit: str, other: str | None) -> str | None:
    """A stored text edited as a hand might (or a newer writer): what a row's fold must
    refuse or read the same, whichever way it reads it."""
    if text is None:
        return "{}" if edit == "none" else None
    if edit == "drop":
        return text[:-1]
    if edit == "cut":
        return text[: len(text) // 2] + "]"
    if edit == "swap":
        return other
    if edit == "float":
        return text.replace("1", "1.5", 1)
    if edit == "key":
        return text.replace('"acme"', "0", 1).replace("false", "2", 1)
    if edit == "id":
        return text.replace('"', "", 2) if text.startswith('["') else "[0" + text[2:]
    if edit == "none":
        return text.replace('"', "null", 1) if "null" not in text else text.replace("null", "7")
    return text[:-1] + ',{"near":"b"}]' if text.endswith("]") else text


@given(_journals(), st.data())
def test_a_syncs_row_read_for_its_reference_is_what_its_fold_reads(batches, data):
    """``RecordReducer.referred`` reads the rows of the shapes a sync writes without
    their values (``_synced``): what it makes of any record's rows, edited or not, is what
    it makes reading each row as the fold does (``_read_row``), or the same failure."""
    labels, refs = {"customers": "name"}, {"customers": "party"}
    with Journal(":memory:", RecordReducer(labels=labels, refs=refs)) as journal:
        for entries in batches:
            journal.append(entries)
        names = journal.names
        rows = sorted(
            (row for chunk in journal.row_batches() for row in chunk),
            key=lambda row: (row[2], row[3], row[0]),
        )
        rows = [list(row) for row in rows]
        for _ in range(data.draw(st.integers(0, 3))):
            row = data.draw(st.sampled_from(rows))
            column = data.draw(st.sampled_from([6, 7, 8, 9]))
            other = data.draw(st.sampled_from(rows))[column]
            row[column] = _edited(row[column], data.draw(_EDITS), other)
        for rid in _RIDS:
            mine = [row for row in rows if row[3] == rid]
            found = []
            for reducer in (RecordReducer(labels, refs), _General(labels, refs)):
                try:
                    found.append(reducer.referred(mine, names))
                except Exception as exc:  # the same failure
                    found.append(type(exc))
            assert found[0] == found[1], mine
