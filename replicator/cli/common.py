"""What every command of ``replicator`` shares: options, the config and journal they read,
how values are shown, progress bars, and the one place domain errors become messages.

Command modules import this one; it imports none of them (commands depend on shared
helpers, never the reverse).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from conflicts import ConflictError
from journal import IntegrityError, Journal, JournalError
from replicator.config.load import Config, load_config
from replicator.errors import ReplicatorError
from replicator.sync.app import open_journal
from replicator.sync.checks import check_side_files
from replicator.sync.presentation import at_text, plain, show

DOMAIN_ERRORS = (ReplicatorError, JournalError, ConflictError)
DEFAULT_CONFIG = Path("replicator.toml")


class CleanErrors(click.Group):
    """The root group's class: the one place domain errors become clean messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


# -- options ---------------------------------------------------------------------------------


def _remember_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_remember_config,
        help="The TOML config file (default: replicator.toml in the working directory).",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table."
    )(f)


def wait_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait",
        type=click.FloatRange(min=0),
        default=None,
        metavar="SECONDS",
        help="While another `sync` or `fetch` writes to the journal, wait this long for it "
        "(default 30), then exit 1 naming it.",
    )(f)


# -- the config, its sides and its journal ---------------------------------------------------


def _config_path(ctx: click.Context) -> Path:
    return Path((ctx.find_object(dict) or {}).get("config") or DEFAULT_CONFIG)


def _config(ctx: click.Context) -> Config:
    return load_config(_config_path(ctx))


# the commands' name for the check that a side's database file exists
_check_sides = check_side_files


@contextlib.contextmanager
def _journal(config: Config, *, to_verify: bool = False) -> Iterator[Journal]:
    """The config's journal, which must exist already (reading never creates one).
    ``to_verify``: if its state's rebuild fails (an edited entry), it opens without it."""
    if not config.journal_path.exists():
        raise click.ClickException(
            f"no journal at {config.journal_path} yet: run `replicator sync` first"
        )
    try:
        journal = open_journal(config)
    except IntegrityError:
        if not to_verify:
            raise
        journal = open_journal(config, rebuild_state=False)
    try:
        yield journal
    finally:
        journal.close()


# -- showing values --------------------------------------------------------------------------


def _console() -> Console:
    # a pipe or a test runner gets wide lines instead of tables squeezed into 80 columns
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))


# the commands' name for a time shown to a person (one function: the console's too)
_at = at_text


# -- progress bars ---------------------------------------------------------------------------


class _Bars:
    """Rich progress bars fed by the engine's ``progress(phase, module, side, count)``."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str, str], Any] = {}

    def __call__(self, phase: str, module: str, side: str, count: int) -> None:
        key = (phase, module, side)
        if key not in self.tasks:
            arrow = "<-" if phase == "pull" else "->"
            self.tasks[key] = self.progress.add_task(f"{phase} {module} {arrow} {side}", total=None)
        self.progress.update(self.tasks[key], completed=count)

    def finish(self) -> None:
        for task in self.progress.tasks:
            if task.completed:
                self.progress.update(task.id, total=task.completed)


@contextlib.contextmanager
def _bars(label: str = "records") -> Iterator[_Bars]:
    """Progress bars on stderr, so ``--json`` output on stdout stays parseable."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn(f"{{task.completed:>7}} {label}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        bars = _Bars(progress)
        yield bars
        bars.finish()


__all__ = [
    "DEFAULT_CONFIG",
    "DOMAIN_ERRORS",
    "CleanErrors",
    "config_option",
    "json_option",
    "plain",
    "show",
    "wait_option",
]
