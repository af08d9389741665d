"""When the daemon's jobs run: each module's interval, its first run after a start, the
scheduler that runs them.

**Intervals.**  A module's own ``every``, else ``poll_every`` for an instant module (a
transaction module unless the config says; polling is the fallback when callbacks stop)
and ``masters_every`` for the others (customers, vendors, items...).

**The scheduler.**  Jobs run one at a time on a single worker (the engine and its journal
are not shared between threads), ``max_instances=1`` and ``coalesce`` so a slow cycle never
overlaps itself, and a missed run (a sleep, a restart) runs once, late (or is skipped when
later than ``misfire_grace``).

**First runs.**  A module's first run comes ``every`` after its last whole cycle that ended
well: the journal's run markers (of ``replicator sync`` too) or what the last daemon
published (an idle cycle journals nothing), so a restart does not sync masters again before
their time.  A cycle cut short (a stop, a crash) or a module with records needing attention
runs at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from journal import JournalStorage
from replicator.config.daemon import TRANSACTION_TABLES, DaemonConfig
from replicator.config.load import Config, ModuleConfig
from replicator.daemon.state import read_state
from replicator.sync.lifecycle import runs

# a watch channel is renewed halfway through its life, and at least this often (seconds),
# so a channel the CRM refused is tried again
MAX_RENEW = 3600.0


def is_transaction(module: ModuleConfig) -> bool:
    return any(side.table in TRANSACTION_TABLES for side in module.sides.values())


def is_instant(config: Config, name: str) -> bool:
    """Whether callbacks drive this module (transactions, unless the config says)."""
    own = config.daemon.modules.get(name)
    if own is not None and own.instant is not None:
        return own.instant
    return is_transaction(config.modules[name])


def every(config: Config, name: str) -> float:
    """Seconds between a module's scheduled runs."""
    own = config.daemon.modules.get(name)
    if own is not None and own.every is not None:
        return own.every
    return config.daemon.poll_every if is_instant(config, name) else config.daemon.masters_every


class _Handing(ThreadPoolExecutor):
    """The worker, telling ``handed`` each job id it takes, before the job can start.

    A due job's next run is moved on when it is handed over, and it may then wait behind
    another job on the one worker: what the daemon publishes meanwhile must show it in
    hand, not idle until an hour away (a run after a cycle cut short, queued behind the
    watch channels' job, once carried a change a test had been told would wait)."""

    def __init__(
        self, handed: Callable[[str], None], dropped: Callable[[str], None] | None = None
    ) -> None:
        super().__init__(max_workers=1)
        self._handed = handed
        self._dropped = dropped

    def _do_submit_job(self, job: Any, run_times: Any) -> None:
        # called by submit_job once the job's instances allow it, so a job refused for
        # running already is not marked again (the running one's end unmarks it)
        self._handed(job.id)
        try:
            super()._do_submit_job(job, run_times)
        except BaseException:
            # never handed over (the worker shut down under it): it will not run, so
            # nothing will unmark it but this
            if self._dropped is not None:
                self._dropped(job.id)
            raise


def new_scheduler(
    settings: DaemonConfig,
    handed: Callable[[str], None] | None = None,
    dropped: Callable[[str], None] | None = None,
) -> BackgroundScheduler:
    """A scheduler with one worker: jobs never overlap, a missed run runs once;
    ``handed`` is told each job id the worker takes, before it starts, and ``dropped``
    each of those whose hand-over failed (it will not run)."""
    worker = ThreadPoolExecutor(max_workers=1) if handed is None else _Handing(handed, dropped)
    return BackgroundScheduler(
        timezone=dt.UTC,
        executors={"default": worker},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.misfire_grace,
        },
    )


def last_runs(journal: JournalStorage, published: Mapping[str, Any]) -> dict[str, dt.datetime]:
    """Each module's last whole cycle that ended well: the journal's run markers (of
    `replicator sync` too) and what the last daemon published (an idle cycle journals
    nothing)."""
    found: dict[str, dt.datetime] = {}
    for run in runs(journal):
        if run.trigger != "sync" or run.error:  # a fetch or callback reads a few records
            continue
        for name in run.modules:
            found[name] = max(found.get(name, run.at), run.at)
    for name, data in (published.get("modules") or {}).items():
        at = data.get("last_ok") if isinstance(data, dict) else None
        if at:
            with contextlib.suppress(ValueError):
                moment = dt.datetime.fromisoformat(at)
                found[name] = max(found.get(name, moment), moment)
    return found


def schedule_jobs(
    scheduler: BackgroundScheduler,
    config: Config,
    journal: JournalStorage,
    *,
    now: dt.datetime,
    module_job: Callable[[str], None],
    channels_job: Callable[[], None] | None,
) -> None:
    """One job per module (``module:NAME``) and, with ``channels_job``, one that registers
    and renews the watch channels (first at ``now``)."""
    published = read_state(config.journal_path)
    last = last_runs(journal, published)
    before_stop = published.get("modules") or {}
    for name in config.modules:
        seconds = every(config, name)
        due = last.get(name)
        first = now if due is None else max(now, due + dt.timedelta(seconds=seconds))
        # a cycle cut short (a stop, a crash) is finished first: its journaled intents
        # leave records needing attention, and the pull it left may be half done
        before = before_stop.get(name) or {}
        cut_short = before.get("status") == "interrupted" or before.get("running") is True
        if cut_short or journal.attention(name, after="", limit=1):
            first = now
        scheduler.add_job(
            module_job,
            IntervalTrigger(seconds=seconds, timezone=dt.UTC),
            args=[name],
            id=f"module:{name}",
            name=f"sync {name}",
            next_run_time=first,
        )
    if channels_job is not None:
        renew = max(1.0, min(config.daemon.channel_expiry / 2, MAX_RENEW))
        scheduler.add_job(
            channels_job,
            IntervalTrigger(seconds=renew, timezone=dt.UTC),
            id="channels",
            name="watch channels",
            next_run_time=now,
        )


__all__ = [
    "every",
    "is_instant",
    "is_transaction",
    "last_runs",
    "new_scheduler",
    "schedule_jobs",
]
