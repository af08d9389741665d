"""The ``[daemon]`` table of the config: schedules, the HTTP endpoint, watch channels.

Shape (every key optional)::

    [daemon]
    bind = "127.0.0.1:8780"        # where /healthz, /metrics and the callbacks are served
    public_url = "https://sync.example.com"   # what Zoho calls back (default: http://bind)
    masters_every = "2h"           # customers, vendors, items... (default 2 hours)
    poll_every = "5m"              # transaction modules: the fallback when callbacks stop
                                   # (an idle poll costs two CRM calls: list, deleted feed)
    watch = true                   # register CRM watch channels for instant modules
    channel_expiry = "1d"          # a channel's life (Zoho: at most a week); renewed halfway
    misfire_grace = "1h"           # a run later than this after a sleep is skipped
                                   # (default: none, a missed run runs once, late)
    stop_timeout = "30s"           # SIGTERM: how long the batch in hand may take
    batch_size = 200               # records a settle batch plans and pushes at once

    [daemon.modules.deals]         # per module
    every = "5m"
    instant = true                 # callbacks on (default: transaction modules only)

Durations are seconds (a number) or text such as ``90s``, ``5m``, ``2h``, ``1d``, ``1h30m``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from replicator.config.check import refuse_unknown
from replicator.errors import ConfigError

DEFAULT_BIND = "127.0.0.1:8780"
# a module with a side's table among these is a transaction module: instant, polled often
# (replicator.daemon.schedule decides each module's schedule from these defaults)
TRANSACTION_TABLES = frozenset(
    {"Deals", "Quotes", "Sales_Orders", "Invoices", "Purchase_Orders"}
    | {"invoices", "estimates", "salesorders", "purchaseorders"}
)
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
MAX_CHANNEL_EXPIRY = 7 * 86400.0  # Zoho's limit for a watch channel
KEYS = {
    "bind",
    "public_url",
    "masters_every",
    "poll_every",
    "watch",
    "channel_expiry",
    "misfire_grace",
    "stop_timeout",
    "batch_size",
    "modules",
}
MODULE_KEYS = {"every", "instant"}


@attrs.frozen
class ModuleSchedule:
    """A module's own settings (None: the default for its kind)."""

    every: float | None = None
    instant: bool | None = None


@attrs.frozen
class DaemonConfig:
    bind: str = DEFAULT_BIND
    public_url: str | None = None
    masters_every: float = 7200.0
    poll_every: float = 300.0
    watch: bool = True
    channel_expiry: float = 86400.0
    misfire_grace: float | None = None
    stop_timeout: float = 30.0
    batch_size: int = 200
    modules: Mapping[str, ModuleSchedule] = attrs.field(factory=dict)

    @property
    def host(self) -> str:
        return split_bind(self.bind)[0]

    @property
    def port(self) -> int:
        return split_bind(self.bind)[1]


def split_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8780`` for IPv6) -> (host, port); ValueError if malformed."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{bind!r} is not HOST:PORT (such as 127.0.0.1:8780)")
    return host.strip("[]"), int(port)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text such as ``90s``, ``5m``, ``1h30m``; ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration (such as 90s, 5m, 2h, 1d)")
        seconds = sum(float(n) * UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"{value!r} is not a duration")
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be more than zero")
    return seconds


def parse_daemon(data: Any, path: Path, modules: Sequence[str]) -> DaemonConfig:
    """Validate ``[daemon]``; :class:`ConfigError` names the key and the reason."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(str(path), f"daemon.{key}" if key else "daemon", reason)

    if not isinstance(data, Mapping):
        raise fail("", f"must be a table, not {type(data).__name__}")
    refuse_unknown(path, "daemon", data, KEYS)
    out: dict[str, Any] = {}
    for key in ("masters_every", "poll_every", "channel_expiry", "misfire_grace", "stop_timeout"):
        if key in data:
            try:
                out[key] = parse_duration(data[key])
            except ValueError as exc:
                raise fail(key, str(exc)) from None
    if out.get("channel_expiry", 0) > MAX_CHANNEL_EXPIRY:
        raise fail("channel_expiry", "Zoho keeps a watch channel at most a week (7d)")
    if "bind" in data:
        if not isinstance(data["bind"], str):
            raise fail("bind", f"must be HOST:PORT text, not {data['bind']!r}")
        try:
            split_bind(data["bind"])
        except ValueError as exc:
            raise fail("bind", str(exc)) from None
        out["bind"] = data["bind"]
    if "public_url" in data:
        url = data["public_url"]
        if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
            raise fail("public_url", f"must be an http(s) URL, not {url!r}")
        out["public_url"] = url.rstrip("/")
    if "watch" in data:
        if not isinstance(data["watch"], bool):
            raise fail("watch", f"must be true or false, not {data['watch']!r}")
        out["watch"] = data["watch"]
    if "batch_size" in data:
        size = data["batch_size"]
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100_000:
            raise fail("batch_size", f"must be a whole number 1-100000, not {size!r}")
        out["batch_size"] = size
    schedules: dict[str, ModuleSchedule] = {}
    raw_modules = data.get("modules", {})
    if not isinstance(raw_modules, Mapping):
        raise fail("modules", "must be a table of [daemon.modules.NAME]")
    for name, spec in raw_modules.items():
        where = f"modules.{name}"
        if name not in modules:
            raise fail(where, f"no such module (modules: {', '.join(modules)})")
        if not isinstance(spec, Mapping):
            raise fail(where, "must be a table")
        refuse_unknown(path, f"daemon.{where}", spec, MODULE_KEYS)
        every = None
        if "every" in spec:
            try:
                every = parse_duration(spec["every"])
            except ValueError as exc:
                raise fail(f"{where}.every", str(exc)) from None
        instant = spec.get("instant")
        if instant is not None and not isinstance(instant, bool):
            raise fail(f"{where}.instant", f"must be true or false, not {instant!r}")
        schedules[name] = ModuleSchedule(every, instant)
    return DaemonConfig(**out, modules=schedules)


__all__ = [
    "TRANSACTION_TABLES",
    "DaemonConfig",
    "ModuleSchedule",
    "parse_daemon",
    "parse_duration",
    "split_bind",
]
