"""The daemon: scheduled and instant sync next to the user's apps (``replicator daemon``).

**Jobs.**  One APScheduler job per module: masters (customers, vendors, items...) every
``masters_every`` (2 hours), transaction modules (a side's table is Deals, Quotes,
Sales_Orders, Invoices, Purchase_Orders or a Books invoice, estimate, sales order or
purchase order) every ``poll_every``, the fallback when callbacks stop.  Jobs run one at a
time on a single worker; when each runs first, and why, is :mod:`replicator.daemon.schedule`.
Each job is a cycle of the engine (:meth:`Daemon._cycle`), which records the module's
health and metrics and never raises.

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

**The first sync's guard** (``[guard] first_sync_creates``): a cycle whose first sync
against a Zoho side would create more records there than the limit pushes nothing; the
module's status is ``waiting``, logged with the counts, and every later cycle of it stops
the same way until ``replicator sync --yes`` (``POST /sync`` with ``"yes": true``) runs it.

**Pause, resume, disable** are journal entries (:mod:`replicator.sync.lifecycle`), read before
every job.  ``replicator sync`` and ``fetch`` reach a running daemon through ``POST /sync``
and ``POST /fetch`` (:func:`~replicator.daemon.state.forward_sync`, ``forward_fetch``): the
daemon holds the journal's lock, and one process writes to a journal at a time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import functools
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
from apscheduler.schedulers import SchedulerNotRunningError

from replicator.config.load import Config
from replicator.console.app import create_console_app
from replicator.console.controls import DaemonActions
from replicator.daemon.log import LOGGERS, Redactor, log_event
from replicator.daemon.metrics import Metrics, count_requests
from replicator.daemon.schedule import every, is_instant, new_scheduler, schedule_jobs
from replicator.daemon.state import (
    DAEMON,
    LOCK_WAIT,
    DaemonLock,
    moment_text,
    published_anchor,
    state_path,
    write_json,
    write_token,
)
from replicator.daemon.watch import Pending, Watch, route
from replicator.daemon.web import create_web_app, serve
from replicator.errors import GuardStop
from replicator.sync.app import App, open_app
from replicator.sync.dryrun import guard_first_sync
from replicator.sync.engine import Engine
from replicator.sync.guard import guard_journal
from replicator.sync.lifecycle import lifecycle
from replicator.sync.record import CycleReport, report_data

log = logging.getLogger("replicator.daemon.service")

CALLBACK_PATH = "/callbacks/crm"
Now = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define
class ModuleHealth:
    status: str = "pending"  # the last outcome: pending, ok, error, paused, disabled, interrupted
    running: bool = False  # a cycle of it is in hand: handed to the worker, or running
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
        self.scheduler = new_scheduler(self.settings, self._handed, self._dropped)

    # -- start and stop --------------------------------------------------------------------

    def start(self) -> Daemon:
        """Take the journal's lock, serve the endpoint, register channels, schedule jobs."""
        self.started = self.now()
        holder = {"pid": os.getpid(), "since": moment_text(self.started), "command": DAEMON}
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
            self.metrics.scheduler_running.set(1)
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
        """Start, run until SIGTERM / SIGINT, stop; whether the stop was clean (the batch
        in hand finished in time)."""
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

    def stop(self) -> bool:
        """Finish the batch in hand and stop; whether it finished within ``stop_timeout``."""
        self._stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.metrics.scheduler_running.set(0)
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
        console = None
        if self.config.console.enabled:
            actions = DaemonActions(self.config, self.sync_now)
            console = create_console_app(
                self.config, actions=actions, served_on=self.host, metrics=self.metrics
            )
        app = create_web_app(self, console=console)
        self._server, self._thread, self.port = serve(app, self.host, self.port)
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
        watching = self.settings.watch and self.watch is not None and bool(self.watch.watched())
        schedule_jobs(
            self.scheduler,
            self.config,
            self.app.journal,
            now=self.now(),
            module_job=self._module_job,
            channels_job=self._channels_job if watching else None,
        )

    # -- jobs (one at a time, on the scheduler's single worker) ----------------------------

    def _begin(self) -> bool:
        """Mark the worker busy; False when the daemon is stopping (the job is skipped)."""
        with self._idle:
            if self._stop.is_set():
                return False
            self._busy += 1
            return True

    def _end(self) -> None:
        # published while still busy: a stop waiting for the worker publishes "stopped"
        # after this, never before it (an earlier order could overwrite "stopped")
        try:
            self._publish()
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _handed(self, job_id: str) -> None:
        """A module's job was handed to the worker: in hand from now on, published as
        running, though it may wait behind another job.  Runs on the scheduler's thread,
        which holds the scheduler's lock here while :meth:`health` may hold ``_lock`` and
        wait for that one, so it sets the flag without ``_lock`` (one attribute, written
        before the job can start; the job's end clears it)."""
        health = self.modules.get(job_id.removeprefix("module:"))
        if job_id.startswith("module:") and health is not None:
            health.running = True

    def _dropped(self, job_id: str) -> None:
        """A module's job marked in hand whose hand-over failed (the worker was shut
        down under it): it will not run, so it is not in hand.  On the scheduler's
        thread, without ``_lock``, as :meth:`_handed`."""
        health = self.modules.get(job_id.removeprefix("module:"))
        if job_id.startswith("module:") and health is not None:
            health.running = False

    def _module_job(self, name: str) -> None:
        if not self._begin():
            with self._lock:  # skipped, the daemon stopping: not in hand any more
                self.modules[name].running = False
            return
        try:
            self._cycle([name], "schedule", lambda: self._run([name]))
        finally:
            self._end()

    def _engine(self) -> Engine:
        assert self.app is not None
        return self.app.engine

    def _run(self, names: Sequence[str], *, yes: bool = False) -> CycleReport:
        """A cycle of ``names``: a first sync over the guard's limit raises
        :class:`GuardStop` before pushing anything, unless ``yes``."""
        engine = self._engine()
        if not yes:
            guard_first_sync(engine, names)
        return engine.run(names)

    def _cycle(
        self, names: Sequence[str], trigger: str, run: Callable[[], CycleReport]
    ) -> tuple[CycleReport | None, str | None]:
        """Run one engine call for ``names``; record its health and metrics; never raises."""
        assert self.app is not None
        if lifecycle(self.app.journal).disabled:
            for name in names:
                self._mark(name, "disabled", trigger)
                self.metrics.cycles.labels(module=name, trigger=trigger, outcome="disabled").inc()
            return None, "sync is disabled (`replicator enable` turns it back on)"
        with self._lock:  # published: a crash from here on is seen by the next start
            for name in names:
                self.modules[name].running = True
        self._publish()
        try:
            report = run()
        except GuardStop as stop:  # nothing pushed: waits for `replicator sync --yes`
            reason = self.redactor.scrub(str(stop))
            for name in names:
                self._mark(name, "waiting", trigger, error=reason)
                self.metrics.cycles.labels(module=name, trigger=trigger, outcome="waiting").inc()
            log_event(
                log,
                "first sync waits for `replicator sync --yes`",
                level=logging.WARNING,
                modules=list(names),
                trigger=trigger,
                creates=dict(stop.creates),
                limit=stop.limit,
            )
            return None, reason
        except Exception as exc:
            error = self.redactor.scrub(f"{type(exc).__name__}: {exc}")
            for name in names:
                self._mark(name, "error", trigger, error=error)
                self.metrics.cycles.labels(module=name, trigger=trigger, outcome="error").inc()
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
            self.metrics.cycles.labels(module=name, trigger=trigger, outcome=outcome).inc()
            if outcome == "ok":
                self.metrics.cycle_duration.labels(module=name).observe(report.seconds)
        for module, side, what, n in report.rows():
            self.metrics.records.labels(module=module, side=side, what=what).inc(n)
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
        self.metrics.last_cycle.labels(module=name).set(moment.timestamp())

    def _count_conflicts(self) -> None:
        assert self.app is not None
        found = self.app.journal.conflict_counts(status="open")
        for name in self.config.modules:
            self.metrics.conflicts_open.labels(module=name).set(found.get(name, 0))

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
                self._cycle([name], "callback", functools.partial(self._run, [name]))
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

    def sync_now(
        self, modules: Sequence[str], timeout: float = 3600.0, *, yes: bool = False
    ) -> dict[str, Any]:
        """Run a cycle of ``modules`` (none: every module) on the worker, after the job in
        hand; its report as ``replicator sync --json`` prints it, or ``{"error": ...}``.
        ``yes``: past the first sync's guard (``replicator sync --yes``)."""
        unknown = [m for m in modules if m not in self.config.modules]
        if unknown:
            known = ", ".join(self.config.modules)
            return {"error": f"no module {unknown[0]!r} (modules: {known})"}
        names = list(modules) or list(self.config.modules)

        def run() -> dict[str, Any]:
            report, error = self._cycle(names, "request", lambda: self._run(names, yes=yes))
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
                answer = run()
            except BaseException as exc:  # never leave the caller waiting
                self._end()
                future.set_exception(exc)
                return
            # published before the answer: whoever asked reads the state after it (a
            # `replicator status` right after `replicator sync` shows this cycle)
            self._end()
            future.set_result(answer)

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
        ] + [
            f"module {name}: {m['error']}"
            for name, m in modules.items()
            if m["status"] == "waiting"
        ]
        data = {
            "status": "ok" if ok else "unhealthy",
            "scheduler": "running" if running else "stopped",
            "started": moment_text(self.started),
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
            "next_run": moment_text(next_run),
            "last_run": moment_text(health.last_run),
            "last_ok": moment_text(health.last_ok),
            "trigger": health.trigger,
            "error": health.error,
        }

    def _publish(self, *, stopped: bool = False) -> None:
        """Write the state file :func:`~replicator.daemon.state.daemon_status` reads."""
        ok, data = self.health()
        state = {
            "pid": os.getpid(),
            "url": self.url,
            "local_url": self.url,
            "notify_url": self.notify_url if self.url else None,
            "started": data["started"],
            "updated": moment_text(self.now()),
            "stopped": stopped,
            "healthy": ok,
            "modules": data["modules"],
            "channels": data["channels"],
            "anchor": published_anchor(self.config.journal_path),
        }
        for name, module in data["modules"].items():
            if module["next_run"]:
                moment = dt.datetime.fromisoformat(module["next_run"])
                self.metrics.next_run.labels(module=name).set(moment.timestamp())
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
