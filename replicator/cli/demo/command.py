"""The ``replicator demo`` command: a new folder, then the Zoho story
(:mod:`replicator.cli.demo.zoho`) or, with ``--sqlite``, the SQLite one
(:mod:`replicator.cli.demo.sqlite`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from replicator.cli.common import _console
from replicator.cli.demo.console import run_console_demo
from replicator.cli.demo.sqlite import run_sqlite_demo

# what a demo writes in its folder: a folder holding any of these is not reused
FILES = ("replicator.toml", "journal.db", "sandbox", "books.db", "crm.db")


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create the demo in (default: a new temporary folder).",
)
@click.option(
    "--sqlite",
    is_flag=True,
    help="Sync two local SQLite databases instead of the Zoho sandbox.",
)
@click.option(
    "--records",
    type=click.IntRange(min=10, max=100_000),
    default=200,
    show_default=True,
    help="With --sqlite: customers to seed on each side.",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="With --sqlite: random seed for the generated customers.",
)
@click.option(
    "--console",
    "serve",
    is_flag=True,
    help="Then serve the web console on 127.0.0.1 (the sandbox still up) until Ctrl-C.",
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=0,
    show_default=True,
    help="With --console: the console's port (0: a free one).",
)
def demo(
    folder: Path | None, sqlite: bool, records: int, seed: int, serve: bool, port: int
) -> None:
    """Sync Zoho CRM and Zoho Books (a local sandbox) end to end, and show the journal.

    Starts the sandbox on a free loopback port, seeds a small company on both sides (with
    duplicates and a concurrent edit), writes a config for two-way customers, vendors and
    items, syncs, edits both sides through the APIs, syncs again, then prints what was
    created, updated, skipped and in conflict, the API requests used and `journal verify`.
    With --sqlite: the same story over two local SQLite databases, no network at all.
    With --console: then the web console, with a one-time admin password (and, for Zoho,
    an integration user's sign-in link), until Ctrl-C.
    """
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="replicator-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    taken = [n for n in FILES if (folder / n).exists()]
    if taken:
        raise click.ClickException(
            f"{folder} already holds {', '.join(taken)}: pass --dir with a new folder"
        )
    if serve:
        run_console_demo(
            folder.resolve(), _console(), sqlite=sqlite, records=records, seed=seed, port=port
        )
    elif sqlite:
        run_sqlite_demo(folder.resolve(), _console(), records=records, seed=seed)
    else:
        # function-level: the Zoho story loads the sandbox (uvicorn, starlette) and httpx
        from replicator.cli.demo.zoho import run_zoho_demo

        run_zoho_demo(folder.resolve(), _console())


__all__ = ["FILES", "demo"]
