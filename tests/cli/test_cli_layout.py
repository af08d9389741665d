"""The command line's layout: commands depend on shared helpers, never the reverse, and
every command is registered on the root group in one visible place."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import click

from replicator.cli.main import main

CLI = Path(__file__).resolve().parents[2] / "replicator" / "cli"
MODULES = sorted(CLI.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(CLI.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """The ``replicator.cli`` modules a file imports, at any level."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {name for name in found if name in {_name(p) for p in MODULES}}


def test_the_shared_helpers_import_no_command_module():
    """cli/common.py imports no other module of the command line."""
    assert _imported(CLI / "common.py") == set()


def test_no_command_module_imports_the_root_group():
    """Only the package's entry points import cli/main.py: commands never register
    themselves on the group as a side effect of an import."""
    for path in MODULES:
        if path.name != "main.py":
            assert "replicator.cli.main" not in _imported(path), path.relative_to(CLI)


def test_the_cli_modules_import_one_another_without_a_cycle():
    """Following the imports between cli modules never comes back to where it started."""
    graph = {_name(p): _imported(p) - {_name(p)} for p in MODULES}

    def reaches(start: str, seen: tuple[str, ...]) -> None:
        for target in graph.get(start, set()):
            assert target not in seen, " -> ".join((*seen, target))
            reaches(target, (*seen, target))

    for module in graph:
        reaches(module, (module,))


def test_every_command_defined_is_reachable_from_the_root_group():
    """A command written in a cli module but not added to `main` (or to its group) fails."""
    reachable: set[int] = set()

    def walk(command: click.Command) -> None:
        reachable.add(id(command))
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                walk(sub)

    walk(main)
    for path in MODULES:
        module = importlib.import_module(_name(path))
        for name, value in vars(module).items():
            if isinstance(value, click.Command):
                assert id(value) in reachable, f"{_name(path)}.{name} is not registered"


def test_every_function_level_import_says_why():
    """An import inside a function has a `# function-level: <reason>` comment above it (or
    above the imports it follows)."""
    for path in MODULES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    above = node.lineno - 2
                    while not lines[above].strip() or lines[above].lstrip().startswith(
                        ("import ", "from ")
                    ):
                        above -= 1
                    assert lines[above].strip().startswith("# function-level: "), (
                        f"{path.relative_to(CLI)}:{node.lineno} imports without a reason"
                    )


def test_no_cli_module_is_over_600_lines():
    """Each cli module stays one concern: a command group or a shared helper."""
    for path in MODULES:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 600, path.name
