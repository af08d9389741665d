"""A throwaway PostgreSQL cluster for tests: Debian's binaries, a temp folder, 127.0.0.1
on a free port, stopped (and its folder removed) at the end.

initdb and pg_ctl refuse to run as root: as root the cluster runs as the ``postgres``
user (``runuser``), its folder made theirs.  Tests that need it are marked
``@pytest.mark.postgres``; they skip when the binaries (or psycopg) are missing, except
under CI, where ``.ci/run`` installs them and a missing one is a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.reaper import reap_after

USER = "replicator"


def binaries() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (the newest), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def need_postgres() -> Path:
    """The binaries' folder, or skip (fail under CI) naming what is missing."""
    folder = binaries()
    missing = []
    if folder is None:
        missing.append("PostgreSQL's server binaries (Debian package postgresql)")
    try:
        import psycopg  # noqa: F401  # the optional extra `fleet` brings it
    except ImportError:
        missing.append("psycopg (pip install -e '.[fleet]')")
    if missing:
        reason = "needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI installs them: .ci/run)")
        pytest.skip(reason)
    assert folder is not None
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A cluster in a temp folder; :attr:`conninfo` reaches its ``postgres`` database."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="replicator-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.conninfo = f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}"[-2000:])

    def start(self) -> Cluster:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", USER,
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
            "-l", str(self.folder / "log"), "start",
        )  # fmt: skip
        pg_ctl = str(self.bin / "pg_ctl")
        stop = [*self.as_user, pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]
        reap_after(self.folder, command=stop)  # a killed run stops its cluster too
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["Cluster", "binaries", "need_postgres"]
