"""The console's pages: the view models read the journal as the CLI does, a page at a time,
and the templates render them escaped, with a resolve form per choice `conflicts resolve`
offers."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from conflicts import ResolutionError
from journal.payloads import DuplicateResolution, ValueResolution, decode
from replicator.console import views
from replicator.sync.resolve import resolve
from tests.console.world import World, conflicted

TEMPLATES = Path(views.__file__).parent / "templates"
FIXTURES = Path(__file__).parent / "fixtures"
CSRF = "token-123"
USER = {"name": "admin", "role": "admin"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One journal the read-only tests share: 3 value conflicts, a group, a suggestion."""
    w = conflicted(tmp_path_factory.mktemp("pages"))
    yield w
    w.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = conflicted(tmp_path)
    yield w
    w.close()


def render(name: str, model: dict[str, Any]) -> str:
    """A page as the app renders it: autoescape on, the app's context (root path, csrf,
    user, flash) beside the view model, every name defined (the core's base.html; the
    stand-in of the fixtures where it is absent)."""
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(TEMPLATES), jinja2.FileSystemLoader(FIXTURES)]
    )
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    context = {"base": "/console", "csrf": CSRF, "user": USER, "flash": None}
    assert not set(model) & set(context), "a view model must not hide the app's names"
    return env.get_template(name).render(**context, **model)


def open_of(w: World, kind: str) -> list[dict[str, Any]]:
    rows = views.conflicts(w.config, w.journal, per_page=100)["rows"]
    return [r for r in rows if r["kind"] == kind]


# -- conflicts ------------------------------------------------------------------------------


def test_the_conflicts_page_lists_every_open_conflict_as_the_cli_does(shared):
    """Open conflicts: 3 field conflicts, the 3 members of a group, 2 of a suggestion."""
    page = views.conflicts(shared.config, shared.journal)
    assert page["total"] == 8 and page["pages"] == 1 and page["page"] == 1
    kinds = [r["kind"] for r in page["rows"]]
    assert kinds.count("field") == 3 and kinds.count("duplicate") == 3
    assert kinds.count("suggestion") == 2
    field = next(r for r in page["rows"] if r["kind"] == "field")
    assert field["reason"].startswith("manual policy") and field["winner"] is None
    assert page["open"] == {"customers": 8} and page["modules"] == ["customers"]


def test_the_conflicts_page_filters_by_module_and_status(shared):
    """A module without conflicts lists none; no conflict is resolved yet; all is all."""
    journal, config = shared.journal, shared.config
    assert views.conflicts(config, journal, module="nothing")["total"] == 0
    assert views.conflicts(config, journal, module="customers")["total"] == 8
    assert views.conflicts(config, journal, status="resolved")["rows"] == []
    assert views.conflicts(config, journal, status="all")["total"] == 8


def test_an_unknown_status_is_not_found(shared):
    """A status other than open, resolved or all is refused, naming the ones there are."""
    with pytest.raises(views.NotFound, match="open, resolved, all"):
        views.conflicts(shared.config, shared.journal, status="closed")


def test_the_conflicts_page_reads_one_page_in_id_order(shared):
    """Three a page: page 2 holds the 4th to 6th conflicts; pages out of range are clamped."""
    journal, config = shared.journal, shared.config
    every = [c["id"] for c in journal.conflicts(status="open")]
    second = views.conflicts(config, journal, page=2, per_page=3)
    assert [r["id"] for r in second["rows"]] == every[3:6]
    assert (second["page"], second["pages"], second["total"]) == (2, 3, 8)
    last = views.conflicts(config, journal, page=99, per_page=3)
    assert last["page"] == 3 and [r["id"] for r in last["rows"]] == every[6:]
    assert views.conflicts(config, journal, page=-1, per_page=3)["page"] == 1
    assert views.conflicts(config, journal, page="x", per_page="3")["page"] == 1


def test_the_journal_reads_a_page_of_conflicts_in_sql_and_counts_them(shared):
    """journal.conflicts(limit, offset) is a slice of the full list; conflict_total counts."""
    journal = shared.journal
    every = journal.conflicts(status="open")
    assert journal.conflicts(status="open", limit=2, offset=1) == every[1:3]
    assert journal.conflict_total(status="open") == len(every) == 8
    assert journal.conflict_total(status="open", module="other") == 0


def test_a_resolved_conflict_moves_from_open_to_resolved(world):
    """After a person takes a side, the conflict is listed as resolved, not open."""
    (first, *_) = open_of(world, "field")
    resolve(world.journal, world.config, first["id"], take="books")
    world.sync()
    assert views.conflicts(world.config, world.journal)["total"] == 7
    resolved = views.conflicts(world.config, world.journal, status="resolved")["rows"]
    assert [r["id"] for r in resolved] == [first["id"]]
    assert resolved[0]["reason"] == "resolved by a person: took the value from books"


