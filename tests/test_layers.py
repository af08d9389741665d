"""The packages import one way (journal <- conflicts <- replicator) and export what they say."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "journal": {"journal"},
    "conflicts": {"journal", "conflicts"},
    "replicator": {"journal", "conflicts", "replicator"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_go_one_way(package):
    """No module imports a package above its own layer."""
    for path in (ROOT / package).rglob("*.py"):
        bad = _imports(path) - ALLOWED[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("package", ["journal", "conflicts"])
def test_public_api_is_explicit_and_sorted(package):
    """Each package's __all__ is sorted and every name in it exists."""
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names)
    assert all(hasattr(module, name) for name in names)


def test_pure_core_opens_no_files_or_connections():
    """conflicts/ is pure: it never imports sqlite3, httpx, os or pathlib."""
    for info in pkgutil.iter_modules([str(ROOT / "conflicts")]):
        source = (ROOT / "conflicts" / f"{info.name}.py").read_text()
        tree = ast.parse(source)
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not names & {"sqlite3", "httpx", "os", "pathlib", "socket"}, info.name
