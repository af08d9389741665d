"""The journal's edges: its interfaces need no storage, and nothing outside the package
reaches past the Journal's methods into its SQLite connection."""

import ast
import subprocess
import sys
from pathlib import Path

import journal

ROOT = Path(__file__).resolve().parents[2]
JOURNAL = ROOT / "journal"


def _imported(path: Path) -> set[str]:
    """The modules ``path`` imports (absolute names)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _reached(module: str) -> set[str]:
    """Every module ``journal.<module>`` imports, following the journal's own modules."""
    seen: set[str] = set()
    todo = [f"journal.{module}"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.startswith("journal."):
            todo.extend(_imported(JOURNAL / f"{name.split('.', 1)[1]}.py"))
    return seen


def test_the_view_and_reducer_protocols_reach_no_sqlite():
    """journal.protocols, and the journal modules it imports, never import sqlite3."""
    reached = _reached("protocols")
    assert "journal.entry" in reached
    assert not {"sqlite3", "sqlite_utils", "journal.store", "journal.view"} & reached


def test_importing_the_pure_journal_modules_loads_no_sqlite():
    """The package and its values and protocols import without sqlite3; the Journal
    brings it on first use (the names that need it load lazily)."""
    code = (
        "import sys, journal, journal.clock, journal.entry, journal.errors, journal.protocols\n"
        "before = 'sqlite3' in sys.modules\n"
        "from journal import Journal\n"
        "print(before, 'sqlite3' in sys.modules, Journal.__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True", "journal.store"]


def test_the_protocols_are_the_ones_the_package_exports():
    """``journal.View`` and ``journal.Reducer`` are the protocols (one definition each)."""
    from journal import protocols, store

    assert journal.View is protocols.View is store.View
    assert journal.Reducer is protocols.Reducer is store.Reducer


def _conn_uses(path: Path) -> list[int]:
    """Lines where ``path`` reads an attribute named ``conn`` (a journal's connection)."""
    tree = ast.parse(path.read_text())
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "conn"]


def test_nothing_outside_the_journal_reads_its_sqlite_connection():
    """Code outside journal/ asks the Journal's methods, never SQL on ``journal.conn`` (the
    journal's own tests and benchmarks measure and tamper with the file, so they may)."""
    outside = [*(ROOT / "replicator").rglob("*.py"), *(ROOT / "conflicts").rglob("*.py")]
    outside += [p for p in (ROOT / "tests").rglob("*.py") if "journal" not in p.parts]
    outside += [p for p in (ROOT / "benchmarks").rglob("*.py") if not p.name.startswith("journal")]
    assert len(outside) > 50
    found = {str(p.relative_to(ROOT)): lines for p in outside if (lines := _conn_uses(p))}
    assert not found, f"SQL on a journal's connection outside journal/: {found}"


def test_the_conn_check_finds_a_planted_use(tmp_path):
    """The check above sees ``journal.conn`` in any expression."""
    planted = tmp_path / "planted.py"
    planted.write_text("def f(app):\n    return app.journal.conn.execute('SELECT 1')\n")
    assert _conn_uses(planted) == [2]
