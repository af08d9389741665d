"""The packages import one way (journal <- conflicts <- replicator), without cycles, and
export what they say.

The import graph is read from the source with ``ast`` (nothing is imported): a module's
edges are every module it names in an ``import`` or ``from ... import``, at the top or
inside a function, relative imports resolved, ``from pkg import submodule`` an edge to the
submodule.  Imports under ``if TYPE_CHECKING:`` count too: they never run, but the
dependency they state is real, and a cycle they close is one of the design (issue 11
counted config <-> daemon_config and zoho_books <-> zoho_books_persons so).  Naming
``pkg.mod`` also runs ``pkg/__init__.py``, but that is no edge: every package here
re-exports its children, so each re-export would read as a cycle, and a module depends on
what it names, not on what its package's ``__init__`` happens to gather.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "journal": {"journal"},
    "conflicts": {"journal", "conflicts"},
    "replicator": {"journal", "conflicts", "replicator"},
}
# the sandbox is a fake Zoho for tests and the demo, kept as it is (issue 11)
OUTSIDE_THE_GRAPH = ("replicator.sandbox",)
# what the pure core must never reach: files, sockets, databases
IO_MODULES = frozenset({"sqlite3", "httpx", "os", "pathlib", "socket"})

Graph = Mapping[str, set[str]]


class Import(NamedTuple):
    """One module named by an import statement."""

    target: str  # a module of ours by its dotted name, or another's top-level name
    line: int
    function_level: bool


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Each module of ``packages`` under ``root`` by dotted name (a package by its own)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            if not any(name == o or name.startswith(o + ".") for o in OUTSIDE_THE_GRAPH):
                found[name] = path
    return found


def imports_of(name: str, path: Path, known: Iterable[str]) -> list[Import]:
    """Every module ``name`` (the module at ``path``) imports when it runs."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    ours = {k.partition(".")[0] for k in known}

    def ours_or_top(module: str) -> str:
        # a module of ours left out of the graph (the sandbox) is a leaf by its own name,
        # never its package: naming it does not run the code of the modules beside it
        top = module.partition(".")[0]
        return module if module in known or top in ours else top

    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(ours_or_top(alias.name), child.lineno, inside))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    module = child.module or ""
                found.append(Import(ours_or_top(module), child.lineno, inside))
                for alias in child.names:
                    if f"{module}.{alias.name}" in known:
                        found.append(Import(f"{module}.{alias.name}", child.lineno, inside))
            visit(child, inside)

    visit(ast.parse(path.read_text(), str(path)), False)
    return [i for i in found if i.target != name]


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules it imports (ours by dotted name, others by top-level name)."""
    return {
        name: {i.target for i in imports_of(name, path, modules)} for name, path in modules.items()
    }


def find_cycles(graph: Graph) -> list[list[str]]:
    """Each set of modules that import one another, directly or through others (a strongly
    connected component of more than one module, or one importing itself), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(cycles)


def chain_to(graph: Graph, start: str, targets: Iterable[str]) -> list[str] | None:
    """The shortest chain of imports from ``start`` to any of ``targets``, or None."""
    wanted = set(targets)
    came_from: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt in came_from:
                    continue
                came_from[nxt] = node
                if nxt in wanted:
                    chain: list[str] = [nxt]
                    back = came_from[nxt]
                    while back is not None:
                        chain.append(back)
                        back = came_from[back]
                    return chain[::-1]
                following.append(nxt)
        frontier = following
    return None


MODULES = module_files(ROOT, ALLOWED)
GRAPH = import_graph(MODULES)


# -- the checker itself ------------------------------------------------------------------


