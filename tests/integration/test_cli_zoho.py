"""The command line against the Zoho sandbox: `sandbox`, `connect`, and `sync` on Zoho sides."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.connectors.zoho.credentials import read_credentials_file
from replicator.sandbox import Sandbox
from replicator.sandbox.api_client import ZohoApi
from tests.integration.conftest import fresh


def _console_script() -> str:
    script = Path(sys.executable).with_name("replicator")
    found = str(script) if script.exists() else shutil.which("replicator")
    if found is None:
        pytest.skip("the replicator console script is not installed (pip install -e .)")
    return found


def test_sandbox_command_prints_urls_and_the_credentials_path_never_a_secret(
    tmp_path: Path,
) -> None:
    """`replicator sandbox --port 0 --data DIR` serves until SIGTERM, names the URLs and
    the 0600 credentials file, and prints no secret."""
    data = tmp_path / "zoho"
    process = subprocess.Popen(
        [_console_script(), "sandbox", "--port", "0", "--data", str(data), "--seed", "keys"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("credentials file"):
                break
        url = lines[0].split()[-1]
        assert url.startswith("http://127.0.0.1:")
        credentials = data / "credentials.json"
        assert str(credentials) in lines[-1]
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        with ZohoApi(credentials) as api:  # the printed file works: it signs in
            assert api.books("GET", "/organizations")["organizations"]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    printed = "".join(lines) + out + err
    secrets = read_credentials_file(credentials)
    for key in ("client_secret", "refresh_token"):
        assert secrets[key] not in printed
    assert f"{url}/crm/v8" in printed and f"{url}/books/v3" in printed


def test_sandbox_command_refuses_a_port_in_use(sandbox: Sandbox, tmp_path: Path) -> None:
    """A taken port is a one-line error, not a traceback."""
    result = CliRunner().invoke(
        main, ["sandbox", "--port", str(sandbox.port), "--data", str(tmp_path / "z")]
    )
    assert result.exit_code == 1
    assert "cannot listen" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("side", ["crm", "books"])
def test_connect_trades_a_grant_code_and_writes_a_private_credentials_file(
    tmp_path: Path, sandbox: Sandbox, side: str
) -> None:
    """`replicator connect SIDE` prompts for client id, secret, code and data centre (an
    accounts URL for the sandbox), exchanges the code, and writes 0600 credentials that
    sign in; secrets are never echoed.  For Books it finds the organisation."""
    client = sandbox.credentials
    code = sandbox.admin.grant_code()
    path = tmp_path / "creds" / f"{side}.json"
    answers = [client["client_id"], client["client_secret"], code, client["accounts_url"]]
    if side == "books":
        answers.append("")  # accept the organisation it found
    result = CliRunner().invoke(
        main, ["connect", side, "--credentials", str(path)], input="\n".join(answers) + "\n"
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = read_credentials_file(path)
    assert stored["client_id"] == client["client_id"]
    assert stored["accounts_url"] == client["accounts_url"]
    assert stored["refresh_token"] not in result.output
    assert client["client_secret"] not in result.output and code not in result.output
    if side == "books":
        assert stored["organization_id"] == client["organization_id"]
    with ZohoApi({**stored, "api_domain": client["api_domain"]}) as api:
        assert api.token()  # the new refresh token works
    assert f'connector = "zoho_{side}"' in result.output


def test_connect_with_a_used_code_fails_cleanly(tmp_path: Path, sandbox: Sandbox) -> None:
    """A refused grant code is a one-line error and writes no file."""
    client = sandbox.credentials
    path = tmp_path / "crm.json"
    answers = [
        client["client_id"],
        client["client_secret"],
        "1000.not-a-code",
        "http://127.0.0.1:9",
    ]
    result = CliRunner().invoke(
        main, ["connect", "crm", "--credentials", str(path)], input="\n".join(answers) + "\n"
    )
    assert result.exit_code == 1 and "Error:" in result.output
    assert "Traceback" not in result.output and not path.exists()
    answers[3] = client["accounts_url"]
    result = CliRunner().invoke(
        main, ["connect", "crm", "--credentials", str(path)], input="\n".join(answers) + "\n"
    )
    assert result.exit_code == 1 and "invalid_code" in result.output


def test_sync_command_on_zoho_sides(tmp_path: Path, sandbox: Sandbox) -> None:
    """`replicator sync --json` on a Zoho config syncs both ways and reports the counts."""
    fresh(sandbox)
    with ZohoApi(sandbox.credentials_path) as api:
        api.crm_create("Accounts", {"Account_Name": "Cli Co", "Phone": "+1 1"})
        api.books_create_contact("Cli Books", website="cli.example")
    config = tmp_path / "replicator.toml"
    config.write_text(zoho_config(sandbox.credentials_path), encoding="utf-8")
    env = {**os.environ, "COLUMNS": "200"}
    result = CliRunner(env=env).invoke(main, ["--config", str(config), "sync", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["modules"]["customers"]
    assert counts["books"]["created"] == 1 and counts["crm"]["created"] == 1
