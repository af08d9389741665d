"""Verify and replay stream the journal in batches: the same entries, the same state and the
same verdicts as reading it whole, in memory that does not grow with the journal."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tracemalloc
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import journal.anchors
from conflicts import RecordReducer
from journal import ChainKey, Dot, Journal, Kind, NewEntry, VectorClock, verify, verify_chain
from journal.entry import GENESIS, Entry, from_wire, micros_of, row_hash, to_wire
from journal.errors import IntegrityError
from journal.replay import replay_into
from journal.schema import STATE_TABLES, entry_columns
from journal.view import SQLiteView, fold
from tests.journal.test_store import CountingReducer

# -- the reference: entries decoded as the journal did before it streamed -----------------


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


def _old_loads(text: str) -> Any:
    return json.loads(text, object_hook=_hook, parse_float=Decimal)


def old_entry(row: tuple[Any, ...]) -> Entry:
    seq, at, module, rid, side, kind, dot, context, fields, meta, prev_hash, hash_ = row
    return Entry(
        seq=seq,
        at=dt.datetime.fromisoformat(at),
        module=module,
        rid=rid,
        side=side,
        kind=Kind(kind),
        dot=Dot.from_json(json.loads(dot)) if dot else None,
        context=VectorClock.from_json(json.loads(context)) if context is not None else None,
        fields=_old_loads(fields),
        meta=_old_loads(meta),
        prev_hash=prev_hash,
        hash=hash_,
    )


def old_chain_check(journal: Journal, key: ChainKey | None) -> int:
    """The first entry whose link or hash fails, the whole table read at once (0: none)."""
    prev, expected = GENESIS, 1
    for row in journal.conn.execute(
        f"SELECT {entry_columns(journal.format)} FROM entries ORDER BY seq"
    ):
        if row[0] != expected or row[10] != prev or row_hash(row, key) != row[11]:
            return expected
        prev, expected = row[11], expected + 1
    return 0


def rows(journal: Journal) -> list[tuple[Any, ...]]:
    """The stored rows, compact fields (journal.names) in the object form they stand for."""
    stored = journal.conn.execute(
        f"SELECT {entry_columns(journal.format)} FROM entries ORDER BY seq"
    )
    return [_object_form(journal, row) for row in stored]


def _object_form(journal: Journal, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with compact fields and meta (journal.names) as the object texts they say."""
    fields, meta = row[8], row[9]
    if fields[:2] == "[-":  # an applied write's reference: the observation's fields
        sql = "SELECT fields FROM entries WHERE seq = ?"
        (fields,) = journal.conn.execute(sql, (row[0] + json.loads(fields)[0],)).fetchone()
    values = json.loads(fields)
    if fields[:1] == "[":
        values = journal.names.expand(row[2], values)
        fields = json.dumps(values, sort_keys=True, separators=(",", ":"))
    if meta[:1] == "[":
        said = journal.names.expand_meta(row[5], row[2], row[3], row[4], json.loads(meta), values)
        meta = json.dumps(said, sort_keys=True, separators=(",", ":"))
    return (*row[:8], fields, meta, *row[10:])


# -- values ---------------------------------------------------------------------------------

leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.text(max_size=6)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.dates()
    | st.datetimes(timezones=st.just(dt.UTC))
)
keys = st.text(min_size=1, max_size=5).filter(lambda k: not k.startswith("$"))
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
field_sets = st.lists(st.dictionaries(keys, values, max_size=4), min_size=1, max_size=8)


