"""The ``[console]`` table of the config: the web console (issue 14).

Shape (every key optional)::

    [console]
    enabled = true            # default false: no console routes at all
    session_minutes = 480     # how long a sign-in lasts
    secure_cookie = "auto"    # the session cookie's Secure flag: true, false, or "auto":
                              # Secure when the console is served off loopback (HTTPS there)

Without the table the console is off and everything behaves as it did before it existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from replicator.config.check import refuse_unknown
from replicator.errors import ConfigError

KEYS = {"enabled", "session_minutes", "secure_cookie"}
MAX_SESSION_MINUTES = 7 * 24 * 60  # a week: a longer sign-in outlives any working session


@attrs.frozen
class ConsoleConfig:
    enabled: bool = False
    session_minutes: int = 480
    # None: "auto", Secure when served off loopback (replicator.console.auth.secure_cookie)
    secure_cookie: bool | None = None


def parse_console(data: Any, path: Path) -> ConsoleConfig:
    """Validate ``[console]``; :class:`ConfigError` names the key and the reason."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(str(path), f"console.{key}" if key else "console", reason)

    if not isinstance(data, Mapping):
        raise fail("", f"must be a table, not {type(data).__name__}")
    refuse_unknown(path, "console", data, KEYS)
    enabled = data.get("enabled", False)
    if not isinstance(enabled, bool):
        raise fail("enabled", f"must be true or false, not {enabled!r}")
    minutes = data.get("session_minutes", 480)
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise fail("session_minutes", f"must be a whole number of minutes, not {minutes!r}")
    if not 1 <= minutes <= MAX_SESSION_MINUTES:
        raise fail("session_minutes", f"must be 1 to {MAX_SESSION_MINUTES}, not {minutes}")
    secure = data.get("secure_cookie", "auto")
    if secure != "auto" and not isinstance(secure, bool):
        raise fail("secure_cookie", f'must be true, false or "auto", not {secure!r}')
    return ConsoleConfig(
        enabled=enabled,
        session_minutes=minutes,
        secure_cookie=None if secure == "auto" else secure,
    )


__all__ = ["ConsoleConfig", "parse_console"]
