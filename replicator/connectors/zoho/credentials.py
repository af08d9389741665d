"""Zoho credentials: read from the environment or a 0600 JSON file, written 0600.

A side needs ``client_id``, ``client_secret`` and ``refresh_token`` (a Zoho "self client"
makes them: see :func:`exchange_grant_code`), where its accounts server is (``data_centre``
such as ``eu``, or ``accounts_url``), and for Books the ``organization_id``.  ``api_domain``
is optional: the token answer names it (set it only to point at a sandbox).

Sources, later ones winning key by key:

1. the JSON file named by the side's ``credentials`` option (refused unless only its owner
   can read it: ``chmod 600 FILE``);
2. ``REPLICATOR_ZOHO_<KEY>`` environment variables, shared by every Zoho side;
3. ``REPLICATOR_<SIDE>_<KEY>`` variables for one side (side ``books:acme`` reads
   ``REPLICATOR_BOOKS_ACME_<KEY>``).

Keys: ``CLIENT_ID``, ``CLIENT_SECRET``, ``REFRESH_TOKEN``, ``DATA_CENTRE``,
``ACCOUNTS_URL``, ``API_DOMAIN``, ``ORGANIZATION_ID``; and ``ACCESS_TOKEN`` (with
``API_DOMAIN``) to call with a fixed token and no OAuth, as the local sandbox allows.

Secrets never sit in ``replicator.toml`` (the journal records its settings): a side's
options name only non-secret things (the file, the data centre, the organisation).

Access tokens are shared by the processes that sign in with one refresh token, through a
0600 token file beside the credentials file (see :mod:`replicator.connectors.zoho.tokens`;
``REPLICATOR_TOKEN_CACHE`` names another folder, or ``off``).
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx

from replicator.connectors.zoho.auth import OAuth, StaticToken, token_request
from replicator.connectors.zoho.datacentres import data_centre
from replicator.connectors.zoho.http import Auth
from replicator.connectors.zoho.secrets import Redactor, Secret
from replicator.connectors.zoho.tokens import (
    CACHE_ENV,
    CachedOAuth,
    TokenCache,
    cache_folder,
    cache_key,
)
from replicator.errors import ConfigError, ZohoAuthError

KEYS = (
    "client_id",
    "client_secret",
    "refresh_token",
    "data_centre",
    "accounts_url",
    "api_domain",
    "organization_id",
    "access_token",
)
ENV_PREFIX = "REPLICATOR_ZOHO_"


@attrs.frozen
class Credentials:
    """What a Zoho side signs in with; the secrets print as ``***``."""

    client_id: str
    client_secret: Secret
    refresh_token: Secret
    accounts_url: str = "https://accounts.zoho.com"
    api_domain: str | None = None
    organization_id: str | None = None
    access_token: Secret | None = None  # a fixed token instead of OAuth (the sandbox)


def side_env_prefix(side: str) -> str:
    """``REPLICATOR_<SIDE>_`` with the side name upper-cased and non-letters as ``_``."""
    return "REPLICATOR_" + re.sub(r"[^A-Z0-9]+", "_", side.upper()).strip("_") + "_"


def _check_private(path: Path) -> None:
    if os.name == "nt":
        return
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            str(path),
            "(permissions)",
            f"the credentials file is readable by group or others (mode "
            f"{stat.S_IMODE(mode):04o}); only you may read it: run `chmod 600 {path}`",
        )


def read_credentials_file(path: str | Path) -> dict[str, str]:
    """The keys of a credentials JSON file, after checking only its owner can read it."""
    path = Path(path).expanduser()
    try:
        _check_private(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "no such credentials file") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        # the message names the line and column, never the text (it may hold a secret)
        line = getattr(exc, "lineno", "?")
        raise ConfigError(str(path), "(syntax)", f"not JSON (line {line})") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(file)", "must hold a JSON object")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(str(path), unknown[0], f"unknown key (expected {', '.join(KEYS)})")
    for key, value in data.items():
        if value is not None and not isinstance(value, str | int):
            raise ConfigError(str(path), key, "must be a string")
    return {k: str(v) for k, v in data.items() if v not in (None, "")}


def load_credentials(
    side: str,
    *,
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """A side's credentials from its file and the environment (see the module docstring)."""
    env = os.environ if env is None else env
    values: dict[str, str] = dict(read_credentials_file(path)) if path is not None else {}
    for prefix in (ENV_PREFIX, side_env_prefix(side)):
        for key in KEYS:
            value = env.get(prefix + key.upper())
            if value:
                values[key] = value
    where = str(path) if path is not None else f"environment ({side_env_prefix(side)}*)"
    needed: tuple[str, ...] = ("client_id", "client_secret", "refresh_token")
    if "access_token" in values and "refresh_token" not in values:
        needed = ()  # a fixed token: only the API domain is needed (it may be a side option)
    missing = [k for k in needed if k not in values]
    if missing:
        names = ", ".join(f"{ENV_PREFIX}{k.upper()}" for k in missing)
        raise ConfigError(
            where,
            missing[0],
            f"side {side}: missing Zoho credential(s) {', '.join(missing)} (set {names}, "
            "or name a 0600 JSON file in the side's `credentials` option)",
        )
    accounts_url = values.get("accounts_url")
    if accounts_url is None:
        try:
            accounts_url = data_centre(values.get("data_centre", "com"))[0]
        except ValueError as exc:
            raise ConfigError(where, "data_centre", str(exc)) from None
    access_token = values.get("access_token")
    return Credentials(
        client_id=values.get("client_id", ""),
        client_secret=Secret(values.get("client_secret", "")),
        refresh_token=Secret(values.get("refresh_token", "")),
        accounts_url=accounts_url.rstrip("/"),
        api_domain=values.get("api_domain"),
        organization_id=values.get("organization_id"),
        access_token=Secret(access_token) if access_token else None,
    )


