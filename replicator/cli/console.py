"""``replicator console add-admin NAME`` and ``replicator console serve``: the web console's
admins, and the console served alone over the journal (no daemon; the daemon serves it
at ``/console`` itself when ``[console] enabled``)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click
from starlette.applications import Starlette
from starlette.routing import Mount

from replicator.cli.common import _config, config_option
from replicator.config.daemon import split_bind
from replicator.console.app import create_console_app
from replicator.console.auth import MAX_PASSWORD, read_store, set_admin, store_path
from replicator.console.controls import LibraryActions
from replicator.daemon.web import serve as serve_app


@click.group("console")
@config_option
def console_group() -> None:
    """The web console: its admins, and serving it without the daemon.

    It is off unless the config says `[console] enabled = true`; the daemon then serves
    it at /console beside /healthz.  Passwords are kept hashed (scrypt) in
    <journal>.console.json (mode 0600), never in the journal or a log.
    """


@console_group.command("add-admin")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.pass_context
def add_admin(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Add the console admin NAME (or set a new password for it)."""
    config = _config(ctx)
    if password_stdin:
        password = sys.stdin.readline(MAX_PASSWORD + 2).rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        set_admin(store_path(config.journal_path), name, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} can sign in to the console as an admin")


@console_group.command("serve")
@config_option
@click.option(
    "--bind",
    default="127.0.0.1:8781",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to listen (port 0: a free one).",
)
@click.pass_context
def serve(ctx: click.Context, bind: str) -> None:
    """Serve the console alone over the journal until stopped (Ctrl-C); prints its URL.

    Its controls work as the CLI's do: a sync is forwarded to a running daemon, else run
    here.
    """
    config = _config(ctx)
    if not config.console.enabled:
        raise click.ClickException(
            f"the console is off: set `[console] enabled = true` in {config.path}"
        )
    try:
        host, port = split_bind(bind)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bind") from None
    if not read_store(store_path(config.journal_path))["admins"]:
        click.echo("no admin yet: `replicator console add-admin NAME` makes one", err=True)
    console = create_console_app(config, actions=LibraryActions(config), served_on=host)
    serve_until_stopped(console, host, port)


def serve_until_stopped(
    console: Starlette, host: str, port: int, *, before: Callable[[str], None] | None = None
) -> None:
    """Serve ``console`` at ``/console`` on ``host:port`` (0: a free port) until SIGTERM or
    Ctrl-C, then stop cleanly.  ``before(url)`` prints what comes before the URL line,
    which is printed last, once the port listens (a script waiting for it has the rest)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    # the handlers come first: a signal sent as soon as the URL is seen finds them
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server, thread, port = serve_app(Starlette(routes=[Mount("/console", console)]), host, port)
        try:
            shown = f"[{host}]" if ":" in host else host
            url = f"http://{shown}:{port}/console/"
            if before is not None:
                before(url)
            click.echo(f"console: {url}")
            sys.stdout.flush()
            while thread.is_alive() and not stop.wait(0.5):
                pass
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("console stopped", err=True)


__all__ = ["console_group", "serve_until_stopped"]
