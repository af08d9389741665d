import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from journal import payloads as p
from journal.entry import Kind, dumps, entry_from_row, loads
from journal.errors import PayloadError
from tests.strategies import canonical_values, texts

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture_entries():
    conn = sqlite3.connect(":memory:")
    conn.executescript((FIXTURES / "a5dca57_journal.sql").read_text(encoding="utf-8"))
    rows = conn.execute("SELECT * FROM entries ORDER BY seq").fetchall()
    conn.close()
    return [(row[9], entry_from_row(row)) for row in rows]


def test_every_entry_of_the_a5dca57_journal_decodes_and_encodes_to_its_stored_meta():
    """Each entry the a5dca57 journal holds is read into its payload class and written back
    to the very text it was stored as, with nothing left over."""
    classes = []
    for stored, entry in _fixture_entries():
        payload = p.payload_of(entry)
        assert dumps(p.encode(payload)) == stored, entry.seq
        assert payload.extra == {}, entry.seq
        classes.append(type(payload).__name__)
    assert set(classes) == {
        "SettingsInForce",
        "Observed",
        "Cursor",
        "WriteIntent",
        "Applied",
        "RunMarker",
    }


def test_an_observation_of_the_fixture_reads_as_typed_fields():
    """An observed entry's id, match key and the side's time are attributes."""
    _, entry = _fixture_entries()[1]
    payload = p.expect(entry, p.Observed)
    assert (payload.id, payload.key) == ("1", "Gamma LLC")
    assert payload.modified == "2026-12-03T13:31:34.009066+00:00"
    assert payload.near is None and payload.absent == ()


def _round_trips(kind: Kind, meta: dict[str, Any]) -> p.Payload:
    payload = p.decode(kind, meta)
    assert dumps(p.encode(payload)) == dumps(meta)
    return payload


def test_entries_older_versions_wrote_round_trip_and_read_as_before():
    """Metas of earlier versions (an applied entry without ``done``, a refusal with
    ``"retry": false``, an observation whose time is a tagged datetime, a link whose
    ``modified`` came as an aware time) read with the defaults their readers used and write
    back unchanged."""
    applied = _round_trips(Kind.APPLIED, {"id": "7", "create": True})
    assert isinstance(applied, p.Applied) and applied.done is p.ABSENT and not applied.done
    refused = _round_trips(
        Kind.ERROR, {"reason": "nope", "retry": False, "stage": "write", "id": None}
    )
    assert isinstance(refused, p.Failure)
    assert refused.retry is False and refused.extra == {"retry": False} and refused.id is None
    at = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
    observed = _round_trips(Kind.OBSERVED, loads(dumps({"id": "1", "modified": at})))
    assert isinstance(observed, p.Observed) and observed.modified == at
    linked = _round_trips(
        Kind.LINK, {"id": "3", "policy": "link", "from": "crm:3", "key": "k", "modified": at}
    )
    assert isinstance(linked, p.Linked) and linked.from_ == "crm:3" and linked.fill is p.ABSENT


def test_a_key_no_class_knows_survives_in_extra():
    """An unknown key is kept in ``extra``, written back, and not taken for a field."""
    payload = _round_trips(Kind.TOMBSTONE, {"id": "4", "why": {"n": Decimal("1.5")}})
    assert isinstance(payload, p.Tombstone)
    assert payload.id == "4" and payload.extra == {"why": {"n": Decimal("1.5")}}


def test_presence_of_a_key_is_kept_apart_from_its_null_value():
    """An observation without ``key`` (no match fields) and one with ``"key": null`` (an
    empty match field) decode differently and each writes back as it was."""
    without = _round_trips(Kind.OBSERVED, {"id": "1"})
    empty = _round_trips(Kind.OBSERVED, {"id": "1", "key": None})
    assert isinstance(without, p.Observed) and isinstance(empty, p.Observed)
    assert without.key is p.ABSENT and empty.key is None


def test_a_meta_missing_a_required_key_is_refused_naming_the_key():
    """A cursor entry without ``cursor`` is refused with the key and the class it needs."""
    with pytest.raises(PayloadError, match="'cursor'.*Cursor"):
        p.decode(Kind.CURSOR, {"position": 3})


def test_a_config_meta_of_no_known_shape_is_kept_whole():
    """A config entry of a shape no class describes (a newer version's) decodes to
    OtherConfig holding every key, and an unknown event likewise."""
    other = _round_trips(Kind.CONFIG, {"new": 1})
    assert isinstance(other, p.OtherConfig) and other.extra == {"new": 1}
    assert isinstance(_round_trips(Kind.CONFIG, {"event": "rename", "to": "x"}), p.OtherConfig)


