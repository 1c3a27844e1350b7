"""Prometheus output of watch, read back with prometheus_client's own parser (contrib/prometheus/ is checked
against METRICS in tests/fleet/test_promtool.py)."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitor.watchkit import T0, Recorder, append, line, watcher
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.exporter import METRICS, MetricsServer, WatchMetrics, parse_addr, registry_for


def scrape(metrics: WatchMetrics) -> dict[str, object]:
    text = generate_latest(registry_for(metrics)).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}  # type: ignore[attr-defined]


@pytest.fixture
def watched(tmp_path: Path) -> WatchMetrics:
    log = tmp_path / "access.log"
    lines = [line(T0, "/v1/users/1", 200, duration_us=3000), line(T0, "/v1/users/2", 200, duration_us=40_000),
             line(T0 + 1, "/v1/users/3", 503, duration_us=12_000_000), line(T0 + 1, "/x?token=secret", 404),
             'not a log line\n', line(T0 + 2, "/v1/users/4", 200, method="BREW")]
    append(log, lines)
    watch = watcher([log], ManualClock(T0 + 3), Recorder())
    watch.run(once=True)
    watch.close()
    return watch.metrics


def test_requests_and_durations_by_bounded_labels(watched: WatchMetrics) -> None:
    families = scrape(watched)
    requests = samples(families["vhostguard_http_requests"])
    users = (("endpoint", "/v1/users/{id}"), ("method", "GET"), ("status_class", "2xx"), ("vhost", "api.example.com"))
    assert requests[("vhostguard_http_requests_total", users)] == 2
    assert requests[("vhostguard_http_requests_total", (("endpoint", "/x"), ("method", "GET"),
                                                         ("status_class", "4xx"), ("vhost", "api.example.com")))] == 1
    assert any(dict(labels)["method"] == "{other}" for _, labels in requests)
    for _, labels in requests:  # no raw URL, query or client address in any label
        assert "secret" not in str(labels) and "192.0.2.7" not in str(labels) and "/v1/users/1" not in str(labels)
    durations = samples(families["vhostguard_http_request_duration_seconds"])

    def bucket(le: str, status_class: str = "2xx") -> float:
        labels = {**dict(users), "status_class": status_class, "le": le}
        return durations[("vhostguard_http_request_duration_seconds_bucket", tuple(sorted(labels.items())))]

    assert (bucket("0.005"), bucket("0.05"), bucket("+Inf")) == (1, 2, 2)  # 3 ms and 40 ms, cumulative
    assert durations[("vhostguard_http_request_duration_seconds_count", users)] == 2
    assert durations[("vhostguard_http_request_duration_seconds_sum", users)] == pytest.approx(0.043)
    assert (bucket("10.0", "5xx"), bucket("+Inf", "5xx")) == (0, 1)  # 12 s: only in +Inf


def test_log_and_watcher_figures(watched: WatchMetrics) -> None:
    families = scrape(watched)
    [(_, lines)] = samples(families["vhostguard_log_lines"]).items()
    [(_, malformed)] = samples(families["vhostguard_log_lines_malformed"]).items()
    assert (lines, malformed) == (6, 1)
    assert samples(families["vhostguard_watch_clock_seconds"])[("vhostguard_watch_clock_seconds", ())] == T0 + 2
    assert families["vhostguard_log_lag_seconds"].type == "gauge"  # type: ignore[attr-defined]


def test_every_exposed_family_is_declared_with_help_and_type(watched: WatchMetrics) -> None:
    watched.firing[("endpoint-broken", "page")] = 1
    watched.notifications[("jsonl", "sent")] = 3
    families = scrape(watched)
    declared = {name.removesuffix("_total"): kind for name, kind in METRICS.items()}
    assert {name: f.type for name, f in families.items()} == declared  # type: ignore[attr-defined]
    for name, family in families.items():
        assert name.startswith("vhostguard_") and family.documentation  # type: ignore[attr-defined]


def test_served_over_http(watched: WatchMetrics) -> None:
    server = MetricsServer(registry_for(watched), "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.close()
    assert "vhostguard_http_requests_total{" in text


def test_metrics_addresses() -> None:
    assert parse_addr("127.0.0.1:9833") == ("127.0.0.1", 9833)
    assert parse_addr("[::1]:9833") == ("::1", 9833)
    for bad in ("9833", "host:", ":80", "h:99999"):
        with pytest.raises(ValueError):
            parse_addr(bad)
