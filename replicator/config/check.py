"""Checks every table of the config file shares: known keys, and how deep values nest.

Each table declares the keys it reads as one set beside the code that reads them
(``load.JOURNAL_KEYS``, ``integration_modules.MODULE_KEYS``, ``daemon.KEYS``...), so a new
option is one line there; :func:`refuse_unknown` turns any other key into a
:class:`ConfigError` naming the file, the table and the key, with the nearest known key as
a hint (a typo such as ``duplicate = "skip"`` must not silently fall back to a default).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from replicator.errors import ConfigError

# the deepest a sensible file goes is modules.NAME.fields.FIELD.values.SIDE.VALUE (7);
# anything far deeper is a mistake or an attack, refused before it reaches code that recurses
MAX_DEPTH = 20


def fail(path: Path, key: str, reason: str) -> ConfigError:
    """The error for ``key`` of the file at ``path`` (raise it)."""
    return ConfigError(str(path), key, reason)


def refuse_unknown(
    path: Path,
    where: str,
    keys: Iterable[Any],
    known: Collection[str],
    *,
    what: str = "key",
) -> None:
    """Raise :class:`ConfigError` for the first key (sorted) of table ``where`` not in
    ``known``; ``what`` names the kind of key (``section``, ``option``...) in the message."""
    unknown = sorted(str(k) for k in keys if k not in known)
    if not unknown:
        return
    key = unknown[0]
    table = f"[{where}]" if where else "the top level"
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    choices = ", ".join(sorted(known)) or "none"
    raise ConfigError(
        str(path),
        f"{where}.{key}" if where else key,
        f"unknown {what} {key!r} in {table} ({hint}known: {choices})",
    )


def refuse_deep(path: Path, data: Mapping[str, Any], *, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`ConfigError` naming the first key nested deeper than ``limit`` tables
    and arrays.  Iterative, so a 10,000-deep value cannot exhaust the stack here."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        keys, value = stack.pop()
        if len(keys) > limit:
            shown = ".".join(keys[:limit]).replace(".[", "[")
            raise ConfigError(
                str(path),
                f"{shown}...",
                f"values nest deeper than {limit} tables or arrays (no setting needs that)",
            )
        if isinstance(value, Mapping):
            stack.extend(((*keys, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*keys, f"[{i}]"), v) for i, v in enumerate(value))


def deep_line(text: str, *, limit: int = MAX_DEPTH) -> tuple[int, str] | None:
    """The line and key where brackets first open deeper than ``limit``, for the message
    when the TOML parser itself recursed too deep (strings and comments are skipped)."""
    depth, key, line, i = 0, "", 1, 0
    quote = ""
    while i < len(text):
        c = text[i]
        if c == "\n":
            line += 1
        if quote:
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
            if c == "\\" and quote[0] == '"':
                i += 1
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            continue
        elif c == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif c in "[{":
            depth += 1
            if depth > limit:
                return line, key
        elif c in "]}":
            depth = max(depth - 1, 0)
        elif c == "=" and depth == 0:
            start = text.rfind("\n", 0, i) + 1
            key = text[start:i].strip()
        i += 1
    return None


__all__ = ["MAX_DEPTH", "deep_line", "fail", "refuse_deep", "refuse_unknown"]