# -- one conflict ---------------------------------------------------------------------------


def test_a_field_conflict_shows_every_sibling_the_value_before_and_the_sides_to_take(shared):
    """Each side's value and time, the base value both held, and take books|crm or a value."""
    row = next(
        r for r in open_of(shared, "field") if r["values"]["crm"] == "<script>alert(1)</script>"
    )
    item = views.conflict(shared.config, shared.journal, row["id"])
    assert {s["side"]: s["value"] for s in item["siblings"]} == {
        "books": "books0@x",
        "crm": "<script>alert(1)</script>",
    }
    assert all(s["at"] for s in item["siblings"])
    assert item["before"]["value"] == "c0@x"
    assert item["resolve"] == {
        "kind": "field",
        "take": ["books", "crm"],
        "field": "email",
        "type": "text",
        "options": [],
    }


def test_a_duplicate_group_offers_link_clone_skip_and_whom_to_link_with(shared):
    """The Books member of a group with two CRM records must say which one a link pairs."""
    group = open_of(shared, "duplicate")
    books = next(r for r in group if r["rid"].startswith("books:"))
    crm = next(r for r in group if r["rid"].startswith("crm:"))
    offered = views.conflict(shared.config, shared.journal, books["id"])["resolve"]
    assert offered["decisions"] == ["link", "clone", "skip"]
    assert sorted(m["rid"] for m in offered["with"]) == sorted(
        r["rid"] for r in group if r["rid"].startswith("crm:")
    )
    assert views.conflict(shared.config, shared.journal, crm["id"])["resolve"]["with"] == []


def test_a_suggestion_offers_link_clone_and_skip(shared):
    """A suggested near match is settled as `conflicts resolve` settles it."""
    (one, _) = open_of(shared, "suggestion")
    item = views.conflict(shared.config, shared.journal, one["id"])
    assert item["duplicate"]["near_key"] and item["resolve"]["kind"] == "suggestion"
    assert item["resolve"]["decisions"] == ["link", "clone", "skip"]


def test_a_picklist_conflict_offers_the_values_every_side_can_hold(tmp_path):
    """A picklist's value form lists the canonical values of its map, which resolve takes."""
    from tests.sync.test_engine import World as MemoryWorld

    fields = {
        "name": {"books": "name", "crm": "account_name"},
        "kind": {
            "books": "kind",
            "crm": "kind",
            "type": "picklist",
            "values": {"crm": {"Goods": "goods", "Services": "service"}},
        },
    }
    w = MemoryWorld(tmp_path, conflicts="manual", fields=fields)
    cid = w.crm.insert("accounts", {"account_name": "Acme", "kind": "Goods"})
    w.sync()
    (bid,) = w.books_rows()
    w.crm.update("accounts", cid, {"kind": "Services"})
    w.books.update("customers", bid, {"kind": "bundle"})
    w.sync()
    (row,) = w.journal.conflicts(status="open")
    offered = views.conflict(w.config, w.journal, row["id"])["resolve"]
    assert offered["type"] == "picklist" and offered["options"] == ["goods", "service"]
    html = render("conflict.html", views.conflict(w.config, w.journal, row["id"]))
    assert '<select name="value"><option value="goods">goods</option>' in html
    w.journal.close()


def test_a_missing_conflict_is_not_found(shared):
    """An id the journal does not hold is a NotFound naming it."""
    with pytest.raises(views.NotFound, match="no conflict 9999"):
        views.conflict(shared.config, shared.journal, 9999)


def test_a_settled_conflict_offers_no_resolve(world):
    """Once a person decided, the page shows the decision and no form."""
    (first, *_) = open_of(world, "field")
    resolve(world.journal, world.config, first["id"], raw_value="mine@x")
    item = views.conflict(world.config, world.journal, first["id"])
    assert item["resolve"] is None
    assert item["winner"] == {"side": None, "value": "mine@x"}


def test_a_resolve_form_maps_to_the_cli_options():
    """take -> --take, value -> --value, decision [with] -> --value link[:RID]."""
    assert views.resolve_request({"take": "crm", "csrf": "x"}) == {"take": "crm", "raw_value": None}
    assert views.resolve_request({"value": "a@x"}) == {"take": None, "raw_value": "a@x"}
    assert views.resolve_request({"decision": "clone"}) == {"take": None, "raw_value": "clone"}
    linked = views.resolve_request({"decision": "link", "with": "crm:4"})
    assert linked == {"take": None, "raw_value": "link:crm:4"}


