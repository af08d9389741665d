"""An applied write stored by reference to the observation whose fields it copies
(:mod:`journal.names`, ``[-d]``): read back, replayed and verified as the values its full
form stored; a reference edited to name another entry is an error naming the entry."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflicts.reducer import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, verify
from journal.entry import chained_rows
from journal.errors import EncodingError, StorageError
from journal.names import FieldNames
from journal.schema import store_state_version
from journal.store import TRIGGERS
from tests.journal.tamper import insert_row, rechain
from tests.journal.test_names import object_form, stored, write_all
from tests.journal.test_names import values as any_values
from tests.journal.test_store import CountingReducer, fixed_now

names = st.sampled_from(["name", "city", "amount", "since", "note", "Zürich [x]"])
field_sets = st.dictionaries(names, any_values, min_size=1, max_size=4)


@st.composite
def scripts(draw: st.DrawFn) -> list[list[NewEntry]]:
    """Batches of observations and applied writes of a few records, an applied write's
    fields often those of an observation of its record (the last, or an earlier one), or
    of another record, or its own."""
    seen: dict[str, list[dict[str, Any]]] = {}
    batches = []
    n = 0
    for _ in range(draw(st.integers(1, 4))):
        batch = []
        for _ in range(draw(st.integers(1, 5))):
            n += 1
            rid = draw(st.sampled_from(["crm:1", "crm:2", "books:3"]))
            module = draw(st.sampled_from(["customers", "customers", "items"]))
            if draw(st.booleans()):
                fields = draw(field_sets)
                seen.setdefault(rid, []).append(fields)
                kind, side = Kind.OBSERVED, rid.split(":")[0]
            else:
                pool = [f for fs in seen.values() for f in fs]
                mine = seen.get(rid, [])
                how = draw(st.sampled_from(["last", "earlier", "any", "own"]))
                if how == "last" and mine:
                    fields = dict(mine[-1])
                elif how == "earlier" and mine:
                    fields = dict(draw(st.sampled_from(mine)))
                elif how == "any" and pool:
                    fields = dict(draw(st.sampled_from(pool)))
                else:
                    fields = draw(field_sets)
                kind, side = Kind.APPLIED, "other"
            meta = {"id": str(n)} if kind is Kind.OBSERVED else {"id": str(n), "create": True}
            batch.append(
                NewEntry(kind, module, rid, side, Dot(side, n), VectorClock(), fields, meta)
            )
        batches.append(batch)
    return batches


@given(scripts())
def test_a_reference_reads_back_as_the_values_its_full_form_stored(tmp_path_factory, written):
    """Whatever the values, an applied write's fields read back (a read, a read of one
    kind, a stream in wire form, a fresh journal) as the values the full form stored, in
    the same order of names; it is stored by reference exactly when its values are the
    text of its record's latest observation of the module (in the journal or its batch)."""
    path = tmp_path_factory.mktemp("copied") / "j.db"
    rows, flat, expected = write_all(path, written)
    with Journal(path, CountingReducer(), now=fixed_now) as again:
        read = [e.fields for e in again.read()]
        assert read == expected
        assert [list(f) for f in read] == [list(f) for f in expected]
        applied = [e.fields for e in again.read(kinds=["applied"])]
        assert applied == [f for f, e in zip(expected, flat, strict=True) if e.kind == "applied"]
        wired = [e.fields for e in again.stream(batch=2, wire_fields=True)]
        assert [object_form(w) if w else {} for w in wired] == expected
    latest: dict[tuple[str, str | None], tuple[int, str]] = {}
    for row in rows:
        seq, module, rid, kind, fields = row[0], row[2], row[3], row[5], row[8]
        if kind == "observed":
            latest[(module, rid)] = (seq, fields)
            assert fields[:2] != "[-"
        elif fields[:2] == "[-":
            source = seq + int(fields[1:-1])
            assert latest[(module, rid)][0] == source  # its record's latest observation
            assert read[seq - 1] == read[source - 1]


@pytest.mark.parametrize("workers", [1, 2])
def test_records_folded_from_references_replay_as_live(tmp_path, workers):
    """The record reducer folds applied writes stored by reference, live, replayed (in
    seq order by one process, by record in two) and from states stored by reference, to
    the same tables; verify passes."""
    path = tmp_path / "j.db"
    with Journal(path, RecordReducer(labels={"customers": "name"}), now=fixed_now) as journal:
        journal.append([_observed(n) for n in range(1, 9)])  # a first copy: the reads first
        journal.append([_applied(n) for n in range(1, 9)])
        journal.append([_observed(3, city="Bern"), _applied(3, city="Bern")])  # an edit
        texts = [row[8] for row in stored(journal)]
        assert texts[8:16] == ["[-8]"] * 8 and texts[17] == "[-1]"
        live = journal.record("customers", "crm:3")
        journal.view.forget()
        assert journal.record("customers", "crm:3") == live
        result = verify(journal, workers=workers)
        assert result.ok, result.problem


