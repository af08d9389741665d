"""The check before a write: a journal that fails it is not appended to.

``sync`` and the daemon call :func:`guard_journal` before their first write.  It runs
:func:`journal.check_tail` (the append-only triggers, the chain's keying, the last anchor's
entry and hash, every link and hash from that anchor to the head: cheap, whatever the
journal's size) and refuses with one line saying why and how to look closer.  ``force``
writes anyway, and the forcing is itself journaled (a ``config`` entry of module
``@journal`` naming the problem), so an auditor sees that a write went past a failed check.
"""

from __future__ import annotations

from journal import Entry, JournalStorage, check_tail
from journal.payloads import ForcedWrite, new_entry
from journal.store import JOURNAL_MODULE
from replicator.errors import EngineError

FORCED_RID = "@forced"


def guard_journal(
    journal: JournalStorage, *, force: bool = False, by: str = "sync"
) -> Entry | None:
    """Refuse (EngineError) to write to a journal whose tail fails its check, unless
    ``force``: then the forcing is journaled and returned.  None when the tail is sound."""
    log = journal.anchor_log()
    anchor = None if log is None else log.last()
    problem = check_tail(journal, anchor)
    if problem is None:
        return None
    if not force:
        raise EngineError(
            f"journal {journal.where} fails its check before writing, nothing was written: "
            f"{problem}; inspect it with `replicator journal verify` (`--force` writes anyway, "
            "journaled)"
        )
    forced = ForcedWrite(
        by=by, problem=problem[:500], anchor=anchor.to_json() if anchor is not None else None
    )
    (entry,) = journal.append([new_entry(forced, JOURNAL_MODULE, FORCED_RID)])
    return entry


__all__ = ["FORCED_RID", "guard_journal"]
