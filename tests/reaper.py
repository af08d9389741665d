"""Servers a test run starts stop with the run, even when the run is killed.

A pytest run stopped by SIGKILL (a CI timeout, a ``timeout`` wrapper) runs no teardown: a
PostgreSQL cluster started by ``pg_ctl`` (a daemon) or a redis-server child lives on,
holding a port and a temp folder.  :func:`reap_after` starts a small detached watcher that
waits, without polling, for this process to end (a pidfd) and then stops the server and
removes its folder.  When the run ends normally the server is stopped already; the
watcher's stop then finds nothing to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

# The server is held by a pidfd opened at once (it is alive then), so a pid reused after
# it ended is never signalled.
_WATCHER = """
import os, select, shutil, signal, subprocess, sys
owner, server, folder, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def pidfd(pid):
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
held = pidfd(server) if server else None
watched = pidfd(owner)
if watched is not None:
    select.select([watched], [], [])
if held is not None:
    try:
        signal.pidfd_send_signal(held, signal.SIGKILL)
    except ProcessLookupError:
        pass
if command:
    subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120, check=False)
shutil.rmtree(folder, ignore_errors=True)
"""


def reap_after(folder: Path, *, server: int = 0, command: Sequence[str] = ()) -> None:
    """When this process ends, kill process ``server``, run ``command``, remove ``folder``."""
    subprocess.Popen(
        [sys.executable, "-c", _WATCHER, str(os.getpid()), str(server), str(folder), *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the run's process group: a kill of the group spares it
        close_fds=True,
    )


__all__ = ["reap_after"]
