"""What every benchmark records beside its figures: which code it measured."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


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
