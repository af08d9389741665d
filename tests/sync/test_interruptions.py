"""Issue 9, class 1, end to end over two SQLite files: an interrupted first sync doubles
nothing.

Both files hold the same names before their first sync (``duplicates = "overwrite"``
pairs them), plus a few names on one side only.  A real ``replicator sync`` process (the
worktree's code: ``PYTHONPATH``) is interrupted, then normal runs follow; after them every
name is exactly once on each side and ``replicator journal verify`` says intact:

- SIGKILL at seeded moments of the first sync, one of them right after the CRM side was
  pulled (the first Books entry in the journal; the pulls write the state in bulk then,
  its indexes and tally triggers put aside), others after a seeded number of entries;
- another program holding the Books file locked (``BEGIN EXCLUSIVE`` in a plain sqlite3
  connection) for the whole first cycle: the sync exits 1 naming the lock.

The moments are read from the journal as the sync writes it (polling a read-only
connection); the sync is held (SIGSTOP) while the lock is taken, so the lock is in place
before it reaches Books whatever the machine's load.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "import sys; from replicator.cli.main import main; sys.exit(main())"
CONFIG = """\
[journal]
path = "journal.db"

[sides.books]
connector = "sqlite"
path = "books.db"
timeout = 0.3

[sides.crm]
connector = "sqlite"
path = "crm.db"

[modules.customers]
sync = "both_ways"
first = "crm"
duplicates = "overwrite"
page_size = {page_size}
books = {{ table = "customers", id = "id", match = "name", modified = "updated_at" }}
crm = {{ table = "accounts", id = "id", match = "account_name", modified = "modified_time" }}

[modules.customers.fields]
name = {{ books = "name", crm = "account_name" }}
email = {{ books = "email", crm = "email" }}
"""
STAMP = "2024-01-01T00:00:00+00:00"


class Sides:
    """books.db and crm.db made by plain sqlite3, the same ``shared`` names on both (and
    a few on one side only), and a config pairing them."""

    def __init__(self, folder: Path, shared: int, *, page_size: int = 500) -> None:
        self.folder = folder
        self.config = folder / "replicator.toml"
        self.config.write_text(CONFIG.format(page_size=page_size), encoding="utf-8")
        self.books = folder / "books.db"
        self.crm = folder / "crm.db"
        self.journal = folder / "journal.db"
        names = [f"Customer {i:05d}" for i in range(shared)]
        self.expected = sorted([*names, "Books Only 1", "Books Only 2", "Crm Only 1"])
        for db, table, column, own in (
            (self.books, "customers", "name", ["Books Only 1", "Books Only 2"]),
            (self.crm, "accounts", "account_name", ["Crm Only 1"]),
        ):
            with contextlib.closing(sqlite3.connect(db)) as conn, conn:
                stamp = "updated_at" if table == "customers" else "modified_time"
                conn.execute(
                    f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {column} TEXT, "
                    f"email TEXT, {stamp} TEXT)"
                )
                conn.executemany(
                    f"INSERT INTO {table} ({column}, email, {stamp}) VALUES (?, ?, ?)",
                    [(n, f"{table}@example.com", STAMP) for n in [*names, *own]],
                )

    def names(self, side: str) -> list[str]:
        db, query = (
            (self.books, "SELECT name FROM customers")
            if side == "books"
            else (self.crm, "SELECT account_name FROM accounts")
        )
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return sorted(r[0] for r in conn.execute(query))

    def start(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen(
            [sys.executable, "-c", ENTRY, *args, "--config", str(self.config)],
            cwd=self.folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        process = self.start(*args)
        out, err = process.communicate(timeout=600)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def journal_count(self, where: str = "1") -> int:
        """Entries of the journal matching ``where`` (0 while it does not exist yet)."""
        if not self.journal.exists():
            return 0
        uri = f"file:{self.journal}?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
                row = conn.execute(f"SELECT count(*) FROM entries WHERE {where}").fetchone()
                return int(row[0])
        except sqlite3.OperationalError:  # not made yet, or being made
            return 0

    def schema(self) -> set[str]:
        """The names of the journal's tables, indexes and triggers."""
        uri = f"file:{self.journal}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
            return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}

    def assert_each_name_once(self) -> None:
        for side in ("books", "crm"):
            names = self.names(side)
            twice = sorted(n for n, k in Counter(names).items() if k > 1)
            assert not twice, f"{side} holds {len(twice)} names twice, e.g. {twice[:3]}"
            assert names == self.expected, f"{side} lacks {set(self.expected) - set(names)}"

    def normal_runs(self) -> None:
        """Syncs until one has nothing to do; then the journal verifies."""
        for _ in range(3):
            done = self.run("sync")
            assert done.returncode == 0, done.stderr
        verify = self.run("journal", "verify")
        assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr


