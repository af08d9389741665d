"""The commands that set a place up: ``sandbox`` (a local Zoho) and ``connect`` (a Zoho
side's credentials); ``demo`` is :mod:`replicator.cli.demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from replicator.connectors.zoho.datacentres import data_centre
from replicator.errors import ZohoError

# -- the Zoho sandbox and credentials --------------------------------------------------------


def _announce_sandbox(url: str, credentials: Path, temporary: bool) -> None:
    """What a person needs to point a config at a running sandbox (never a secret)."""
    click.echo(f"Zoho sandbox listening on {url}")
    click.echo(f"  CRM v8:    {url}/crm/v8")
    click.echo(f"  Books v3:  {url}/books/v3")
    click.echo(f"  OAuth:     {url}/oauth/v2/token")
    click.echo(f"  admin:     {url}/__admin__/")
    click.echo(f"credentials file (mode 0600): {credentials}")
    if temporary:
        click.echo("  (a temporary folder, removed when the sandbox stops: --data DIR keeps it)")
    click.echo("A side of replicator.toml using it:")
    click.echo('  [sides.crm]\n  connector = "zoho_crm"')
    click.echo(f"  credentials = {json.dumps(str(credentials))}")
    click.echo("Stop it with Ctrl-C.", err=True)


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Loopback port to listen on (0: any free port).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the sandbox's database and credentials file (default: a temporary one).",
)
@click.option(
    "--seed",
    type=click.Choice(["demo", "keys"]),
    help="Seed the records of a small company (demo), or only the fields replicator needs.",
)
def sandbox(port: int, data_dir: Path | None, seed: str | None) -> None:
    """Serve a local Zoho CRM v8 + Books v3 + OAuth emulator on 127.0.0.1 until Ctrl-C.

    It writes a credentials file (mode 0600) a config's Zoho sides can name, and prints
    the URLs and that file's path, never a secret.
    """
    # function-level: the sandbox loads uvicorn and starlette, only `sandbox` needs them
    from replicator.sandbox import Sandbox, SandboxError, run_sandbox

    def ready(box: Sandbox) -> None:
        _announce_sandbox(box.url, box.credentials_path, data_dir is None)

    try:
        run_sandbox(port=port, data_dir=data_dir, seed=seed, on_ready=ready)
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None


DATA_CENTRE_HELP = "com, eu, in, com.au, jp, com.cn, zohocloud.ca, sa, or an accounts URL"


def _accounts_url(answer: str) -> tuple[str, dict[str, str]]:
    """The accounts server of a data centre name or URL, and what the file should keep."""

    answer = answer.strip()
    if answer.startswith(("http://", "https://")):
        return answer.rstrip("/"), {"accounts_url": answer.rstrip("/")}
    try:
        return data_centre(answer)[0], {"data_centre": answer}
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _organizations(
    accounts_url: str, client_id: str, client_secret: str, refresh_token: str
) -> list[dict[str, Any]]:
    """The Books organisations the new credentials reach (empty if they cannot be listed)."""
    # function-level: Zoho's client loads httpx, which only a command talking to Zoho needs
    import httpx

    from replicator.connectors.zoho.auth import OAuth  # function-level: it loads httpx too

    auth = OAuth(
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        accounts_url=accounts_url,
    )
    try:
        token = auth.token()
        answer = httpx.get(
            f"{auth.api_domain}/books/v3/organizations",
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
            timeout=30,
        )
        organizations = answer.json().get("organizations") if answer.status_code == 200 else []
    except (ZohoError, httpx.HTTPError, ValueError):
        organizations = []
    finally:
        auth.close()
    return [o for o in organizations or [] if isinstance(o, dict) and o.get("organization_id")]


@click.command()
@click.argument("side", type=click.Choice(["crm", "books"]))
@click.option(
    "--credentials",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (mode 0600; default: credentials/zoho-SIDE.json).",
)
def connect(side: str, path: Path | None) -> None:
    """Connect a Zoho side: trade a self-client grant code for a refresh token, and save it.

    At api-console.zoho.<dc> make a Self Client, then Generate Code with the scopes the
    side needs (CRM: ZohoCRM.modules.ALL,ZohoCRM.settings.ALL; Books: ZohoBooks.fullaccess.all)
    and paste the client id, the client secret and the code here (they are not echoed).
    The file is written readable by you only; name it in the side's `credentials` option.
    """
    # function-level: Zoho's client loads httpx, which only a command talking to Zoho needs
    from replicator.connectors.zoho.credentials import exchange_grant_code, store_credentials

    path = path or Path("credentials") / f"zoho-{side}.json"
    client_id = click.prompt("Client ID").strip()
    client_secret = click.prompt("Client secret", hide_input=True).strip()
    code = click.prompt("Grant code", hide_input=True).strip()
    accounts_url, where = _accounts_url(
        click.prompt(f"Data centre ({DATA_CENTRE_HELP})", default="com")
    )
    try:
        refresh = exchange_grant_code(accounts_url, client_id, client_secret, code)
    except ZohoError as exc:
        raise click.ClickException(str(exc)) from None
    keys: dict[str, Any] = {"client_id": client_id, "client_secret": client_secret}
    keys.update(where, refresh_token=refresh)
    if side == "books":
        organizations = _organizations(accounts_url, client_id, client_secret, refresh.reveal())
        for org in organizations:
            click.echo(f"  {org['organization_id']}  {org.get('name', '')}")
        default = str(organizations[0]["organization_id"]) if len(organizations) == 1 else None
        keys["organization_id"] = click.prompt("Books organization id", default=default).strip()
    written = store_credentials(path, **keys)
    click.echo(f"credentials for {side} written to {written} (mode 0600)")
    click.echo(f"in replicator.toml:\n  [sides.{side}]")
    click.echo(f'  connector = "zoho_{side}"\n  credentials = {json.dumps(str(written))}')


__all__ = ["connect", "sandbox"]
