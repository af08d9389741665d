"""What a reducer may use of the materialised state: typing protocols, no storage import.

The journal's SQLite backend implements :class:`View`; the conflicts package types its
reducer against it without importing the backend (and so sqlite3).
"""

from __future__ import annotations

from typing import Any, Protocol


class View(Protocol):
    """What a reducer may read and write of the materialised state."""

    def record(self, module: str, rid: str) -> Any | None: ...
    def put_record(self, module: str, rid: str, state: Any) -> None: ...
    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None: ...
    def cursor(self, side: str, module: str) -> Any | None: ...
    def set_cursor(self, side: str, module: str, value: Any) -> None: ...
    def conflict(self, conflict_id: int) -> dict[str, Any] | None: ...
    def put_conflict(
        self, conflict_id: int, module: str, rid: str, field: str, status: str, data: Any
    ) -> None: ...
    def drop_module(self, module: str) -> None: ...


__all__ = ["View"]
