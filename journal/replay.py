"""Replay and verification: the materialised state is a function of the entries alone.

:func:`verify_chain` recomputes every hash from the canonical row and checks each entry
links to its predecessor; :func:`replay` folds all entries into a fresh database through the
same reducer the live path uses; :func:`verify` does both and compares the replayed tables
with the live ones, naming the first difference.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import attrs

from journal.entry import GENESIS, entry_from_row, row_hash
from journal.errors import IntegrityError
from journal.store import ENTRY_COLUMNS, STATE_SCHEMA, STATE_TABLES, Journal, SQLiteView

Progress = Callable[[int, int], None]


@attrs.frozen
class Verification:
    entries: int
    chain_ok: bool
    state_ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.chain_ok and self.state_ok


def verify_chain(journal: Journal, progress: Progress | None = None) -> int:
    """Check seq continuity and every hash; returns the number of entries.

    Raises :class:`IntegrityError` naming the first entry that does not check out.
    """
    total = journal.count()
    prev_hash, expected_seq, n = GENESIS, 1, 0
    for row in journal.conn.execute(f"SELECT {ENTRY_COLUMNS} FROM entries ORDER BY seq"):
        seq = row[0]
        if seq != expected_seq:
            raise IntegrityError(
                f"entry {expected_seq} is missing (next stored entry is {seq})", seq=expected_seq
            )
        if row[10] != prev_hash:
            raise IntegrityError(
                f"entry {seq}: prev_hash does not match the hash of entry {seq - 1}", seq=seq
            )
        if row_hash(row) != row[11]:
            raise IntegrityError(
                f"entry {seq} ({row[5]} {row[2]}/{row[3]}): its content does not match its hash "
                "(the row was edited)",
                seq=seq,
            )
        prev_hash = row[11]
        expected_seq += 1
        n += 1
        if progress is not None and n % 10_000 == 0:
            progress(n, total)
    return n


def replay_into(
    journal: Journal, target: sqlite3.Connection, progress: Progress | None = None
) -> int:
    """Fold every entry of ``journal`` into the (empty) state tables of ``target``."""
    target.executescript(STATE_SCHEMA)
    view = SQLiteView(target, journal.reducer)
    total = journal.count()
    n = 0
    target.execute("BEGIN")
    for row in journal.conn.execute(f"SELECT {ENTRY_COLUMNS} FROM entries ORDER BY seq"):
        journal.reducer.apply(view, entry_from_row(row))
        n += 1
        if n % 5_000 == 0:
            view.flush()
            if progress is not None:
                progress(n, total)
    view.flush()
    target.execute("COMMIT")
    return n


def _compare(live: sqlite3.Connection, replayed_path: str) -> tuple[str, str] | None:
    live.execute("ATTACH DATABASE ? AS replayed", (replayed_path,))
    try:
        for table in STATE_TABLES:
            for a, b, label in (
                ("main", "replayed", "live only"),
                ("replayed", "main", "replay only"),
            ):
                row = live.execute(
                    f"SELECT * FROM {a}.{table} EXCEPT SELECT * FROM {b}.{table} LIMIT 1"
                ).fetchone()
                if row is not None:
                    return table, f"{label}: {row!r}"[:500]
        return None
    finally:
        live.execute("DETACH DATABASE replayed")


def verify(journal: Journal, progress: Progress | None = None) -> Verification:
    """Check the hash chain, then that replaying the entries gives the live state."""
    try:
        n = verify_chain(journal, progress)
    except IntegrityError as exc:
        return Verification(
            entries=journal.count(),
            chain_ok=False,
            state_ok=False,
            first_bad_seq=exc.seq,
            problem=str(exc),
        )
    with tempfile.TemporaryDirectory(prefix="replicator-verify-") as tmp:
        path = os.path.join(tmp, "replayed.db")
        target = sqlite3.connect(path, isolation_level=None)
        try:
            replay_into(journal, target, progress)
        finally:
            target.close()
        difference = _compare(journal.conn, path)
    if difference is not None:
        table, row = difference
        return Verification(
            entries=n,
            chain_ok=True,
            state_ok=False,
            problem=f"materialised table {table} differs from a replay of the entries ({row})",
        )
    return Verification(entries=n, chain_ok=True, state_ok=True)


def rebuild(journal: Journal, progress: Progress | None = None) -> int:
    """Throw the live materialised state away and rebuild it from the entries."""
    verify_chain(journal)
    with journal.transaction():
        for table in STATE_TABLES:
            journal.conn.execute(f"DELETE FROM {table}")
        journal.view.forget()
    fd, path = tempfile.mkstemp(
        prefix="replicator-replay-",
        suffix=".db",
        dir=str(Path(str(journal.path)).parent) if journal.path != ":memory:" else None,
    )
    os.close(fd)
    try:
        target = sqlite3.connect(path, isolation_level=None)
        try:
            n = replay_into(journal, target, progress)
        finally:
            target.close()
        with journal.transaction():
            journal.conn.execute("ATTACH DATABASE ? AS replayed", (path,))
            try:
                for table in STATE_TABLES:
                    journal.conn.execute(f"INSERT INTO main.{table} SELECT * FROM replayed.{table}")
            finally:
                pass
        journal.conn.execute("DETACH DATABASE replayed")
        journal.view.forget()
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(path + suffix)
            except FileNotFoundError:
                pass
    return n


__all__ = ["Verification", "rebuild", "replay_into", "verify", "verify_chain"]
