"""Switchable faults: what a flaky network and an overloaded Zoho do to a client.

A :class:`Fault` matches requests by API (``crm``, ``books``, ``oauth`` or ``*``), method
and a glob over either the concrete path (``/crm/v8/Deals*``) or the route template
(``/crm/v8/{module}/upsert``).  Kinds:

- ``status``: answer ``status`` (429 carries ``Retry-After``; 500 the API's JSON error;
  502/503/504 an HTML gateway page, as a proxy in front of Zoho would send);
- ``delay``: hold the request ``delay`` seconds, then serve it normally;
- ``drop``: close the socket without sending a byte of response;
- ``partial``: on a bulk CRM write, fail some records (every ``record_every``-th record, or
  each with probability ``record_rate``) with ``record_code`` and apply the rest.  The
  default ``INVALID_DATA`` is a refusal a client should not repeat; a passing failure such
  as ``INTERNAL_ERROR`` or ``RECORD_LOCKED`` is one it should try again.

Which matching requests a fault hits: every ``every``-th one when ``every`` > 0, otherwise
each with ``probability``; at most ``times`` hits in all when ``times`` is set.  Chance is
drawn from a ``random.Random`` seeded with the sandbox seed and the fault's id, so the same
requests in the same order meet the same faults on every run.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Mapping
from typing import Any

import attrs

APIS = ("crm", "books", "oauth", "*")
KINDS = ("status", "delay", "drop", "partial")


@attrs.frozen
class Fault:
    """One switched-on fault."""

    id: str
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    api: str = attrs.field(default="*", validator=attrs.validators.in_(APIS))
    method: str = "*"
    path: str = "*"
    status: int = 503
    retry_after: int = 1
    delay: float = 0.0
    probability: float = 1.0
    every: int = 0
    times: int | None = None
    record_rate: float = 0.5
    record_every: int = 0
    record_code: str = "INVALID_DATA"

    def matches(self, api: str, method: str, path: str, template: str | None) -> bool:
        if self.api not in ("*", api):
            return False
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path) or (
            template is not None and fnmatch.fnmatchcase(template, self.path)
        )


@attrs.frozen
class Decision:
    """What the faults make of one request."""

    delay: float = 0.0
    fault: Fault | None = None  # a status or drop fault to apply, if any


class FaultBook:
    """The active faults, their hit counters and their seeded random streams."""

    def __init__(self, seed: int | str = 0) -> None:
        self._seed = seed
        self._faults: dict[str, Fault] = {}
        self._seen: dict[str, int] = {}
        self._hits: dict[str, int] = {}
        self._rngs: dict[str, random.Random] = {}
        self._next = 0
        self._lock = threading.Lock()

    def add(self, spec: Mapping[str, Any]) -> Fault:
        """A new fault from its JSON description; ``ValueError`` if it does not validate."""
        known = {f.name for f in attrs.fields(Fault)} - {"id"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        if "kind" not in spec:
            raise ValueError("a fault needs a kind: " + ", ".join(KINDS))
        with self._lock:
            self._next += 1
            try:
                fault = Fault(id=f"f{self._next}", **spec)
            except TypeError as exc:
                raise ValueError(str(exc)) from exc
            if not 0 <= fault.probability <= 1 or not 0 <= fault.record_rate <= 1:
                raise ValueError("probabilities are between 0 and 1")
            if fault.kind == "status" and not 400 <= fault.status <= 599:
                raise ValueError("status must be a 4xx or 5xx code")
            self._faults[fault.id] = fault
            self._seen[fault.id] = self._hits[fault.id] = 0
            self._rngs[fault.id] = random.Random(f"{self._seed}:{fault.id}")
            return fault

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            return self._faults.pop(fault_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                attrs.asdict(f) | {"seen": self._seen[f.id], "hits": self._hits[f.id]}
                for f in self._faults.values()
            ]

    def _fires(self, fault: Fault) -> bool:
        """Count one matching request for ``fault``; whether the fault hits it."""
        if fault.times is not None and self._hits[fault.id] >= fault.times:
            return False
        self._seen[fault.id] += 1
        if fault.every > 0:
            hit = self._seen[fault.id] % fault.every == 0
        else:
            hit = self._rngs[fault.id].random() < fault.probability
        if hit:
            self._hits[fault.id] += 1
        return hit

    def decide(self, api: str, method: str, path: str, template: str | None) -> Decision:
        """The delay and the terminal fault (status or drop) for one request."""
        delay, terminal = 0.0, None
        with self._lock:
            for fault in self._faults.values():
                if fault.kind == "partial" or not fault.matches(api, method, path, template):
                    continue
                if not self._fires(fault):
                    continue
                if fault.kind == "delay":
                    delay += fault.delay
                elif terminal is None:
                    terminal = fault
        return Decision(delay, terminal)

    def failing_records(
        self, api: str, method: str, path: str, template: str | None, count: int
    ) -> dict[int, str]:
        """The records a ``partial`` fault fails in a bulk write of ``count``: index -> the
        error code to answer for it."""
        failing: dict[int, str] = {}
        with self._lock:
            for fault in self._faults.values():
                if fault.kind != "partial" or not fault.matches(api, method, path, template):
                    continue
                if not self._fires(fault):
                    continue
                rng = self._rngs[fault.id]
                for index in range(count):
                    if fault.record_every > 0:
                        if (index + 1) % fault.record_every == 0:
                            failing.setdefault(index, fault.record_code)
                    elif rng.random() < fault.record_rate:
                        failing.setdefault(index, fault.record_code)
        return failing


__all__ = [
    "APIS",
    "Decision",
    "Fault",
    "FaultBook",
    "KINDS",
]
