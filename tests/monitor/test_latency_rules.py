"""latency-slo and latency-regression (issue 18): fire on a slowdown, quiet on steady traffic."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.monitor.watchkit import T0, Recorder, append, line, watcher
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.exporter import registry_for
from vhostguard.monitor.latency import BOUNDS_US, BINS, Histograms, quantile
from vhostguard.monitor.rules import Rules, RulesError, parse_rules
from vhostguard.monitor.windows import WindowSpec

# Windows of minutes, not hours, so a test needs minutes of log.
RULES = parse_rules("""
latency_slo:
  threshold_ms: 300
  windows: [{severity: page, long: 5m, short: 30s, factor: 14.4}]
  min_requests: 50
  interval: 1s
latency_regression: {window: 30s, baseline: 5m, min_requests: 20, min_baseline: 100, interval: 1s}
""")


def timed(start: float, seconds: int, duration_ms: float | tuple[float, float], per_second: int = 5,
          seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for s in range(seconds):
        for i in range(per_second):
            ms = rnd.uniform(*duration_ms) if isinstance(duration_ms, tuple) else duration_ms
            out.append(line(start + s, f"/v1/users/{i}", duration_us=round(ms * 1000)))
    return out


def replay(tmp_path: Path, lines: list[str], rules: Rules = RULES) -> Recorder:
    log = tmp_path / "access.log"
    append(log, lines)
    sink = Recorder()
    watch = watcher([log], ManualClock(T0 + 10_000), sink, rules=rules, follow_wall=False)
    watch.run(once=True)
    watch.close()
    return sink


def test_quantile_of_bins() -> None:
    bins = [0.0] * BINS
    bins[10] = 100  # every request between the bounds of bin 9 and bin 10
    p = quantile(bins, 0.95)
    assert p is not None and BOUNDS_US[9] / 1e6 < p <= BOUNDS_US[10] / 1e6
    assert quantile([0.0] * BINS, 0.95) is None


def test_histograms_forget_what_left_the_window() -> None:
    h = Histograms([WindowSpec(60)])
    key = ("v", "GET", "/")
    h.add(key, T0, [50_000] * 10)
    assert sum(h.counts(key, 0, T0) or []) == 10
    h.add(key, T0 + 600, [900_000])
    assert sum(h.counts(key, 0, T0 + 600) or []) == 1


def test_steady_traffic_raises_no_latency_alert(tmp_path: Path) -> None:
    sink = replay(tmp_path, timed(T0, 900, (20, 120)))
    assert sink.alerts == []


def test_a_backend_delay_fires_both_latency_rules(tmp_path: Path) -> None:
    lines = timed(T0, 600, (20, 120)) + timed(T0 + 600, 120, (700, 900), seed=2)
    sink = replay(tmp_path, lines)
    [slo] = [a for a in sink.firing("latency-slo") if a.endpoint == "/v1/users/{id}"]
    assert slo.severity == "page" and slo.vhost == "api.example.com" and slo.method == "GET"
    assert slo.summary.startswith("slow api.example.com GET /v1/users/{id}: ")
    assert "(objective 99% under 300 ms)" in slo.summary
    assert slo.observed["threshold_ms"] == 300 and slo.observed["slow_ratio_short"] > 0.5
    assert slo.started > T0 + 600 and slo.started - (T0 + 600) <= 60
    [regression] = sink.firing("latency-regression")
    assert regression.severity == "ticket" and regression.endpoint == "/v1/users/{id}"
    assert regression.observed["recent_seconds"] >= 2 * regression.observed["baseline_seconds"]
    assert 0.6 <= regression.observed["recent_seconds"] <= 1.0
    assert 0.08 <= regression.observed["baseline_seconds"] <= 0.15
    assert regression.started - (T0 + 600) <= 30


def test_a_per_endpoint_objective_wins(tmp_path: Path) -> None:
    rules = parse_rules("""
latency_slo:
  threshold_ms: 300
  endpoints: [{endpoint: "/v1/users/*", objective: 0.99, threshold_ms: 2000}]
  windows: [{severity: page, long: 5m, short: 30s, factor: 14.4}]
  min_requests: 50
  interval: 1s
latency_regression: {enabled: false}
""")
    lines = timed(T0, 600, (20, 120)) + timed(T0 + 600, 120, (700, 900), seed=2)
    assert replay(tmp_path, lines, rules).alerts == []


def test_slow_requests_are_exported_per_endpoint(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, timed(T0, 10, 100) + timed(T0 + 10, 4, 500))
    watch = watcher([log], ManualClock(T0 + 100), Recorder(), rules=RULES, follow_wall=False)
    watch.run(once=True)
    value = registry_for(watch.metrics).get_sample_value(
        "vhostguard_http_requests_slow_total", {"vhost": "api.example.com", "method": "GET", "endpoint": "/v1/users/{id}"})
    assert value == 20
    watch.close()


@pytest.mark.parametrize("text, problem", [
    ("latency_slo: {threshold_ms: 0}", "threshold_ms must be more than 0"),
    ("latency_slo: {objective: 1}", "an objective must be between 0 and 1"),
    ("latency_regression: {quantile: 95}", "quantile: must be between 0 and 1"),
    ("latency_regression: {window: 2h}", "window must be shorter than baseline"),
])
def test_bad_latency_settings_are_named(text: str, problem: str) -> None:
    with pytest.raises(RulesError, match=problem):
        parse_rules(text, "rules.yaml")


def test_a_restart_keeps_the_latency_baseline(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    append(log, timed(T0, 600, (20, 120)))
    first = watcher([log], ManualClock(T0 + 600), Recorder(), rules=RULES, state=state, follow_wall=False)
    first.run(once=True)
    first.close()
    append(log, timed(T0 + 600, 60, (700, 900), seed=2))
    sink = Recorder()
    second = watcher([log], ManualClock(T0 + 660), sink, rules=RULES, state=state, follow_wall=False)
    second.run(once=True)
    second.close()
    assert {a.rule for a in sink.firing()} >= {"latency-regression", "latency-slo"}