def test_variants_of_one_kind_are_told_by_what_their_meta_holds():
    """Intents, conflicts, resolutions and config events go to their own classes, in the
    order the reducer reads them (a retry intent before a settled one)."""
    assert p.variant(Kind.INTENT, {"writes": {}}) is p.WriteIntent
    assert p.variant(Kind.INTENT, {"settled": []}) is p.SettledIntent
    assert p.variant(Kind.INTENT, {"retry": [], "settled": []}) is p.RetryIntent
    assert p.variant(Kind.CONFLICT, {"duplicate": True}) is p.DuplicateConflict
    assert p.variant(Kind.CONFLICT, {"duplicate": False}) is p.ValueConflict
    assert p.variant(Kind.RESOLUTION, {"decision": "skip"}) is p.DuplicateResolution
    assert p.variant(Kind.RESOLUTION, {"take": "crm"}) is p.ValueResolution
    assert p.variant(Kind.CONFIG, {"event": "delete"}) is p.IntegrationDeleted
    assert p.variant(Kind.CONFIG, {"trigger": "sync"}) is p.RunMarker
    assert p.variant(Kind.CONFIG, {"complete": True}) is p.PulledMarker


def test_writers_get_the_meta_they_wrote_by_hand():
    """The payload a writer builds encodes to the dict the engine used to write, keys
    omitted exactly where it omitted them."""
    assert p.encode(p.Failure(reason="no", stage="write", id=None, done=False, attempt=2)) == {
        "reason": "no",
        "stage": "write",
        "id": None,
        "done": False,
        "attempt": 2,
    }
    assert p.encode(p.Paused(modules=("a",))) == {"event": "pause", "modules": ["a"]}
    assert p.encode(p.DuplicateResolution(conflict=3, by="person", decision="link", with_="r")) == {
        "conflict": 3,
        "by": "person",
        "decision": "link",
        "with": "r",
    }
    entry = p.new_entry(p.Cursor(cursor="9"), "customers", side="crm")
    assert (entry.kind, entry.meta, entry.side) == (Kind.CURSOR, {"cursor": "9"}, "crm")


def test_a_removal_of_crm_copies_journals_its_request_tombstones_and_end_as_written():
    """`disable --remove-crm-copies`: the request (who, why, sides, records), a tombstone
    naming who asked, why and the request (``gone`` only when true), and the end entry;
    a tombstone of earlier versions (only ``id``) still reads as a delete seen on a side."""
    asked = p.CopiesRemoval(
        by="alice", reason="leaving", sides={"invoices": "crm"}, records={"invoices": {"r": "9"}}
    )
    assert p.encode(asked) == {
        "by": "alice",
        "reason": "leaving",
        "sides": {"invoices": "crm"},
        "records": {"invoices": {"r": "9"}},
        "event": "remove-crm-copies",
    }
    stone = p.Tombstone(id="9", by="alice", reason="leaving", request=4)
    assert p.encode(stone) == {"id": "9", "by": "alice", "reason": "leaving", "request": 4}
    assert p.encode(p.Tombstone(id="9", gone=True))["gone"] is True
    ended = p.CopiesRemoved(request=4, counts={"invoices": {"removed": 1}})
    assert p.encode(ended)["event"] == "removed-crm-copies"
    assert p.variant(Kind.CONFIG, p.encode(asked)) is p.CopiesRemoval
    assert p.variant(Kind.CONFIG, p.encode(ended)) is p.CopiesRemoved
    old = _round_trips(Kind.TOMBSTONE, {"id": "4"})
    assert isinstance(old, p.Tombstone)
    assert (old.by, old.reason, old.request, old.gone) == (None, None, None, False)


def test_extra_may_not_shadow_a_field():
    """A key given both as a field and in ``extra`` is refused rather than one silently
    winning."""
    with pytest.raises(PayloadError, match="'id'"):
        p.encode(p.Tombstone(id="1", extra={"id": "2"}))


def test_expect_refuses_an_entry_of_another_class():
    """Asking an observation for a tombstone names the entry and both classes."""
    _, entry = _fixture_entries()[1]
    with pytest.raises(PayloadError, match="entry 2 .*Observed.*Tombstone"):
        p.expect(entry, p.Tombstone)


