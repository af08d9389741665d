"""Every entry the engine writes is its payload's encoding: decoded, it writes back the very
meta that was stored, with no key left over in ``extra``."""

from journal import Journal, payloads
from journal.entry import dumps
from replicator.sync import lifecycle as lc
from replicator.sync.resolve import resolve, retry
from tests.sync.test_engine import World


def _classes(journal: Journal) -> set[str]:
    found = set()
    for entry in journal.read():
        payload = payloads.payload_of(entry)
        assert dumps(payloads.encode(payload)) == dumps(entry.meta), entry
        assert payload.extra == {}, entry
        found.add(type(payload).__name__)
    return found


def test_the_entries_of_syncs_duplicates_errors_and_decisions_are_their_payloads(tmp_path):
    """Syncs with edits, a delete, a rejected write, a bad amount, duplicates held for a
    person and cloned, a manual conflict resolved, a retry and lifecycle decisions: each
    entry decodes to a payload class and encodes to its stored meta."""
    w = World(tmp_path, conflicts="manual")
    w.books.reject = lambda module, write: (
        "name too long" if write.values.get("name") == "Bad" else None
    )
    w.crm.insert("accounts", {"account_name": "Bad"})
    w.crm.insert("accounts", {"account_name": "Acme", "email": "1@x"})
    w.crm.insert("accounts", {"account_name": "Acme", "email": "2@x"})
    w.books.insert("customers", {"name": "Acme", "email": "b@x"})
    cid = w.crm.insert("accounts", {"account_name": "Gamma", "credit_limit": "lots"})
    w.sync()
    for conflict in w.journal.conflicts(status="open"):
        resolve(w.journal, w.config, conflict["id"], raw_value="clone")
    w.sync()
    (bid,) = [i for i, r in w.books_rows().items() if r["name"] == "Gamma"]
    w.crm.update("accounts", cid, {"email": "crm@x", "credit_limit": "7"})
    w.books.update("customers", bid, {"email": "books@x"})
    w.sync()
    (conflict,) = w.journal.conflicts(status="open")
    resolve(w.journal, w.config, conflict["id"], take="books")
    retry(w.journal, "customers", [r for _, r, _ in w.journal.records("customers")])
    w.crm.delete("accounts", cid)
    w.sync()
    lc.pause(w.journal, w.config, ["customers"])
    lc.resume(w.journal, w.config, ["customers"])
    lc.disable(w.journal)
    lc.delete(w.journal)
    lc.enable(w.journal)
    found = _classes(w.journal)
    assert {
        "Observed",
        "Tombstone",
        "WriteIntent",
        "Applied",
        "Failure",
        "Cursor",
        "DuplicateConflict",
        "DuplicateResolution",
        "ValueConflict",
        "ValueResolution",
        "RetryIntent",
        "SettingsInForce",
        "RunMarker",
        "PulledMarker",
        "Paused",
        "Resumed",
        "Disabled",
        "IntegrationDeleted",
        "Enabled",
    } <= found
    w.journal.close()


def test_the_entries_of_linked_and_skipped_duplicates_are_their_payloads(tmp_path):
    """link (a merge with gaps filled) and skip policies: links, merges and skips decode and
    encode to their stored metas."""
    (tmp_path / "link").mkdir()
    (tmp_path / "skip").mkdir()
    linked = World(tmp_path / "link", duplicates="link")
    linked.books.insert("customers", {"name": "Acme", "email": "b@x"})
    linked.crm.insert("accounts", {"account_name": "Acme", "credit_limit": "5"})
    linked.sync()
    skipped = World(tmp_path / "skip", duplicates="skip")
    skipped.books.insert("customers", {"name": "Acme"})
    skipped.crm.insert("accounts", {"account_name": "Acme"})
    skipped.sync()
    assert {"Linked", "Merged"} <= _classes(linked.journal)
    assert "Skipped" in _classes(skipped.journal)
    linked.journal.close()
    skipped.journal.close()