def test_the_cycle_checker_reports_a_planted_cycle_and_only_it():
    """a -> b -> c -> a is one cycle; d importing into it, and e importing itself, are
    told apart from it; a graph without a loop has none."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "sqlite3"}, "d": {"a"}, "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) == []


def test_the_walker_finds_a_cycle_made_by_relative_and_function_level_imports(tmp_path):
    """A package whose modules import each other (one relatively, one inside a function,
    one as ``from pkg import submodule``, one for type checking only) is one cycle."""
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import thing\n")
    (package / "b.py").write_text("def later():\n    from planted import c  # why\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nimport planted.a\nif TYPE_CHECKING:\n"
        "    from planted import d\n"
    )
    (package / "d.py").write_text("import planted.c\nimport sqlite3\n")
    (package / "e.py").write_text("import planted.a\n")
    graph = import_graph(module_files(tmp_path, ["planted"]))
    assert graph["planted.b"] == {"planted", "planted.c"}
    assert graph["planted.c"] == {"typing", "planted.a", "planted", "planted.d"}
    assert find_cycles(graph) == [["planted.a", "planted.b", "planted.c", "planted.d"]]
    assert chain_to(graph, "planted.e", {"sqlite3"}) == [
        "planted.e",
        "planted.a",
        "planted.b",
        "planted.c",
        "planted.d",
        "sqlite3",
    ]
    assert chain_to(graph, "planted", {"sqlite3"}) is None


# -- the code --------------------------------------------------------------------------


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_go_one_way(package):
    """No module imports a package above its own layer."""
    for name, path in MODULES.items():
        if name.partition(".")[0] != package:
            continue
        bad = {i.target.partition(".")[0] for i in imports_of(name, path, MODULES)}
        bad = (bad & set(ALLOWED)) - ALLOWED[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_module_imports_itself_through_others():
    """journal/, conflicts/ and replicator/ (but its sandbox) hold no import cycle, counting
    imports inside functions."""
    assert find_cycles(GRAPH) == []


def test_the_pure_core_reaches_no_file_socket_or_database_through_any_import():
    """No chain of imports leads from a conflicts module to sqlite3, httpx, os, pathlib or
    socket (through journal or anything else)."""
    for name in sorted(MODULES):
        if name.partition(".")[0] == "conflicts":
            assert chain_to(GRAPH, name, IO_MODULES) is None, name


# libraries a package must not reach through any chain of imports: the console is a
# page over the library, as the CLI is a terminal over it; neither depends on the other
NEVER_REACHES = {"replicator.console": "replicator.cli"}


@pytest.mark.parametrize("package", sorted(NEVER_REACHES))
def test_a_package_reaches_no_module_of_the_one_it_must_not_depend_on(package):
    """No chain of imports leads from a console module to a CLI module (the pages and the
    commands share the library: replicator.sync.presentation, .status, daemon.cycle)."""
    other = NEVER_REACHES[package]
    targets = {m for m in MODULES if m == other or m.startswith(other + ".")}
    for name in sorted(MODULES):
        if name == package or name.startswith(package + "."):
            assert chain_to(GRAPH, name, targets) is None, chain_to(GRAPH, name, targets)


def test_the_undo_planner_reaches_no_file_socket_or_database():
    """replicator.sync.undo_plan (a run's entries -> its undo plan) is pure, as the core:
    the undo's I/O is in replicator.sync.undo."""
    assert chain_to(GRAPH, "replicator.sync.undo_plan", IO_MODULES) is None


def _says_why(lines: list[str], line: int) -> bool:
    """Whether the import at ``line`` (1-based) has a comment on its line or above it."""
    return "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")


def test_every_function_level_import_says_why_it_is_not_at_the_top():
    """An import inside a function has a one-line reason (a comment on its line or the line
    above): a lazy import is a choice to explain, never a way around a cycle."""
    silent = []
    for name, path in sorted(MODULES.items()):
        lines = path.read_text().splitlines()
        for i in imports_of(name, path, MODULES):
            if i.function_level and not _says_why(lines, i.line):
                silent.append(f"{path.relative_to(ROOT)}:{i.line}")
    assert silent == []


@pytest.mark.parametrize("package", ["conflicts", "journal", "replicator"])
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
        assert not names & IO_MODULES, info.name


def _loaded_by_importing_replicator(prefixes: tuple[str, ...]) -> list[str]:
    """The modules under ``prefixes`` that ``import replicator`` loads, in a fresh process."""
    script = (
        "import sys, replicator\n"
        f"print(' '.join(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return ran.stdout.split()


def test_importing_the_package_loads_neither_the_edges_nor_their_libraries():
    """`import replicator` (its public API) loads the engine and its layers, but no HTTP
    client, web server, scheduler, CLI, daemon, Zoho connector or sandbox."""
    edges = (
        "replicator.cli",
        "replicator.daemon",
        "replicator.connectors.zoho",
        "replicator.fleet",
    )
    libraries = (
        "httpx",
        "starlette",
        "uvicorn",
        "apscheduler",
        "rich",
        "prometheus_client",
        "cryptography",
        "celery",
        "kombu",
        "redis",
    )
    assert _loaded_by_importing_replicator((*edges, "replicator.sandbox", *libraries)) == []


def test_importing_the_package_loads_no_library_the_journal_does_not_use():
    """The journal runs on sqlite3 alone: sqlite-utils (and what it brings) stays out."""
    assert _loaded_by_importing_replicator(("sqlite_utils", "numpy", "click")) == []
