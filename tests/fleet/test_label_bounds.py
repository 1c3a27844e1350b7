"""Label cardinality of what `watch` exports stays bounded whatever the logs hold: at most
``max_per_vhost`` endpoints per vhost (plus ``{other}``), ``max_vhosts`` vhosts (plus ``{other}``),
the registered methods and six status classes. A fleet multiplies these by the number of
servers, so Prometheus's series count is known in advance (docs/fleet-monitoring.md).
The caps themselves are unit-tested in tests/logs/test_endpoints.py and tests/monitor/test_ingest.py;
this reads the exporter's own output."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitor.watchkit import T0, Recorder, append, line, watcher
from vhostguard.analytics import METHODS
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.exporter import SERIES_LABELS, registry_for

CAP, VHOSTS = 5, 3
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima")


def test_exporter_never_exceeds_the_endpoint_and_vhost_caps(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = []
    for v in range(8):  # 8 vhosts, each with 12 x 12 distinct two-segment paths, odd methods and statuses
        for i, first in enumerate(WORDS):
            for j, second in enumerate(WORDS):
                method = ("GET", "POST", "BREW", "get", "X" * 40)[(i + j) % 5]
                status = (200, 404, 503, 302, 999)[(i * j) % 5]
                lines.append(line(T0 + i, f"/{first}/{second}", status, vhost=f"site{v}.example.com", method=method,
                                  duration_us=1_500_000))
    append(log, lines)
    watch = watcher([log], ManualClock(T0 + 20), Recorder(), max_per_vhost=CAP, max_vhosts=VHOSTS)
    watch.run(once=True)
    watch.close()
    text = generate_latest(registry_for(watch.metrics)).decode()

    endpoints: dict[str, set[str]] = defaultdict(set)
    methods, classes = set(), set()
    per_family: dict[str, int] = defaultdict(int)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if {"vhost", "endpoint"} <= sample.labels.keys():
                endpoints[sample.labels["vhost"]].add(sample.labels["endpoint"])
                methods.add(sample.labels["method"])
                per_family[sample.name] += 1
            if "status_class" in sample.labels:
                classes.add(sample.labels["status_class"])
    assert set(endpoints) - {"{other}"} and len(endpoints) <= VHOSTS + 1
    assert "{other}" in endpoints  # the vhost cap was reached: the rest share one label value
    for vhost, names in endpoints.items():
        assert len(names - {"{other}"}) <= CAP, (vhost, sorted(names))
        assert "{other}" in names  # the endpoint cap was reached on every vhost
    assert methods <= set(METHODS) | {"{other}"} and "{other}" in methods
    assert classes <= {"1xx", "2xx", "3xx", "4xx", "5xx", "other"}
    # So each family holds at most (vhosts + 1) x (cap + 1) x methods x status classes series.
    bound = (VHOSTS + 1) * (CAP + 1) * len(methods) * len(classes)
    assert per_family["vhostguard_http_requests_total"] <= bound
    assert SERIES_LABELS == ("vhost", "method", "endpoint", "status_class")  # no other label can grow
