"""The daemon's counters, gauges and histograms, kept and rendered by ``prometheus_client``.

Each :class:`Metrics` has a ``CollectorRegistry`` of its own, never the library's global
default: two daemons in one process (or two tests) count apart.  A scrape is the
Prometheus text format 0.0.4.

Families (labels in braces)::

    replicator_cycles_total{module,trigger,outcome}      counter  outcome: ok, error, paused,
                                                                   interrupted, disabled
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

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric

from replicator.connectors.base import http_client

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
# what generate_latest writes (the library's own handler answers it with this type too;
# its CONTENT_TYPE_LATEST names text format 1.0.0, written only when a scraper asks for it)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class WithoutCreated:
    """The registry's families without their ``_created`` samples: the library adds a
    creation-time series to every counter and histogram unless told not to, and the only
    switch (``disable_created_metrics``) is global to the process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self.registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class Metrics:
    """The daemon's metrics (thread-safe, as the library's are); :meth:`render` gives the
    exposition text of this daemon's registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.cycles = Counter(
            "replicator_cycles",
            "Sync cycles run by the daemon.",
            ("module", "trigger", "outcome"),
            registry=registry,
        )
        self.records = Counter(
            "replicator_records",
            "Records handled, by module, side and what.",
            ("module", "side", "what"),
            registry=registry,
        )
        self.cycle_duration = Histogram(
            "replicator_cycle_duration_seconds",
            "How long a module's cycle took.",
            ("module",),
            buckets=BUCKETS,
            registry=registry,
        )
        self.conflicts_open = Gauge(
            "replicator_conflicts_open",
            "Conflicts waiting for a person.",
            ("module",),
            registry=registry,
        )
        self.api_requests = Counter(
            "replicator_api_requests",
            "HTTP answers from a side's API.",
            ("side", "status"),
            registry=registry,
        )
        self.api_rate_limited = Counter(
            "replicator_api_rate_limited",
            "HTTP 429 answers from a side's API.",
            ("side",),
            registry=registry,
        )
        self.callbacks = Counter(
            "replicator_callbacks",
            "CRM notification callbacks received.",
            ("outcome",),
            registry=registry,
        )
        self.last_cycle = Gauge(
            "replicator_last_cycle_timestamp_seconds",
            "When a module's last cycle ended.",
            ("module",),
            registry=registry,
        )
        self.next_run = Gauge(
            "replicator_next_run_timestamp_seconds",
            "When a module's job runs next.",
            ("module",),
            registry=registry,
        )
        self.channel_expiry = Gauge(
            "replicator_channel_expiry_timestamp_seconds",
            "When a watch channel expires.",
            ("side",),
            registry=registry,
        )
        self.scheduler_running = Gauge(
            "replicator_scheduler_running",
            "Whether the scheduler is running.",
            registry=registry,
        )
        self._exposed = WithoutCreated(registry)

    def render(self) -> bytes:
        """The exposition text (UTF-8), served as :data:`CONTENT_TYPE`."""
        return generate_latest(self._exposed)


def count_requests(connectors: Mapping[str, Any], metrics: Metrics) -> None:
    """Count every HTTP answer of each side's API client (and its 429s): a response hook
    on the client the connector declares, so the connectors need not know about metrics."""
    for side, connector in connectors.items():
        http = http_client(connector)
        if not isinstance(http, httpx.Client):
            continue

        def count(response: httpx.Response, side: str = side) -> None:
            metrics.api_requests.labels(side=side, status=str(response.status_code)).inc()
            if response.status_code == 429:
                metrics.api_rate_limited.labels(side=side).inc()

        http.event_hooks["response"].append(count)


__all__ = ["BUCKETS", "CONTENT_TYPE", "Metrics", "WithoutCreated", "count_requests"]
