"""The journal's full verification, as ``replicator journal verify`` and the console's
"Verify now" run it, and the last result kept beside the journal.

:func:`verify_journal` checks the file, the chain, every anchor known (``JOURNAL.anchors``
and the daemon's published state, plus any given) and that a replay equals the live state
(:func:`journal.verify`), then records the result in ``<journal>.verified.json`` (mode
0600): when, by whom, whether it held, how many entries, and the problem if any -- never a
hash key or a value.  :func:`last_verification` reads it back for the console's journal
page ("last verification").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from journal import Anchor, Journal, Verification, anchor_path, read_anchors, verify
from journal.entry import utc_text
from replicator.config.load import Config
from replicator.daemon.state import state_path, write_json


def verified_path(journal_path: Path) -> Path:
    """Where the last verification's result is kept: beside the journal."""
    return journal_path.with_name(journal_path.name + ".verified.json")


def known_anchors(config: Config) -> tuple[list[Anchor], list[str]]:
    """Every anchor kept beside the journal: ``JOURNAL.anchors`` and the daemon's published
    state; with a problem per anchors-file line that is not an anchor."""
    anchors, problems = read_anchors(anchor_path(config.journal_path))
    published = _published_anchor(config)
    if published is not None:
        anchors.append(published)
    return anchors, problems


def _published_anchor(config: Config) -> Anchor | None:
    try:
        state = json.loads(state_path(config.journal_path).read_text(encoding="utf-8"))
        data = state.get("anchor") if isinstance(state, dict) else None
        return None if data is None else Anchor.from_json(data, source="daemon state")
    except (OSError, ValueError):
        return None


def verify_journal(
    config: Config,
    journal: Journal,
    *,
    by: str,
    expected: Iterable[Anchor] = (),
    now: dt.datetime | None = None,
) -> Verification:
    """The full verification of the config's journal against every anchor known and
    ``expected``; its result recorded as the last verification, made ``by`` whom."""
    anchors, anchor_problems = known_anchors(config)
    result = verify(journal, anchors=[*anchors, *expected], anchor_problems=anchor_problems)
    at = now or dt.datetime.now(dt.UTC)
    record = {
        "at": utc_text(at),
        "by": by,
        "ok": result.ok,
        "entries": result.entries,
        "anchors": result.anchors,
        "problem": result.problem,
    }
    write_json(verified_path(config.journal_path), record)
    return result


def last_verification(config: Config) -> dict[str, Any] | None:
    """The last verification's result (``at``, ``by``, ``ok``, ``entries``, ``anchors``,
    ``problem``), or None if the journal was never verified (or the file is unreadable)."""
    try:
        data = json.loads(verified_path(config.journal_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return None
    return {k: data.get(k) for k in ("at", "by", "ok", "entries", "anchors", "problem")}


__all__ = ["known_anchors", "last_verification", "verified_path", "verify_journal"]
