"""The Journal's summaries: what the CLI, the daemon and the lifecycle ask of it instead
of running SQL on its connection."""

import datetime as dt

import pytest

from journal import Journal, Kind, NewEntry
from tests.journal.test_store import CountingReducer, observed


class ConflictReducer(CountingReducer):
    """Also opens (or closes) a conflict when an entry's meta names one."""

    def apply(self, view, entry):
        super().apply(view, entry)
        if "conflict" in entry.meta:
            cid, status = entry.meta["conflict"]
            view.put_conflict(cid, entry.module, entry.rid, "name", status, {"why": "test"})


def at(hour):
    return dt.datetime(2026, 12, 1, hour, tzinfo=dt.UTC)


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.db", ConflictReducer(), now=lambda: at(9))
    j.append(
        [
            observed("crm:1", id="1", conflict=[1, "open"]),
            observed("crm:2", n=2, id="2", conflict=[2, "resolved"]),
            NewEntry(Kind.CURSOR, "customers", side="crm", meta={"cursor": 5}, at=at(10)),
            NewEntry(Kind.OBSERVED, "items", "crm:9", "crm", meta={"conflict": [3, "open"]}),
            NewEntry(Kind.INTENT, "items", meta={"writes": {}}, at=at(11)),
            NewEntry(Kind.CURSOR, "items", side="books", meta={"cursor": "a"}, at=at(8)),
        ]
    )
    yield j
    j.close()


def test_entry_counts_are_per_module(journal):
    """Every module's entries are counted, by module name."""
    assert journal.entry_counts() == {"customers": 3, "items": 3}


def test_an_empty_journal_counts_nothing(tmp_path):
    """No entries: no modules, no times, no conflicts, no state."""
    with Journal(tmp_path / "e.db", ConflictReducer()) as empty:
        assert empty.entry_counts() == {}
        assert empty.last_times(kinds=[Kind.CURSOR]) == {}
        assert empty.conflict_counts() == {}
        assert empty.state_counts() == {}


def test_last_times_are_the_newest_entry_of_the_kinds_asked_per_module(journal):
    """The newest cursor or intent entry per module, as an aware UTC time."""
    found = journal.last_times(kinds=[Kind.CURSOR, Kind.INTENT])
    assert found == {"customers": at(10), "items": at(11)}
    assert all(t.tzinfo is not None for t in found.values())
    assert journal.last_times(kinds=[Kind.CURSOR]) == {"customers": at(10), "items": at(8)}
    assert journal.last_times(kinds=[Kind.LINK]) == {}
    assert journal.last_times(kinds=[]) == {}


def test_conflict_counts_are_per_module_of_a_status_or_all(journal):
    """Open conflicts per module; without a status, every conflict."""
    assert journal.conflict_counts(status="open") == {"customers": 1, "items": 1}
    assert journal.conflict_counts(status="resolved") == {"customers": 1}
    assert journal.conflict_counts() == {"customers": 2, "items": 1}


def test_state_counts_give_each_state_table_per_module(journal):
    """Records, links, cursors and conflicts per module, zero where a table has none."""
    assert journal.state_counts() == {
        "customers": {"records": 2, "links": 2, "cursors": 1, "conflicts": 2},
        "items": {"records": 1, "links": 0, "cursors": 1, "conflicts": 1},
    }


def test_module_links_map_each_side_row_to_its_record(journal):
    """Every link of one module: (side, side id) -> (rid, status)."""
    assert journal.module_links("customers") == {
        ("crm", "1"): ("crm:1", "active"),
        ("crm", "2"): ("crm:2", "active"),
    }
    assert journal.module_links("items") == {}


class LabelReducer(CountingReducer):
    """Stores the entry's meta ``label`` as the record's label (None: no label)."""

    def apply(self, view, entry):
        super().apply(view, entry)
        if entry.rid is not None and "label" in entry.meta:
            state = view.record(entry.module, entry.rid)
            view.put_record(entry.module, entry.rid, {**state, "label": entry.meta["label"]})

    def encode(self, state):
        text, key, attention = super().encode(state)
        return text, key, attention, None, None, None, state.get("label")


