"""What the benchmarks share: which code they measured (recorded beside every figure), a
reducer that folds nothing, and how a big journal is built fast."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from journal import ChainKey, Journal, NewEntry

# the time every built journal's entries without one of their own are written at
BUILT_AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def log(*args: Any) -> None:
    """Progress, on stderr (stdout is the benchmark's JSON)."""
    print(*args, file=sys.stderr, flush=True)


class NoopReducer:
    """Folds nothing: a journal built with it is the journal's append alone (fast).

    ``version``: the state version to claim, so that a journal built with it opens with
    the real reducer of that version without a rebuild (None: no version)."""

    def __init__(self, version: int | None = None) -> None:
        self.version = version

    def apply(self, view: Any, entry: Any) -> None:
        return None

    def encode(self, state: Any) -> tuple[str, str | None, bool]:
        return "{}", None, False

    def decode(self, text: str) -> Any:
        return {}


def build_journal(
    path: Path,
    batches: Iterable[list[NewEntry]],
    key: ChainKey | None,
    *,
    version: int | None = None,
    every: int = 200_000,
) -> int:
    """Append ``batches`` to a new journal at ``path`` with a reducer that folds nothing
    (its state stays empty), logging every ``every`` entries; the entries appended."""
    done = 0
    with Journal(path, NoopReducer(version), key=key, now=lambda: BUILT_AT) as journal:
        for batch in batches:
            journal.append(batch)
            before, done = done, done + len(batch)
            if done // every != before // every:
                log(f"  {path.name}: {done:,} entries")
    return done


def library_state() -> dict[str, Any]:
    """The commit measured, and the library files that differed from it (uncommitted)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "journal", "conflicts", "replicator"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head, "uncommitted": [line[3:] for line in status]}
