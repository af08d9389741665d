"""The daemon: scheduled and instant sync next to the user's apps (``replicator daemon``).

**Jobs.**  One APScheduler job per module: masters (customers, vendors, items...) every
``masters_every`` (2 hours), transaction modules (a side's table is Deals, Quotes,
Sales_Orders, Invoices, Purchase_Orders or a Books invoice, estimate, sales order or
purchase order) every ``poll_every``, the fallback when callbacks stop.  Jobs run one at a
time on a single worker (the engine and its journal are not shared between threads),
``max_instances=1`` and ``coalesce`` so a slow cycle never overlaps itself, and a missed
run (a sleep, a restart) runs once, late.  A module's first run comes ``every`` after its
last run, journaled or published (see :mod:`replicator.daemon_state`): a restart does not
sync masters again before their time.

**Instant sync.**  For its instant modules (transactions by default) on a Zoho CRM side the
daemon registers a watch channel (``{Table}.all`` events, ``notify_url`` its own
``/callbacks/crm``, a random token, ``channel_expiry``), renews it halfway through its
life and removes it on stop.  A callback whose channel and token match queues the ids; a
job re-fetches them (:meth:`Engine.sync_ids`); a delete runs the module's cycle (deletes
come from the side's deleted feed).  A wrong or missing token gets 401 and changes nothing.

**Stopping.**  SIGTERM or SIGINT: no new job starts, the cycle in hand finishes the page or
batch it holds (``Engine.stop_requested``) and journals it, channels are removed, and the
process exits 0 within ``stop_timeout`` (a batch still running then is left like a crash:
its intent is journaled, the next start reconciles it).

**Pause, resume, disable** are journal entries (:mod:`replicator.lifecycle`), read before
every job.  ``replicator sync`` and ``fetch`` reach a running daemon through ``POST /sync``
and ``POST /fetch`` (:func:`~replicator.daemon_state.forward_sync`, ``forward_fetch``): the
daemon holds the journal's lock, and one process writes to a journal at a time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from replicator.app import App, open_app
from replicator.config import Config
from replicator.daemon_config import every, is_instant
from replicator.daemon_log import LOGGERS, Redactor, log_event
from replicator.daemon_metrics import Metrics, count_requests
from replicator.daemon_state import (
    DAEMON,
    LOCK_WAIT,
    DaemonLock,
    published_anchor,
    state_path,
    write_json,
    write_token,
)
from replicator.daemon_watch import Pending, Watch, route
from replicator.daemon_web import create_web_app, serve
from replicator.engine import CycleReport, Engine, report_data
from replicator.journal_guard import guard_journal

log = logging.getLogger("replicator.daemon")

CALLBACK_PATH = "/callbacks/crm"
Now = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


@attrs.define
class ModuleHealth:
    status: str = "pending"  # the last outcome: pending, ok, error, paused, disabled, interrupted
    running: bool = False  # a cycle of it is running now
    last_run: dt.datetime | None = None
    last_ok: dt.datetime | None = None
    error: str | None = None
    trigger: str | None = None


class Daemon:
    """A running daemon over one config; :meth:`serve` runs it until a signal."""

    def __init__(
        self,
        config: Config,
        *,
        bind: tuple[str, int] | None = None,
        app: App | None = None,
        redactor: Redactor | None = None,
        now: Now = _utcnow,
    ) -> None:
        self.config = config
        self.settings = config.daemon
        self.host, self.port = bind or (self.settings.host, self.settings.port)
        self.app = app
        self._own_app = app is None
        self.now = now
        self.metrics = Metrics()
        self.redactor = redactor or Redactor()
        self.control_token = secrets.token_urlsafe(24)
        self.redactor.add(self.control_token)
        self.url = ""
        self.modules: dict[str, ModuleHealth] = {name: ModuleHealth() for name in config.modules}
        self.watch: Watch | None = None  # the CRM channels, once the connectors exist
        self.started: dt.datetime | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._pending = Pending()  # the ids callbacks named, bounded
        self._drain_due = False  # a drain job is queued and has not taken the ids yet
        self._daemon_lock = DaemonLock(config.journal_path)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.misfire_grace,
            },
        )

    # -- start and stop --------------------------------------------------------------------

    def start(self) -> Daemon:
        """Take the journal's lock, serve the endpoint, register channels, schedule jobs."""
        self.started = self.now()
        holder = {"pid": os.getpid(), "since": _text(self.started), "command": DAEMON}
        # DaemonError at once if another daemon holds it; a `replicator sync` is waited for
        self._daemon_lock.acquire(holder, wait=LOCK_WAIT)
        self._handlers = _log_handlers()
        for handler in self._handlers:  # secrets the daemon makes never reach a log line
            handler.addFilter(self.redactor)
        try:
            if self.app is None:
                self.app = open_app(self.config)
            guard_journal(self.app.journal, by="daemon")  # no write to a journal failing it
            self.app.engine.stop_requested = self._stop.is_set
            self.app.engine.batch_size = self.settings.batch_size
            count_requests(self.app.connectors, self.metrics)
            self.watch = Watch(
                self.config,
                self.app.connectors,
                redactor=self.redactor,
                metrics=self.metrics,
                now=self.now,
            )
            self._serve_http()
            self._daemon_lock.update({**holder, "url": self.url})
            write_token(self.config.journal_path, self.control_token)
            self._schedule()
            self.scheduler.start()
            self.metrics.set("replicator_scheduler_running", 1)
        except BaseException:
            self._close()
            raise
        log_event(
            log,
            "daemon started",
            url=self.url,
            pid=os.getpid(),
            journal=str(self.config.journal_path),
            modules=list(self.config.modules),
        )
        self._publish()
        return self

    def serve(self) -> bool:
        """Start, run until SIGTERM / SIGINT (or :meth:`request_stop`), stop; whether the
        stop was clean (the batch in hand finished in time)."""
        self.start()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            while not self._stop.wait(0.5):
                if self._thread is not None and not self._thread.is_alive():
                    log_event(log, "the HTTP endpoint stopped; stopping", level=logging.ERROR)
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.stop()

    def _on_signal(self, signum: int, frame: Any) -> None:
        log_event(log, "stop requested", signal=signal.Signals(signum).name)
        self._stop.set()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> bool:
        """Finish the batch in hand and stop; whether it finished within ``stop_timeout``."""
        self._stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.metrics.set("replicator_scheduler_running", 0)
        deadline = time.monotonic() + self.settings.stop_timeout
        with self._idle:
            clean = self._idle.wait_for(lambda: self._busy == 0, self.settings.stop_timeout)
        if clean:
            if self.watch is not None:
                self.watch.remove(max(1.0, min(5.0, deadline - time.monotonic())))
        else:
            log_event(
                log,
                "the batch in hand did not finish in time; exiting: its intent is journaled "
                "and the next start reconciles it",
                level=logging.WARNING,
                stop_timeout=self.settings.stop_timeout,
            )
        self._publish(stopped=True)
        self._close(close_app=clean)
        log_event(log, "daemon stopped", clean=clean)
        return clean

    def _close(self, *, close_app: bool = True) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        if close_app and self.app is not None and self._own_app:
            self.app.close()
        self._daemon_lock.release()
        for handler in getattr(self, "_handlers", ()):
            handler.removeFilter(self.redactor)

    # -- the HTTP endpoint -------------------------------------------------------------------

    def _serve_http(self) -> None:
        self._server, self._thread, self.port = serve(create_web_app(self), self.host, self.port)
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):  # every interface: this machine reaches loopback
            host = "127.0.0.1" if self.host == "0.0.0.0" else "[::1]"
        self.url = f"http://{host}:{self.port}"

    @property
    def notify_url(self) -> str:
        return (self.settings.public_url or self.url) + CALLBACK_PATH

    # -- the schedule -----------------------------------------------------------------------

    def _schedule(self) -> None:
        assert self.app is not None
        now = self.now()
        last = self._last_runs()
        published = self._published().get("modules") or {}
        for name in self.config.modules:
            seconds = every(self.config, name)
            due = last.get(name)
            first = now if due is None else max(now, due + dt.timedelta(seconds=seconds))
            # a cycle cut short (a stop, a crash) is finished first: its journaled intents
            # leave records needing attention, and the pull it left may be half done
            before = published.get(name) or {}
            cut_short = before.get("status") == "interrupted" or before.get("running") is True
            if cut_short or self._unsettled(name):
                first = now
            self.scheduler.add_job(
                self._module_job,
                IntervalTrigger(seconds=seconds, timezone=dt.UTC),
                args=[name],
                id=f"module:{name}",
                name=f"sync {name}",
                next_run_time=first,
            )
        if self.settings.watch and self.watch is not None and self.watch.watched():
            # halfway through a channel's life, and at least hourly: a refused one is retried
            renew = max(1.0, min(self.settings.channel_expiry / 2, 3600.0))
            self.scheduler.add_job(
                self._channels_job,
                IntervalTrigger(seconds=renew, timezone=dt.UTC),
                id="channels",
                name="watch channels",
                next_run_time=now,
            )

    def _last_runs(self) -> dict[str, dt.datetime]:
        """Each module's last whole cycle that ended well: the journal's run markers (of
        `replicator sync` too) and what the last daemon published (an idle cycle journals
        nothing)."""
        from replicator.lifecycle import runs

        assert self.app is not None
        found: dict[str, dt.datetime] = {}
        for run in runs(self.app.journal):
            if run.trigger != "sync" or run.error:  # a fetch or callback reads a few records
                continue
            for name in run.modules:
                found[name] = max(found.get(name, run.at), run.at)
        for name, data in (self._published().get("modules") or {}).items():
            at = data.get("last_ok") if isinstance(data, dict) else None
            if at:
                with contextlib.suppress(ValueError):
                    moment = dt.datetime.fromisoformat(at)
                    found[name] = max(found.get(name, moment), moment)
        return found

    def _published(self) -> dict[str, Any]:
        """What the last daemon on this journal published ({} if nothing readable)."""
        try:
            data = json.loads(state_path(self.config.journal_path).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _unsettled(self, name: str) -> bool:
        assert self.app is not None
        return bool(self.app.journal.attention(name, after="", limit=1))

    # -- jobs (one at a time, on the scheduler's single worker) ----------------------------

    def _begin(self) -> bool:
        """Mark the worker busy; False when the daemon is stopping (the job is skipped)."""
        with self._idle:
            if self._stop.is_set():
                return False
            self._busy += 1
            return True

    def _end(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()
        self._publish()

    def _module_job(self, name: str) -> None:
        if not self._begin():
            return
        try:
            self._cycle([name], "schedule", lambda: self._engine().run([name]))
        finally:
            self._end()

    def _engine(self) -> Engine:
        assert self.app is not None
        return self.app.engine

    def _cycle(
        self, names: Sequence[str], trigger: str, run: Callable[[], CycleReport]
    ) -> tuple[CycleReport | None, str | None]:
        """Run one engine call for ``names``; record its health and metrics; never raises."""
        from replicator.lifecycle import lifecycle

        assert self.app is not None
        if lifecycle(self.app.journal).disabled:
            for name in names:
                self._mark(name, "disabled", trigger)
                self.metrics.inc(
                    "replicator_cycles_total", module=name, trigger=trigger, outcome="disabled"
                )
            return None, "sync is disabled (`replicator enable` turns it back on)"
        with self._lock:  # published: a crash from here on is seen by the next start
            for name in names:
                self.modules[name].running = True
        self._publish()
        try:
            report = run()
        except Exception as exc:
            error = self.redactor.scrub(f"{type(exc).__name__}: {exc}")
            for name in names:
                self._mark(name, "error", trigger, error=error)
                self.metrics.inc(
                    "replicator_cycles_total", module=name, trigger=trigger, outcome="error"
                )
            log_event(
                log,
                "cycle failed",
                level=logging.ERROR,
                modules=list(names),
                trigger=trigger,
                error=error,
            )
            return None, error
        for name in names:
            outcome = "paused" if name in report.paused else "ok"
            if outcome == "ok" and self._stop.is_set():  # it may have stopped early
                outcome = "interrupted"
            self._mark(name, outcome, trigger)
            self.metrics.inc(
                "replicator_cycles_total", module=name, trigger=trigger, outcome=outcome
            )
            if outcome == "ok":
                self.metrics.observe(report.seconds, module=name)
        for module, side, what, n in report.rows():
            self.metrics.inc("replicator_records_total", n, module=module, side=side, what=what)
        counts = {f"{m}/{s}/{w}": n for m, s, w, n in report.rows()}
        log_event(
            log,
            "cycle",
            level=logging.INFO if counts else logging.DEBUG,
            modules=list(names),
            trigger=trigger,
            seconds=round(report.seconds, 3),
            counts=counts,
            paused=list(report.paused),
        )
        self._count_conflicts()
        return report, None

    def _mark(self, name: str, status: str, trigger: str, *, error: str | None = None) -> None:
        moment = self.now()
        with self._lock:
            health = self.modules[name]
            health.running = False
            health.status, health.last_run, health.trigger, health.error = (
                status,
                moment,
                trigger,
                error,
            )
            if status == "ok":
                health.last_ok = moment
        self.metrics.set("replicator_last_cycle_timestamp_seconds", moment.timestamp(), module=name)

    def _count_conflicts(self) -> None:
        assert self.app is not None
        found = self.app.journal.conflict_counts(status="open")
        for name in self.config.modules:
            self.metrics.set("replicator_conflicts_open", found.get(name, 0), module=name)

    # -- callbacks and channels -------------------------------------------------------------

    def callback(self, body: dict[str, Any]) -> bool:
        """A notification from the CRM (any thread): queue its ids if its channel and token
        are ours; False (refused, nothing queued) otherwise."""
        accepted = self.watch.check(body) if self.watch is not None else None
        if accepted is None:
            return False
        with self._lock:
            self._pending.add(accepted)
            if self._drain_due:  # a drain not yet started takes these ids too
                return True
            self._drain_due = True
        with contextlib.suppress(SchedulerNotRunningError):  # stopping: the next start reads it
            self.scheduler.add_job(self._drain_job, name="callbacks", misfire_grace_time=None)
        return True

    def _drain_job(self) -> None:
        if not self._begin():
            return
        try:
            with self._lock:
                pending, self._drain_due = self._pending.take(), False
            fetch, rerun = route(self.config, pending)
            engine = self._engine()
            for (name, side), ids in fetch.items():
                self._cycle([name], "callback", functools.partial(engine.sync_ids, name, side, ids))
            for name in rerun:
                self._cycle([name], "callback", functools.partial(engine.run, [name]))
        finally:
            self._end()

    def _channels_job(self) -> None:
        """Register (first run) or renew (later runs) each CRM side's channel."""
        if not self._begin():
            return
        try:
            assert self.watch is not None
            self.watch.register(self.notify_url)
        finally:
            self._end()

    # -- what others ask ----------------------------------------------------------------------

    def sync_now(self, modules: Sequence[str], timeout: float = 3600.0) -> dict[str, Any]:
        """Run a cycle of ``modules`` (none: every module) on the worker, after the job in
        hand; its report as ``replicator sync --json`` prints it, or ``{"error": ...}``."""
        unknown = [m for m in modules if m not in self.config.modules]
        if unknown:
            known = ", ".join(self.config.modules)
            return {"error": f"no module {unknown[0]!r} (modules: {known})"}
        names = list(modules) or list(self.config.modules)

        def run() -> dict[str, Any]:
            report, error = self._cycle(names, "request", lambda: self._engine().run(names))
            return {"error": error} if report is None else report_data(report)

        return self._on_worker("sync request", run, timeout)

    def fetch_now(
        self, module: str, side: str, record_id: str, timeout: float = 3600.0
    ) -> dict[str, Any]:
        """``replicator fetch`` while the daemon holds the journal: re-sync one record on
        the worker, after the job in hand; its report and ``rid``, or ``{"error": ...}``.
        A record the side does not have is the asker's mistake: the module's health and
        its metrics stay as they were."""
        known = self.config.modules.get(module)
        if known is None or side not in known.sides:
            return {"error": f"no module {module!r} with a side {side!r}"}

        def run() -> dict[str, Any]:
            try:
                report, rid = self._engine().fetch(module, side, record_id)
            except Exception as exc:
                return {"error": self.redactor.scrub(str(exc) or type(exc).__name__)}
            return {**report_data(report), "rid": rid}

        return self._on_worker("fetch request", run, timeout)

    def _on_worker(
        self, name: str, run: Callable[[], dict[str, Any]], timeout: float
    ) -> dict[str, Any]:
        """``run`` on the scheduler's single worker (one engine call at a time); its
        answer, or ``{"error": ...}`` when the daemon is stopping."""
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

        def job() -> None:
            if not self._begin():
                future.set_result({"error": "the daemon is stopping"})
                return
            try:
                future.set_result(run())
            except BaseException as exc:  # never leave the caller waiting
                future.set_exception(exc)
            finally:
                self._end()

        try:
            self.scheduler.add_job(job, name=name, misfire_grace_time=None)
        except SchedulerNotRunningError:
            return {"error": "the daemon is stopping"}
        return future.result(timeout=timeout)

    def health(self) -> tuple[bool, dict[str, Any]]:
        running = self.scheduler.running and not self._stop.is_set()
        with self._lock:
            modules = {name: self._module_state(name, h) for name, h in self.modules.items()}
        failing = [name for name, m in modules.items() if m["status"] == "error"]
        ok = running and not failing
        problems = [f"module {name}: {modules[name]['error']}" for name in failing]
        if not running:
            problems.insert(0, "the scheduler is not running")
        channels = self.watch.state() if self.watch is not None else {}
        warnings = [  # polling still brings the changes: a warning, not unhealthy
            f"watch channel of side {side} not registered ({c['error']}); polling every "
            f"{self.settings.poll_every:g} s"
            for side, c in channels.items()
            if c["error"]
        ]
        data = {
            "status": "ok" if ok else "unhealthy",
            "scheduler": "running" if running else "stopped",
            "started": _text(self.started),
            "url": self.url,
            "modules": modules,
            "channels": channels,
            "problems": problems,
            "warnings": warnings,
        }
        return ok, data

    def _module_state(self, name: str, health: ModuleHealth) -> dict[str, Any]:
        job = self.scheduler.get_job(f"module:{name}") if self.scheduler.running else None
        next_run = job.next_run_time if job is not None else None
        return {
            "status": health.status,
            "running": health.running,
            "every": every(self.config, name),
            "instant": is_instant(self.config, name),
            "next_run": _text(next_run),
            "last_run": _text(health.last_run),
            "last_ok": _text(health.last_ok),
            "trigger": health.trigger,
            "error": health.error,
        }

    def _publish(self, *, stopped: bool = False) -> None:
        """Write the state file :func:`~replicator.daemon_state.daemon_status` reads."""
        ok, data = self.health()
        state = {
            "pid": os.getpid(),
            "url": self.url,
            "local_url": self.url,
            "notify_url": self.notify_url if self.url else None,
            "started": data["started"],
            "updated": _text(self.now()),
            "stopped": stopped,
            "healthy": ok,
            "modules": data["modules"],
            "channels": data["channels"],
            "anchor": published_anchor(self.config.journal_path),
        }
        for name, module in data["modules"].items():
            if module["next_run"]:
                moment = dt.datetime.fromisoformat(module["next_run"])
                self.metrics.set(
                    "replicator_next_run_timestamp_seconds", moment.timestamp(), module=name
                )
        with self._lock:
            try:
                write_json(state_path(self.config.journal_path), state)
            except OSError as exc:
                log_event(log, "state file not written", level=logging.WARNING, error=exc.strerror)


def _log_handlers() -> list[logging.Handler]:
    found: list[logging.Handler] = []
    for name in (*LOGGERS, None):
        for handler in logging.getLogger(name).handlers:
            if handler not in found:
                found.append(handler)
    return found


def run_daemon(
    config: Config, *, bind: tuple[str, int] | None = None, redactor: Redactor | None = None
) -> int:
    """``replicator daemon``: serve until a signal; the exit code (0 after a stop)."""
    daemon = Daemon(config, bind=bind, redactor=redactor)
    clean = daemon.serve()
    if not clean:  # a worker still pushing would hold the interpreter's exit: leave now
        logging.shutdown()
        os._exit(0)
    return 0


__all__ = ["CALLBACK_PATH", "Daemon", "ModuleHealth", "report_data", "run_daemon"]
