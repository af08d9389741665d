"""Access tokens shared by processes through a token file: reuse, expiry, 401s, refusals."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import httpx
import pytest

from replicator.connectors.zoho.credentials import SharedAuth, open_auth
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.secrets import Secret
from replicator.connectors.zoho.tokens import (
    CACHE_ENV,
    CachedOAuth,
    TokenCache,
    cache_folder,
    cache_key,
)
from replicator.errors import ZohoRefreshLimitError
from tests.connectors.zoho.fakes import REFRESH, SECRET, T0, FakeClock, reply

ACCOUNTS = "https://accounts.test"
CLIENT_ID = "1000.CLIENTID"


class TokenServer:
    """A token endpoint handing out numbered tokens, or refusing with ``refusal``."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.issued: list[str] = []
        self.refusals = 0
        self.refusal: httpx.Response | None = None
        self.api: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/oauth/v2/token":
            self.api.append(request)
            return reply(200, {"data": []})
        if self.refusal is not None:
            self.refusals += 1
            return self.refusal
        token = f"1000.access-token-{len(self.issued) + 1:04d}"
        self.issued.append(token)
        return reply(
            200,
            {"access_token": token, "expires_in": 3600, "api_domain": "https://api.test"},
        )


def process(folder: Path, server: TokenServer, clock: FakeClock, **options) -> CachedOAuth:
    """What one process holds: its own OAuth, over the shared token file in ``folder``."""
    return CachedOAuth(
        cache=TokenCache(folder, cache_key(ACCOUNTS, CLIENT_ID, Secret(REFRESH))),
        client_id=CLIENT_ID,
        client_secret=SECRET,
        refresh_token=REFRESH,
        accounts_url=ACCOUNTS,
        transport=httpx.MockTransport(server.handler),
        clock=clock.monotonic,
        wall=lambda: T0.timestamp() + clock.t,
        sleep=clock.sleep,
        **options,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> TokenServer:
    return TokenServer(clock)


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("zoho-token-*.json"))


