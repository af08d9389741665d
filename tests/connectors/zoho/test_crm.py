"""The Zoho CRM connector against a fake CRM v8 written from the spec."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from decimal import Decimal

import httpx
import pytest

from replicator.connectors.base import Connector, SideModule, Write
from replicator.errors import ConnectorError
from tests.connectors.zoho.conftest import crm_connector
from tests.connectors.zoho.fakes import T0, FakeClock, FakeCRM, reply

MODULE = SideModule(
    "customers",
    "Accounts",
    columns=("name", "email", "city"),
    match=("name",),
    modified="Modified_Time",
)


def person(n: int, **extra) -> dict:
    return {"name": f"Person {n}", "email": f"p{n}@example.com", "city": "Oslo", **extra}


def pull_all(connector, since, *, page_size=1000, module=MODULE):
    pages = list(connector.pull(module, since, page_size=page_size))
    changes = [c for p in pages for c in p.changes]
    return changes, (pages[-1].cursor if pages else since)


def create(key: str, values: dict) -> Write:
    return Write(key=key, id=None, values=values)


def requests_to(fake: FakeCRM, method: str, suffix: str = "") -> list[httpx.Request]:
    return [
        r
        for r in fake.requests
        if r.method == method and r.url.path.startswith("/crm/v8") and r.url.path.endswith(suffix)
    ]


def test_the_connector_satisfies_the_protocol(crm: FakeCRM, clock: FakeClock) -> None:
    """ZohoCRMConnector is a Connector."""
    assert isinstance(crm_connector(crm, clock), Connector)


# -- pull ------------------------------------------------------------------------------


def test_a_snapshot_lists_every_record_oldest_first(crm: FakeCRM, clock: FakeClock) -> None:
    """A first pull asks fields, per_page, sort_by=Modified_Time asc, no If-Modified-Since."""
    ids = []
    for n in range(3):
        ids.append(crm.insert("Accounts", person(n)))
        clock.advance(1)
    changes, cursor = pull_all(crm_connector(crm, clock), None)
    assert [c.id for c in changes] == ids
    assert dict(changes[0].values) == person(0)
    assert changes[2].modified == T0 + dt.timedelta(seconds=2)
    [listing] = requests_to(crm, "GET", "/Accounts")
    assert listing.url.params["sort_by"] == "Modified_Time"
    assert listing.url.params["sort_order"] == "asc"
    assert listing.url.params["per_page"] == "200"
    assert set(listing.url.params["fields"].split(",")) == {
        "Modified_Time",
        "name",
        "email",
        "city",
    }
    assert "if-modified-since" not in listing.headers
    assert cursor[0] == "2026-11-27T10:00:02+00:00"


def test_fields_are_split_at_fifty_and_merged_by_id(clock: FakeClock) -> None:
    """120 columns are read in groups of at most 50 fields and merged into one record."""
    columns = tuple(f"Field_{n}" for n in range(120))
    crm = FakeCRM(clock, fields={c: "text" for c in columns}, mandatory=())
    ids = [crm.insert("Accounts", {c: f"{c}-{n}" for c in columns}) for n in range(3)]
    module = SideModule("customers", "Accounts", columns=columns)
    changes, _ = pull_all(crm_connector(crm, clock), None, module=module)
    assert [c.id for c in changes] == ids
    assert changes[1].values == {c: f"{c}-1" for c in columns}
    asked = [r.url.params["fields"].split(",") for r in requests_to(crm, "GET", "/Accounts")]
    assert len(asked) == 3 and all(len(f) <= 50 for f in asked)
    assert set().union(*asked) == {*columns, "Modified_Time"}
    assert all("ids" in r.url.params for r in requests_to(crm, "GET", "/Accounts")[1:])


def test_page_gives_way_to_page_token_after_2000_records(crm: FakeCRM, clock: FakeClock) -> None:
    """Pages 1-10 of 200 are read by number, the rest with info.next_page_token."""
    for n in range(2300):
        crm.insert("Accounts", person(n))
    changes, _ = pull_all(crm_connector(crm, clock), None)
    assert len({c.id for c in changes}) == 2300
    listings = requests_to(crm, "GET", "/Accounts")
    assert [r.url.params.get("page") for r in listings[:10]] == [str(n) for n in range(1, 11)]
    assert [r.url.params.get("page_token") for r in listings[10:]] == ["tok-2000", "tok-2200"]
    assert all("page" not in r.url.params for r in listings[10:])


def test_an_empty_answer_204_still_gives_a_cursor(crm: FakeCRM, clock: FakeClock) -> None:
    """A module with no records answers 204; the snapshot yields no change but a cursor."""
    connector = crm_connector(crm, clock)
    changes, cursor = pull_all(connector, None)
    assert changes == [] and cursor is not None
    clock.advance(5)
    id = crm.insert("Accounts", person(1))
    assert [c.id for c in pull_all(connector, cursor)[0]] == [id]


def test_if_modified_since_comes_from_the_cursor_less_the_overlap(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """An incremental pull sends If-Modified-Since = records watermark - overlap."""
    crm.insert("Accounts", person(1))
    connector = crm_connector(crm, clock, overlap=120)
    _, cursor = pull_all(connector, None)
    clock.advance(600)
    changed = crm.insert("Accounts", person(2))
    changes, after = pull_all(connector, cursor)
    assert [c.id for c in changes] == [changed]
    listing = requests_to(crm, "GET", "/Accounts")[-1]
    assert listing.headers["if-modified-since"] == "2026-11-27T09:58:00+00:00"
    assert after[0] == "2026-11-27T10:10:00+00:00"


def test_a_new_process_re_reads_the_overlap_and_the_engine_dedupes(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """Within one process the overlap re-read is dropped; a fresh connector returns it."""
    crm.insert("Accounts", person(1))
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None)
    assert pull_all(connector, cursor) == ([], cursor)
    again, _ = pull_all(crm_connector(crm, clock), cursor)
    assert len(again) == 1  # inside the overlap window: the engine de-duplicates by content


def test_deleted_records_come_from_the_deleted_feed(crm: FakeCRM, clock: FakeClock) -> None:
    """/deleted?type=all with If-Modified-Since gives Change(deleted=True), once."""
    kept, gone = crm.insert("Accounts", person(1)), crm.insert("Accounts", person(2))
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(30)
    crm.delete("Accounts", gone)
    changes, cursor2 = pull_all(connector, cursor)
    assert [(c.id, c.deleted, dict(c.values)) for c in changes] == [(gone, True, {})]
    assert changes[0].modified == T0 + dt.timedelta(seconds=30)
    feed = requests_to(crm, "GET", "/deleted")[-1]
    assert feed.url.params["type"] == "all" and "if-modified-since" in feed.headers
    assert cursor2[1] == "2026-11-27T10:00:30+00:00" and cursor2 > cursor
    assert pull_all(connector, cursor2)[0] == []
    assert kept in crm.records["Accounts"]


def test_cursors_only_grow_and_a_repeat_pull_returns_nothing(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """Each page's cursor is at least the one before; pulling again changes nothing."""
    for n in range(9):
        crm.insert("Accounts", person(n))
        clock.advance(1)
    connector = crm_connector(crm, clock)
    pages = list(connector.pull(MODULE, None, page_size=2))
    cursors = [p.cursor for p in pages]
    assert cursors == sorted(cursors) and all(len(p.changes) <= 2 for p in pages)
    assert pull_all(connector, cursors[-1]) == ([], cursors[-1])