def open_auth(
    side: str,
    options: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Auth, Credentials]:
    """The :class:`Auth` for a Zoho side: its credentials, with the side's options
    (``credentials`` file, ``data_centre`` / ``accounts_url``, ``api_domain``) applied."""
    env = os.environ if env is None else env
    path = options.get("credentials")
    credentials = load_credentials(side, path=path, env=env)
    changes: dict[str, Any] = {}
    if options.get("accounts_url"):
        changes["accounts_url"] = str(options["accounts_url"]).rstrip("/")
    elif options.get("data_centre"):
        try:
            changes["accounts_url"] = data_centre(str(options["data_centre"]))[0]
        except ValueError as exc:
            raise ConfigError(str(path or "(options)"), "data_centre", str(exc)) from None
    for key in ("api_domain", "organization_id"):
        if options.get(key):
            changes[key] = str(options[key])
    credentials = attrs.evolve(credentials, **changes)
    if credentials.access_token is not None and not credentials.refresh_token:
        if not credentials.api_domain:
            raise ConfigError(
                str(path or "(environment)"),
                "api_domain",
                f"side {side}: a fixed access token needs the API domain to call "
                "(api_domain in [sides.NAME], or REPLICATOR_ZOHO_API_DOMAIN)",
            )
        return StaticToken(credentials.access_token, credentials.api_domain), credentials

    # processes share access tokens through a file beside the credentials (Zoho gives
    # only about 10 per 10 minutes); a test's fake transport has none unless it names one
    folder = cache_folder(path, env) if transport is None or CACHE_ENV in env else None

    def make() -> OAuth:
        signs_in_with: dict[str, Any] = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "refresh_token": credentials.refresh_token,
            "accounts_url": credentials.accounts_url,
            "api_domain": credentials.api_domain,
            "transport": transport,
            "clock": clock,
        }
        if folder is None:
            return OAuth(**signs_in_with)
        key = cache_key(credentials.accounts_url, credentials.client_id, credentials.refresh_token)
        return CachedOAuth(cache=TokenCache(folder, key), **signs_in_with)

    if transport is not None:  # a test's fake: its own session
        return make(), credentials
    session: tuple[Any, ...] = (
        credentials.accounts_url,
        credentials.client_id,
        credentials.refresh_token.reveal(),
        credentials.api_domain or "",
        id(clock),
    )
    return SharedAuth.open(session, make), credentials


