"""Deal stages and their probabilities, as Zoho CRM's fields metadata gives them.

CRM defines won and lost by a stage's probability (100 won, 0 lost; the deals contract,
section 2), never by its name: ``GET /settings/fields?module=Deals`` lists the ``Stage``
picklist's ``pick_list_values``, each with ``actual_value``, ``display_value`` and
``probability``.  :class:`Stages` keeps what was read for the connector's life, and reads
it again, once per stage, when a record shows a stage it does not know (a stage added in
CRM since): a stage still unknown after that is left for the engine to skip with the
reason, not read again on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

Key = tuple[str, str]  # (module table, picklist field)


def stage_probabilities(fields: Iterable[Any], field: str) -> dict[str, int] | None:
    """``field``'s picklist value -> probability (0..100), by actual and display value,
    from a fields answer; None when the module has no such field or none of its values
    carries a probability.  A probability that is not a whole number 0..100 is left out
    (its stage then reads as unknown, never guessed)."""
    for entry in fields:
        if not isinstance(entry, Mapping) or entry.get("api_name") != field:
            continue
        found: dict[str, int] = {}
        for value in entry.get("pick_list_values") or []:
            if not isinstance(value, Mapping):
                continue
            probability = _percent(value.get("probability"))
            if probability is None:
                continue
            for key in ("actual_value", "display_value"):
                name = value.get(key)
                if isinstance(name, str) and name:
                    found.setdefault(name, probability)
        return found or None
    return None


def _percent(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        number = int(value)
    else:
        return None
    return number if 0 <= number <= 100 else None


class Stages:
    """The stage probabilities one connector read, and the stages it saw but not knew."""

    def __init__(self) -> None:
        self._known: dict[Key, dict[str, int] | None] = {}
        self._pending: dict[Key, set[str]] = {}  # seen, unknown, not read again for yet
        self._asked: dict[Key, set[str]] = {}  # unknown stages already read again for

    def saw(self, table: str, values: Mapping[str, Any]) -> None:
        """A record of ``table`` was read: note a stage its metadata does not know."""
        for key, known in self._known.items():
            if key[0] != table:
                continue
            stage = values.get(key[1])
            if isinstance(stage, str) and stage:
                self._note(key, known, stage)

    def probabilities(
        self, key: Key, read: Callable[[], dict[str, int] | None], *, stages: Iterable[str] = ()
    ) -> Mapping[str, int] | None:
        """What ``read`` gave for ``key``, read on first use and again when a stage seen
        (or named in ``stages``) is unknown and was not read again for before."""
        for stage in stages:
            self._note(key, self._known.get(key), stage)
        pending = self._pending.get(key, set())
        if key not in self._known or pending:
            self._known[key] = read()
            self._asked.setdefault(key, set()).update(pending)
            pending.clear()
        known = self._known[key]
        return dict(known) if known is not None else None

    def _note(self, key: Key, known: Mapping[str, int] | None, stage: str) -> None:
        if key not in self._known or (known is not None and stage in known):
            return
        if stage not in self._asked.get(key, set()):
            self._pending.setdefault(key, set()).add(stage)


__all__ = ["Stages", "stage_probabilities"]
