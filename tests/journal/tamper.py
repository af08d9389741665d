"""What someone with write access to a journal file can do to its hashes and times, in each
format of its entries table (format 1: hex text in ``prev_hash`` and ``hash``; format 2:
their bytes in ``prev`` and ``digest``, read as hex through virtual columns; format 3: no
link stored, ``digest`` bytes, the time as integer ``micros``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from typing import Any

from journal.entry import chain_text, micros_of
from journal.schema import entries_format, entry_columns
from journal.store import entry_batches


def set_hashes(conn: sqlite3.Connection, seq: int, prev: str, digest: str) -> None:
    """Overwrite the stored hashes of entry ``seq`` (hex text) as its format stores them
    (format 3 stores no link: ``prev`` is what the row before it holds)."""
    fmt = entries_format(conn)
    if fmt == 3:
        conn.execute("UPDATE entries SET digest = ? WHERE seq = ?", (bytes.fromhex(digest), seq))
    elif fmt == 2:
        conn.execute(
            "UPDATE entries SET prev = ?, digest = ? WHERE seq = ?",
            (bytes.fromhex(prev), bytes.fromhex(digest), seq),
        )
    else:
        conn.execute(
            "UPDATE entries SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq)
        )


def insert_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    """Add a row of the twelve columns of ``ENTRY_COLUMNS`` (hashes as hex text) as its
    format stores them."""
    fmt = entries_format(conn)
    if fmt == 3:
        micros = micros_of(dt.datetime.fromisoformat(row[1]))
        conn.execute(
            "INSERT INTO entries (seq, micros, module, rid, side, kind, dot, context, fields, "
            "meta, digest) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (row[0], micros, *row[2:10], bytes.fromhex(row[11])),
        )
        return
    if fmt == 2:
        row = (*row[:10], bytes.fromhex(row[10]), bytes.fromhex(row[11]))
    conn.execute("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)


def prev_hash(conn: sqlite3.Connection, seq: int) -> str:
    """Entry ``seq``'s link as its journal reads it (format 3: the hash of the row before)."""
    sql = f"SELECT {entry_columns(entries_format(conn))} FROM entries WHERE seq = ?"
    return str(conn.execute(sql, (seq,)).fetchone()[10])


def time_column(conn: sqlite3.Connection) -> str:
    """The stored column of an entry's time (``at``; ``micros`` in format 3)."""
    return "micros" if entries_format(conn) == 3 else "at"


def nul_in_time(conn: sqlite3.Connection, seq: int) -> None:
    """Append a NUL character to entry ``seq``'s stored time (format 3: its integer made
    text first, as an edit by plain SQL may)."""
    column = time_column(conn)
    conn.execute(
        f"UPDATE entries SET {column} = CAST({column} AS TEXT) || char(0) WHERE seq = ?", (seq,)
    )


def rechain(conn: sqlite3.Connection, seq: int) -> None:
    """Make the hashes from entry ``seq`` on again, unkeyed, over the rows as the journal
    reads them: what someone without the key does after editing an unkeyed journal."""
    fmt = entries_format(conn)
    prev = prev_hash(conn, seq)
    for rows in entry_batches(conn, fmt, since=seq - 1):
        for row in rows:
            new = hashlib.sha256(chain_text(prev, *row[:10])).hexdigest()
            set_hashes(conn, row[0], prev, new)
            prev = new


def read_row(conn: sqlite3.Connection, seq: int) -> tuple[Any, ...]:
    """Entry ``seq``'s row as the journal reads it (the columns of ``ENTRY_COLUMNS``)."""
    rows = next(iter(entry_batches(conn, entries_format(conn), since=seq - 1, batch=1)))
    return tuple(rows[0])


def time_edit(conn: sqlite3.Connection, assignment: str) -> str:
    """An ``UPDATE entries SET`` assignment of ``at`` as it applies to the file's format (3:
    to the stored ``micros``, its text made first where the edit appends to it)."""
    if entries_format(conn) != 3:
        return assignment
    return assignment.replace("at = at ||", "micros = CAST(micros AS TEXT) ||").replace(
        "at = ", "micros = "
    )
