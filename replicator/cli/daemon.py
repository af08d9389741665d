"""``replicator daemon``: scheduled and instant sync until SIGTERM.

The service itself is :mod:`replicator.daemon.service`.
"""

from __future__ import annotations

import sys

import click

from replicator.cli.common import _config, config_option
from replicator.config.daemon import split_bind
from replicator.daemon.log import FORMATS, setup_logging, teardown_logging


@click.command()
@config_option
@click.option(
    "--bind",
    metavar="HOST:PORT",
    help="Serve /healthz, /metrics and the CRM callbacks here "
    "(default: [daemon] bind, else 127.0.0.1:8780; port 0 picks a free one).",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="One JSON object a line, or human lines.",
)
@click.pass_context
def daemon(ctx: click.Context, bind: str | None, log_format: str) -> None:
    """Run until SIGTERM or Ctrl-C: every module on its schedule (masters every 2 hours,
    transactions instantly through CRM notifications, with polling as the fallback).

    One daemon per journal: a second one exits with a message.  SIGTERM finishes the batch
    in hand, journals it and exits 0.  `replicator pause|resume` reach a running daemon
    through the journal; `[daemon]` in the config sets schedules, channels and the bind.
    """
    # function-level: the service loads uvicorn and apscheduler, only `daemon` needs them
    from replicator.daemon.service import run_daemon

    config = _config(ctx)
    where = None
    if bind is not None:
        try:
            where = split_bind(bind)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--bind") from None
    handler, redactor = setup_logging(log_format, stream=sys.stderr)
    try:
        code = run_daemon(config, bind=where, redactor=redactor)
    finally:
        teardown_logging(handler)
    ctx.exit(code)


__all__ = ["daemon"]