def wait_until(check: Callable[[], bool], process: subprocess.Popen[str]) -> bool:
    """Poll ``check`` until it holds (True) or the process ended (False)."""
    while not check():
        if process.poll() is not None:
            return False
        time.sleep(0.002)
    return True


@contextlib.contextmanager
def held(process: subprocess.Popen[str]) -> Iterator[None]:
    """The process stopped (SIGSTOP) for the block, then let go on (SIGCONT)."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


BOOKS_SEEN = "side = 'books'"  # the CRM side was pulled: Books is being read


def kill_at(sides: Sides, where: str, entries: int = 1) -> bool:
    """Start a sync and SIGKILL it once ``entries`` journal entries match ``where``;
    returns whether it was killed (False: it finished first)."""
    process = sides.start("sync")
    reached = wait_until(lambda: sides.journal_count(where) >= entries, process)
    if reached:
        process.kill()
    process.communicate(timeout=600)
    return reached


def test_a_first_sync_killed_right_after_the_crm_pull_doubles_nothing(tmp_path: Path) -> None:
    """SIGKILL once the whole CRM pull is journaled and before Books is read (another
    program holds Books' write lock, so the sync waits there whatever the machine's load),
    then normal runs: every name once on each side, the journal intact."""
    sides = Sides(tmp_path, 600, page_size=50)
    sides.config.write_text(sides.config.read_text().replace("timeout = 0.3", "timeout = 600"))
    process = sides.start("sync")
    # the first journal entry comes once both sides are open (the sync checked them)
    assert wait_until(lambda: sides.journal_count() > 0, process), "the sync ended first"
    with held(process):
        lock = sqlite3.connect(sides.books, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        assert sides.journal_count(BOOKS_SEEN) == 0, "the sync read Books before the lock"
    try:
        crm_read = "side = 'crm' AND kind = 'observed'"
        assert wait_until(lambda: sides.journal_count(crm_read) == 601, process)
        process.kill()
        process.communicate(timeout=600)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert sides.journal_count(BOOKS_SEEN) == 0
    # killed while the first copy's pulls wrote the state in bulk (replicator.sync.pull.
    # BulkPulls): its indexes and tally triggers are missing until the journal is opened
    put_aside = {"records_key", "records_label", "records_tally_insert", "links_tally_insert"}
    assert put_aside & sides.schema() == set()
    sides.normal_runs()
    sides.assert_each_name_once()
    assert put_aside <= sides.schema()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_first_sync_of_thousands_killed_at_random_moments_doubles_nothing(
    tmp_path: Path, seed: int
) -> None:
    """3,000 shared names; the first sync and the runs after it are SIGKILLed at seeded
    moments (right after the CRM pull, and after a seeded number of journal entries), then
    normal runs: every name once on each side, the journal intact."""
    rng = random.Random(seed)
    sides = Sides(tmp_path, 3000, page_size=rng.choice([200, 500, 1000]))
    assert kill_at(sides, BOOKS_SEEN), "the sync finished before it was killed"
    for _ in range(3):
        before = sides.journal_count()
        kill_at(sides, "1", before + rng.randrange(1, 6000))
    sides.normal_runs()
    sides.assert_each_name_once()


def test_a_first_sync_with_books_locked_for_the_whole_cycle_doubles_nothing(
    tmp_path: Path,
) -> None:
    """Another program holds books.db locked (BEGIN EXCLUSIVE) from before the sync reads
    anything until it ends: the sync exits 1 naming the lock; released, normal runs leave
    every name once on each side and the journal intact."""
    sides = Sides(tmp_path, 600, page_size=50)
    process = sides.start("sync")
    # the first journal entry comes once both sides are open (the sync checked them)
    assert wait_until(lambda: sides.journal_count() > 0, process), "the sync ended first"
    with held(process):
        lock = sqlite3.connect(sides.books, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        assert sides.journal_count(BOOKS_SEEN) == 0, "the sync read Books before the lock"
    try:
        out, err = process.communicate(timeout=600)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert process.returncode == 1, out + err
    assert "locked" in err, err
    sides.normal_runs()
    sides.assert_each_name_once()


@pytest.mark.parametrize("timeout", ['"soon"', "-1", "true"])
def test_a_sqlite_sides_lock_timeout_must_be_seconds(tmp_path: Path, timeout: str) -> None:
    """``timeout`` of a SQLite side is a number of seconds: anything else is a config error
    naming the key."""
    sides = Sides(tmp_path, 1)
    sides.config.write_text(
        sides.config.read_text().replace("timeout = 0.3", f"timeout = {timeout}")
    )
    done = sides.run("status")
    assert done.returncode != 0
    assert "sides.books.timeout" in done.stderr, done.stderr