def test_a_record_that_moves_while_paging_makes_the_walk_go_again(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """An edit during the walk shifts a record past a page boundary; a re-walk finds it."""
    ids = []
    for n in range(5):
        ids.append(crm.insert("Accounts", person(n)))
        clock.advance(1)
    clock.advance(10)
    listings = []

    def edit_during_the_walk(request: httpx.Request) -> None:
        if request.url.path == "/crm/v8/Accounts" and "fields" in request.url.params:
            listings.append(request)
            if len(listings) == 2:  # between page 1 and page 2: the first record moves last
                crm.update("Accounts", ids[0], {"city": "Rome"})
        return None

    crm.override = edit_during_the_walk
    changes, _ = pull_all(crm_connector(crm, clock, overlap=0), None, page_size=2)
    assert set(ids) <= {c.id for c in changes}
    last = {c.id: c for c in changes}
    assert last[ids[0]].values["city"] == "Rome"


# -- push ------------------------------------------------------------------------------


def test_creates_upsert_on_the_key_field_a_hundred_per_call(crm: FakeCRM, clock: FakeClock) -> None:
    """150 creates: two upsert calls with duplicate_check_fields=[Replicator_Id]."""
    connector = crm_connector(crm, clock)
    outcomes = connector.push(MODULE, [create(f"crm:k{n}", person(n)) for n in range(150)])
    assert [o.key for o in outcomes] == [f"crm:k{n}" for n in range(150)]
    assert all(o.ok and o.id for o in outcomes) and len({o.id for o in outcomes}) == 150
    calls = requests_to(crm, "POST", "/upsert")
    bodies = [json.loads(r.content) for r in calls]
    assert [len(b["data"]) for b in bodies] == [100, 50]
    assert all(b["duplicate_check_fields"] == ["Replicator_Id"] for b in bodies)
    assert bodies[0]["data"][7]["Replicator_Id"] == "crm:k7"
    assert bodies[0]["trigger"] == []


def test_a_create_retried_after_a_crash_finds_the_record_it_made(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """A new process pushing the same key upserts onto the same record: no duplicate."""
    [first] = crm_connector(crm, clock).push(MODULE, [create("crm:k1", person(1))])
    [again] = crm_connector(crm, clock).push(MODULE, [create("crm:k1", person(1, city="Quito"))])
    assert again.ok and again.id == first.id
    assert crm.rows("Accounts") == {
        first.id: {**person(1, city="Quito"), "Replicator_Id": "crm:k1"}
    }


def test_a_create_retried_in_process_keeps_an_edit_made_since(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """The same connector retrying a create leaves a record another program edited."""
    connector = crm_connector(crm, clock)
    [first] = connector.push(MODULE, [create("crm:k1", person(1))])
    clock.advance(5)
    crm.update("Accounts", first.id, {"city": "Bergen"})
    [again] = connector.push(MODULE, [create("crm:k1", person(1, city="Quito"))])
    assert again.ok and again.id == first.id
    assert crm.rows("Accounts")[first.id]["city"] == "Bergen"


def test_a_create_repeated_in_one_batch_is_one_record(crm: FakeCRM, clock: FakeClock) -> None:
    """The same key twice in a batch: one record with the later values, one id twice."""
    outcomes = crm_connector(crm, clock).push(
        MODULE, [create("k", person(1)), create("k", person(2))]
    )
    assert outcomes[0].ok and outcomes[0].id == outcomes[1].id
    assert [r["name"] for r in crm.rows("Accounts").values()] == ["Person 2"]


def test_mixed_207_outcomes_map_in_input_order(crm: FakeCRM, clock: FakeClock) -> None:
    """A 207 answer: each write gets its own outcome, the error naming code and field."""
    existing = crm.insert("Accounts", person(9))
    connector = crm_connector(crm, clock)
    pull_all(connector, None)
    clock.advance(1)
    writes = [
        create("a", person(1)),
        create("bad", {"name": None, "email": "x@example.com", "city": None}),
        Write("upd", existing, {"city": "Baku"}),
        Write("bad-upd", existing, {"name": None}),
        create("b", person(2)),
    ]
    outcomes = connector.push(MODULE, writes)
    assert [o.key for o in outcomes] == ["a", "bad", "upd", "bad-upd", "b"]
    assert [o.ok for o in outcomes] == [True, False, True, False, True]
    assert "MANDATORY_NOT_FOUND" in outcomes[1].error and "field name" in outcomes[1].error
    assert existing in outcomes[3].error and not outcomes[1].retry
    assert crm.rows("Accounts")[existing]["city"] == "Baku"


def test_updates_are_pre_read_and_sent_with_if_unmodified_since(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """Updates: one read by ids, one PUT of all of them, If-Unmodified-Since the newest time."""
    ids = []
    for n in range(3):
        ids.append(crm.insert("Accounts", person(n)))
        clock.advance(1)
    connector = crm_connector(crm, clock)
    pull_all(connector, None)
    crm.requests.clear()
    outcomes = connector.push(
        MODULE, [Write(f"r{n}", id, {"city": "Lima"}) for n, id in enumerate(ids)]
    )
    assert all(o.ok for o in outcomes)
    [read] = requests_to(crm, "GET", "/Accounts")
    assert read.url.params["ids"] == ",".join(ids)
    [put] = requests_to(crm, "PUT", "/Accounts")
    assert put.headers["if-unmodified-since"] == "2026-11-27T10:00:02+00:00"
    assert [d["id"] for d in json.loads(put.content)["data"]] == ids


def test_an_update_never_overwrites_a_change_not_yet_read(crm: FakeCRM, clock: FakeClock) -> None:
    """A record changed after the last pull is not written: retry, then fine after a pull."""
    id = crm.insert("Accounts", person(1))
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(5)
    crm.update("Accounts", id, {"city": "Tromsø"})
    [outcome] = connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
    assert not outcome.ok and outcome.retry and id in outcome.error
    assert requests_to(crm, "PUT") == []
    assert crm.rows("Accounts")[id]["city"] == "Tromsø"
    pull_all(connector, cursor)
    [outcome] = connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
    assert outcome.ok and crm.rows("Accounts")[id]["city"] == "Lima"


def test_a_same_second_edit_is_told_apart_by_its_values(crm: FakeCRM, clock: FakeClock) -> None:
    """An edit in the same second as our read, with new values, still counts as unread."""
    id = crm.insert("Accounts", person(1))
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None)
    crm.update("Accounts", id, {"city": "Tromsø"})  # same Modified_Time second
    [outcome] = connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
    assert outcome.retry
    assert [c.values["city"] for c in pull_all(connector, cursor)[0]] == ["Tromsø"]


def test_a_change_between_read_and_write_answers_412_and_is_retried(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """ALREADY_MODIFIED (per record, or the whole call's 412) becomes retry=True."""
    id = crm.insert("Accounts", person(1))
    connector = crm_connector(crm, clock)
    pull_all(connector, None)
    clock.advance(5)

    def edit_before_the_put(request: httpx.Request):
        if request.method == "PUT":
            crm.update("Accounts", id, {"city": "Bodø"})
        return None

    crm.override = edit_before_the_put
    [outcome] = connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
    assert outcome.retry and "ALREADY_MODIFIED" in outcome.error
    assert crm.rows("Accounts")[id]["city"] == "Bodø"
    crm.override = lambda r: reply(412, {"code": "ALREADY_MODIFIED"}) if r.method == "PUT" else None
    pull_all(connector, None)
    [outcome] = connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
    assert outcome.retry


def test_updating_a_deleted_record_is_an_error_naming_it(crm: FakeCRM, clock: FakeClock) -> None:
    """An update of an id that is gone is that write's error, naming id and module."""
    id = crm.insert("Accounts", person(1))
    crm.delete("Accounts", id)
    [outcome] = crm_connector(crm, clock).push(MODULE, [Write("r1", id, {"city": "Oslo"})])
    assert not outcome.ok and not outcome.retry
    assert id in outcome.error and "Accounts" in outcome.error


def test_pushed_writes_are_not_pulled_back(crm: FakeCRM, clock: FakeClock) -> None:
    """Our own creates and updates do not come back (no echo); another program's do."""
    ours, theirs = crm.insert("Accounts", person(1)), crm.insert("Accounts", person(2))
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(3)
    outcomes = connector.push(
        MODULE, [Write("r1", ours, {"city": "Paris"}), create("r2", person(3))]
    )
    assert all(o.ok for o in outcomes)
    clock.advance(3)
    crm.update("Accounts", theirs, {"city": "Cairo"})
    changes, _ = pull_all(connector, cursor)
    assert [(c.id, c.values["city"]) for c in changes] == [(theirs, "Cairo")]


def test_passing_failures_become_retry_outcomes(crm: FakeCRM, clock: FakeClock) -> None:
    """A 5xx that outlasts the retries makes every write of the call retry=True."""
    crm.override = lambda r: reply(503, {}) if r.url.path.endswith("/upsert") else None
    outcomes = crm_connector(crm, clock).push(
        MODULE, [create("a", person(1)), create("b", person(2))]
    )
    assert all(o.retry and not o.ok for o in outcomes)
    assert len(clock.sleeps) == 5


def test_a_permission_error_fails_the_side(crm: FakeCRM, clock: FakeClock) -> None:
    """403 NO_PERMISSION is the side's failure (raised), not one record's."""
    crm.override = lambda r: (
        reply(
            403,
            {
                "code": "NO_PERMISSION",
                "message": "permission denied",
                "details": {},
                "status": "error",
            },
        )
        if r.url.path.endswith("/upsert")
        else None
    )
    with pytest.raises(ConnectorError, match="NO_PERMISSION"):
        crm_connector(crm, clock).push(MODULE, [create("a", person(1))])


def test_a_missing_key_field_is_explained(clock: FakeClock) -> None:
    """If the module lacks the unique Replicator_Id field, the error says to create it."""
    crm = FakeCRM(clock)
    del crm.fields["Replicator_Id"]
    [outcome] = crm_connector(crm, clock).push(MODULE, [create("a", person(1))])
    assert "unique custom field Replicator_Id" in outcome.error


# -- values ----------------------------------------------------------------------------


def test_lookups_read_flat_and_write_as_id_objects(clock: FakeClock) -> None:
    """{id, name} reads as the id plus a Field.name column; writes send {id} only."""
    crm = FakeCRM(
        clock,
        fields={"Deal_Name": "text", "Account_Name": "lookup", "Amount": "currency"},
        mandatory=(),
    )
    id = crm.insert(
        "Deals", {"Deal_Name": "Big", "Account_Name": {"id": "7", "name": "Acme"}, "Amount": 10.5}
    )
    module = SideModule(
        "deals", "Deals", columns=("Deal_Name", "Account_Name", "Account_Name.name", "Amount")
    )
    connector = crm_connector(crm, clock)
    [change], _ = pull_all(connector, None, module=module)
    assert change.values == {
        "Deal_Name": "Big",
        "Account_Name": "7",
        "Account_Name.name": "Acme",
        "Amount": Decimal("10.5"),
    }
    clock.advance(1)
    [outcome] = connector.push(
        module,
        [
            Write(
                "d", id, {"Account_Name": "8", "Account_Name.name": "ignored", "Amount": "1234.50"}
            )
        ],
    )
    assert outcome.ok
    [data] = json.loads(requests_to(crm, "PUT")[0].content)["data"]
    assert data == {"id": id, "Account_Name": {"id": "8"}, "Amount": 1234.50}
    assert b'"Amount": 1234.50' in requests_to(crm, "PUT")[0].content
    schema = connector.schema(module)
    assert schema["Account_Name"] == "lookup" and schema["Account_Name.name"] == "text"


def test_get_returns_a_record_or_none(crm: FakeCRM, clock: FakeClock) -> None:
    """get reads GET /{Module}/{id}; a gone record (204) is None."""
    id = crm.insert("Accounts", person(1))
    connector = crm_connector(crm, clock)
    assert dict(connector.get(MODULE, id).values) == person(1)
    crm.delete("Accounts", id)
    assert connector.get(MODULE, id) is None


def test_search_filters_word_results_on_the_match_columns(crm: FakeCRM, clock: FakeClock) -> None:
    """word search, then only records whose match columns contain the text, any case."""
    alice = crm.insert("Accounts", person(1, name="Alice Smith"))
    crm.insert("Accounts", person(2, name="Bob Jones", city="alice springs"))
    connector = crm_connector(crm, clock)
    assert [c.id for c in connector.search(MODULE, "aLiCe")] == [alice]
    assert requests_to(crm, "GET", "/search")[0].url.params["word"] == "aLiCe"
    assert connector.search(MODULE, "nobody") == []


def test_views_list_names_and_a_view_name_becomes_cvid(crm: FakeCRM, clock: FakeClock) -> None:
    """views() names the custom views; module.view by name is sent as its cvid."""
    connector = crm_connector(crm, clock)
    assert connector.views(MODULE) == ["All Accounts"]
    crm.insert("Accounts", person(1))
    module = SideModule("customers", "Accounts", columns=MODULE.columns, view="All Accounts")
    pull_all(connector, None, module=module)
    assert requests_to(crm, "GET", "/Accounts")[-1].url.params["cvid"] == "4876876000000087501"


def test_a_cursor_of_another_kind_is_refused(crm: FakeCRM, clock: FakeClock) -> None:
    """An int cursor (from another connector) is a TypeError before any call."""
    with pytest.raises(TypeError):
        pull_all(crm_connector(crm, clock), 12)
    assert crm.requests == []


def test_a_number_written_as_text_is_not_mistaken_for_a_later_change(clock: FakeClock) -> None:
    """After writing "1234.50" to a currency field, the next update is not held back
    and the echo (read back as a number) is not pulled as a change."""
    crm = FakeCRM(clock, fields={"Account_Name": "text", "Revenue": "currency"}, mandatory=())
    module = SideModule("customers", "Accounts", columns=("Account_Name", "Revenue"))
    id = crm.insert("Accounts", {"Account_Name": "Acme", "Revenue": 1})
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None, module=module)
    clock.advance(1)
    [first] = connector.push(module, [Write("r", id, {"Revenue": "1234.50"})])
    clock.advance(1)
    [second] = connector.push(module, [Write("r", id, {"Revenue": "99"})])
    assert first.ok and second.ok
    assert pull_all(connector, cursor, module=module)[0] == []


def dated(fake: FakeCRM, clock: FakeClock) -> None:
    """Make the fake answer with a Date header from its clock, as Zoho does."""
    handler = fake.handler

    def with_date(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        response.headers["Date"] = email.utils.format_datetime(clock.wall(), usegmt=True)
        return response

    fake.handler = with_date  # type: ignore[method-assign]


def test_a_read_long_after_the_watermark_narrows_the_next_overlap(
    crm: FakeCRM, clock: FakeClock
) -> None:
    """The cursor keeps the server's time of the read: a read well after the watermark
    starts the next one at the watermark's second instead of the whole overlap before it;
    once idle for longer than the overlap, pulls leave the cursor as it is."""
    dated(crm, clock)
    crm.insert("Accounts", person(1))  # 10:00:00
    connector = crm_connector(crm, clock, overlap=120)
    _, cursor = pull_all(connector, None)
    assert cursor == ["2026-11-27T10:00:00+00:00"] * 3
    clock.advance(600)
    _, later = pull_all(connector, cursor)
    listing = requests_to(crm, "GET", "/Accounts")[-1]
    assert listing.headers["if-modified-since"] == "2026-11-27T09:58:00+00:00"
    assert later[2] == "2026-11-27T10:01:59+00:00"  # the read time, capped at 120 s - 1 past
    clock.advance(600)
    changes, again = pull_all(connector, later)
    listing = requests_to(crm, "GET", "/Accounts")[-1]
    assert listing.headers["if-modified-since"] == "2026-11-27T09:59:59+00:00"
    assert changes == [] and again == later
    changed = crm.insert("Accounts", person(2))  # a new change still comes
    assert [c.id for c in pull_all(connector, again)[0]] == [changed]
