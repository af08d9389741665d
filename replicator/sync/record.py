"""Record: what a run did, journaled when it ends.

Enters: a run (a cycle of ``replicator sync``, a ``fetch``, the daemon's callbacks): its
modules, its trigger, and the steps it runs inside :func:`recorded`, which count into its
:class:`CycleReport`.

Leaves: before the steps, a ``config`` entry when the settings in force changed (and the
accounts the sides sync with, when first seen or changed); after them, the run marker
(``@run``, see :mod:`~replicator.sync.lifecycle`) when the run wrote anything or failed,
and the journal's head anchored outside the journal file (``JOURNAL.anchors``); the report,
timed, to the caller.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from journal import Entry, JournalStorage
from journal.anchors import write_anchor
from journal.entry import utc_text
from journal.payloads import RunMarker, SettingsInForce, SideIdentities, expect, new_entry
from replicator.config.load import Config
from replicator.sync.context import Context

CONFIG_MODULE = "@config"  # the module of the integration's own entries
RUN = "@run"  # the rid of run markers
SIDES_RID = "@sides"  # the rid of entries naming the account each side syncs with
ERROR_TEXT = 500  # a failed run keeps this much of the error's message


@attrs.define
class CycleReport:
    """What a cycle did, counted per (module, side, what)."""

    counts: Counter[tuple[str, str, str]] = attrs.field(factory=Counter)
    started: float = attrs.field(factory=time.monotonic)
    seconds: float = 0.0
    entries_before: int = 0
    entries_after: int = 0
    paused: list[str] = attrs.field(factory=list)  # modules skipped: a person paused them
    failed: dict[str, str] = attrs.field(factory=dict)  # module -> why its side failed

    def add(self, module: str, side: str, what: str, n: int = 1) -> None:
        if n:
            self.counts[(module, side, what)] += n

    def total(self, what: str) -> int:
        return sum(n for (_, _, w), n in self.counts.items() if w == what)

    def rows(self) -> list[tuple[str, str, str, int]]:
        return sorted((m, s, w, n) for (m, s, w), n in self.counts.items())


def report_data(report: CycleReport) -> dict[str, Any]:
    """A cycle's report as JSON (the shape of ``replicator sync --json``)."""
    modules: dict[str, dict[str, dict[str, int]]] = {}
    for module, side, what, n in report.rows():
        modules.setdefault(module, {}).setdefault(side, {})[what] = n
    return {
        "seconds": round(report.seconds, 3),
        "entries": {"before": report.entries_before, "after": report.entries_after},
        "modules": modules,
        "paused": list(report.paused),
        "failed": dict(report.failed),
    }


# -- the settings in force -------------------------------------------------------------------


def last_config(journal: JournalStorage) -> Entry | None:
    """The last settings journaled (the ``config`` entry of the settings in force)."""
    last = None
    for entry in journal.read(module=CONFIG_MODULE, rid=CONFIG_MODULE):
        last = entry
    return last


def canonical_settings(value: Any) -> Any:
    """Settings read from a config file as canonical values the journal can hold: a float
    becomes its text (the journal refuses floats), a naive date-time its ISO text, bytes
    their hex; mappings and lists are converted through."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): canonical_settings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_settings(v) for v in value]
    if isinstance(value, (dt.datetime,)) and value.tzinfo is None:
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def settings_in_force(config: Config, *, by: str | None = None) -> SettingsInForce:
    """The payload of a ``config`` entry journaling the settings of ``config`` (``by``: the
    command that saved them without syncing)."""
    return SettingsInForce(
        fingerprint=config.fingerprint(),
        file=str(config.path),
        settings=canonical_settings(config.raw),
        by=by,
    )


def journal_config(ctx: Context) -> None:
    """A ``config`` entry whenever the settings in force change, and one of the sides'
    accounts (found by :func:`~replicator.sync.checks.check_identities`) once told."""
    last = last_config(ctx.journal)
    if last is None or expect(last, SettingsInForce).fingerprint != ctx.config.fingerprint():
        settings = settings_in_force(ctx.config)
        ctx.journal.append([new_entry(settings, CONFIG_MODULE, CONFIG_MODULE)])
    identities = ctx.kept.identities
    if identities:  # the account each side syncs with, first seen or changed
        told = SideIdentities(identities=dict(sorted(identities.items())))
        ctx.journal.append([new_entry(told, CONFIG_MODULE, SIDES_RID)])
        ctx.kept.identities = {}


# -- the run marker ----------------------------------------------------------------------------


def journal_run(
    journal: JournalStorage,
    report: CycleReport,
    modules: Sequence[str],
    *,
    started: dt.datetime,
    trigger: str = "sync",
    error: BaseException | None = None,
    record: Mapping[str, str] | None = None,
    undoes: int | None = None,
) -> Entry | None:
    """The run marker of a cycle that wrote entries or failed (None for an idle cycle)."""
    first, last = report.entries_before + 1, journal.last_seq
    if last < first and error is None:
        return None
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for module, side, what, n in report.rows():
        counts.setdefault(module, {}).setdefault(side, {})[what] = n
    ended = journal.now()
    marker = RunMarker(
        trigger=trigger,
        started=utc_text(started),
        ended=utc_text(ended),
        modules=tuple(modules),
        counts=counts,
        first=first,
        last=last,
        ms=int((time.monotonic() - report.started) * 1000),
        paused=tuple(report.paused),
        record=dict(record) if record is not None else None,
        error=f"{type(error).__name__}: {error}"[:ERROR_TEXT] if error is not None else None,
        undoes=undoes,
    )
    origin = record.get("side") if record is not None else None
    (entry,) = journal.append([new_entry(marker, CONFIG_MODULE, RUN, origin, at=ended)])
    return entry


@contextlib.contextmanager
def recorded(
    ctx: Context,
    modules: Sequence[str],
    *,
    trigger: str = "sync",
    paused: Sequence[str] = (),
    record: dict[str, str] | None = None,
    undoes: int | None = None,
) -> Iterator[CycleReport]:
    """Run the block as one run of ``modules``, counting into the report it is given.

    The settings in force are journaled first.  When the block ends, the run marker
    follows what it wrote and the journal's head is anchored; when it fails, the marker
    says why (it never hides the error itself, which goes on).  ``record`` names what a
    ``fetch`` read (the block may add the record's id to it before it ends); ``undoes``
    the run an undo reverts.
    """
    journal = ctx.journal
    report = CycleReport(entries_before=journal.last_seq, paused=list(paused))
    started = journal.now()
    ctx.kept.pushed.clear()  # progress counts this run's writes
    try:
        journal_config(ctx)
        yield report
    except Exception as exc:
        with contextlib.suppress(Exception):
            journal_run(
                journal,
                report,
                modules,
                started=started,
                trigger=trigger,
                error=exc,
                record=record,
                undoes=undoes,
            )
            write_anchor(journal)
        raise
    report.seconds = time.monotonic() - report.started
    journal_run(
        journal, report, modules, started=started, trigger=trigger, record=record, undoes=undoes
    )
    write_anchor(journal)  # the head, outside the journal file (JOURNAL.anchors)
    report.entries_after = journal.last_seq


__all__ = [
    "CONFIG_MODULE",
    "CycleReport",
    "RUN",
    "SIDES_RID",
    "canonical_settings",
    "journal_config",
    "journal_run",
    "last_config",
    "recorded",
    "report_data",
    "settings_in_force",
]
