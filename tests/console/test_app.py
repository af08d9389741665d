"""The console app: sign-in, sessions, CSRF, the rate limit, headers, roles, and controls
journaled like the CLI's."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3

import pytest

from replicator.config.load import load_config
from replicator.console.app import create_console_app
from replicator.console.auth import SECURE_HEADERS, SIGN_IN_REFUSED, update_store
from replicator.console.controls import LibraryActions
from replicator.daemon.metrics import Metrics
from replicator.daemon.verification import verified_path
from replicator.daemon.web import create_web_app
from tests.console.site import (
    ADMIN,
    CONSOLE,
    PASSWORD,
    USER,
    USER_PASSWORD,
    Site,
    TestClient,
    alert,
    apart_from_who,
    csrf_of,
    signin_form,
)


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path)
    site.seed()
    return site


def test_a_visitor_is_sent_to_the_sign_in_page(site):
    """Without a session the overview and the controls redirect to the sign-in page."""
    client = site.client()
    for answer in (client.get("/console/"), client.post("/console/pause", data={})):
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/signin"


def test_an_admin_signs_in_and_sees_the_overview(site):
    """The right password opens the overview: sync on, the module, its records and links."""
    client = site.signed_in()
    page = client.get("/console/")
    assert page.status_code == 200
    assert "Sync is\non." in page.text and "<td>customers</td>" in page.text
    assert "crm: 1 (0)" in page.text and "ada (admin)" in page.text


def test_the_overview_shows_api_usage_and_429s_from_the_metrics(site):
    """Given the daemon's metrics, the overview counts each side's answers and its 429s."""
    metrics = Metrics()
    metrics.api_requests.labels(side="crm", status="200").inc(7)
    metrics.api_requests.labels(side="crm", status="429").inc(2)
    metrics.api_rate_limited.labels(side="crm").inc(2)
    client = site.client(metrics=metrics)
    client.post("/console/signin", data=signin_form(client, ADMIN, PASSWORD))
    page = client.get("/console/").text
    assert "<tr><td>crm</td><td>9</td><td>2</td></tr>" in page


def test_a_session_expires_after_its_minutes(site):
    """After `session_minutes` the session is signed out: the next page is the sign-in."""
    client = site.signed_in()
    site.clock.move(minutes=29)
    assert client.get("/console/").status_code == 200
    site.clock.move(minutes=1)
    answer = client.get("/console/")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/signin"


def test_a_forged_post_without_the_csrf_token_is_refused_and_changes_nothing(site):
    """A signed-in admin's browser posting a form without (or with another) token gets 403,
    and nothing is journaled."""
    client = site.signed_in()
    before = len(site.entries())
    for form in ({}, {"csrf": "forged"}, {"csrf": ""}):
        answer = client.post("/console/pause", data=form)
        assert answer.status_code == 403
        assert "CSRF" in alert(answer.text)
    assert len(site.entries()) == before


def test_a_sign_in_without_its_csrf_token_is_refused(site):
    """The sign-in form carries a token too: a cross-site sign-in gets 403."""
    answer = site.client().post("/console/signin", data={"name": ADMIN, "password": PASSWORD})
    assert answer.status_code == 403


def test_a_wrong_name_and_a_wrong_password_get_the_same_message(site):
    """Neither the status nor the message tells a wrong name from a wrong password."""
    client = site.client()
    wrong_password = client.post("/console/signin", data=signin_form(client, ADMIN, "nope"))
    wrong_name = client.post("/console/signin", data=signin_form(client, "nobody", PASSWORD))
    assert wrong_password.status_code == wrong_name.status_code == 401
    assert alert(wrong_password.text) == alert(wrong_name.text) == SIGN_IN_REFUSED


@pytest.mark.parametrize("name", [ADMIN, "nobody"])
def test_five_failed_sign_ins_get_429_even_with_the_right_password_after(site, name):
    """After 5 failures for a name from one address, the 6th try is 429, the right password
    too, for a known and an unknown name alike; after 15 minutes it may sign in again."""
    client = site.client()
    for _ in range(5):
        answer = client.post("/console/signin", data=signin_form(client, name, "wrong"))
        assert answer.status_code == 401
    answer = client.post("/console/signin", data=signin_form(client, name, PASSWORD))
    assert answer.status_code == 429 and "too many" in alert(answer.text)
    site.clock.move(minutes=15)
    answer = client.post("/console/signin", data=signin_form(client, name, PASSWORD))
    assert answer.status_code == (303 if name == ADMIN else 401)


def test_every_response_carries_the_secure_headers(site):
    """Pages, redirects, refusals, 404s and the stylesheet all carry the secure headers."""
    client = site.signed_in()
    answers = [
        client.get("/console/"),
        client.get("/console/signin"),
        client.post("/console/pause", data={}),
        client.get("/console/no-such-page"),
        client.get("/console/static/console.css"),
        site.client().get("/console/"),
    ]
    for answer in answers:
        for header, value in SECURE_HEADERS.items():
            assert answer.headers[header] == value, (answer.url, header)
    assert [a.status_code for a in answers] == [200, 303, 403, 404, 200, 303]


def test_the_session_cookie_is_http_only_and_same_site_strict(site):
    """The signed session cookie is out of scripts' reach and never sent cross-site."""
    client = site.client()
    answer = client.post("/console/signin", data=signin_form(client, ADMIN, PASSWORD))
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("replicator_console=")
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_an_integration_user_gets_403_on_admin_pages_and_controls(site):
    """An integration user is sent to customers on sign-in; the overview and every control
    answer 403 with a page saying so, and nothing is journaled."""
    client = site.client()
    answer = client.post("/console/signin", data=signin_form(client, USER, USER_PASSWORD))
    assert answer.headers["location"] == "/console/customers"
    before = len(site.entries())
    token = csrf_of(client, "/console/")  # the 403 page's sign-out form
    page = client.get("/console/")
    assert page.status_code == 403 and "admins" in alert(page.text)
    controls = ("/console/pause", "/console/resume", "/console/sync", "/console/retry")
    for path in (*controls, "/console/journal/verify"):
        answer = client.post(path, data={"csrf": token, "module": "customers"})
        assert answer.status_code == 403, path
    answer = client.post("/console/conflicts/1/resolve", data={"csrf": token, "take": "crm"})
    assert answer.status_code == 403
    assert len(site.entries()) == before


