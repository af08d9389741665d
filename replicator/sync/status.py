"""What ``replicator status`` and the console's overview show: whether sync is on, paused
or disabled, and each module's records, links, conflicts, errors, refused writes, cursors,
last sync and next run.

Every figure is counted in SQL over indexed columns, never by decoding each record: the
records by status and by the marks the reducer stores beside each state (``errors``,
``retrying:SIDE``, ``held:SIDE``, ``renamed:SIDE``: :meth:`journal.Journal.record_tallies`),
the conflicts and links by their indexes.  Only the records a side refused are decoded, for
the list of them (``detail`` caps it), so the overview stays fast with 100k records.
"""

from __future__ import annotations

from typing import Any

from journal import JournalStorage, Kind
from journal.entry import utc_text
from journal.view import RecordTally
from replicator.config.load import Config
from replicator.sync import lifecycle

RETRYING, HELD = "retrying:", "held:"


def status_data(
    config: Config, journal: JournalStorage, *, detail: int | None = None, entries: bool = True
) -> dict[str, Any]:
    """The status as ``replicator status --json`` prints it; ``detail``: at most that many
    records in each module's ``retrying`` and ``held_after_retries`` lists (None: all;
    their ``*_total`` counts them all either way); without ``entries`` each module's
    ``entries`` is None (counting them walks an index of every entry: the console's
    overview does not show them)."""
    links = journal.link_counts()
    cursors = journal.cursors()
    state = lifecycle.lifecycle(journal)
    last_run = lifecycle.last_run(journal)
    failures: list[dict[str, Any]] = []
    if last_run is not None:
        failures, _ = lifecycle.problems(journal, last_run)
    per_module: dict[str, int | None] = dict.fromkeys(config.modules, 0 if entries else None)
    if entries:
        per_module.update(journal.entry_counts())
    last_times = journal.last_times(kinds=[Kind.CURSOR, Kind.INTENT])
    last = {module: utc_text(at) for module, at in last_times.items()}
    tallies = journal.record_tallies()
    open_conflicts = journal.conflict_counts(status="open")
    modules = []
    for name, module in config.modules.items():
        tally = tallies.get(name) or RecordTally()
        retrying, held_after = _refused(journal, name, tally, detail)
        modules.append(
            {
                "module": name,
                "sync": "disabled"
                if state.disabled
                else "paused"
                if state.is_paused(name)
                else "on",
                "records": tally.total,
                "by_status": {s: n for s, n in sorted(tally.statuses.items()) if s is not None},
                "links": {
                    side: {
                        "active": links.get((name, side, "active"), 0),
                        "deleted": links.get((name, side, "deleted"), 0),
                    }
                    for side in module.order
                },
                # a record deleted on one side stays on the others: deletes never propagate
                "deleted_kept": {
                    side: links.get((name, side, "deleted"), 0) for side in module.order
                },
                "open_conflicts": open_conflicts.get(name, 0),
                "records_with_errors": tally.marks["errors"],
                # writes a side refused: retried with backoff, then held (`replicator retry`)
                "retrying": retrying,
                "retrying_total": _total(tally, RETRYING),
                "held_after_retries": held_after,
                "held_after_retries_total": _total(tally, HELD),
                # duplicates = "clone": records a side holds under the clone_name rule's name
                "renamed": {side: tally.marks[f"renamed:{side}"] for side in module.order},
                "last_run_errors": sum(1 for f in failures if f["module"] == name),
                "cursors": {side: cursors.get((side, name)) for side in module.order},
                "entries": per_module.get(name),
                "last_sync": last.get(name),
            }
        )
    run = None
    if last_run is not None:
        run = {
            "seq": last_run.seq,
            "trigger": last_run.trigger,
            "started": last_run.started,
            "ended": last_run.ended,
            "modules": list(last_run.modules),
            "paused": list(last_run.paused),
            "error": last_run.error,
            "errors": failures,
        }
    return {
        "config": str(config.path),
        "journal": str(config.journal_path),
        "entries": journal.count(),
        "sync": {
            "enabled": not state.disabled,
            "disabled_since": state.disabled_at,
            "deleted": state.deleted_while_disabled,
            "paused": [name for name in config.modules if state.is_paused(name)],
        },
        "last_run": run,
        "modules": modules,
        "daemon": _daemon(config),
    }


def _total(tally: RecordTally, prefix: str) -> int:
    return sum(n for word, n in tally.marks.items() if word.startswith(prefix))


def _refused(
    journal: JournalStorage, module: str, tally: RecordTally, detail: int | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each refused write of the module, by rid: those retried with backoff, and those held
    after their retries; the marked records alone are decoded, and none when the tally
    says there is none."""
    retrying: list[dict[str, Any]] = []
    held_after: list[dict[str, Any]] = []
    if not (_total(tally, RETRYING) or _total(tally, HELD)):
        return retrying, held_after
    for _, rid, record in journal.records(module, marked=True):
        for side, (attempts, when) in record.retries.items():
            item = {"rid": rid, "side": side, "attempts": attempts, "next": when}
            item["reason"] = record.errors.get(side)
            shown = retrying if when is not None else held_after
            if detail is None or len(shown) < detail:
                shown.append(item)
        if detail is not None and len(retrying) >= detail and len(held_after) >= detail:
            break
    return retrying, held_after


def _daemon(config: Config) -> dict[str, Any]:
    """What the journal's daemon published: running or not, and each module's next run."""
    # function-level: it loads httpx, which only a command reaching a daemon needs
    from replicator.daemon.state import daemon_status

    status = daemon_status(config)
    modules = status.get("modules") or {}
    return {
        "running": bool(status.get("running")),
        "pid": status.get("pid"),
        "url": status.get("url"),
        "started": status.get("started"),
        "next_run": {name: (m or {}).get("next_run") for name, m in modules.items()},
        "last_run": {name: (m or {}).get("last_run") for name, m in modules.items()},
    }


__all__ = ["status_data"]
