"""``replicator fleet worker|beat``: running the fleet on Celery with Redis (issue 17).

Thin over :mod:`replicator.fleet.queue` and :mod:`replicator.fleet.schedule`; Celery is
imported when a command runs, so the other ``fleet`` commands never load it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence

import click

from replicator.daemon.log import setup_logging
from replicator.fleet.store import BROKER_ENV, STORE_ENV


def _bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _need_store(ctx: click.Context) -> str:
    store = (ctx.find_object(dict) or {}).get("fleet_store")
    if not store:
        raise click.UsageError(f"name the fleet's store: --store FILE|URL or {STORE_ENV}")
    os.environ[STORE_ENV] = str(store)  # the worker and beat read it
    return str(store)


broker_option = click.option(
    "--broker",
    envvar=BROKER_ENV,
    required=True,
    metavar="URL",
    help=f"Redis of the queue, the cycle locks and the shared limits, redis://HOST:PORT/DB "
    f"(or {BROKER_ENV}).",
)
loglevel_option = click.option(
    "--loglevel",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Celery's and replicator's log level.",
)


@click.command("worker")
@broker_option
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Cycles this process runs at once (1: Celery's solo pool; more: its thread pool). "
    "Run more processes (or machines) to scale out.",
)
@click.option(
    "--http",
    "http",
    metavar="HOST:PORT",
    default=None,
    help="Serve /healthz and /metrics (labelled by tenant) on HOST:PORT (port 0: a free one).",
)
@click.option("--name", default=None, help="The worker's name (default: fleet-PID@HOST).")
@click.option(
    "--visibility-timeout",
    type=float,
    default=None,
    help="Seconds after which a job of a worker that died is delivered again (default 3600; "
    "keep it longer than the longest cycle).",
)
@click.option(
    "--lock-ttl",
    type=float,
    default=None,
    help="Seconds a dead worker's cycle lock outlives it (default 30; a live worker renews it).",
)
@loglevel_option
@click.pass_context
def fleet_worker(
    ctx: click.Context,
    broker: str,
    concurrency: int,
    http: str | None,
    name: str | None,
    visibility_timeout: float | None,
    lock_ttl: float | None,
    loglevel: str,
) -> None:
    """Run tenants' module cycles from the queue (a Celery worker).

    Each job is one module cycle of one tenant, the single daemon's cycle over the tenant's
    journal and credentials (from the store, opened with REPLICATOR_FLEET_KEY).  At most
    one cycle of a tenant's module runs anywhere (a lock in Redis that a dead worker's
    loses after --lock-ttl); Zoho's per-org limits (Books requests a minute, CRM credits
    and concurrency) are counted in Redis for every worker.

    SIGTERM (Celery's warm shutdown) finishes the batch in hand, journals it and queues
    the rest of that cycle for another worker; a killed worker's job is delivered again
    (acks late) and the journal's intents make the re-run safe.
    """
    _need_store(ctx)
    # function-level: Celery, Redis and the web server load only when a command runs them
    from replicator.daemon.web import serve  # (see above)
    from replicator.fleet.queue import QUEUE, configure, worker  # (see above)
    from replicator.fleet.worker import create_worker_app  # (see above)

    app = configure(broker, visibility_timeout=visibility_timeout, lock_ttl=lock_ttl)
    setup_logging("text", level=getattr(logging, loglevel.upper()))  # with their fields
    fleet = worker()
    if http is not None:
        host, port = _bind(http)
        _, _, bound = serve(create_worker_app(fleet), host, port)
        click.echo(f"worker endpoint on http://{host}:{bound} (/healthz, /metrics)", err=True)
    pool = ["--pool", "solo"] if concurrency == 1 else ["--pool", "threads"]
    argv = [
        "worker", *pool, "--concurrency", str(concurrency), "--queues", QUEUE,
        "--hostname", name or f"fleet-{os.getpid()}@{socket.gethostname()}",
        "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    try:
        app.worker_main(argv=argv)
    finally:
        fleet.close()


@click.command("beat")
@broker_option
@click.option(
    "--schedule-file",
    default="fleet-beat-schedule",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where beat keeps each entry's last run (a restarted beat goes on from there).",
)
@loglevel_option
@click.pass_context
def fleet_beat(ctx: click.Context, broker: str, schedule_file: str, loglevel: str) -> None:
    """Queue every tenant's module cycles on time (Celery beat; run exactly one).

    One entry per tenant and module with the daemon's intervals: masters every
    masters_every (2 h by default), transaction modules every poll_every (the polling
    fallback; callbacks to `fleet endpoint` bring their changes at once), a module's own
    `every`.  The store is read again every minute: tenants added or removed are
    scheduled without a restart.
    """
    _need_store(ctx)
    # function-level: Celery loads only when a command runs it
    from replicator.fleet.queue import configure  # (see above)
    from replicator.fleet.schedule import RELOAD_EVERY  # (see above)

    app = configure(broker)
    beat = app.Beat(
        schedule=schedule_file,
        loglevel=loglevel.upper(),
        max_interval=RELOAD_EVERY,
        redirect_stdouts=False,
    )
    sys.exit(beat.run() or 0)


@click.command("endpoint")
@broker_option
@click.option(
    "--bind",
    default="127.0.0.1:8081",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to listen (port 0: a free one); put a load balancer with TLS in front.",
)
@click.pass_context
def fleet_endpoint(ctx: click.Context, broker: str, bind: str) -> None:
    """Serve the fleet's one URL for Zoho CRM callbacks (POST /callbacks/crm).

    A callback is routed to its tenant by its channel's token (made by the workers from
    REPLICATOR_FLEET_KEY, which this process needs too) and checked as the daemon checks
    its own: a capped JSON body, one of the tenant's channels, its token compared in
    constant time; anything else gets 401 and queues nothing.  An accepted callback
    queues the tenant's cycle (the named records re-read).  Also GET /healthz and
    /metrics.  It keeps no state: run several behind a load balancer.  Workers register
    channels to REPLICATOR_FLEET_PUBLIC_URL (this endpoint's public address, set for beat
    and the workers).
    """
    store = _need_store(ctx)
    # function-level: Celery, Redis and the web server load only when a command runs them
    import redis  # (see above)

    from replicator.daemon.web import serve  # (see above)
    from replicator.fleet.backends import open_store  # (see above)
    from replicator.fleet.channels import ChannelTokens  # (see above)
    from replicator.fleet.endpoint import Router, create_endpoint_app  # (see above)
    from replicator.fleet.queue import configure, enqueue_cycle  # (see above)

    configure(broker)
    setup_logging("text")  # the daemon's log lines, with their fields
    try:
        tokens = ChannelTokens.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    def enqueue(
        tenant: str, module: str, trigger: str, side: str | None, ids: Sequence[str] | None
    ) -> None:
        enqueue_cycle(tenant, module, trigger=trigger, side=side, ids=ids)

    router = Router(open_store(store), tokens, enqueue)
    host, port = _bind(bind)
    app = create_endpoint_app(router, redis.Redis.from_url(broker))
    server, thread, bound = serve(app, host, port)
    click.echo(f"fleet endpoint on http://{host}:{bound} (POST /callbacks/crm)", err=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5) and thread.is_alive():
        pass
    server.should_exit = True
    thread.join(timeout=10)
    router.store.close()


__all__ = ["fleet_beat", "fleet_endpoint", "fleet_worker"]