class SharedAuth:
    """One OAuth session for every side of a process that signs in with the same refresh
    token (CRM and Books usually do): one access token serves both, so a sync refreshes
    once, not once a side, and Zoho's allowance of 10 tokens per 10 minutes per refresh
    token goes twice as far.  Each side holds a handle; the last one closed closes it."""

    _open: dict[tuple[Any, ...], tuple[OAuth, int]] = {}
    _lock = threading.Lock()

    def __init__(self, key: tuple[Any, ...], oauth: OAuth) -> None:
        self._key, self._oauth, self._closed = key, oauth, False
        self.redactor = oauth.redactor

    @classmethod
    def open(cls, key: tuple[Any, ...], make: Callable[[], OAuth]) -> SharedAuth:
        with cls._lock:
            oauth, users = cls._open.get(key) or (make(), 0)
            cls._open[key] = (oauth, users + 1)
        return cls(key, oauth)

    @property
    def oauth(self) -> OAuth:
        """The session every handle shares (a fleet worker keeps its tokens in Redis)."""
        return self._oauth

    @property
    def api_domain(self) -> str:
        return self._oauth.api_domain

    @property
    def calls(self) -> int:
        return self._oauth.calls

    @property
    def accounts_url(self) -> str:
        return self._oauth.accounts_url

    def token(self) -> str:
        return self._oauth.token()

    def invalidate(self, token: str) -> None:
        self._oauth.invalidate(token)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            oauth, users = self._open[self._key]
            if users > 1:
                self._open[self._key] = (oauth, users - 1)
                return
            del self._open[self._key]
        oauth.close()

    def __repr__(self) -> str:
        return f"SharedAuth({self._oauth!r})"


def store_credentials(
    path: str | Path, credentials: Credentials | None = None, **keys: Any
) -> Path:
    """Write credentials as JSON readable only by the owner (0600), replacing the file."""
    path = Path(path).expanduser()
    data: dict[str, str] = {}
    if credentials is not None:
        data = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.reveal(),
            "refresh_token": credentials.refresh_token.reveal(),
            "accounts_url": credentials.accounts_url,
        }
        if credentials.api_domain:
            data["api_domain"] = credentials.api_domain
        if credentials.organization_id:
            data["organization_id"] = credentials.organization_id
        if credentials.access_token:
            data["access_token"] = credentials.access_token.reveal()
    for key, value in keys.items():
        if key not in KEYS:
            raise TypeError(f"unknown credentials key {key!r} (expected {', '.join(KEYS)})")
        if value is not None:
            data[key] = value.reveal() if isinstance(value, Secret) else str(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.chmod(temporary, 0o600)  # a leftover temporary file keeps its old mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)
    return path


def exchange_grant_code(
    accounts_url: str,
    client_id: str,
    client_secret: Secret | str,
    code: Secret | str,
    *,
    http: httpx.Client | None = None,
) -> Secret:
    """Trade a self-client grant code for a refresh token (``grant_type=authorization_code``).

    Make the code at api-console.zoho.<dc> -> Self Client -> Generate Code with the scopes
    the side needs; it is valid for a few minutes and only once.
    """
    client_secret, code = Secret(client_secret), Secret(code)
    redactor = Redactor()
    redactor.add(client_secret)
    redactor.add(code)
    own = http is None
    client = http or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        body = token_request(
            client,
            accounts_url,
            {
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": client_secret.reveal(),
                "code": code.reveal(),
            },
            redactor,
        )
    finally:
        if own:
            client.close()
    refresh = body.get("refresh_token")
    if not refresh:
        raise ZohoAuthError(
            f"Zoho OAuth at {accounts_url}: the answer has no refresh_token (was the code "
            "made with access_type offline, and used only once?)"
        )
    return Secret(str(refresh))


__all__ = [
    "Credentials",
    "SharedAuth",
    "exchange_grant_code",
    "load_credentials",
    "open_auth",
    "read_credentials_file",
    "side_env_prefix",
    "store_credentials",
]
