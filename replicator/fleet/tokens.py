"""Zoho access tokens shared by every worker of the fleet, kept in Redis.

Zoho gives about 10 access tokens per 10 minutes per refresh token.  A single machine's
processes share them through a file (:class:`~replicator.connectors.zoho.tokens.TokenCache`);
a fleet's workers on many machines share them here, behind the same three calls
(``locked``, ``read``, ``write``), so :class:`~replicator.connectors.zoho.tokens.CachedOAuth`
keeps the allowance and its refusals for the whole fleet unchanged.

The grant holds an access token: it is stored sealed with the fleet key (Fernet), never in
clear in Redis.  The lock is redis-py's, held while one worker asks Zoho for a token (so
two workers starting at once take one token, not two), and it expires if its holder dies.
Keys: ``replicator:fleet:token:HASH`` and ``...:token-lock:HASH`` (the hash of the accounts
server, client id and refresh token, as the file's name).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

import redis
from redis.exceptions import LockError, RedisError

from replicator.connectors.zoho.tokens import Grant, decode_grant, encode_grant
from replicator.fleet.errors import FleetKeyError
from replicator.fleet.locks import PREFIX
from replicator.fleet.sealing import Sealer

log = logging.getLogger("replicator.fleet")

LOCK_TTL = 60.0  # a token request takes seconds; a dead holder's lock goes after this
KEEP = 86_400  # seconds a grant (its refusals and the times tokens were taken) is kept


class RedisTokenCache:
    """One refresh token's grant in Redis, sealed; the same calls as ``TokenCache``."""

    def __init__(self, client: redis.Redis, key: str, sealer: Sealer) -> None:
        self.client, self.key, self.sealer = client, key, sealer

    def __repr__(self) -> str:
        return f"RedisTokenCache({self.key[:8]}...)"

    @property
    def grant_key(self) -> str:
        return f"{PREFIX}:token:{self.key}"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the grant's lock while reading, asking Zoho and writing; Redis out of
        reach costs the sharing, never the sync (as the file's cache does)."""
        lock = self.client.lock(
            f"{PREFIX}:token-lock:{self.key}",
            timeout=LOCK_TTL,
            blocking_timeout=LOCK_TTL * 1.5,
            thread_local=False,
        )
        try:
            held = lock.acquire()
        except RedisError as exc:
            log.warning("fleet token cache: no lock (%s)", type(exc).__name__)
            held = False
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(LockError, RedisError):
                    lock.release()

    def read(self) -> Grant:
        try:
            sealed = self.client.get(self.grant_key)
        except RedisError as exc:
            log.warning("fleet token cache: cannot read (%s)", type(exc).__name__)
            return Grant()
        if not isinstance(sealed, bytes):
            return Grant()
        try:
            return decode_grant(json.loads(self.sealer.open(sealed, tenant="(token cache)")))
        except (FleetKeyError, KeyError, TypeError, ValueError):
            log.warning("fleet token cache: ignoring a grant that does not open or parse")
            return Grant()

    def write(self, grant: Grant) -> None:
        sealed = self.sealer.seal(json.dumps(encode_grant(grant), sort_keys=True).encode())
        try:
            self.client.set(self.grant_key, sealed, ex=KEEP)
        except RedisError as exc:
            log.warning("fleet token cache: cannot write (%s)", type(exc).__name__)


__all__ = ["RedisTokenCache"]