def test_a_removed_user_is_signed_out_at_the_next_request(site):
    """An admin taken out of the store loses the session they hold."""
    client = site.signed_in()
    with update_store(site.store) as data:
        del data["admins"][ADMIN]
    assert client.get("/console/").status_code == 303


def test_pause_and_resume_from_the_console_journal_what_the_cli_does_but_who(tmp_path):
    """The console's pause and resume of a module journal the CLI's entries, by
    "console:ada" instead of a person."""
    by_cli, by_web = Site(tmp_path / "cli"), Site(tmp_path / "web")
    by_cli.seed()
    by_web.seed()
    client = by_web.signed_in()
    for action in ("pause", "resume"):
        by_cli.ok(action, "customers")
        token = csrf_of(client, "/console/")
        answer = client.post(f"/console/{action}", data={"csrf": token, "module": "customers"})
        assert answer.status_code == 303
        cli_entry, web_entry = by_cli.entries()[-1], by_web.entries()[-1]
        assert web_entry.meta["by"] == "console:ada" and "by" not in cli_entry.meta
        assert apart_from_who(web_entry) == apart_from_who(cli_entry)
    assert "resumed customers" in client.get("/console/").text


def test_a_resolve_from_the_console_journals_what_conflicts_resolve_does_but_who(tmp_path):
    """Taking a side in the console journals the entry `conflicts resolve --take` does,
    by "console:ada"; the next sync writes it to both databases."""
    by_cli, by_web = Site(tmp_path / "cli", "manual"), Site(tmp_path / "web", "manual")
    for site in (by_cli, by_web):
        site.seed()
    cid = by_cli.conflict()
    assert by_web.conflict() == cid
    by_cli.ok("conflicts", "resolve", str(cid), "--take", "crm")
    client = by_web.signed_in()
    token = csrf_of(client, "/console/")
    answer = client.post(f"/console/conflicts/{cid}/resolve", data={"csrf": token, "take": "crm"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/conflicts/{cid}"
    cli_entry, web_entry = by_cli.entries()[-1], by_web.entries()[-1]
    assert web_entry.meta["by"] == "console:ada" and cli_entry.meta["by"] == "person"
    assert apart_from_who(web_entry) == apart_from_who(cli_entry)
    by_web.ok("sync")
    assert by_web.books_rows()["Acme Ltd"][0] == "c@acme.example"


def test_a_resolve_the_library_refuses_is_said_on_the_page_and_journals_nothing(site):
    """Resolving a conflict that does not exist journals nothing and says why."""
    client = site.signed_in()
    before = len(site.entries())
    token = csrf_of(client, "/console/")
    client.post("/console/conflicts/99/resolve", data={"csrf": token, "take": "crm"})
    assert len(site.entries()) == before
    assert "no conflict 99" in client.get("/console/").text


def test_retry_from_the_console_journals_the_cli_entry_but_who(tmp_path):
    """`retry` of a module's held records from the console journals a retry by
    "console:ada", as `replicator retry --all --module` does by a person."""
    site = Site(tmp_path)
    site.seed()
    site.sql(site.crm, "DROP TABLE accounts")  # the crm side refuses the next write
    site.sql(
        site.crm,
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT NOT NULL "
        "CHECK (account_name <> 'Beta'), email TEXT, credit_limit NUMERIC, modified_time TEXT)",
    )
    site.sql(site.books, "INSERT INTO customers (name) VALUES ('Beta')")
    site.cli("sync")
    held = [m for m in site.json("status")["modules"] if m["retrying"] or m["held_after_retries"]]
    if not held:
        pytest.skip("the SQLite side took the write: no refused write to retry")
    client = site.signed_in()
    token = csrf_of(client, "/console/")
    client.post("/console/retry", data={"csrf": token, "module": "customers"})
    entry = site.entries()[-1]
    assert entry.meta["by"] == "console:ada" and entry.meta["retry"]


def test_sync_now_from_the_console_runs_a_cycle(site):
    """ "Sync now" runs a cycle over the journal, journaled as a run like `replicator sync`."""
    site.sql(site.crm, "INSERT INTO accounts (account_name) VALUES ('Gamma LLC')")
    client = site.signed_in()
    token = csrf_of(client, "/console/")
    answer = client.post("/console/sync", data={"csrf": token})
    assert answer.status_code == 303
    assert "synced every module" in client.get("/console/").text
    assert "Gamma LLC" in site.books_rows()


def test_a_one_time_link_signs_an_integration_user_in_once(site):
    """A link made for a user signs them in to customers once; a second use is refused."""
    token = "a-one-time-token"
    with update_store(site.store) as data:
        data["links"][hashlib.sha256(token.encode()).hexdigest()] = {
            "email": USER,
            "expires": (site.clock() + dt.timedelta(minutes=15)).isoformat(),
        }
    client = site.client()
    answer = client.get(f"/console/link/{token}")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/customers"
    assert client.get("/console/").status_code == 403  # signed in, as an integration user
    assert site.client().get(f"/console/link/{token}").status_code == 403


def test_the_console_is_off_unless_configured(tmp_path):
    """A config without [console] has it disabled, and the daemon's app has no /console."""
    site = Site(tmp_path)
    plain = site.config.read_text().replace(CONSOLE, "\n")
    site.config.write_text(plain)
    config = load_config(site.config)
    assert config.console.enabled is False

    class Host:
        metrics = Metrics()
        control_token = "t"

        def health(self):
            return True, {}

    without = TestClient(create_web_app(Host()))  # type: ignore[arg-type]
    assert without.get("/console/", follow_redirects=False).status_code == 404
    console = create_console_app(config, actions=LibraryActions(config), served_on="127.0.0.1")
    with_console = TestClient(create_web_app(Host(), console=console))  # type: ignore[arg-type]
    answer = with_console.get("/console/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/signin"


def test_the_admin_pages_of_views_are_served_and_an_unknown_conflict_is_404(tmp_path):
    """Conflicts, a conflict, history, a record and the journal answer an admin with their
    pages; a conflict the journal lacks is a 404 saying so."""
    site = Site(tmp_path, "manual")
    site.seed()
    cid = site.conflict()
    client = site.signed_in()
    page = client.get(f"/console/conflicts/{cid}")
    assert page.status_code == 200 and "c@acme.example" in page.text
    (record,) = set(re.findall(r'href="(/console/records/[^"]+)"', page.text))
    for path in ("/console/conflicts", "/console/history", "/console/journal", record):
        assert client.get(path).status_code == 200, path
    missing = client.get("/console/conflicts/999")
    assert missing.status_code == 404 and alert(missing.text) == "no conflict 999"


def test_a_resolve_posted_from_the_conflict_pages_own_form_settles_it(tmp_path):
    """The conflict page's "take crm" form, posted as a browser would, resolves the conflict
    by console:ada; the page then shows it resolved."""
    site = Site(tmp_path, "manual")
    site.seed()
    cid = site.conflict()
    client = site.signed_in()
    page = client.get(f"/console/conflicts/{cid}").text
    forms = re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    action, body = next((a, b) for a, b in forms if 'name="take" value="crm"' in b)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', body))
    answer = client.post(action, data=fields)
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/conflicts/{cid}"
    assert site.entries()[-1].meta["by"] == "console:ada"
    assert site.json("conflicts", "list", "--open") == []


def test_an_integration_user_sees_customers_but_no_admin_page(site):
    """An integration user gets the customer search and a customer's page, and 403 on
    conflicts, history, records and the journal."""
    client = site.client()
    client.post("/console/signin", data=signin_form(client, USER, USER_PASSWORD))
    search = client.get("/console/customers")
    assert search.status_code == 200 and "Acme Ltd" in search.text
    (link,) = re.findall(r'href="(/console/customers/[^"]+)"', search.text)
    assert client.get(link).status_code == 200
    for path in ("/console/conflicts", "/console/conflicts/1", "/console/history"):
        assert client.get(path).status_code == 403, path
    assert client.get("/console/journal").status_code == 403
    assert client.get("/console/records/customers/books:1").status_code == 403


def test_an_integration_user_signs_in_with_their_email_in_any_case(site):
    """An email typed in capitals signs its user in and the session stays live."""
    client = site.client()
    answer = client.post("/console/signin", data=signin_form(client, USER.upper(), USER_PASSWORD))
    assert answer.headers["location"] == "/console/customers"
    assert client.get("/console/customers").status_code == 200


def test_history_says_who_paused_from_the_console(site):
    """`replicator history` names the console user who paused a module; a CLI pause reads
    as before."""
    client = site.signed_in()
    client.post(
        "/console/pause", data={"csrf": csrf_of(client, "/console/"), "module": "customers"}
    )
    assert "paused customers (by console:ada)" in site.ok("history").stdout
    site.ok("resume", "customers")
    site.ok("pause", "customers")
    assert "paused customers: sync" in site.ok("history").stdout


def test_verify_now_checks_the_journal_in_full_and_the_page_shows_it_as_the_last(site):
    """Before any verification the journal page says so; "Verify now" (its own form, as a
    browser posts it) runs the full check, says the result, records it beside the journal
    with who ran it, and the page shows it as the last verification; `journal verify`
    records its own the same way."""
    client = site.signed_in()
    page = client.get("/console/journal").text
    assert "Never verified in full" in page
    (body,) = re.findall(r'<form[^>]*action="/console/journal/verify">(.*?)</form>', page, re.S)
    answer = client.post(
        "/console/journal/verify", data=dict(re.findall(r'name="([^"]+)" value="([^"]*)"', body))
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/journal"
    page = client.get("/console/journal").text
    entries = len(site.entries())
    assert f'role="status">journal intact: {entries} entries<' in page
    assert f"Intact: {entries} entries" in page and "by console:ada" in page
    recorded = json.loads(verified_path(site.journal).read_text())
    assert recorded["ok"] and recorded["by"] == "console:ada" and recorded["entries"] == entries
    assert site.ok("journal", "verify")
    assert "by person" in client.get("/console/journal").text


def test_verify_now_reports_a_broken_journal_and_records_the_failure(site):
    """A journal whose append-only trigger was dropped fails the check: the page says so in
    its message and as the last verification."""
    conn = sqlite3.connect(site.journal)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.close()
    client = site.signed_in()
    client.post("/console/journal/verify", data={"csrf": csrf_of(client, "/console/journal")})
    page = client.get("/console/journal").text
    assert 'class="flash error" role="status">journal verify failed: the append-only' in page
    assert "FAILED: the append-only triggers entries_no_update are missing" in page
    assert not json.loads(verified_path(site.journal).read_text())["ok"]
