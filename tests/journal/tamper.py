"""What someone with write access to a journal file can do to its hashes, in either format
of its entries table (format 1: hex text in ``prev_hash`` and ``hash``; format 2: their
bytes in ``prev`` and ``digest``, read as hex through virtual columns)."""

from __future__ import annotations

import sqlite3
from typing import Any

from journal.schema import entries_format


def set_hashes(conn: sqlite3.Connection, seq: int, prev: str, digest: str) -> None:
    """Overwrite the stored hashes of entry ``seq`` (hex text) as its format stores them."""
    if entries_format(conn) == 2:
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
    if entries_format(conn) == 2:
        row = (*row[:10], bytes.fromhex(row[10]), bytes.fromhex(row[11]))
    conn.execute("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
