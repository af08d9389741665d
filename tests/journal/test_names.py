"""Compact fields (:mod:`journal.names`): a sync entry's field names interned per module,
declared by the entries that first use them, read back as the values the object form gave."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journal import Dot, Journal, Kind, NewEntry, VectorClock, replay, verify
from journal.entry import GENESIS, EntryDecoder, chained_rows, dumps, entry_from_row, loads
from journal.errors import EncodingError
from journal.names import FieldNames
from journal.schema import entry_columns
from journal.store import TRIGGERS
from tests.journal.tamper import insert_row
from tests.journal.test_store import CountingReducer, fixed_now

# -- values ---------------------------------------------------------------------------------

leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.text(max_size=6)
    | st.just("")
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.dates()
    | st.datetimes(timezones=st.just(dt.UTC))
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
# names of any text (unicode, quotes, a "[" or "{"), but the tags' "$"
names = st.text(min_size=1, max_size=6).filter(lambda k: not k.startswith("$"))
field_sets = st.dictionaries(names, values, max_size=6)
modules = st.sampled_from(["customers", "items", "vendors"])
kinds = st.sampled_from([Kind.OBSERVED, Kind.APPLIED, Kind.ERROR])


@st.composite
def batches(draw: st.DrawFn) -> list[list[NewEntry]]:
    """Batches of entries of a few modules whose field names grow from batch to batch."""
    out = []
    n = 0
    for _ in range(draw(st.integers(1, 3))):
        batch = []
        for _ in range(draw(st.integers(1, 4))):
            n += 1
            batch.append(
                NewEntry(
                    draw(kinds),
                    draw(modules),
                    f"crm:{n % 3}",
                    "crm",
                    Dot("crm", n),
                    VectorClock({"books": n}),
                    draw(field_sets),
                    {"id": str(n)},
                )
            )
        out.append(batch)
    return out


def object_form(fields: dict[str, Any]) -> dict[str, Any]:
    """What the object form of ``fields`` reads back as (the first formats' decoding)."""
    return loads(dumps(fields)) if fields else {}  # type: ignore[no-any-return]


def stored(journal: Journal) -> list[tuple[Any, ...]]:
    sql = f"SELECT {entry_columns(journal.format)} FROM entries ORDER BY seq"
    return journal.conn.execute(sql).fetchall()


def write_all(
    path: Any, written: list[list[NewEntry]]
) -> tuple[list[tuple[Any, ...]], list[NewEntry], list[dict[str, Any]]]:
    """Append ``written``'s batches to a new journal at ``path``: its stored rows, the
    entries in order, and the fields each should read back as (its object form's)."""
    with Journal(path, CountingReducer(), now=fixed_now) as journal:
        for batch in written:
            journal.append(batch)
        rows = stored(journal)
    flat = [entry for batch in written for entry in batch]
    return rows, flat, [object_form(e.fields) for e in flat]


# -- the laws -------------------------------------------------------------------------------


@given(batches())
def test_compact_fields_read_back_as_the_object_form_gave_them(tmp_path_factory, written):
    """Whatever the names (unicode, quotes, brackets) and values (None, empty strings,
    amounts, dates, times, integers past 64 bits, nested lists and objects), an entry's
    fields read back (by a read, a stream in wire form, a fresh process's journal) are the
    values and the order of names its object form gave, and only the two kinds a sync
    writes are stored compact."""
    path = tmp_path_factory.mktemp("names") / "j.db"
    rows, flat, expected = write_all(path, written)
    with Journal(path, CountingReducer(), now=fixed_now) as again:
        read = [e.fields for e in again.read()]
        assert read == expected
        assert [list(f) for f in read] == [list(f) for f in expected]  # sorted names
        wired = [e.fields for e in again.stream(batch=2, wire_fields=True)]
        assert [loads(json.dumps(w)) if w else {} for w in wired] == expected
    for row, entry in zip(rows, flat, strict=True):
        compact = row[8][:1] == "["
        assert compact == (bool(entry.fields) and entry.kind is not Kind.ERROR)


@given(batches())
def test_each_name_is_declared_once_by_the_first_entry_holding_it(written):
    """A module's order is the names its entries declare, in seq order, each once: an
    entry declares exactly the names no entry before it declared, and the order only grows."""
    with Journal(":memory:", CountingReducer(), now=fixed_now) as journal:
        seen: dict[str, list[str]] = {}
        for batch in written:
            journal.append(batch)
            for module in ("customers", "items", "vendors"):
                order = journal.names.order(module)
                assert order[: len(seen.get(module, []))] == seen.get(module, [])
                seen[module] = order
        declared: dict[str, list[str]] = {}
        for row in stored(journal):
            if row[8][:2] == "[[":
                new = json.loads(row[8])[0]
                assert new == sorted(new)
                assert not set(new) & set(declared.get(row[2], []))
                declared.setdefault(row[2], []).extend(new)
        assert {m: o for m, o in seen.items() if o} == declared


def test_an_order_is_read_again_when_another_connection_declared_names(tmp_path):
    """Two journals on one file: the second reads the names the first declared after it
    opened, and its own appends declare only what neither declared."""
    path = tmp_path / "j.db"
    a = Journal(path, CountingReducer(), now=fixed_now)
    b = Journal(path, CountingReducer(), now=fixed_now)
    try:
        a.append([NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", fields={"x": 1})])
        assert [e.fields for e in b.read()] == [{"x": 1}]  # read again on the miss
        a.append([NewEntry(Kind.OBSERVED, "customers", "crm:2", "crm", fields={"y": 2})])
        b.append([NewEntry(Kind.APPLIED, "customers", "crm:1", "books", fields={"x": 3, "y": 4})])
        assert [row[8] for row in stored(b)] == ['[["x"],1,1]', '[["y"],2,2]', "[3,3,4]"]
        assert b.names.order("customers") == ["x", "y"]
    finally:
        a.close()
        b.close()


def test_names_declared_in_a_rolled_back_transaction_are_declared_again(tmp_path):
    """A transaction that declared names and rolled back leaves them undeclared: the next
    entry holding them declares them, and the journal reads back."""
    with Journal(tmp_path / "j.db", CountingReducer(), now=fixed_now) as journal:
        with contextlib.suppress(RuntimeError), journal.transaction():
            journal.append([NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", fields={"x": 1})])
            raise RuntimeError("rolled back")
        with journal.transaction():
            with contextlib.suppress(RuntimeError), journal.transaction():  # a savepoint
                new = NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", fields={"z": 1})
                journal.append([new])
                raise RuntimeError("rolled back")
            journal.append([NewEntry(Kind.OBSERVED, "customers", "crm:2", "crm", fields={"x": 2})])
        journal.append([NewEntry(Kind.OBSERVED, "customers", "crm:3", "crm", fields={"z": 3})])
        assert [row[8] for row in stored(journal)] == ['[["x"],1,2]', '[["z"],2,3]']
        assert [e.fields for e in journal.read()] == [{"x": 2}, {"z": 3}]


def test_a_float_refused_mid_batch_leaves_no_name_undeclared(tmp_path):
    """An entry refused while its batch is chained (a float) stores nothing, and the names
    its batch declared before it are declared again by the next entry holding them."""
    with Journal(tmp_path / "j.db", CountingReducer(), now=fixed_now) as journal:
        with journal.transaction():
            with pytest.raises(EncodingError):
                journal.append(
                    [
                        NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", fields={"a": 1}),
                        NewEntry(Kind.OBSERVED, "customers", "crm:2", "crm", fields={"b": 0.5}),
                    ]
                )
            journal.append([NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", fields={"a": 2})])
        assert [row[8] for row in stored(journal)] == ['[["a"],1,2]']


def test_a_compact_entry_without_its_names_is_refused_by_name():
    """A decoder without the journal's names, or with an order too short for a mask,
    refuses compact fields with an EncodingError, never a wrong value."""
    row = (1, "2026-01-01T00:00:00+00:00", "customers", "crm:1", "crm", "observed", None, None)
    with pytest.raises(EncodingError, match="need the journal's names"):
        entry_from_row((*row, "[1,2]", "{}", "", ""))
    with pytest.raises(EncodingError, match="declared order holds 1 names"):
        entry_from_row((*row, "[3,2,3]", "{}", "", ""), FieldNames.of({"customers": ["a"]}))
    assert EntryDecoder(names=FieldNames.of({"customers": ["a", "b"]})).entry(
        (*row, '[3,{"$decimal":"1.5"},""]', "{}", "", "")
    ).fields == {"a": Decimal("1.5"), "b": ""}


def test_old_journals_keep_their_object_fields_and_go_on_compact(tmp_path):
    """A journal written before compact fields (an observation's object fields, chained as
    the writers before wrote it) reads as it did; entries appended after are compact, the
    first of each module declaring its names, and the journal verifies."""
    path = tmp_path / "j.db"
    old = NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", fields={"b": 1, "a": "x"})
    with Journal(path, CountingReducer(), now=fixed_now) as journal:
        rows, _ = chained_rows([old], seq=0, prev=GENESIS, key=None, now=fixed_now())
        insert_row(journal.conn, rows[0])
    with Journal(path, CountingReducer(), now=fixed_now) as journal:
        journal.append([old])
        texts = [row[8] for row in stored(journal)]
        assert texts == ['{"a":"x","b":1}', '[["a","b"],3,"x",1]']
        assert [e.fields for e in journal.read()] == [{"a": "x", "b": 1}] * 2
        assert [list(e.fields) for e in journal.read()] == [["a", "b"]] * 2
        assert verify(journal).chain_ok


# -- replay equals live, and verify finds an edit ---------------------------------------------


def _record_script(n: int) -> list[NewEntry]:
    fields = {
        "name": f"Acme {n}",
        "amount": Decimal("12.50"),
        "since": dt.date(2020, 1, n % 28 + 1),
        "note": "" if n % 2 else None,
        "city": "Zürich",
    }
    observed = NewEntry(
        Kind.OBSERVED,
        "customers",
        f"crm:{n}",
        "crm",
        Dot("crm", 1),
        VectorClock(),
        fields,
        {"id": str(n), "key": f"Acme {n}"},
    )
    applied = NewEntry(
        Kind.APPLIED,
        "customers",
        f"crm:{n}",
        "books",
        None,
        VectorClock({"crm": 1}),
        fields,
        {"id": f"b{n}", "create": True, "done": True},
    )
    return [observed, applied]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_replay_of_compact_entries_is_the_live_state(tmp_path, workers):
    """The record reducer's state, folded live from the entries as written and replayed
    from their compact rows (in one process, and by record in two), is the same."""
    from conflicts.reducer import RecordReducer

    path = tmp_path / "j.db"
    with Journal(path, RecordReducer(labels={"customers": "name"}), now=fixed_now) as journal:
        for n in range(1, 8):
            journal.append(_record_script(n))
        assert stored(journal)[2][8] == (
            '[31,{"$decimal":"12.5"},"Zürich","Acme 2",null,{"$date":"2020-01-03"}]'
        )
        assert stored(journal)[3][8] == "[-1]"  # the applied create: by reference
        result = verify(journal, workers=workers)
        assert result.ok, result.problem
        target = sqlite3.connect(":memory:")
        assert replay.replay_into(journal, target, workers=workers) == journal.last_seq


def _edit(path: Any, seq: int, fields: str) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("UPDATE entries SET fields = ? WHERE seq = ?", (fields, seq))
        for sql in TRIGGERS.values():
            conn.execute(sql)


@pytest.mark.parametrize(
    ("seq", "fields"),
    [
        (2, '[31,{"$decimal":"99"},"Zürich","Acme 1","",{"$date":"2020-01-02"}]'),
        (
            1,
            '[["amount","city","name","note","since"],31,{"$decimal":"12.5"},"Bern",'
            '"Acme 1","",{"$date":"2020-01-02"}]',
        ),
        (
            1,
            '[["amount","city","label","note","since"],31,{"$decimal":"12.5"},"Zürich",'
            '"Acme 1","",{"$date":"2020-01-02"}]',
        ),
    ],
    ids=["a value", "a declaring entry's value", "a declared name"],
)
def test_verify_finds_an_edit_of_a_compact_entry(tmp_path, seq, fields):
    """An edit of a compact entry, its values or the names it declares, breaks the chain
    at that entry: verify names it."""
    from conflicts.reducer import RecordReducer

    path = tmp_path / "j.db"
    with Journal(path, RecordReducer(), now=fixed_now) as journal:
        journal.append(_record_script(1) + _record_script(2))
    _edit(path, seq, fields)
    with Journal(path, RecordReducer(), now=fixed_now, rebuild_state=False) as journal:
        result = verify(journal)
    assert not result.ok and not result.chain_ok
    assert result.first_bad_seq == seq


# -- compact metas --------------------------------------------------------------------------

ids = st.sampled_from(["1", "0", "42", "x:y", ""]) | st.text(max_size=4)
maybe = st.sampled_from(["absent", "null", "value"])


@st.composite
def observed_metas(draw: st.DrawFn, fields: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"id": draw(ids)}
    texts = [v for v in fields.values() if type(v) is str]
    how = draw(maybe)
    if how == "null":
        meta["key"] = None
    elif how == "value":
        meta["key"] = draw(st.sampled_from(texts)) if texts and draw(st.booleans()) else draw(ids)
    for name, strategy in (
        ("near", ids),
        ("modified", st.sampled_from(["2026-01-05T09:00:00.000000+00:00"]) | st.none()),
        ("absent", st.lists(names, max_size=2)),
        ("baseline", st.booleans()),
        ("other", values),
    ):
        if draw(st.booleans()):
            meta[name] = draw(strategy)
    return meta


@st.composite
def applied_metas(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"id": draw(ids)}
    for name in ("create", "done"):
        how = draw(maybe)
        if how != "absent":
            meta[name] = None if how == "null" else draw(st.booleans())
    if draw(st.booleans()):
        meta["renamed"] = [{"field": "name", "from": "a", "to": "a (2)"}]
    if draw(st.booleans()):
        meta["other"] = draw(values)
    return meta


@given(st.data(), field_sets, st.sampled_from(["crm", "books"]))
def test_compact_metas_read_back_as_the_object_form_gave_them(data, fields, side):
    """An observation's and an applied write's meta, whatever its keys (a key that is a
    field's value or not, None, absent; an id that is the rid's own or not; times, flags,
    keys no payload knows), read back (a read, the reducer's fold of its row) as its
    object form gave it, keys in the same order."""
    observed = data.draw(observed_metas(fields))
    applied = data.draw(applied_metas())
    rid = f"{side}:{observed['id']}" if data.draw(st.booleans()) else "crm:other"
    entries = [
        NewEntry(Kind.OBSERVED, "customers", rid, side, Dot(side, 1), None, fields, observed),
        NewEntry(Kind.APPLIED, "customers", rid, side, None, None, fields, applied),
    ]
    with Journal(":memory:", CountingReducer(), now=fixed_now) as journal:
        journal.append(entries)
        read = [e.meta for e in journal.read()]
        wired = [e.meta for e in journal.stream(wire_fields=True)]
    expected = [loads(dumps(observed)), loads(dumps(applied))]
    assert read == expected == wired
    assert [list(m) for m in read] == [list(m) for m in expected]


def test_a_syncs_metas_are_compact_and_say_the_id_and_key_once(tmp_path):
    """A sync's observation names neither its id (the rid's own) nor its key (a field's
    value) again; an applied write's meta is its id and two flags."""
    with Journal(tmp_path / "j.db", CountingReducer(), now=fixed_now) as journal:
        journal.append(_record_script(1))
        metas = [row[9] for row in stored(journal)]
    assert metas == ["[0,2,null]", '["b1",true,true]']


# -- the one-pass texts against the reference ---------------------------------------------

_times = st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2))]))
_rare = st.integers(0, 9).map(lambda n: n == 0)  # True one time in ten
_rids = ["crm:1", "crm:2", "books:1"]


@st.composite
def sync_metas(draw: st.DrawFn, kind: Kind, fields: dict[str, Any]) -> dict[str, Any]:
    """Mostly the metas a sync writes (an id, a match key that is a field's text or not,
    a modification time as text or as a time in UTC or not; two flags), now and then
    one of any keys (:func:`observed_metas`, :func:`applied_metas`)."""
    if draw(_rare):
        return draw(observed_metas(fields) if kind is Kind.OBSERVED else applied_metas())
    meta: dict[str, Any] = {"id": draw(ids)}
    if kind is Kind.APPLIED:
        for name in ("create", "done"):
            if draw(st.booleans()):
                meta[name] = draw(st.booleans() | st.none())
        return meta
    texts = [v for v in fields.values() if type(v) is str]
    how = draw(st.sampled_from(["field", "other", "null", "absent"]))
    if how == "field" and texts:
        meta["key"] = draw(st.sampled_from(texts))
    elif how != "absent":
        meta["key"] = None if how == "null" else draw(ids)
    if draw(st.booleans()):
        meta["modified"] = draw(st.none() | _times | _times.map(lambda t: t.isoformat()))
    return meta


@st.composite
def sync_entries(draw: st.DrawFn) -> list[NewEntry]:
    """Entries of a few shapes met again and again (the one-pass path's cache), holding any
    values (now and then any: a float, an integer past 64 bits, a list, a time), with the metas
    :func:`sync_metas` draws, ids the rid's own or not, and a few entries of another kind
    between them."""
    shapes = draw(
        st.lists(st.lists(names, min_size=1, max_size=5, unique=True), min_size=1, max_size=3)
    )
    leaf = (
        st.text(max_size=3)
        | st.integers(-(2**63), 2**63 - 1)
        | st.decimals(allow_nan=False, allow_infinity=False)
        | st.dates()
        | st.none()
        | st.booleans()
    )
    out: list[NewEntry] = []
    for n in range(draw(st.integers(1, 16))):
        shape = draw(st.sampled_from(shapes))
        fields = {name: draw(leaf) for name in shape}
        copied = draw(st.sampled_from(out)) if out and draw(st.booleans()) else None
        if copied is not None:  # an applied write's copy of an observation's, mostly
            fields = dict(copied.fields)
        if draw(_rare):
            fields[shape[0]] = draw(values | st.floats(allow_nan=False) | _times)
        kind = draw(st.sampled_from([Kind.OBSERVED, Kind.APPLIED, Kind.OBSERVED, Kind.ERROR]))
        if copied is not None and draw(st.booleans()):
            kind = Kind.APPLIED
        side = draw(st.sampled_from(["crm", "books"]))
        meta = draw(sync_metas(kind, fields))
        rid = f"{side}:{meta['id']}" if draw(st.booleans()) else draw(st.sampled_from(_rids))
        module = draw(st.sampled_from(["customers", "customers", "customers", "items"]))
        if copied is not None and draw(st.booleans()):
            rid, module = copied.rid, copied.module
        out.append(NewEntry(kind, module, rid, side, Dot(side, n), None, fields, meta))
    return out


@given(sync_entries(), st.booleans())
def test_the_one_pass_texts_are_the_reference_texts(entries, numbered):
    """FieldNames.texts, the append's one pass, makes the very fields and meta texts of
    text and meta_text (or refuses what they refuse), entry after entry, and declares
    the same names in the same order; numbered, it refers to an observation exactly
    where text does."""
    fast, slow = FieldNames(latest=lambda module, rids: ()), FieldNames.of({})
    if numbered:
        fast.numbered(entries, 10)
        slow = FieldNames(latest=lambda module, rids: ())
        slow.numbered(entries, 10)
    for new in entries:
        try:
            expected: Any = (slow.text(new), slow.meta_text(new))
        except EncodingError as exc:
            expected = type(exc)
        try:
            got: Any = fast.texts(new)
        except EncodingError as exc:
            got = type(exc)
        assert got == expected
        if expected is EncodingError:
            return  # a journal forgets the names of a batch refused
    assert fast.__getstate__() == slow.__getstate__()