@pytest.mark.parametrize(
    "form",
    [{}, {"take": "crm", "value": "x"}, {"decision": "skip", "with": "crm:4"}, {"take": ""}],
)
def test_a_resolve_form_with_no_or_two_choices_is_refused(form):
    """Exactly one of take, value or decision, and `with` only for a link."""
    with pytest.raises(ResolutionError):
        views.resolve_request(form)


def test_a_resolve_from_a_form_journals_what_the_cli_journals(world):
    """A form's take and link give the resolutions `conflicts resolve --take/--value` give."""
    (first, *_) = open_of(world, "field")
    entry = resolve(
        world.journal, world.config, first["id"], **views.resolve_request({"take": "crm"})
    )
    taken = decode(entry.kind, entry.meta)
    assert isinstance(taken, ValueResolution) and taken.take == "crm"
    assert entry.fields == {"email": first["values"]["crm"]}
    group = open_of(world, "duplicate")
    books = next(r for r in group if r["rid"].startswith("books:"))
    partner = next(r["rid"] for r in group if r["rid"].startswith("crm:"))
    form = {"decision": "link", "with": partner}
    entry = resolve(world.journal, world.config, books["id"], **views.resolve_request(form))
    linked = decode(entry.kind, entry.meta)
    assert isinstance(linked, DuplicateResolution)
    assert (linked.decision, linked.with_) == ("link", partner)


# -- history, record, journal ---------------------------------------------------------------


def test_history_lists_runs_newest_first_a_page_at_a_time(shared):
    """Two syncs and the saved config; one a page, the newest run first with its counts."""
    first = views.history(shared.config, shared.journal, per_page=1)
    assert first["total"] == 3 and first["pages"] == 3
    (run,) = first["rows"]
    assert run["type"] == "run" and run["totals"]["conflicts"] == 8
    second = views.history(shared.config, shared.journal, page=2, per_page=1)["rows"][0]
    assert second["totals"]["added"] == 3 and second["seq"] < run["seq"]
    third = views.history(shared.config, shared.journal, page=3, per_page=1)["rows"][0]
    assert third["type"] == "config"
    assert views.history(shared.config, shared.journal, module="other")["total"] == 1


def test_a_history_page_is_a_slice_of_the_timeline_newest_first(world):
    """Pages of two: the timeline reversed, with or without a module; past the end, the last."""
    from replicator.sync import lifecycle

    for _ in range(3):
        world.sync()  # idle runs
    for module in (None, "customers"):
        every = [e.seq for e in reversed(lifecycle.timeline(world.journal, module=module))]
        pages = views.history(world.config, world.journal, module=module, per_page=2)["pages"]
        seen = []
        for n in range(1, pages + 1):
            page = views.history(world.config, world.journal, module=module, page=n, per_page=2)
            assert page["total"] == len(every)
            seen.extend(item["seq"] for item in page["rows"])
        assert seen == every
        last = views.history(world.config, world.journal, module=module, page=99, per_page=2)
        assert last["page"] == pages and [r["seq"] for r in last["rows"]] == every[2 * pages - 2 :]


def test_the_journal_reads_a_page_of_entries_of_several_records(shared):
    """read(rids=, offset=, limit=, until=) is a slice of the full read; count(module=,
    rids=) counts."""
    journal = shared.journal
    rids = ["@run", "@config"]
    every = [e.seq for e in journal.read(module="@config", descending=True) if e.rid in rids]
    page = journal.read(module="@config", rids=rids, descending=True, offset=1, limit=1)
    assert [e.seq for e in page] == every[1:2]
    assert journal.count(module="@config", rids=rids) == len(every) == 3
    assert [e.seq for e in journal.read(since=2, until=4)] == [3, 4]
    assert journal.count() == journal.last_seq


def test_a_records_page_shows_each_field_its_siblings_and_its_entries(shared):
    """A record in conflict holds both values of email, says why, and lists its entries."""
    row = next(
        r for r in open_of(shared, "field") if r["values"]["crm"] == "<script>alert(1)</script>"
    )
    page = views.record(shared.config, shared.journal, "customers", row["rid"])
    email = next(f for f in page["fields"] if f["field"] == "email")
    assert {s["value"] for s in email["siblings"]} == {"books0@x", "<script>alert(1)</script>"}
    assert "conflict" in email["why"]
    name = next(f for f in page["fields"] if f["field"] == "name")
    assert name["siblings"][0]["value"] == "Customer 0"
    assert {link["side"] for link in page["links"]} == {"books", "crm"}
    assert [c["id"] for c in page["conflicts"]] == [row["id"]]
    seqs = [e["seq"] for e in page["entries"]]
    assert seqs == sorted(seqs, reverse=True) and page["total"] == len(seqs)
    assert any(e["kind"] == "conflict" and "manual policy" in e["summary"] for e in page["entries"])
    small = views.record(shared.config, shared.journal, "customers", row["rid"], page=2, per_page=2)
    assert [e["seq"] for e in small["entries"]] == seqs[2:4]