def test_old_journals_with_full_applied_fields_read_as_before(tmp_path):
    """A journal written before references (an applied write's fields in full, compact)
    reads as it did, verifies, and its next applied writes refer to observations."""
    path = tmp_path / "j.db"
    old = [_observed(1), _applied(1)]
    with Journal(path, RecordReducer(), now=fixed_now) as journal:
        rows, _ = chained_rows(
            old, seq=0, prev="0" * 64, key=None, now=fixed_now(), format=journal.format,
            texts=journal.names.texts,
        )  # fmt: skip
        for row in rows:
            insert_row(journal.conn, _hex(row))
        store_state_version(journal.conn, 0)  # the state rebuilt from them on open
    with Journal(path, RecordReducer(), now=fixed_now) as journal:
        journal.append([_observed(2), _applied(2)])
        texts = [row[8] for row in stored(journal)]
        assert texts[1][:2] != "[-" and texts[-1] == "[-1]"  # (an upgrade entry between)
        read = [e.fields for e in journal.read(kinds=["observed", "applied"])]
        assert read == [object_form(e.fields) for e in old] + [object_form(_fields(2))] * 2
        assert verify(journal).ok


@pytest.mark.parametrize(
    ("reference", "names"),
    [
        ("[-2]", "entry 4 (customers crm:2) refers to entry 2 for its fields, which is not an "
         "observation of its record (it is applied, of customers crm:1)"),
        ("[-3]", "entry 4 (customers crm:2) refers to entry 1 for its fields, which is not an "
         "observation of its record (it is observed, of customers crm:1)"),
        ("[-9]", "entry 4 (customers crm:2) refers to entry -5 for its fields, which the "
         "journal lacks"),
    ],
    ids=["an applied write", "another record's observation", "no entry"],
)  # fmt: skip
def test_a_reference_edited_to_name_another_entry_is_a_storage_error(tmp_path, reference, names):
    """A reference edited (and the chain made again, unkeyed) to name an entry that is not
    an observation of its record, or none: a read is a StorageError naming the entry and
    the one it names, never another record's values; verify finds the edit."""
    path = tmp_path / "j.db"
    with Journal(path, RecordReducer(), now=fixed_now) as journal:
        journal.append([_observed(1), _applied(1), _observed(2), _applied(2)])
        assert [row[8] for row in stored(journal)][3] == "[-1]"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("UPDATE entries SET fields = ? WHERE seq = 4", (reference,))
        rechain(conn, 4)
        for sql in TRIGGERS.values():
            conn.execute(sql)
    with Journal(path, RecordReducer(), now=fixed_now, rebuild_state=False) as journal:
        with pytest.raises(StorageError) as raised:
            list(journal.read())
        assert names in str(raised.value)
        with pytest.raises(StorageError, match="entry 4 "):
            list(journal.read(kinds=["applied"]))
        result = verify(journal)
        assert not result.ok and result.chain_ok
        assert result.first_bad_seq == 4, result.problem


def _fields(n: int, **more: Any) -> dict[str, Any]:
    return {
        "name": f"Acme {n}",
        "amount": Decimal("12.50"),
        "since": dt.date(2020, 1, n % 28 + 1),
        "note": "" if n % 2 else None,
        "city": "Zürich",
        **more,
    }


def _observed(n: int, **more: Any) -> NewEntry:
    return NewEntry(
        Kind.OBSERVED,
        "customers",
        f"crm:{n}",
        "crm",
        Dot("crm", n + 100 * len(more)),
        VectorClock(),
        _fields(n, **more),
        {"id": str(n), "key": f"Acme {n}"},
    )


def _applied(n: int, **more: Any) -> NewEntry:
    return NewEntry(
        Kind.APPLIED,
        "customers",
        f"crm:{n}",
        "books",
        None,
        VectorClock({"crm": n + 100 * len(more)}),
        _fields(n, **more),
        {"id": f"b{n}", "create": not more, "done": True},
    )


def _hex(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row of :func:`chained_rows` in any format as the twelve columns ``insert_row``
    takes (hashes as hex text, the time as its text)."""
    if len(row) == 11:  # format 3: the time in micros, no link
        at = (
            dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=row[1])
        ).isoformat()
        return (row[0], at, *row[2:10], "", row[10].hex())
    return (*row[:10], *(h if isinstance(h, str) else h.hex() for h in row[10:]))


def test_a_batch_whose_texts_were_not_all_counted_is_refused_and_stores_nothing(
    tmp_path, monkeypatch
):
    """The writer numbers a batch's entries by counting the texts it makes; an entry whose
    texts were made some other way would shift every later reference onto the wrong
    entry, so the append refuses the batch (naming the seqs) and the journal is as before."""
    counted = FieldNames.texts

    def uncounted(names: FieldNames, new: NewEntry) -> tuple[str, str]:
        made = counted(names, new)
        if new.rid == "crm:3" and new.kind is Kind.OBSERVED:  # as if made elsewhere
            names._seq -= 1  # type: ignore[operator]
        return made

    with Journal(tmp_path / "j.db", RecordReducer(), now=fixed_now) as journal:
        journal.append([_observed(1), _applied(1)])
        with monkeypatch.context() as patched:
            patched.setattr(FieldNames, "texts", uncounted)
            with pytest.raises(EncodingError, match="up to 5, but the batch ends at entry 6"):
                journal.append([_observed(2), _applied(2), _observed(3), _applied(3)])
        assert [row[0] for row in stored(journal)] == [1, 2]
        journal.append([_observed(2), _applied(2)])
        assert [row[8] for row in stored(journal)][3] == "[-1]"
        assert verify(journal).ok
