"""The daemon's Prometheus text and the log formats, checked without a daemon."""

from __future__ import annotations

import io
import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from replicator.daemon.log import Redactor, log_event, setup_logging, teardown_logging
from replicator.daemon.metrics import Metrics


def families(metrics: Metrics) -> dict:
    return {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}


def test_counters_and_gauges_parse_with_their_labels():
    """Label values with quotes, backslashes and newlines survive the text format."""
    metrics = Metrics()
    metrics.records.labels(module='a "quoted"\\name\n', side="crm", what="x").inc(3)
    metrics.conflicts_open.labels(module="customers").set(2)
    found = families(metrics)
    (sample,) = found["replicator_records"].samples
    assert sample.labels["module"] == 'a "quoted"\\name\n' and sample.value == 3
    assert found["replicator_conflicts_open"].samples[0].value == 2


def test_the_duration_histogram_has_cumulative_buckets():
    """Each bucket counts every observation at or below its bound; +Inf counts all."""
    metrics = Metrics()
    for seconds in (0.01, 0.3, 7.0, 5000.0):
        metrics.cycle_duration.labels(module="deals").observe(seconds)
    samples = families(metrics)["replicator_cycle_duration_seconds"].samples
    buckets = {s.labels["le"]: s.value for s in samples if s.name.endswith("_bucket")}
    assert buckets["0.05"] == 1 and buckets["0.5"] == 2 and buckets["10.0"] == 3
    assert buckets["+Inf"] == 4
    total = {s.name: s.value for s in samples if not s.name.endswith("_bucket")}
    assert total["replicator_cycle_duration_seconds_count"] == 4
    assert total["replicator_cycle_duration_seconds_sum"] == 5007.31


FAMILIES = {
    "replicator_cycles": "counter",
    "replicator_records": "counter",
    "replicator_cycle_duration_seconds": "histogram",
    "replicator_conflicts_open": "gauge",
    "replicator_api_requests": "counter",
    "replicator_api_rate_limited": "counter",
    "replicator_callbacks": "counter",
    "replicator_last_cycle_timestamp_seconds": "gauge",
    "replicator_next_run_timestamp_seconds": "gauge",
    "replicator_channel_expiry_timestamp_seconds": "gauge",
    "replicator_scheduler_running": "gauge",
}


def test_a_scrape_holds_the_documented_families_and_no_creation_time_series():
    """Every family of the module's table, with its type; no ``_created`` series is added."""
    metrics = Metrics()
    metrics.cycles.labels(module="deals", trigger="schedule", outcome="ok").inc()
    metrics.cycle_duration.labels(module="deals").observe(1.5)
    metrics.callbacks.labels(outcome="accepted").inc()
    found = families(metrics)
    assert {name: f.type for name, f in found.items()} == FAMILIES
    names = {s.name for f in found.values() for s in f.samples}
    assert "replicator_cycles_total" in names
    assert not [n for n in names if n.endswith("_created")]


def test_two_daemons_in_one_process_count_apart():
    """Each Metrics has a registry of its own: one's counts never show in the other's."""
    first, second = Metrics(), Metrics()
    first.callbacks.labels(outcome="refused").inc(2)
    assert families(first)["replicator_callbacks"].samples[0].value == 2
    assert families(second)["replicator_callbacks"].samples == []


def test_the_redactor_scrubs_messages_fields_and_tracebacks():
    """A secret it knows is replaced wherever it shows up in a record."""
    stream = io.StringIO()
    handler, redactor = setup_logging("json", stream=stream)
    try:
        redactor.add("s3cret-token-value")
        log = logging.getLogger("replicator.test")
        log_event(log, "got s3cret-token-value", body={"token": "s3cret-token-value"})
        try:
            raise ValueError("bad s3cret-token-value")
        except ValueError:
            log.exception("failed")
    finally:
        teardown_logging(handler)
    text = stream.getvalue()
    assert "s3cret-token-value" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["body"] == {"token": "[secret]"} and "ValueError" in lines[1]["error"]


def test_a_short_value_is_not_taken_for_a_secret():
    """Blanking a two-letter word everywhere would garble every line."""
    redactor = Redactor()
    redactor.add("ab")
    assert redactor.scrub("about") == "about"
