"""Access tokens shared by every process that signs in with one refresh token.

Zoho gives about 10 access tokens per 10 minutes per refresh token (each valid an hour) and
refuses more with HTTP 400 ``Access Denied`` ("too many requests continuously"), so a
program that takes a new token at every start is refused at the 11th run of a cron job or a
restart loop.  :class:`TokenCache` keeps one refresh token's access token in a JSON file
beside the credentials, ``zoho-token-<hash>.json``: the hash is of the accounts server, the
client id and the refresh token, so the name tells nothing of them.  Every process reuses
the token until ``margin`` seconds (5 minutes) before it expires.  A lock file beside it
(``fcntl.flock``) makes "read, ask Zoho if need be, write" one step, so two processes
starting at once take one token, not two.

The file also keeps when tokens were taken (the last window's) and until when the token
endpoint refuses, so the processes together keep within Zoho's allowance, and after a
refusal each process knows when to come back instead of asking again (each refused request
may count against the allowance too).

:class:`CachedOAuth` is :class:`~replicator.connectors.zoho.auth.OAuth` over such a file.
On a 401 (the API refused the token) it drops the token from the file, unless another
process has already replaced it.  When no token may be asked for, or the token endpoint
refuses one (``Access Denied``, HTTP 429), it waits if the wait is short (``max_wait``,
honouring ``Retry-After``) or raises :class:`ZohoRefreshLimitError` with one line saying
when a new token can be asked for.

The file holds a secret: it is created 0600 and replaced whole (a temporary file and a
rename), and its token is never logged nor put in an error.  A file that group or others
could read, that another user owns, or that does not parse is ignored and replaced.  A
folder where the file cannot be written costs the cache, never the sync: the process then
takes its own token, as it did before the cache.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from replicator.connectors.zoho.auth import OAuth
from replicator.connectors.zoho.cursors import parse_time
from replicator.connectors.zoho.limits import Clock, Sleep
from replicator.connectors.zoho.secrets import Secret
from replicator.errors import ZohoAuthError, ZohoRefreshLimitError

try:
    import fcntl
except ImportError:  # Windows: no flock; processes there may each take a token
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("replicator.zoho")

CACHE_ENV = "REPLICATOR_TOKEN_CACHE"  # a folder for the token files, or "off"
FILE_PREFIX = "zoho-token-"
MARGIN = 300.0  # a cached token is not handed out in its last 5 minutes
MAX_WAIT = 60.0  # wait this long at most for the token endpoint; longer: fail, say when


def cache_key(accounts_url: str, client_id: str, refresh_token: Secret) -> str:
    """The name part of a refresh token's cache file: a hash, never the token."""
    text = "\0".join((accounts_url.rstrip("/"), client_id, refresh_token.reveal()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_folder(credentials_file: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """Where a side's token file goes: ``$REPLICATOR_TOKEN_CACHE`` (``off``: nowhere), else
    beside the credentials file, else (credentials from the environment) the user's cache
    folder, ``$XDG_CACHE_HOME/replicator`` or ``~/.cache/replicator``."""
    chosen = env.get(CACHE_ENV, "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen).expanduser()
    if credentials_file is not None:
        return Path(credentials_file).expanduser().parent
    base = env.get("XDG_CACHE_HOME") or os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "replicator"


# -- the file ----------------------------------------------------------------------------


@attrs.frozen
class Grant:
    """What a token file holds.  Times are wall-clock seconds since the epoch, the clock
    every process shares (a monotonic clock is each process's own)."""

    token: Secret | None = None
    api_domain: str | None = None
    issued: float = 0.0  # when the token was taken
    expires: float = 0.0  # when Zoho stops taking it
    taken: tuple[float, ...] = ()  # when tokens were taken, oldest first
    refused_until: float = 0.0  # the token endpoint refuses until then

    def usable_until(self, margin: float) -> float:
        """When to stop handing the token out: ``margin`` before expiry, or half-way
        through a lifetime shorter than twice the margin (as :class:`OAuth` does)."""
        lifetime = self.expires - self.issued
        return self.issued + max(lifetime - margin, lifetime / 2)

    def recent(self, now: float, window: float) -> tuple[float, ...]:
        return tuple(t for t in self.taken if now - t < window)


def _text(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat()


def _moment(value: Any) -> float:
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError("not a time")
    return parsed.timestamp()


def decode_grant(data: Any) -> Grant:
    """A grant from its JSON form (ValueError, KeyError or TypeError when it is none)."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    token = data.get("access_token")
    domain = data.get("api_domain")
    taken = data.get("taken", [])
    if not isinstance(taken, list):
        raise ValueError("taken is not a list")
    return Grant(
        token=Secret(token) if isinstance(token, str) and token else None,
        api_domain=domain if isinstance(domain, str) and domain else None,
        issued=_moment(data["issued"]) if data.get("issued") else 0.0,
        expires=_moment(data["expires"]) if data.get("expires") else 0.0,
        taken=tuple(sorted(_moment(t) for t in taken)),
        refused_until=_moment(data["refused_until"]) if data.get("refused_until") else 0.0,
    )


def encode_grant(grant: Grant) -> dict[str, Any]:
    """A grant's JSON form (it holds the access token: a secret)."""
    data: dict[str, Any] = {"taken": [_text(t) for t in grant.taken]}
    if grant.token:
        data |= {
            "access_token": grant.token.reveal(),
            "api_domain": grant.api_domain,
            "issued": _text(grant.issued),
            "expires": _text(grant.expires),
        }
    if grant.refused_until:
        data["refused_until"] = _text(grant.refused_until)
    return data


class TokenCache:
    """One refresh token's :class:`Grant` in a 0600 file, with a lock file beside it."""

    def __init__(self, folder: str | Path, key: str) -> None:
        folder = Path(folder).expanduser()
        self.path = folder / f"{FILE_PREFIX}{key}.json"
        self.lock_path = folder / f"{FILE_PREFIX}{key}.lock"

    def __repr__(self) -> str:
        return f"TokenCache({str(self.path)!r})"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's lock (blocking: its holder makes at most one token request).
        Without a usable lock file the block runs unlocked: the cache is a saving, and a
        sync must not fail for want of it."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("zoho token cache: cannot lock %s (%s)", self.lock_path, exc.strerror)
            yield
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def read(self) -> Grant:
        """The file's grant; an empty one when there is no file, or it is not to be
        trusted (others may read it, another user owns it) or does not parse."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                info = os.fstat(handle.fileno())
                if os.name != "nt" and (
                    info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or info.st_uid != os.getuid()
                ):
                    log.warning("zoho token cache: ignoring %s (not private to you)", self.path)
                    return Grant()
                data = json.load(handle)
        except FileNotFoundError:
            return Grant()
        except OSError as exc:
            log.warning("zoho token cache: cannot read %s (%s)", self.path, exc.strerror)
            return Grant()
        except ValueError:
            log.warning("zoho token cache: ignoring %s (not a token file)", self.path)
            return Grant()
        try:
            return decode_grant(data)
        except (KeyError, TypeError, ValueError):
            log.warning("zoho token cache: ignoring %s (not a token file)", self.path)
            return Grant()

    def write(self, grant: Grant) -> None:
        """Replace the file whole (a reader never sees half of it); 0600 from the start."""
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode otherwise
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(encode_grant(grant), handle, indent=2, sort_keys=True)
                    handle.write("\n")
                os.replace(temporary, self.path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("zoho token cache: cannot write %s (%s)", self.path, exc.strerror)


# -- OAuth over the file -----------------------------------------------------------------


def is_refusal(error: ZohoAuthError) -> bool:
    """Whether the token endpoint refused for too many requests (Zoho: 400 ``Access
    Denied``; a 429 from it or a proxy in front of it)."""
    return error.status == 429 or error.code == "Access Denied"


class CachedOAuth(OAuth):
    """:class:`OAuth` whose access token is shared through a :class:`TokenCache`."""

    def __init__(
        self,
        *,
        cache: TokenCache,
        wall: Clock = time.time,
        sleep: Sleep = time.sleep,
        max_wait: float = MAX_WAIT,
        margin: float = MARGIN,
        **options: Any,
    ) -> None:
        super().__init__(margin=margin, **options)
        self.cache, self.wall, self.sleep, self.max_wait = cache, wall, sleep, max_wait

    def __repr__(self) -> str:
        return f"CachedOAuth(client_id={self.client_id!r}, accounts_url={self.accounts_url!r})"

    def invalidate(self, token: str) -> None:
        """Forget ``token`` here and in the file (the API refused it), unless the file
        already holds another one (a process that met the 401 first took it)."""
        super().invalidate(token)
        with self.cache.locked():
            grant = self.cache.read()
            if grant.token is not None and grant.token.reveal() == token:
                self.cache.write(attrs.evolve(grant, token=None, api_domain=None))

    def _refresh(self) -> None:
        try:
            self._take()
        except ZohoRefreshLimitError as exc:
            wait = exc.details.get("retry_in")
            if not isinstance(wait, int | float) or wait > self.max_wait:
                raise
            log.info("zoho oauth: no new access token for %.0f s; waiting", wait)
            self.sleep(wait)
            self._take()

    def _take(self) -> None:
        """Hold the file's token if it is good for a while yet, else take a new one."""
        with self.cache.locked():
            grant = self.cache.read()
            now = self.wall()
            if grant.token is not None and now < grant.usable_until(self.margin):
                self._hold(grant, now)
                return
            taken = grant.recent(now, self.window)
            if grant.refused_until > now:
                raise self._refused(
                    grant.refused_until, "the token endpoint refused the last request for one"
                )
            if len(taken) >= self.limit:
                raise self._refused(
                    taken[-self.limit] + self.window,
                    f"{len(taken)} were taken in the last {self.window / 60:g} minutes",
                )
            started = self.clock()
            try:
                body = self._request(started)
            except ZohoAuthError as exc:
                if not is_refusal(exc):
                    raise
                delay = exc.details.get("retry_after")
                until = now + (delay if isinstance(delay, int | float) else self.window)
                self.cache.write(attrs.evolve(grant, taken=taken, refused_until=until))
                why = "HTTP 429" if exc.status == 429 else f"{exc.code}: too many requests"
                raise self._refused(until, f"the token endpoint refused one ({why})") from None
            lifetime = self._use(body, started)
            assert self._token is not None
            self.cache.write(
                Grant(
                    token=self._token,
                    api_domain=self._api_domain,
                    issued=now,
                    expires=now + lifetime,
                    taken=(*taken, now),
                )
            )

    def _hold(self, grant: Grant, now: float) -> None:
        assert grant.token is not None
        self._token = grant.token
        self.redactor.add(grant.token)
        self._expires = self.clock() + (grant.usable_until(self.margin) - now)
        if grant.api_domain:
            self._api_domain = grant.api_domain
        log.debug("zoho oauth: access token from the cache")

    def _refused(self, until: float, why: str) -> ZohoRefreshLimitError:
        """One line: why no token, and when one can be asked for (never a secret)."""
        wait = max(0.0, until - self.wall())
        at = dt.datetime.fromtimestamp(until, dt.UTC)
        return ZohoRefreshLimitError(
            f"Zoho OAuth at {self.accounts_url}: no new access token before "
            f"{at:%Y-%m-%d %H:%M:%S} UTC (in {math.ceil(wait)} s): {why}; Zoho gives about "
            f"{self.limit} per {self.window / 60:g} minutes per refresh token",
            retryable=True,
            details={"retry_in": wait, "retry_at": at.isoformat()},
        )


__all__ = [
    "CACHE_ENV",
    "MARGIN",
    "MAX_WAIT",
    "CachedOAuth",
    "Grant",
    "TokenCache",
    "cache_folder",
    "cache_key",
    "decode_grant",
    "encode_grant",
    "is_refusal",
]
