"""Zoho CRM watch channels of the fleet's tenants, and the tokens that route callbacks.

Every tenant's CRM channels notify one URL, the fleet's endpoint (:mod:`.endpoint`).  A
channel's token routes a callback to its tenant and proves it: ``TENANT.MAC``, where MAC
is an HMAC-SHA256 of the tenant, the side and the channel id under a key derived from the
fleet key (``REPLICATOR_FLEET_KEY``, which the workers and the endpoint hold; any key of a
rotation opens).  So the endpoint needs no table of channels: it recomputes the MAC and
compares it in constant time, as the daemon compares its random token; a token of another
tenant, another side or another channel id, or made without the key, is refused.

Channel ids are the daemon's (:func:`replicator.daemon.watch.channel_id`: stable per journal
and side), so a tenant moved from a single daemon to the fleet replaces its own channel.
:func:`register_channels` subscribes or renews a tenant's channels with the daemon's
:class:`~replicator.daemon.watch.Watch`, its tokens ours; the beat schedules it per tenant
when the fleet has a public URL (``REPLICATOR_FLEET_PUBLIC_URL``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from typing import Any

from replicator.config.load import Config
from replicator.daemon.log import Redactor
from replicator.daemon.metrics import Metrics
from replicator.daemon.watch import Channel, Watch, channel_id
from replicator.fleet.sealing import KEY_ENV

PUBLIC_URL_ENV = "REPLICATOR_FLEET_PUBLIC_URL"
CALLBACK_PATH = "/callbacks/crm"
CHANNELS = "@channels"  # a tenant's channel renewal: its lock and beat entry (no module's name)
_PURPOSE = b"replicator fleet: watch channel tokens"


class ChannelTokens:
    """Makes and checks channel tokens with keys derived from the fleet key(s)."""

    def __init__(self, fleet_keys: Sequence[str]) -> None:
        if not fleet_keys:
            raise ValueError(f"no fleet key: set {KEY_ENV}")
        self._keys = [hmac.new(k.encode(), _PURPOSE, hashlib.sha256).digest() for k in fleet_keys]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChannelTokens:
        text = (os.environ if env is None else env).get(KEY_ENV, "")
        return cls([k.strip() for k in text.split(",") if k.strip()])

    @staticmethod
    def _mac(key: bytes, tenant: str, side: str, channel: str) -> str:
        message = f"{tenant}\x1f{side}\x1f{channel}".encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, tenant: str, side: str, channel: str) -> str:
        """The token of ``tenant``'s channel ``channel`` of ``side`` (the first key's)."""
        return f"{tenant}.{self._mac(self._keys[0], tenant, side, channel)}"

    @staticmethod
    def tenant_of(token: object) -> str | None:
        """The tenant a token claims (unchecked), or None for no token of ours."""
        if not isinstance(token, str) or "." not in token or len(token) > 200:
            return None
        return token.split(".", 1)[0] or None

    def check(self, token: object, tenant: str, side: str, channel: str) -> bool:
        """Whether ``token`` is ``tenant``'s for this side and channel (constant time)."""
        if not isinstance(token, str):
            return False
        given = token.encode()
        found = False
        for key in self._keys:
            expected = f"{tenant}.{self._mac(key, tenant, side, channel)}".encode()
            found |= hmac.compare_digest(given, expected)
        return found


def fleet_channels(
    config: Config, tenant: str, tokens: ChannelTokens, sides: Sequence[str]
) -> list[Channel]:
    """The channels of ``sides`` (CRM sides with instant modules), tokens ours."""
    out = []
    for side in sides:
        channel = channel_id(config, side)
        out.append(Channel(side, channel, tokens.token(tenant, side, channel), []))
    return out


def register_channels(
    config: Config,
    tenant: str,
    connectors: Mapping[str, Any],
    *,
    tokens: ChannelTokens,
    public_url: str,
    now: dt.datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Subscribe (or renew) the tenant's CRM channels to notify ``public_url``'s callback
    path; each side's state (``error`` when the CRM refused: polling picks changes up)."""
    redactor = Redactor()
    watch = Watch(
        config,
        connectors,
        redactor=redactor,
        metrics=Metrics(),
        now=(lambda: now) if now is not None else (lambda: dt.datetime.now(dt.UTC)),
    )
    for channel in fleet_channels(config, tenant, tokens, list(watch.watched())):
        watch.add(channel)
    watch.register(public_url.rstrip("/") + CALLBACK_PATH)
    return watch.state()


__all__ = [
    "CALLBACK_PATH",
    "CHANNELS",
    "PUBLIC_URL_ENV",
    "ChannelTokens",
    "fleet_channels",
    "register_channels",
]