@given(fields=field_sets, batch=st.integers(1, 4), keyed=st.booleans())
def test_streamed_entries_are_the_entries_read_whole(fields, batch, keyed):
    """Whatever the values (integers past 64 bits, amounts, dates, times, nested lines),
    the entries streamed in batches of any size are those decoded one by one the old way,
    and with wire fields their fields are the wire form of those values."""
    key = ChainKey.generate()[0] if keyed else None
    with Journal(":memory:", CountingReducer(), key=key) as j:
        j.append(
            [
                NewEntry(
                    Kind.OBSERVED,
                    "customers",
                    f"crm:{n % 3}",
                    "crm",
                    Dot("crm", n + 1),
                    VectorClock({"books": n}),
                    values,
                    {"id": str(n), "at": dt.datetime(2026, 1, 1, n % 24, tzinfo=dt.UTC)},
                )
                for n, values in enumerate(fields)
            ]
        )
        expected = [old_entry(row) for row in rows(j)]
        assert list(j.stream(batch=batch)) == expected
        wired = list(j.stream(batch=batch, wire_fields=True))
        assert [e.fields for e in wired] == [to_wire(e.fields) for e in expected]
        assert [from_wire(e.fields) for e in wired] == [e.fields for e in expected]
        assert [attrs_but_fields(e) for e in wired] == [attrs_but_fields(e) for e in expected]
        assert verify_chain(j) == len(expected) and old_chain_check(j, key) == 0


def attrs_but_fields(entry: Entry) -> tuple[Any, ...]:
    return (entry.seq, entry.at, entry.kind, entry.dot, entry.context, entry.meta, entry.hash)


# -- a sync's journal -----------------------------------------------------------------------


def sync_entries(records: int, rounds: int) -> list[NewEntry]:
    """A first copy (observed on one side, applied on the other) then edits, alternately
    on each side, with a cursor entry after each round."""
    out: list[NewEntry] = []
    clocks = [VectorClock()] * records
    for rnd in range(rounds):
        for r in range(records):
            side = ("crm", "books")[(r + rnd) % 2]
            fields = {
                "name": f"Customer {r}",
                "limit": Decimal(f"{r}.{rnd}5"),
                "since": dt.date(2020, 1 + r % 12, 1),
                "city": ("York", "Bath")[rnd % 2],
            }
            dot = clocks[r].next_dot(side)
            meta = {
                "id": f"{side}-{r}",
                "key": f"customer {r}",
                "modified": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=rnd),
            }
            out.append(
                NewEntry(Kind.OBSERVED, "customers", f"crm:{r}", side, dot, clocks[r], fields, meta)
            )
            clocks[r] = clocks[r].add(dot)
            if rnd == 0:
                other = "books" if side == "crm" else "crm"
                out.append(
                    NewEntry(
                        Kind.APPLIED,
                        "customers",
                        f"crm:{r}",
                        other,
                        context=clocks[r],
                        fields=fields,
                        meta={"id": f"{other}-{r}", "create": True, "done": True},
                    )
                )
        out.append(NewEntry(Kind.CURSOR, "customers", None, "crm", meta={"cursor": rnd + 1}))
    return out


@pytest.fixture
def synced(tmp_path):
    key = ChainKey.generate()[0]
    j = Journal(tmp_path / "j.db", RecordReducer(), key=key)
    entries = sync_entries(12, 4)
    for start in range(0, len(entries), 7):
        j.append(entries[start : start + 7])
    yield j, key
    j.close()


def _tables(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in STATE_TABLES}


@pytest.mark.parametrize("batch", [1, 5, 5000])
def test_replay_in_batches_gives_the_live_state_and_the_old_replay(synced, batch):
    """The record reducer folds streamed entries with wire fields into exactly the tables
    the live appends made, and that the old replay (every entry decoded canonical, read
    in one statement) makes."""
    j, _ = synced
    new = sqlite3.connect(":memory:", isolation_level=None)
    assert replay_into(j, new, batch=batch) == j.last_seq
    old = sqlite3.connect(":memory:", isolation_level=None)
    replay_into(j, old)  # the schema
    for table in STATE_TABLES:
        old.execute(f"DELETE FROM {table}")
    fold(SQLiteView(old, j.reducer), (old_entry(row) for row in rows(j)))
    assert _tables(new) == _tables(old) == _tables(j.conn)
    assert _tables(new)["records"] and _tables(new)["cursors"]
    assert verify(j).ok


