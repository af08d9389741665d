"""``replicator demo --console``: the demo's story, then its web console on loopback.

After the story (Zoho over the sandbox, or ``--sqlite``) the demo's config gets a
``[console]`` table, an admin ``admin`` with a generated password (printed once, kept only
as its hash in ``<journal>.console.json``), and, where the integration user role can be on
(the Zoho demo syncs every transaction module), one integration user: the sandbox CRM's
active user Sam Seller, with a one-time sign-in link.  The console then answers on
``127.0.0.1`` (a free port unless ``--port``), the sandbox still up so that "sync now"
reaches it, until SIGTERM or Ctrl-C.  The URL line comes last: a script waiting for it has
the password and the link already.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click
from rich.console import Console

from replicator.cli.console import serve_until_stopped
from replicator.cli.demo.sqlite import run_sqlite_demo
from replicator.config.load import Config, load_config
from replicator.console.app import create_console_app
from replicator.console.auth import set_admin, store_path
from replicator.console.controls import LibraryActions
from replicator.sync import integration_users as iu
from replicator.sync.app import open_journal

HOST = "127.0.0.1"
ADMIN = "admin"
# the sandbox CRM's active user who is not its admin (replicator.sandbox.crm_schema)
INTEGRATION_USER = "sam.seller@sandbox.example"
CONSOLE_TABLE = (
    "\n[console]                           # `replicator demo --console`\nenabled = true\n"
)


def serve_console(config: Config, *, port: int = 0, user: bool) -> None:
    """Turn the console on in the demo's config, make its admin (and, with ``user``, an
    integration user), then serve it until stopped."""
    path = Path(config.path)
    text = path.read_text(encoding="utf-8")
    if "[console]" not in text:
        path.write_text(text + CONSOLE_TABLE, encoding="utf-8")
    config = load_config(path)
    password = secrets.token_urlsafe(12)
    set_admin(store_path(config.journal_path), ADMIN, password)
    token = _integration_user(config) if user else None
    missing = iu.transactions_missing(config)

    def before(url: str) -> None:
        click.echo(f"console admin: {ADMIN}  password: {password}  (shown once, kept hashed)")
        if token is not None:
            click.echo(
                f"integration user {INTEGRATION_USER}: {url}link/{token}  (one sign-in, "
                f"{iu.LINK_MINUTES} minutes; `replicator users link` makes another)"
            )
        else:
            click.echo(
                "integration users: off, they need every transaction module to sync (not "
                f"syncing: {', '.join(missing)}); the Zoho demo has them"
            )
        click.echo("Ctrl-C (or SIGTERM) stops the console" + (" and the sandbox" if user else ""))

    app = create_console_app(config, actions=LibraryActions(config), served_on=HOST)
    serve_until_stopped(app, HOST, port, before=before)


def _integration_user(config: Config) -> str:
    """Sam Seller as an integration user (checked against the sandbox CRM's users, as
    `replicator users add` does); a one-time sign-in token for them."""
    with open_journal(config) as journal, iu.crm_users_of(config) as crm_users:
        iu.add(config, journal, [INTEGRATION_USER], crm_users=crm_users, by="demo")
    return iu.make_link(config, INTEGRATION_USER)


def run_console_demo(
    folder: Path, console: Console, *, sqlite: bool, records: int, seed: int, port: int
) -> None:
    """The demo in ``folder``, then its console until stopped."""

    def then(config: Config) -> None:
        serve_console(config, port=port, user=not sqlite)

    if sqlite:
        run_sqlite_demo(folder, console, records=records, seed=seed)
        then(load_config(folder / "replicator.toml"))
    else:
        # function-level: the Zoho story loads the sandbox (uvicorn, starlette) and httpx
        from replicator.cli.demo.zoho import run_zoho_demo

        run_zoho_demo(folder, console, then=then)


__all__ = ["run_console_demo", "serve_console"]
