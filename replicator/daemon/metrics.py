"""The daemon's counters, gauges and histograms, rendered in Prometheus' text format (0.0.4)
by hand: no client library at run time.

Families (labels in braces)::

    replicator_cycles_total{module,trigger,outcome}      counter  outcome: ok, error, paused
    replicator_records_total{module,side,what}           counter  what: a CycleReport count
                                                                   (pulled, created, ...)
    replicator_cycle_duration_seconds{module}            histogram
    replicator_conflicts_open{module}                    gauge
    replicator_api_requests_total{side,status}           counter  every HTTP answer a side gave
    replicator_api_rate_limited_total{side}              counter  its 429s
    replicator_callbacks_total{outcome}                  counter  accepted, refused
    replicator_last_cycle_timestamp_seconds{module}      gauge    end of the last cycle (UTC)
    replicator_next_run_timestamp_seconds{module}        gauge
    replicator_channel_expiry_timestamp_seconds{side}    gauge
    replicator_scheduler_running                         gauge    1 or 0
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import httpx

Labels = tuple[tuple[str, str], ...]

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
FAMILIES: dict[str, tuple[str, str]] = {
    "replicator_cycles_total": ("counter", "Sync cycles run by the daemon."),
    "replicator_records_total": ("counter", "Records handled, by module, side and what."),
    "replicator_cycle_duration_seconds": ("histogram", "How long a module's cycle took."),
    "replicator_conflicts_open": ("gauge", "Conflicts waiting for a person."),
    "replicator_api_requests_total": ("counter", "HTTP answers from a side's API."),
    "replicator_api_rate_limited_total": ("counter", "HTTP 429 answers from a side's API."),
    "replicator_callbacks_total": ("counter", "CRM notification callbacks received."),
    "replicator_last_cycle_timestamp_seconds": ("gauge", "When a module's last cycle ended."),
    "replicator_next_run_timestamp_seconds": ("gauge", "When a module's job runs next."),
    "replicator_channel_expiry_timestamp_seconds": ("gauge", "When a watch channel expires."),
    "replicator_scheduler_running": ("gauge", "Whether the scheduler is running."),
}


def _labels(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: Labels, value: float) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    number = repr(float(value)) if not math.isinf(value) else ("+Inf" if value > 0 else "-Inf")
    return f"{name}{{{text}}} {number}" if text else f"{name} {number}"


class Metrics:
    """Thread-safe values; :meth:`render` gives the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {name: {} for name in FAMILIES}
        self._histograms: dict[Labels, list[float]] = {}  # bucket counts, then sum, count

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            family = self._values[name]
            family[key] = family.get(key, 0.0) + n

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][_labels(labels)] = float(value)

    def drop(self, name: str, **labels: str) -> None:
        with self._lock:
            self._values[name].pop(_labels(labels), None)

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values[name].get(_labels(labels), 0.0)

    def observe(self, seconds: float, **labels: str) -> None:
        """One cycle's duration into ``replicator_cycle_duration_seconds``."""
        key = _labels(labels)
        with self._lock:
            counts = self._histograms.setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-2] += seconds
            counts[-1] += 1

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in FAMILIES.items():
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                if kind == "histogram":
                    for key, counts in sorted(self._histograms.items()):
                        for bound, n in zip(BUCKETS, counts, strict=False):
                            lines.append(_sample(f"{name}_bucket", (*key, ("le", repr(bound))), n))
                        lines.append(_sample(f"{name}_bucket", (*key, ("le", "+Inf")), counts[-1]))
                        lines.append(_sample(f"{name}_sum", key, counts[-2]))
                        lines.append(_sample(f"{name}_count", key, counts[-1]))
                    continue
                for key, value in sorted(self._values[name].items()):
                    lines.append(_sample(name, key, value))
        return "\n".join(lines) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def count_requests(connectors: Mapping[str, Any], metrics: Metrics) -> None:
    """Count every HTTP answer of each side's API client (and its 429s): a response hook
    on the connector's ``client.http``, so the connectors need not know about metrics."""
    for side, connector in connectors.items():
        http = getattr(getattr(connector, "client", None), "http", None)
        if not isinstance(http, httpx.Client):
            continue

        def count(response: httpx.Response, side: str = side) -> None:
            status = str(response.status_code)
            metrics.inc("replicator_api_requests_total", side=side, status=status)
            if response.status_code == 429:
                metrics.inc("replicator_api_rate_limited_total", side=side)

        http.event_hooks["response"].append(count)


__all__ = ["BUCKETS", "CONTENT_TYPE", "FAMILIES", "Metrics", "count_requests"]