def labelled_journal(tmp_path, labels):
    j = Journal(tmp_path / "l.db", LabelReducer())
    j.append(
        [
            NewEntry(Kind.OBSERVED, module, rid, "crm", meta={"label": label})
            for module, rid, label in labels
        ]
    )
    return j


def test_labelled_records_are_counted_and_paged_by_label_then_rid_then_module(tmp_path):
    """Labels of two modules come in one order (label, rid, module), a page at a time, with
    the number of all that hold the text; records without a label and other modules never."""
    labels = [
        ("customers", "b", "acme"),
        ("customers", "a", "acme"),
        ("vendors", "a", "acme"),
        ("customers", "c", "zeta acme"),
        ("vendors", "d", "beta"),
        ("customers", "e", None),
        ("items", "f", "acme"),
    ]
    with labelled_journal(tmp_path, labels) as j:
        modules = ["vendors", "customers"]
        assert j.labelled(modules, limit=10) == (
            5,
            [
                ("acme", "a", "customers"),
                ("acme", "a", "vendors"),
                ("acme", "b", "customers"),
                ("beta", "d", "vendors"),
                ("zeta acme", "c", "customers"),
            ],
        )
        assert j.labelled(modules, holding="acme", limit=2, offset=2) == (
            4,
            [("acme", "b", "customers"), ("zeta acme", "c", "customers")],
        )
        assert j.labelled(modules, holding="cme", limit=2) == (4, j.labelled(modules, limit=2)[1])
        assert j.labelled(modules, holding="nothing") == (0, [])
        assert j.labelled([], limit=5) == (0, [])
        assert j.first_label("vendors") == ("acme", "a") and j.first_label("nope") is None


def test_a_labelled_search_takes_glob_and_like_wildcards_as_plain_letters(tmp_path):
    """``*``, ``?``, ``[``, ``%`` and ``_`` in the text searched match only themselves."""
    names = ["a*b", "axb", "a?b", "a[b]", "ab", "a%b", "a_b"]
    with labelled_journal(tmp_path, [("customers", n, n) for n in names]) as j:
        for text in names:
            total, rows = j.labelled(["customers"], holding=text)
            assert (total, [rid for _, rid, _ in rows]) == (1, [text]), text
        assert j.labelled(["customers"], holding="[")[0] == 1


class RefReducer(LabelReducer):
    """Stores the entry's meta ``ref`` as the record's reference."""

    def apply(self, view, entry):
        super().apply(view, entry)
        if entry.rid is not None and "ref" in entry.meta:
            state = view.record(entry.module, entry.rid)
            view.put_record(entry.module, entry.rid, {**state, "ref": entry.meta["ref"]})

    def encode(self, state):
        return (*super().encode(state), state.get("ref"))


def test_records_are_found_by_the_reference_their_reducer_stored(tmp_path):
    """Rids per reference asked, in rid order, of the module asked; a changed reference
    moves the record; records without one are never found."""
    with Journal(tmp_path / "r.db", RefReducer()) as j:
        j.append(
            [
                NewEntry(Kind.OBSERVED, m, rid, "crm", meta={"ref": ref})
                for m, rid, ref in [
                    ("invoices", "i2", "c1"),
                    ("invoices", "i1", "c1"),
                    ("invoices", "i3", "c2"),
                    ("invoices", "i4", None),
                    ("quotes", "q1", "c1"),
                ]
            ]
        )
        assert j.with_refs("invoices", ["c1", "c9"]) == {"c1": ["i1", "i2"]}
        j.append([NewEntry(Kind.OBSERVED, "invoices", "i1", "crm", meta={"ref": "c2"})])
        assert j.with_refs("invoices", ["c1", "c2"]) == {"c1": ["i2"], "c2": ["i1", "i3"]}