@pytest.mark.parametrize("column", ["fields", "meta", "at", "rid", "context", "dot", "hash"])
def test_an_edit_in_a_later_batch_is_named_as_before(synced, monkeypatch, column):
    """An entry edited in place (triggers dropped), in the third batch of a chain check
    read 5 rows a query, fails verify at that entry, as the whole-table check finds."""
    j, key = synced
    monkeypatch.setattr(journal.anchors, "BATCH", 5)
    j.conn.execute("DROP TRIGGER entries_no_update")
    value = {
        "fields": '{"name":"Evil"}',
        "meta": '{"id":"x"}',
        "at": "2026-01-01T00:00:00.000000+00:00",
        "rid": "crm:99",
        "context": '{"crm":9}',
        "dot": '["crm",99]',
        "hash": "f" * 64,
    }[column]
    if column == "hash":  # the stored bytes of a journal of format 2 or 3
        j.conn.execute("UPDATE entries SET digest = ? WHERE seq = 13", (bytes.fromhex(value),))
    elif column == "at" and j.format == 3:  # the stored integer of a journal of format 3
        micros = micros_of(dt.datetime.fromisoformat(value))
        j.conn.execute("UPDATE entries SET micros = ? WHERE seq = 13", (micros,))
    else:
        j.conn.execute(f"UPDATE entries SET {column} = ? WHERE seq = 13", (value,))
    with pytest.raises(IntegrityError) as failed:
        verify_chain(j)
    assert failed.value.seq == old_chain_check(j, key) == 13
    result = verify(j)
    assert not result.ok and result.first_bad_seq == failed.value.seq


def test_a_missing_entry_in_a_later_batch_is_named(synced, monkeypatch):
    j, key = synced
    monkeypatch.setattr(journal.anchors, "BATCH", 4)
    j.conn.execute("DROP TRIGGER entries_no_delete")
    j.conn.execute("DELETE FROM entries WHERE seq = 10")
    with pytest.raises(IntegrityError) as failed:
        verify_chain(j)
    assert failed.value.seq == old_chain_check(j, key) == 10


# -- memory ---------------------------------------------------------------------------------


def _peak(run: Any) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _journal(path: Any, n: int) -> Journal:
    """``n`` entries over 10 records (the state stays small; only the entries grow)."""
    j = Journal(path, CountingReducer())
    for start in range(0, n, 500):
        j.append(
            [
                NewEntry(
                    Kind.OBSERVED,
                    "customers",
                    f"crm:{i % 10}",
                    "crm",
                    Dot("crm", i + 1),
                    VectorClock(),
                    {"name": f"Customer {i} " + "x" * 200, "limit": Decimal(i)},
                    {"id": str(i % 10), "key": f"k{i % 10}"},
                )
                for i in range(start, min(n, start + 500))
            ]
        )
    return j


def test_memory_does_not_grow_with_the_journal(tmp_path, monkeypatch):
    """Checking the chain and replaying 4,000 entries, read 200 a query, peaks at about
    the Python memory of 1,000 entries: a batch and the state, not the journal."""
    monkeypatch.setattr(journal.anchors, "BATCH", 200)
    peaks = {}
    for n in (1000, 4000):
        with _journal(tmp_path / f"j{n}.db", n) as j:
            chain = _peak(lambda j=j: verify_chain(j))
            target = sqlite3.connect(":memory:", isolation_level=None)
            replay = _peak(lambda j=j, t=target: replay_into(j, t, batch=200))
            target.close()
            peaks[n] = (chain, replay)
    small, big = peaks[1000], peaks[4000]
    assert big[0] < 1.3 * small[0] + 50_000, peaks
    assert big[1] < 1.3 * small[1] + 50_000, peaks
