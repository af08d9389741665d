"""The ``replicator`` command line: a thin layer over the engine and the journal.

This module builds the root group and registers every command on it, in one list below;
each command lives in the module of its group and shares :mod:`replicator.cli.common`.
Domain errors (``ReplicatorError``, ``JournalError``, ``ConflictError``) become one-line
``click.ClickException`` messages in exactly one place, :class:`.common.CleanErrors`.
Progress bars go to stderr, so ``--json`` output on stdout stays parseable.
"""

from __future__ import annotations

import click

from replicator.cli.common import CleanErrors, config_option
from replicator.cli.conflicts import conflicts
from replicator.cli.console import console_group
from replicator.cli.daemon import daemon
from replicator.cli.deals import deals
from replicator.cli.demo import demo
from replicator.cli.fleet import fleet
from replicator.cli.journal import journal_group
from replicator.cli.lifecycle import (
    delete,
    disable,
    edit,
    enable,
    history,
    pause,
    resume,
    save,
    update_credentials,
)
from replicator.cli.plan import plan
from replicator.cli.records import fetch, import_, records, retry_command, search
from replicator.cli.setup import connect, sandbox
from replicator.cli.setup_check import setup
from replicator.cli.status import status
from replicator.cli.sync import sync
from replicator.cli.undo import undo_command
from replicator.cli.users import users


@click.group(cls=CleanErrors, context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.version_option(package_name="replicator")
def main() -> None:
    """Two-way sync between an accounting app ("books") and a CRM ("crm").

    Every change is written to an append-only, hash-chained journal first; conflicts,
    duplicates and deletes follow the policies of the config file.
    """


# syncing and reading
main.add_command(sync)
main.add_command(plan)  # sync --dry-run (issue 15)
main.add_command(status)
main.add_command(conflicts)
main.add_command(journal_group)
# the lifecycle: runs, pausing, the config, the integration's life, credentials
main.add_command(history)
main.add_command(undo_command)  # issue 15: undo a run
main.add_command(pause)
main.add_command(resume)
main.add_command(save)
main.add_command(edit)
main.add_command(disable)
main.add_command(enable)
main.add_command(delete)
main.add_command(update_credentials)
# records one at a time
main.add_command(records)
main.add_command(retry_command)
main.add_command(fetch)
main.add_command(import_)
main.add_command(search)
main.add_command(deals)
main.add_command(users)  # integration users of the web console
# setting a place up, and running for good
main.add_command(sandbox)
main.add_command(connect)
main.add_command(setup)
main.add_command(demo)
main.add_command(daemon)
main.add_command(console_group)  # the web console (issue 14)
main.add_command(fleet)  # many integrations as tenants (issue 17)

__all__ = ["main"]