def test_a_second_process_reuses_the_first_ones_token(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """Two clients sharing the token file (two processes) take one token between them."""
    first = process(tmp_path, server, clock)
    assert first.token() == "1000.access-token-0001"
    clock.advance(60)
    second = process(tmp_path, server, clock)
    assert second.token() == "1000.access-token-0001"
    assert second.api_domain == "https://api.test"
    assert server.issued == ["1000.access-token-0001"]
    assert (first.calls, second.calls) == (1, 0)


def test_a_cached_token_is_not_handed_out_in_its_last_five_minutes(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """A token good for more than 5 minutes is reused; one closer to expiry is replaced."""
    process(tmp_path, server, clock).token()
    clock.advance(3600 - 301)
    assert process(tmp_path, server, clock).token() == "1000.access-token-0001"
    clock.advance(2)
    assert process(tmp_path, server, clock).token() == "1000.access-token-0002"
    assert process(tmp_path, server, clock).token() == "1000.access-token-0002"
    assert len(server.issued) == 2


def test_a_process_holding_a_token_takes_the_one_another_process_renewed(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """Near expiry a long-running process reads the file first: no second renewal."""
    daemon = process(tmp_path, server, clock)
    daemon.token()
    clock.advance(3400)
    assert process(tmp_path, server, clock).token() == "1000.access-token-0002"
    assert daemon.token() == "1000.access-token-0002"
    assert len(server.issued) == 2


def test_a_401_drops_the_cached_token_refreshes_once_and_retries(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """INVALID_TOKEN: one new token, one retry; the file then holds the new token."""
    process(tmp_path, server, clock).token()
    answers = iter([reply(401, {"code": "INVALID_TOKEN", "message": "invalid oauth token"})])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token":
            return server.handler(request)
        server.api.append(request)
        return next(answers, None) or reply(200, {"data": [{"id": "1"}]})

    auth = process(tmp_path, server, clock)
    client = ApiClient(auth, "/crm/v8", transport=httpx.MockTransport(handler))
    assert client.request("GET", "/Accounts", kind="list").status_code == 200
    sent = [r.headers["authorization"] for r in server.api]
    assert sent == [
        "Zoho-oauthtoken 1000.access-token-0001",
        "Zoho-oauthtoken 1000.access-token-0002",
    ]
    assert process(tmp_path, server, clock).token() == "1000.access-token-0002"
    assert len(server.issued) == 2


def test_a_401_keeps_a_token_another_process_already_renewed(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """A process meeting a 401 for an old token does not drop the new one in the file."""
    slow = process(tmp_path, server, clock)
    stale = slow.token()
    fast = process(tmp_path, server, clock)
    fast.invalidate(stale)
    renewed = fast.token()
    slow.invalidate(stale)
    assert slow.token() == renewed == "1000.access-token-0002"
    assert len(server.issued) == 2


def test_access_denied_is_one_line_saying_when_to_retry_and_no_secret(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """Zoho's 400 Access Denied fails at once with one line naming the retry time; the
    next process is told the same without asking Zoho again."""
    server.refusal = reply(
        400,
        {
            "error": "Access Denied",
            "error_description": "You have made too many requests continuously. "
            f"Please try again after some time. {REFRESH}",
            "status": "failure",
        },
    )
    with pytest.raises(ZohoRefreshLimitError) as caught:
        process(tmp_path, server, clock).token()
    message = str(caught.value)
    assert "\n" not in message
    assert "no new access token before 2026-11-27 10:10:00 UTC (in 600 s)" in message
    assert "Access Denied" in message
    assert REFRESH not in message and SECRET not in message
    assert clock.sleeps == []
    with pytest.raises(ZohoRefreshLimitError, match="before 2026-11-27 10:10:00 UTC"):
        process(tmp_path, server, clock).token()
    assert server.refusals == 1
    server.refusal = None
    clock.advance(600)
    assert process(tmp_path, server, clock).token() == "1000.access-token-0001"


def test_a_429_with_a_short_retry_after_waits_then_takes_a_token(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """HTTP 429 with Retry-After: 20 waits 20 s (within the bound) and asks once more."""
    server.refusal = reply(429, {"error": "too many"}, headers={"Retry-After": "20"})
    auth = process(tmp_path, server, clock)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        server.refusal = None

    auth.sleep = sleep
    assert auth.token() == "1000.access-token-0001"
    assert clock.sleeps == [20.0]
    assert server.refusals == 1


def test_a_429_with_a_long_retry_after_fails_at_once_naming_the_time(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """A Retry-After beyond the wait bound is one error line with the time, no sleep."""
    server.refusal = reply(429, {"error": "too many"}, headers={"Retry-After": "3600"})
    with pytest.raises(ZohoRefreshLimitError) as caught:
        process(tmp_path, server, clock, max_wait=60).token()
    message = str(caught.value)
    assert "before 2026-11-27 11:00:00 UTC (in 3600 s)" in message and "HTTP 429" in message
    assert caught.value.details["retry_at"] == "2026-11-27T11:00:00+00:00"
    assert clock.sleeps == []


def test_processes_together_take_at_most_ten_tokens_in_ten_minutes(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """Ten tokens taken by ten processes: the eleventh is not asked for, and the error
    says when the oldest leaves the window; a wait shorter than the bound is waited."""
    for _ in range(10):
        auth = process(tmp_path, server, clock)
        auth.invalidate(auth.token())
        clock.advance(30)
    with pytest.raises(ZohoRefreshLimitError, match=r"in 300 s\): 10 were taken"):
        process(tmp_path, server, clock).token()
    assert len(server.issued) == 10
    clock.advance(250)
    assert process(tmp_path, server, clock).token() == "1000.access-token-0011"
    assert clock.sleeps == [50.0]


def test_the_token_file_is_private_and_named_by_a_hash(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """The token file and its lock file are 0600; neither name holds the refresh token;
    the file holds the access token with its expiry in UTC."""
    process(tmp_path, server, clock).token()
    (path,) = cache_files(tmp_path)
    lock = path.with_suffix(".lock")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert REFRESH not in path.name and "refresh" not in path.name
    data = json.loads(path.read_text())
    assert data["access_token"] == "1000.access-token-0001"
    assert data["expires"] == "2026-11-27T11:00:00+00:00"
    assert REFRESH not in path.read_text() and SECRET not in path.read_text()
    assert list(tmp_path.glob("*.tmp")) == []


def test_a_token_file_others_can_read_is_ignored_and_replaced_private(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """A token file whose mode lets others read it is not trusted: a new token is taken
    and the file is written again 0600."""
    process(tmp_path, server, clock).token()
    (path,) = cache_files(tmp_path)
    os.chmod(path, 0o644)
    assert process(tmp_path, server, clock).token() == "1000.access-token-0002"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["", "{", "[]", '{"access_token": "x", "issued": "soon"}'])
def test_a_broken_token_file_is_replaced(
    tmp_path: Path, server: TokenServer, clock: FakeClock, text: str
) -> None:
    """A token file that does not parse costs one token, never an error."""
    path = TokenCache(tmp_path, cache_key(ACCOUNTS, CLIENT_ID, Secret(REFRESH))).path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    assert process(tmp_path, server, clock).token() == "1000.access-token-0001"
    assert json.loads(path.read_text())["access_token"] == "1000.access-token-0001"


def test_an_unwritable_folder_costs_the_cache_not_the_token(
    tmp_path: Path, server: TokenServer, clock: FakeClock
) -> None:
    """Where the token file cannot be written, each process takes its own token."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    assert process(blocked, server, clock).token() == "1000.access-token-0001"
    assert process(blocked, server, clock).token() == "1000.access-token-0002"


def test_refresh_tokens_accounts_and_clients_each_have_their_own_file() -> None:
    """The file name changes with the refresh token, the accounts server and the client."""
    keys = {
        cache_key(ACCOUNTS, CLIENT_ID, Secret(REFRESH)),
        cache_key(ACCOUNTS, CLIENT_ID, Secret(REFRESH + "x")),
        cache_key("https://accounts.zoho.eu", CLIENT_ID, Secret(REFRESH)),
        cache_key(ACCOUNTS, "1000.OTHER", Secret(REFRESH)),
    }
    assert len(keys) == 4


def test_the_token_file_goes_beside_the_credentials_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    """Beside the credentials file; REPLICATOR_TOKEN_CACHE names another folder or
    ``off``; credentials from the environment use the user's cache folder."""
    creds = tmp_path / "secrets" / "zoho.json"
    assert cache_folder(creds, {}) == tmp_path / "secrets"
    assert cache_folder(creds, {CACHE_ENV: str(tmp_path / "c")}) == tmp_path / "c"
    assert cache_folder(creds, {CACHE_ENV: "off"}) is None
    assert cache_folder(None, {"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "replicator"


def test_open_auth_shares_tokens_through_the_folder_it_is_given(
    tmp_path: Path, server: TokenServer
) -> None:
    """Sides opened in two "processes" (sessions) share one token through the file."""
    env = {
        "REPLICATOR_ZOHO_CLIENT_ID": CLIENT_ID,
        "REPLICATOR_ZOHO_CLIENT_SECRET": SECRET,
        "REPLICATOR_ZOHO_REFRESH_TOKEN": REFRESH,
        "REPLICATOR_ZOHO_ACCOUNTS_URL": ACCOUNTS,
        CACHE_ENV: str(tmp_path),
    }
    transport = httpx.MockTransport(server.handler)
    tokens = []
    for _ in range(2):
        auth, _ = open_auth("crm", {}, env=env, transport=transport)
        assert not isinstance(auth, SharedAuth) and isinstance(auth, CachedOAuth)
        tokens.append(auth.token())
        auth.close()
    assert tokens == ["1000.access-token-0001"] * 2 and len(server.issued) == 1
    assert len(cache_files(tmp_path)) == 1


# -- two processes at once ---------------------------------------------------------------


def _first_use(folder: str, log: str, start: multiprocessing.synchronize.Barrier) -> None:
    """A process: wait for the other, then ask for a token; log each token request."""

    def handler(request: httpx.Request) -> httpx.Response:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(fd, b"token request\n")
        os.close(fd)
        return reply(
            200,
            {
                "access_token": f"1000.token-of-{os.getpid()}",
                "expires_in": 3600,
                "api_domain": "https://api.test",
            },
        )

    auth = CachedOAuth(
        cache=TokenCache(folder, cache_key(ACCOUNTS, CLIENT_ID, Secret(REFRESH))),
        client_id=CLIENT_ID,
        client_secret=SECRET,
        refresh_token=REFRESH,
        accounts_url=ACCOUNTS,
        transport=httpx.MockTransport(handler),
    )
    start.wait(timeout=60)
    token = auth.token()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, f"holds {token}\n".encode())
    os.close(fd)


def test_two_processes_starting_at_once_take_one_token(tmp_path: Path) -> None:
    """Two processes released together find no token file: one asks Zoho, the other
    waits for the lock and takes the same token."""
    context = multiprocessing.get_context("spawn")
    log = tmp_path / "log"
    start = context.Barrier(2)
    workers = [
        context.Process(target=_first_use, args=(str(tmp_path), str(log), start)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    lines = log.read_text().splitlines()
    assert lines.count("token request") == 1
    held = {line for line in lines if line.startswith("holds")}
    assert len(held) == 1