def test_a_record_written_again_is_found_by_what_its_encoding_says_now(tmp_path):
    """A record read back from its row and written again keeps its label, key and attention
    right whether or not they changed (only the state and attention are written when the
    indexed columns come out as stored), in this process and in the next."""
    labelled_journal(tmp_path, [("customers", "a", "acme"), ("customers", "b", "beta")]).close()
    with Journal(tmp_path / "l.db", LabelReducer()) as j:
        assert j.attention("customers") == ["a", "b"]
        j.append(
            [
                NewEntry(Kind.OBSERVED, "customers", "a", "crm", meta={"label": "acme"}),
                NewEntry(
                    Kind.OBSERVED, "customers", "b", "crm", meta={"label": "zeta", "key": "k"}
                ),
            ]
        )
        assert j.labelled(["customers"]) == (
            2,
            [("acme", "a", "customers"), ("zeta", "b", "customers")],
        )
        assert j.record("customers", "a") == {"n": 2, "key": None, "label": "acme"}
        assert j.with_keys("customers", ["k"]) == {"k": ["b"]}
        assert j.attention("customers") == []
    with Journal(tmp_path / "l.db", LabelReducer()) as j:
        j.append(
            [
                NewEntry(Kind.OBSERVED, "customers", "a", "crm", meta={"label": "acme"}),
                NewEntry(Kind.OBSERVED, "customers", "b", "crm", meta={"key": "k"}),  # no label
            ]
        )
        assert j.attention("customers") == ["a", "b"]
    with Journal(tmp_path / "l.db", LabelReducer()) as j:
        assert j.labelled(["customers"]) == (1, [("acme", "a", "customers")])
        assert j.record("customers", "a") == {"n": 3, "key": None, "label": "acme"}
        assert j.attention("customers") == ["a", "b"]
        assert j.with_keys("customers", ["k"]) == {"k": ["b"]}


def test_a_record_written_twice_in_one_process_keeps_what_it_did_not_change(tmp_path):
    """A record written, then written again with another key (a first copy's pull, then its
    push): only what changed is set, and the key, label and attention read back right
    after each write, in this process and in the next; a change of the label alone moves
    it in the labels' order and leaves the key where it is."""
    with Journal(tmp_path / "l.db", LabelReducer()) as j:
        j.append(
            [
                NewEntry(Kind.OBSERVED, "customers", rid, "crm", meta={"label": label, "key": key})
                for rid, label, key in [("a", "acme", "k1"), ("b", "beta", "k2")]
            ]
        )
        assert j.with_keys("customers", ["k1", "k2"]) == {"k1": ["a"], "k2": ["b"]}
        assert j.attention("customers") == ["a", "b"]
        j.append([NewEntry(Kind.APPLIED, "customers", "a", "books", meta={"label": "acme"})])
        assert j.with_keys("customers", ["k1", "k2"]) == {"k2": ["b"]}
        assert j.attention("customers") == ["b"]
        assert j.labelled(["customers"])[1] == [
            ("acme", "a", "customers"),
            ("beta", "b", "customers"),
        ]
        j.append(
            [NewEntry(Kind.APPLIED, "customers", "b", "books", meta={"label": "aaa", "key": "k2"})]
        )
        assert j.labelled(["customers"])[1] == [
            ("aaa", "b", "customers"),
            ("acme", "a", "customers"),
        ]
        assert j.with_keys("customers", ["k2"]) == {"k2": ["b"]}
    with Journal(tmp_path / "l.db", LabelReducer()) as j:
        assert j.labelled(["customers"])[1] == [
            ("aaa", "b", "customers"),
            ("acme", "a", "customers"),
        ]
        assert j.with_keys("customers", ["k1", "k2"]) == {"k2": ["b"]}
        assert j.attention("customers") == []
        assert j.record("customers", "a") == {"n": 2, "key": None, "label": "acme"}