def test_absent_is_falsy_and_payloads_are_frozen():
    """ABSENT reads like a missing key read with ``.get``; a payload cannot be changed."""
    assert not p.ABSENT and repr(p.ABSENT) == "ABSENT"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.Tombstone(id="1").id = "2"  # type: ignore[misc]


# -- every class, by hypothesis ---------------------------------------------------------------

_plain = st.recursive(
    canonical_values,
    # a "$"-key is the journal's tag of a typed value ({"$decimal": ...}): never a meta key
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(texts.filter(lambda s: not s.startswith("$")), inner, max_size=3)
    ),
    max_leaves=6,
)
_extra_keys = st.dictionaries(texts.map(lambda s: f"x-{s}"), _plain, max_size=2)


@st.composite
def stored_metas(draw: st.DrawFn, cls: type[p.Payload]) -> dict[str, Any]:
    """A meta an entry of ``cls`` might hold: required keys, omitted and maybe keys present
    or not (an omitted key sometimes with its default written out), and unknown keys."""
    meta: dict[str, Any] = dict(draw(_extra_keys))
    for field in attrs.fields(cls):
        if field.name == "extra":
            continue
        key, mode = field.metadata["key"] or field.name, field.metadata["mode"]
        listed = field.converter is not None
        value = draw(st.lists(_plain, max_size=3) if listed else _plain)
        if mode == "required":
            meta[key] = value
        elif mode == "maybe":
            if draw(st.booleans()):
                meta[key] = value
        else:
            choice = draw(st.sampled_from(["leave", "default", "value"]))
            if choice == "default":
                meta[key] = [] if field.default == () else field.default
            elif choice == "value":
                meta[key] = value
    meta.update(cls.FIXED)
    return loads(dumps(meta))  # as the journal reads it back


@pytest.mark.parametrize("cls", p.PAYLOADS, ids=lambda c: c.__name__)
@given(data=st.data())
def test_every_payload_class_round_trips_its_stored_meta(cls, data):
    """Whatever keys a stored meta of the class holds, it decodes to that class and encodes
    to the same JSON; decoding the encoding gives the same payload."""
    meta = data.draw(stored_metas(cls))
    payload = p.decode(cls.KIND, meta)
    assert type(payload) is cls
    encoded = p.encode(payload)
    assert dumps(encoded) == dumps(meta)
    assert p.decode(cls.KIND, loads(dumps(encoded))) == payload


@pytest.mark.parametrize("cls", [p.Observed, p.Applied], ids=lambda c: c.__name__)
@given(data=st.data())
def test_an_observation_or_a_write_is_encoded_by_its_own_codec_as_by_the_general_one(cls, data):
    """The encoders written out for the entries a sync writes per record (an observation,
    an applied write) write the meta the general encoder writes, key for key and value for
    value."""
    meta = data.draw(stored_metas(cls))
    payload = attrs.evolve(p.decode(cls.KIND, meta), extra={})
    assert dumps(p.encode(payload)) == dumps(p._encode(payload))


@pytest.mark.parametrize("cls", sorted(p._KEPT, key=lambda c: c.__name__), ids=lambda c: c.__name__)
@given(data=st.data())
def test_a_payload_kept_on_a_new_entry_is_what_its_meta_decodes_to(cls, data):
    """new_entry hands its payload on (so the reducer need not decode the meta): only
    payloads equal to the decoding of the meta it writes, stored and read back."""
    payload = p.decode(cls.KIND, data.draw(stored_metas(cls)))
    new = p.new_entry(payload, "m", "r", "s")
    assert new.payload is payload
    assert p.decode(cls.KIND, loads(dumps(new.meta))) == payload
    assert p.decode(cls.KIND, new.meta) == payload


def test_an_appended_entry_reads_its_payload_without_decoding_and_a_read_one_decodes(tmp_path):
    """The entries append returns carry the writer's payload; the same entry read back
    decodes an equal one from its stored meta."""
    from conflicts import RecordReducer
    from journal import Dot, Journal

    with Journal(tmp_path / "j.db", RecordReducer()) as journal:
        observed = p.Observed(id="7", key="Acme", modified="2026-01-01T00:00:00.000000+00:00")
        (entry,) = journal.append(
            [p.new_entry(observed, "m", "books:7", "books", dot=Dot("books", 1))]
        )
        assert p.payload_of(entry) is observed
        (read,) = journal.read(since=entry.seq - 1)
        assert read.payload is None and p.payload_of(read) == observed
        assert read == entry  # the kept payload is not part of the entry's value
