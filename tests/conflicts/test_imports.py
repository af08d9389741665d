"""The conflicts package reads the journal's values and protocols, never its storage."""

from __future__ import annotations

import ast
from pathlib import Path

import conflicts

PACKAGE = Path(conflicts.__file__).parent
# what conflicts may import of the journal: values, their encoding, the entries' payloads,
# the View protocol
PURE_JOURNAL = {
    "journal.clock",
    "journal.entry",
    "journal.errors",
    "journal.payloads",
    "journal.protocols",
}


def _journal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    found |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {name for name in found if name == "journal" or name.startswith("journal.")}


def test_conflicts_imports_only_the_pure_modules_of_the_journal():
    """No module of conflicts imports the journal's storage (store, view, replay, sqlite)
    or the journal package whole: the reducer is typed against journal.protocols.View."""
    for path in sorted(PACKAGE.glob("*.py")):
        assert _journal_imports(path) <= PURE_JOURNAL, path.name
