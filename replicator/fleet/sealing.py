"""Tenants' secrets sealed at rest with the fleet key, by the ``cryptography`` package.

Nothing here is home-made cryptography: :class:`cryptography.fernet.Fernet` seals
(AES-128-CBC with an HMAC-SHA256 over it, a timestamp and a random IV) and
:class:`~cryptography.fernet.MultiFernet` lets a fleet rotate its key: the first key of
``REPLICATOR_FLEET_KEY`` seals, every key in it opens.

The key is given by environment to every process of the fleet (the CLI and the workers),
never stored beside the secrets it opens.  No message here holds a key or a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from replicator.fleet.errors import FleetKeyError

KEY_ENV = "REPLICATOR_FLEET_KEY"


def new_key() -> str:
    """A new fleet key (url-safe base64 of 32 random bytes, as Fernet wants it)."""
    return Fernet.generate_key().decode("ascii")


class Sealer:
    """Seals and opens bytes with the fleet key(s): the first seals, any opens."""

    __slots__ = ("_fernet",)

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise FleetKeyError(f"no fleet key: set {KEY_ENV} (`replicator fleet new-key`)")
        fernets = []
        for n, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # the reason says which key, never its text
                raise FleetKeyError(
                    f"{KEY_ENV}: key {n} is not a fleet key (32 url-safe base64 bytes, as "
                    "`replicator fleet new-key` prints)"
                ) from None
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Sealer:
        """The sealer of ``REPLICATOR_FLEET_KEY`` (keys separated by commas, newest first)."""
        env = os.environ if env is None else env
        text = env.get(KEY_ENV, "")
        return cls([k.strip() for k in text.split(",") if k.strip()])

    def seal(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def open(self, token: bytes, *, tenant: str) -> bytes:
        """The bytes ``token`` seals; a key that does not open them is refused by name."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise FleetKeyError(
                f"tenant {tenant}: its secrets do not open with {KEY_ENV} (they were sealed "
                "with another key: give the key they were sealed with, or add it after the "
                "new one, comma-separated, while rotating)"
            ) from None

    def reseal(self, token: bytes, *, tenant: str) -> bytes:
        """``token`` sealed again with the first key (rotation), opened as :meth:`open`."""
        return self.seal(self.open(token, tenant=tenant))

    def __repr__(self) -> str:
        return "Sealer(***)"


__all__ = ["KEY_ENV", "Sealer", "new_key"]