def test_an_unknown_record_is_not_found(shared):
    """A rid no entry names is a NotFound naming it and its module."""
    with pytest.raises(views.NotFound, match="no record crm:999 in module customers"):
        views.record(shared.config, shared.journal, "customers", "crm:999")


def test_the_journal_page_shows_the_head_its_anchor_and_a_passing_check(shared):
    """Head seq and hash as `journal head` prints them; the head is anchored; intact."""
    head = views.journal_head(shared.config, shared.journal)
    seq, digest, _ = shared.journal.head()
    assert (head["seq"], head["hash"], head["expect"]) == (seq, digest, f"{seq}:{digest}")
    assert head["anchored"] and head["last_anchor"]["seq"] == seq
    assert head["verification"]["ok"] and head["verification"]["problem"] is None
    assert head["forced"] is None


def test_the_journal_page_reports_a_failed_check(world):
    """An append-only trigger dropped behind the journal's back fails the check, named."""
    with sqlite3.connect(world.config.journal_path) as raw:  # another program, not ours
        raw.execute("DROP TRIGGER entries_no_update")
    head = views.journal_head(world.config, world.journal)
    assert not head["verification"]["ok"]
    assert "entries_no_update" in head["verification"]["problem"]


# -- templates ------------------------------------------------------------------------------


def test_the_conflicts_template_escapes_values_and_pages(shared):
    """A value holding <script> is shown as text; the pager links the next page, filters kept."""
    html = render(
        "conflicts.html", views.conflicts(shared.config, shared.journal, per_page=3, page=3)
    )
    assert "<script>" not in html
    html = render("conflicts.html", views.conflicts(shared.config, shared.journal, per_page=50))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    first = render("conflicts.html", views.conflicts(shared.config, shared.journal, per_page=3))
    assert 'href="/console/conflicts?module=&amp;status=open&amp;page=2"' in first
    assert "page 1 of 3 (8 in all)" in first


def test_the_conflict_template_has_a_form_per_side_and_a_value_form(shared):
    """Take books, take crm, or a value: each posts to the resolve route with the csrf token."""
    row = next(
        r for r in open_of(shared, "field") if r["values"]["crm"] == "<script>alert(1)</script>"
    )
    html = render("conflict.html", views.conflict(shared.config, shared.journal, row["id"]))
    assert "<script>" not in html and "&lt;script&gt;" in html
    forms = re.findall(r"<form [^>]*class=\"resolve\".*?</form>", html, re.S)
    assert len(forms) == 3
    for form in forms:
        assert f'action="/console/conflicts/{row["id"]}/resolve"' in form
        assert f'<input type="hidden" name="csrf" value="{CSRF}">' in form
    assert '<input type="hidden" name="take" value="books">' in forms[0]
    assert '<input type="hidden" name="take" value="crm">' in forms[1]
    assert 'name="value"' in forms[2]


def test_the_conflict_template_offers_link_with_clone_and_skip_for_a_group(shared):
    """A group's Books member: link (choosing the CRM record), clone, skip; each with csrf."""
    books = next(r for r in open_of(shared, "duplicate") if r["rid"].startswith("books:"))
    html = render("conflict.html", views.conflict(shared.config, shared.journal, books["id"]))
    forms = re.findall(r"<form [^>]*class=\"resolve\".*?</form>", html, re.S)
    decisions = [d for f in forms for d in re.findall(r'name="decision" value="(\w+)"', f)]
    assert decisions == ["link", "clone", "skip"]
    assert '<select name="with">' in forms[0] and all(CSRF in f for f in forms)


def test_a_settled_conflict_renders_without_a_form(world):
    """No form once a person has decided."""
    (first, *_) = open_of(world, "field")
    resolve(world.journal, world.config, first["id"], take="crm")
    html = render("conflict.html", views.conflict(world.config, world.journal, first["id"]))
    assert 'class="resolve"' not in html and "Winner: crm" in html


def test_the_history_record_and_journal_templates_render(shared):
    """Each page renders its model; a record's <script> value is escaped there too."""
    html = render("history.html", views.history(shared.config, shared.journal))
    assert "sync: 8 conflicts" in html
    row = next(
        r for r in open_of(shared, "field") if r["values"]["crm"] == "<script>alert(1)</script>"
    )
    html = render(
        "record.html", views.record(shared.config, shared.journal, "customers", row["rid"])
    )
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert f'href="/console/conflicts/{row["id"]}"' in html
    head = views.journal_head(shared.config, shared.journal)
    html = render("journal.html", head)
    assert head["expect"] in html and "Intact" in html
