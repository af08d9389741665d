"""The ``[guard]`` table of the config: the guard rail of a first sync (issue 15).

Shape (every key optional)::

    [guard]
    first_sync_creates = 500   # a first sync against a Zoho side that would create more
                               # records than this on it stops before pushing and asks for
                               # `replicator sync --yes`; 0 turns the guard off

A first sync is one of a module whose sides were never all read to their end.  SQLite
sides are never guarded: they are local files a person can copy back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from replicator.config.check import refuse_unknown
from replicator.errors import ConfigError

KEYS = {"first_sync_creates"}
DEFAULT_FIRST_SYNC_CREATES = 500


@attrs.frozen
class GuardConfig:
    first_sync_creates: int = DEFAULT_FIRST_SYNC_CREATES  # 0: off

    @property
    def on(self) -> bool:
        return self.first_sync_creates > 0


def parse_guard(data: Any, path: Path) -> GuardConfig:
    """Validate ``[guard]``; :class:`ConfigError` names the key and the reason."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(str(path), f"guard.{key}" if key else "guard", reason)

    if not isinstance(data, Mapping):
        raise fail("", f"must be a table, not {type(data).__name__}")
    refuse_unknown(path, "guard", data, KEYS)
    limit = data.get("first_sync_creates", DEFAULT_FIRST_SYNC_CREATES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise fail("first_sync_creates", f"must be a whole number, 0 or more, not {limit!r}")
    return GuardConfig(first_sync_creates=limit)


__all__ = ["DEFAULT_FIRST_SYNC_CREATES", "GuardConfig", "parse_guard"]
