"""The integration's lifecycle: run markers, history, pause / resume, save / edit, disable /
enable / delete, records list, fetch / import, search and status, over SQLite and memory
sides (the Zoho versions are in tests/integration/test_lifecycle_zoho.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from conflicts import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, verify
from replicator.cli.main import main
from replicator.errors import EngineError
from replicator.sync import lifecycle as lc
from replicator.sync.record import CONFIG_MODULE, RUN
from tests.cli.test_cli import Folder, _seed
from tests.sync.test_engine import World


class Place(Folder):
    """The CLI tests' folder, whose commands can also be answered (prompts)."""

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, ["--config", str(self.config), *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.cli(*args, input=input)
        assert result.exit_code == 0, result.output
        return result


@pytest.fixture
def folder(tmp_path: Path) -> Place:
    return Place(tmp_path)


def markers(folder: Folder, rid: str = RUN) -> list:
    with Journal(folder.journal, RecordReducer()) as journal:
        return list(journal.read(module=CONFIG_MODULE, rid=rid))


def _bad_credit_limit(folder: Folder) -> int:
    """A CRM account whose credit limit is not a number: its read fails to convert."""
    return folder.sql(
        folder.crm,
        "INSERT INTO accounts (account_name, email, credit_limit) VALUES (?, ?, ?)",
        "Broken Co",
        "b@broken.example",
        "lots",
    )


# -- run markers --------------------------------------------------------------------------------


def test_each_sync_that_writes_journals_one_run_marker_and_an_idle_one_none(folder):
    """A run marker holds start and end, modules, counts per side and its entries' range;
    a sync with nothing to do appends nothing at all (re-sync stays idempotent)."""
    _seed(folder)
    report = folder.json("sync")
    (run,) = markers(folder)
    meta = run.meta
    assert meta["trigger"] == "sync" and meta["modules"] == ["customers"]
    assert meta["started"] <= meta["ended"]
    assert meta["counts"]["customers"]["crm"]["created"] == 2
    assert meta["counts"]["customers"]["books"]["created"] == 1
    assert meta["first"] == 1 and meta["last"] == run.seq - 1
    assert report["entries"]["after"] == run.seq
    again = folder.json("sync")
    assert again["entries"]["after"] == again["entries"]["before"]
    assert len(markers(folder)) == 1


def test_a_run_that_fails_journals_a_marker_naming_the_error_and_still_raises(tmp_path):
    """The engine's failure becomes a run marker with the reason, then propagates."""
    world = World(tmp_path)
    world.crm.insert("accounts", {"account_name": "Acme"})

    def broken(module, writes):
        raise RuntimeError("books went away")

    world.books.push = broken
    with pytest.raises(RuntimeError, match="books went away"):
        world.sync()
    (run,) = world.journal.read(module=CONFIG_MODULE, rid=RUN)
    assert run.meta["error"] == "RuntimeError: books went away"
    assert run.meta["counts"]["customers"]["crm"]["observed"] == 1
    assert verify(world.journal).ok


# -- history ------------------------------------------------------------------------------------


def test_history_shows_counts_failures_with_field_and_value_and_skip_reasons(tmp_path):
    """history: added, updated, deleted per run; each failure's record, side, field, value
    and reason; why duplicates were skipped."""
    folder = Place(tmp_path)
    text = folder.config.read_text().replace('duplicates = "overwrite"', 'duplicates = "skip"')
    folder.config.write_text(text)
    _seed(folder)
    folder.sql(folder.crm, "INSERT INTO accounts (account_name) VALUES ('Acme Ltd')")
    bad = _bad_credit_limit(folder)
    folder.ok("sync")
    folder.sql(
        folder.books, "UPDATE customers SET email = 'new@beta.example' WHERE name = 'Beta Inc'"
    )
    folder.sql(folder.crm, "DELETE FROM accounts WHERE account_name = 'Gamma LLC'")
    folder.ok("sync")
    items = folder.json("history")
    first, second = (i for i in items if i["type"] == "run")
    assert first["totals"]["added"] == 3  # Beta -> crm; Gamma, Broken -> books
    assert first["totals"]["skipped"] == 2 and first["totals"]["failed"] == 1
    (failure,) = first["failures"]
    assert failure["record"] == f"crm:{bad}" and failure["side"] == "crm"
    assert failure["field"] == "credit_limit" and failure["value"] == "lots"
    assert failure["reason"]
    assert len(first["skips"]) == 2 and all(s["reason"] for s in first["skips"])
    assert second["totals"]["updated"] == 1 and second["totals"]["deleted"] == 1
    out = folder.ok("history").stdout
    assert "field credit_limit value 'lots'" in out and "skipped" in out


def test_history_puts_decisions_and_saved_configs_in_the_timeline(folder):
    """Pauses, resumes and saved configs appear between runs, in order; --module and
    --limit narrow it."""
    _seed(folder)
    folder.ok("sync")
    folder.ok("pause", "customers")
    folder.ok("resume")
    folder.config.write_text(folder.config.read_text().replace("newest", "prefer:crm"))
    folder.ok("save")
    events = [(i["type"], i.get("event")) for i in folder.json("history")]
    assert events == [
        ("config", "sync"),
        ("run", None),
        ("event", "pause"),
        ("event", "resume"),
        ("config", "save"),
    ]
    assert [i["type"] for i in folder.json("history", "--limit", "2")] == ["event", "config"]
    assert folder.json("history", "--module", "customers")[1]["type"] == "run"
    result = folder.cli("history", "--module", "vendors")
    assert result.exit_code == 1 and "modules.vendors" in result.output
    assert "paused customers" in folder.ok("history").stdout


# -- pause / resume -------------------------------------------------------------------------------


def test_a_paused_module_is_skipped_by_sync_which_says_so_until_resumed(folder):
    """sync skips a paused module (no entry, no write) and says so; resume syncs what
    changed meanwhile."""
    _seed(folder)
    folder.ok("sync")
    assert "paused customers" in folder.ok("pause", "customers").stdout
    assert "already paused" in folder.ok("pause", "customers").stdout
    folder.sql(folder.books, "INSERT INTO customers (name) VALUES ('Delta GmbH')")
    data = folder.json("sync")
    assert data["paused"] == ["customers"] and data["entries"]["after"] == data["entries"]["before"]
    assert "paused, not synced: customers" in folder.ok("sync").stdout
    assert "Delta GmbH" not in folder.crm_rows()
    assert folder.json("status")["modules"][0]["sync"] == "paused"
    folder.ok("resume", "customers")
    folder.ok("sync")
    assert "Delta GmbH" in folder.crm_rows()
    assert "not paused" in folder.ok("resume", "customers").stdout


def test_pausing_every_module_then_resuming_one_leaves_the_others_paused():
    """pause with no module pauses all; resume M resumes only M."""

    def entry(seq, event, modules=()):
        meta = {"event": event, "modules": list(modules)}
        return type("E", (), {"meta": meta, "at": None, "seq": seq})()

    state = lc.fold([entry(1, "pause"), entry(2, "resume", ["customers"])])
    assert not state.is_paused("customers") and state.is_paused("vendors")
    state = state.apply(entry(3, "pause", ["customers"]))
    assert state.is_paused("customers")
    assert not lc.fold([entry(1, "pause"), entry(2, "resume")]).is_paused("vendors")


# -- save / edit -------------------------------------------------------------------------------


def test_save_journals_a_valid_config_without_syncing(folder):
    """save: the config is journaled (by save), nothing syncs, and the next sync finds the
    settings unchanged; a second save says so."""
    _seed(folder)
    out = folder.ok("save").stdout
    assert "applies from the next" in out
    (saved,) = markers(folder, CONFIG_MODULE)
    assert saved.meta["by"] == "save" and folder.crm_rows().keys() == {"Gamma LLC"}
    assert "unchanged" in folder.ok("save").stdout
    folder.ok("sync")
    assert len(markers(folder, CONFIG_MODULE)) == 1


def test_save_refuses_an_invalid_config_naming_the_key(folder):
    """An invalid config is not journaled; the error names file and key."""
    folder.config.write_text(folder.config.read_text().replace('"newest"', '"loudest"'))
    result = folder.cli("save")
    assert result.exit_code == 1 and "modules.customers.conflicts" in result.output
    assert not folder.journal.exists() or markers(folder, CONFIG_MODULE) == []


def test_edit_saves_a_valid_result_and_journals_it(folder, monkeypatch):
    """edit: the edited text replaces the file (mode kept) and is journaled."""
    folder.config.chmod(0o640)
    edited = folder.config.read_text().replace("newest", "prefer:books")
    monkeypatch.setattr(click, "edit", lambda text, **kw: edited)
    out = folder.ok("edit").stdout
    assert "applies from the next" in out
    assert folder.config.read_text() == edited
    assert stat.S_IMODE(folder.config.stat().st_mode) == 0o640
    (saved,) = markers(folder, CONFIG_MODULE)
    assert saved.meta["by"] == "edit"
    assert saved.meta["settings"]["modules"]["customers"]["conflicts"] == "prefer:books"


def test_edit_refuses_an_invalid_result_and_keeps_the_old_file(folder, monkeypatch):
    """An invalid edit shows the error; declining to edit again keeps the old file."""
    before = folder.config.read_text()
    monkeypatch.setattr(click, "edit", lambda text, **kw: text.replace("both_ways", "sideways"))
    result = folder.cli("edit", input="n\n")
    assert result.exit_code == 1
    assert "modules.customers.sync" in result.output and "is unchanged" in result.output
    assert folder.config.read_text() == before
    assert not folder.journal.exists()


def test_edit_again_after_an_error_saves_the_corrected_text(folder, monkeypatch):
    """Answering yes re-opens the editor on the rejected text; the fixed text is saved."""
    drafts = iter(["[modules", folder.config.read_text().replace("newest", "manual")])
    seen = []

    def fake_edit(text, **kw):
        seen.append(text)
        return next(drafts)

    monkeypatch.setattr(click, "edit", fake_edit)
    result = folder.cli("edit", input="y\n")
    assert result.exit_code == 0, result.output
    assert "(syntax)" in result.output and seen[1] == "[modules"
    assert 'conflicts = "manual"' in folder.config.read_text()


# -- disable / enable / delete -------------------------------------------------------------------


def test_disable_stops_sync_with_a_clear_message_and_keeps_the_links(folder):
    """Disabled: sync exits 1 saying how to enable; links stay; enable carries on."""
    _seed(folder)
    folder.ok("sync")
    folder.ok("disable")
    assert "already disabled" in folder.ok("disable").stdout
    folder.sql(folder.books, "INSERT INTO customers (name) VALUES ('Delta GmbH')")
    result = folder.cli("sync")
    assert result.exit_code == 1
    assert "sync is disabled" in result.output and "replicator enable" in result.output
    status = folder.json("status")
    assert status["sync"]["enabled"] is False
    assert status["modules"][0]["links"]["crm"]["active"] == 3
    folder.ok("enable")
    assert "enabled already" in folder.ok("enable").stdout
    data = folder.json("sync")
    assert data["modules"]["customers"]["crm"]["created"] == 1  # only Delta: links kept


def test_delete_needs_disable_and_confirmation(folder):
    """delete refuses while enabled, and asks before dropping anything."""
    _seed(folder)
    folder.ok("sync")
    result = folder.cli("delete", "--yes")
    assert result.exit_code == 1 and "replicator disable" in result.output
    folder.ok("disable")
    result = folder.cli("delete", input="n\n")
    assert result.exit_code == 1 and "Drop 3 records and 6 links" in result.output
    assert folder.json("status")["modules"][0]["records"] == 3


def test_delete_drops_records_and_links_keeps_entries_and_survives_replay(folder):
    """delete: records, links, cursors and conflicts go, every entry stays, verify and
    replay agree; after enable a sync starts afresh and pairs the records again."""
    _seed(folder)
    folder.ok("sync")
    folder.ok("disable")
    with Journal(folder.journal, RecordReducer()) as journal:
        before = journal.count()
    out = folder.ok("delete", input="y\n").stdout
    assert "3 records and 6 links dropped" in out
    status = folder.json("status")["modules"][0]
    assert status["records"] == 0 and status["cursors"] == {"crm": None, "books": None}
    with Journal(folder.journal, RecordReducer()) as journal:
        assert journal.count() == before + 1
    assert folder.ok("journal", "verify").stdout.startswith("intact:")
    assert "0 records, 0 links, 0 cursors" in folder.ok("journal", "replay").stdout
    folder.ok("journal", "verify")
    assert "sync is disabled" in folder.cli("sync").output
    assert "afresh" in folder.ok("enable").stdout
    folder.ok("sync")
    assert sorted(folder.books_rows()) == sorted(folder.crm_rows())  # no duplicate made
    assert len(folder.books_rows()) == 3
    # each side's rows are new records again, paired by the duplicate policy
    assert folder.json("status")["modules"][0]["by_status"] == {"active": 3, "merged": 3}
    folder.ok("journal", "replay")
    folder.ok("journal", "verify")


def test_drop_module_forgets_rows_still_pending_in_the_transaction(tmp_path):
    """A delete entry in the same batch as a record's entries drops that record too, and
    later entries of the batch build it anew."""
    journal = Journal(tmp_path / "j.db", RecordReducer())
    observed = NewEntry(
        Kind.OBSERVED,
        "customers",
        "crm:1",
        "crm",
        dot=Dot("crm", 1),
        context=VectorClock(),
        fields={"name": "A"},
        meta={"id": "1"},
    )
    delete = NewEntry(
        Kind.CONFIG, CONFIG_MODULE, lc.LIFECYCLE, meta={"event": "delete", "modules": ["customers"]}
    )
    cursor = NewEntry(Kind.CURSOR, "customers", None, "crm", meta={"cursor": 5})
    journal.append([observed, cursor, delete])
    assert journal.record("customers", "crm:1") is None
    assert journal.rid_for("customers", "crm", "1") is None and journal.cursors() == {}
    journal.append([NewEntry(Kind.CURSOR, "customers", None, "crm", meta={"cursor": 1})])
    assert journal.cursors() == {("crm", "customers"): 1}  # reset: it may start again
    assert verify(journal).ok
    journal.close()


# -- records list ----------------------------------------------------------------------------------


def test_records_list_filters_by_origin_status_and_shows_side_ids(folder):
    """records list --from crm lists the records CRM made; --status deleted those deleted
    on a side, which the other side keeps."""
    _seed(folder)
    folder.ok("sync")
    folder.sql(folder.books, "DELETE FROM customers WHERE name = 'Gamma LLC'")
    folder.ok("sync")
    from_crm = folder.json("records", "list", "--from", "crm")
    assert [r["name"] for r in from_crm] == ["Gamma LLC"]
    assert from_crm[0]["origin"] == "crm" and set(from_crm[0]["sides"]) == {"books", "crm"}
    (gone,) = folder.json("records", "list", "--status", "deleted")
    assert gone["deleted_on"] == ["books"] and gone["sides"]["crm"]["deleted"] is False
    assert gone["status"] == "deleted"
    assert len(folder.json("records", "list", "--status", "active")) == 2
    assert len(folder.json("records", "list", "--limit", "1")) == 1
    out = folder.ok("records", "list").stdout
    assert "(deleted)" in out and "never propagated" in out
    result = folder.cli("records", "list", "--from", "erp")
    assert result.exit_code == 1 and "sides.erp" in result.output


def test_records_list_status_deleted_shows_deleted_not_active_in_the_table(folder):
    """The status column of a record deleted on one side says deleted, never active."""
    _seed(folder)
    folder.ok("sync")
    folder.sql(folder.books, "DELETE FROM customers WHERE name = 'Gamma LLC'")
    folder.ok("sync")
    out = folder.ok("records", "list", "--status", "deleted").stdout
    (row,) = [line for line in out.splitlines() if "Gamma LLC" in line]
    assert "deleted" in row.replace("(deleted)", "") and "active" not in row


# -- fetch / import ---------------------------------------------------------------------------


def test_fetch_resyncs_one_crm_record_now_without_a_sync(folder):
    """fetch MODULE ID reads the CRM row, journals it and creates it in Books at once;
    other pending changes wait for the next sync."""
    _seed(folder)
    folder.ok("sync")
    new = folder.sql(folder.crm, "INSERT INTO accounts (account_name) VALUES ('Echo SA')")
    folder.sql(folder.books, "INSERT INTO customers (name) VALUES ('Foxtrot BV')")
    data = folder.json("fetch", "customers", str(new))
    assert data["rid"] == f"crm:{new}"
    assert data["report"]["modules"]["customers"]["books"]["created"] == 1
    assert data["record"]["sides"]["books"]["id"] is not None
    assert "Echo SA" in folder.books_rows() and "Foxtrot BV" not in folder.crm_rows()
    (run,) = [r for r in markers(folder) if r.meta["trigger"] == "fetch"]
    assert run.meta["record"] == {"side": "crm", "id": str(new), "rid": f"crm:{new}"}
    assert "nothing new" in folder.ok("fetch", "customers", str(new)).stdout


def test_import_fetches_a_record_on_the_spot_and_fetch_names_what_is_missing(folder):
    """import crm MODULE ID is fetch; an unknown id or a disabled integration is refused."""
    folder.ok("sync")
    new = folder.sql(folder.crm, "INSERT INTO accounts (account_name) VALUES ('Golf AG')")
    out = folder.ok("import", "crm", "customers", str(new)).stdout
    assert f"record crm:{new}" in out and "books: id" in out
    assert "Golf AG" in folder.books_rows()
    result = folder.cli("fetch", "customers", "999")
    assert result.exit_code == 1 and "side crm has no accounts record 999" in result.output
    result = folder.cli("fetch", "customers", "1", "--side", "erp")
    assert result.exit_code == 1 and "erp" in result.output
    folder.ok("disable")
    result = folder.cli("fetch", "customers", str(new))
    assert result.exit_code == 1 and "sync is disabled" in result.output


def test_engine_fetch_of_a_paused_module_still_syncs_that_record(tmp_path):
    """A person's fetch goes through a pause (only that record), not a disable."""
    world = World(tmp_path)
    cid = world.crm.insert("accounts", {"account_name": "Hotel Ltd"})
    lc.pause(world.journal, world.config, ["customers"])
    assert world.sync().paused == ["customers"] and world.books_rows() == {}
    report, rid = world.engine.fetch("customers", "crm", cid)
    assert rid == f"crm:{cid}" and report.total("created") == 1
    assert [r["name"] for r in world.books_rows().values()] == ["Hotel Ltd"]
    lc.disable(world.journal)
    with pytest.raises(EngineError, match="sync is disabled"):
        world.engine.fetch("customers", "crm", cid)


# -- search --------------------------------------------------------------------------------------


def test_search_lists_matching_accounts_with_their_contacts_and_synced_state(folder):
    """search crm TEXT: accounts by name, each with its contacts, and whether synced."""
    folder.sql(
        folder.crm,
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, "
        "email TEXT, account_id INTEGER)",
    )
    synced = folder.sql(folder.crm, "INSERT INTO accounts (account_name) VALUES ('Acme Ltd')")
    folder.ok("sync")
    other = folder.sql(folder.crm, "INSERT INTO accounts (account_name) VALUES ('Acme North')")
    folder.sql(folder.crm, "INSERT INTO accounts (account_name) VALUES ('Zulu')")
    folder.sql(
        folder.crm,
        "INSERT INTO contacts (first_name, last_name, email, account_id) VALUES "
        "('Ann', 'Lee', 'ann@acme.example', ?), ('Bob', 'Ray', NULL, ?), ('Cy', 'Po', NULL, 77)",
        other,
        other,
    )
    items = {i["name"]: i for i in folder.json("search", "crm", "acme")}
    assert set(items) == {"Acme Ltd", "Acme North"}
    assert items["Acme Ltd"]["synced"]["rid"] == f"crm:{synced}"
    assert items["Acme North"]["synced"] == {}
    contacts = items["Acme North"]["contacts"]
    assert [(c["name"], c["email"]) for c in contacts] == [
        ("Ann Lee", "ann@acme.example"),
        ("Bob Ray", None),
    ]
    out = folder.ok("search", "crm", "acme").stdout
    assert f"replicator import crm customers {other}" in out and "Ann Lee" in out
    assert "no accounts on crm match 'nothing'" in folder.ok("search", "crm", "nothing").stdout


def test_search_by_first_or_last_name_when_the_crm_table_is_contacts(tmp_path):
    """With CRM Contacts as the customers table, search matches first and last names."""
    folder = Place(tmp_path)
    folder.sql(
        folder.crm,
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, account_name TEXT, first_name TEXT, "
        "last_name TEXT, email TEXT, credit_limit NUMERIC, modified_time TEXT)",
    )
    folder.config.write_text(
        folder.config.read_text().replace('table = "accounts"', 'table = "contacts"')
    )
    folder.sql(
        folder.crm,
        "INSERT INTO contacts (account_name, first_name, last_name) VALUES "
        "('x', 'Maria', 'Lopez'), ('y', 'Lopez', 'Garcia'), ('z', 'Sam', 'Stone')",
    )
    items = folder.json("search", "crm", "lopez")
    assert sorted(i["name"] for i in items) == ["Lopez Garcia", "Maria Lopez"]
    assert all("contacts" not in i for i in items)


# -- status and credentials ------------------------------------------------------------------------


def test_status_shows_state_deleted_links_and_errors_of_the_last_run(folder):
    """status: paused / disabled, links to records deleted on a side (kept on the other),
    and the last run's errors."""
    _seed(folder)
    _bad_credit_limit(folder)
    folder.ok("sync")
    folder.sql(folder.crm, "DELETE FROM accounts WHERE account_name = 'Gamma LLC'")
    folder.ok("sync")
    data = folder.json("status")
    module = data["modules"][0]
    assert module["deleted_kept"] == {"crm": 1, "books": 0}
    assert data["sync"] == {"enabled": True, "disabled_since": None, "deleted": False, "paused": []}
    assert data["last_run"]["errors"] == [] and module["last_run_errors"] == 0
    folder.sql(
        folder.crm, "UPDATE accounts SET credit_limit = 'more' WHERE account_name = 'Broken Co'"
    )
    folder.ok("sync")
    data = folder.json("status")
    assert data["modules"][0]["last_run_errors"] == 1
    assert data["last_run"]["errors"][0]["field"] == "credit_limit"
    out = folder.ok("status").stdout
    assert "deleted on crm stay on books" in out and "1 error(s)" in out
    folder.ok("pause")
    assert "paused: customers" in folder.ok("status").stdout
    folder.ok("disable")
    assert "DISABLED" in folder.ok("status").stdout


def test_update_credentials_refuses_a_side_without_credentials(folder):
    """A SQLite side has no credentials: the error names the side and why."""
    result = folder.cli("update-credentials", "crm")
    assert result.exit_code == 1 and "sides.crm.connector" in result.output
    result = folder.cli("update-credentials", "erp")
    assert result.exit_code == 1 and "sides.erp" in result.output


def test_lifecycle_commands_explain_themselves(folder):
    """Each new command's --help says what it does."""
    for command in (
        ["history"],
        ["pause"],
        ["resume"],
        ["save"],
        ["edit"],
        ["disable"],
        ["enable"],
        ["delete"],
        ["update-credentials"],
        ["records", "list"],
        ["fetch"],
        ["import"],
        ["search"],
    ):
        result = folder.cli(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_history_json_is_plain_json(folder):
    """history --json is parseable and says when there are no runs yet."""
    folder.ok("save")
    assert json.loads(folder.ok("history", "--json").stdout)[0]["type"] == "config"
