"""`replicator demo`: the Zoho story over the sandbox, and the SQLite one, end to end."""

from __future__ import annotations

import json

from click.testing import CliRunner

from replicator.cli.main import main


def test_demo_syncs_zoho_crm_and_books_through_the_sandbox(tmp_path):
    """`replicator demo` starts the Zoho sandbox, syncs, edits both sides through the APIs,
    syncs again, and shows the conflict, the API requests used and the verify result."""
    folder = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("first sync") < out.index("second sync") < out.index("journal verify")
    assert "name(s) on both sides were linked" in out
    # the dry run comes first: the plan of the first sync, nothing written
    plan = out.index("dry run: the plan of the first sync")
    assert plan < out.index("what the first sync will do") < out.index("sides were linked")
    assert "neither side nor the journal changed" in out and "creates (" in out
    assert "resolved: customers" in out and "phone" in out  # the concurrent edit
    assert "API requests the sandbox answered" in out and "/books/v3/contacts" in out
    assert "after the second sync: 13 accounts in CRM, 15 customers in Books" in out
    # near names are held for a person, never copied as a second customer
    assert "near match 'Globex Corp' (books) ~ 'Globex Corporation' (crm)" in out
    assert "near match 'Hooli Inc.' (books) ~ 'Hooli' (crm)" in out
    # transactions: a CRM quote reaches Books with its 3 lines and equal totals, the
    # seeded Books invoice is in CRM, and a CRM edit of it once sent is refused
    flat = " ".join(out.split())
    assert "estimate EST-" in flat and "with 3 lines" in flat
    totals = flat.split("with 3 lines:")[1].split("total books ")[1].split(",")
    assert totals[0] == totals[1].removeprefix(" crm ").split()[0]
    assert "is in CRM with 1 lines, status 'Sent'" in flat
    assert "refused and journaled" in flat and "only while it is draft" in flat
    # deal automation: the deal won makes one invoice, the deal lost voids it
    deals = flat.split("deal automation")[1]
    won, lost = deals.split("moved to 'Closed Won'")[1].split("moved to 'Closed Lost'")
    assert won.count("books invoice INV-") == 1 and "status draft" in won.split("invoice")[-1]
    assert "books estimate EST-" in won and "status accepted" in won
    assert lost.count("books invoice INV-") == 1 and "status void" in lost
    assert "status declined" in lost
    assert "intact: " in out and "Try:" in out
    # undo of the second sync: its plan first, then the undo, before the verify
    assert out.index("second sync") < out.index("undo of one run") < out.index("intact: ")
    undone = " ".join(out.split("undo of one run")[1].split())
    assert "--dry-run`" in undone and "undo plan of run" in undone
    assert "deleted on the side it created them" in undone and "the undo is run" in undone
    assert (folder / "replicator.toml").is_file()
    assert (folder / "sandbox" / "credentials.json").is_file()
    secrets = json.loads((folder / "sandbox" / "credentials.json").read_text())
    assert secrets["client_secret"] not in result.output
    assert secrets["refresh_token"] not in result.output
    again = CliRunner().invoke(main, ["demo", "--dir", str(folder)])
    assert again.exit_code == 1 and "already holds" in again.output


def test_the_sqlite_demo_runs_and_ends_with_the_verify_result(tmp_path):
    """`replicator demo --sqlite` seeds, syncs, edits, syncs, lists the conflict, verifies."""
    result = CliRunner().invoke(
        main, ["demo", "--sqlite", "--dir", str(tmp_path / "demo"), "--records", "20"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("first sync") < out.index("second sync") < out.index("journal verify")
    assert "resolved" in out and "email" in out  # the concurrent edit, settled by newest
    # the second sync undone: the plan (a restore, the records it created), then the undo
    assert out.index("second sync") < out.index("undo of one run") < out.index("intact: ")
    undone = " ".join(out.split("undo of one run")[1].split())
    assert "restore: " in undone and "remove (created by the run): 2" in undone
    assert "2 record(s) it created were deleted" in undone and "the undo is run" in undone
    assert out.index("dry run: the plan of the first sync") < out.index("linked, not copied")
    assert "neither side nor the journal changed" in out and "links (" in out
    lines = out.strip().splitlines()
    verify_line = next(i for i, line in enumerate(lines) if line.startswith("intact: "))
    assert "Try:" in lines[verify_line + 2] and "conflicts list" in out
    assert (tmp_path / "demo" / "replicator.toml").is_file()
    again = CliRunner().invoke(main, ["demo", "--sqlite", "--dir", str(tmp_path / "demo")])
    assert again.exit_code == 1 and "already holds" in again.output
