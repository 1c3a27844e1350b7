"""``watch`` through the compiled scanner and through the Python parser: the same alerts, metrics and counts.

The scanner counts the lines it is sure of (per group, second and status, durations in bins) and leaves
the others to the Python parser, line by line in their turn; everything the watcher keeps must come out
as the Python path alone makes it: alerts with their observed figures and example lines, the Prometheus
series, the windows the rules read, line and malformed counts with their line numbers.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.logs.test_scanner import CORPUS, _good_line, _mutate
from tests.monitor.watchkit import FORMAT, T0, Recorder, clf, watcher
from vhostguard.logs import scan_engine, scan_spec
from vhostguard.logs.scanner import ENGINE_VARIABLE, compiled
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.rules import Rules, parse_rules

needs_c = pytest.mark.skipif(not compiled(), reason="the compiled scanner is not built")

HOST_FORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D "%{Host}i"'
RULES = parse_rules(
    "host_moved: {window: 30s, baseline: 5m, min_baseline: 20, min_requests: 5, interval: 1s}\n"
    "latency_slo: {threshold_ms: 250, endpoints: [{vhost: api.example.com, endpoint: '/v1/slow', objective: 0.9, threshold_ms: 40}]}\n")


def _run(logs: list[Path], engine: str, monkeypatch: pytest.MonkeyPatch, fmt: str = FORMAT,
         rules: Rules = RULES, **options: object) -> dict[str, Any]:
    """Everything a watch over ``logs`` (read to their end, on the log clock) leaves behind."""
    if engine == "python":
        monkeypatch.setenv(ENGINE_VARIABLE, "python")
    else:
        monkeypatch.delenv(ENGINE_VARIABLE, raising=False)
    sink = Recorder()
    run = watcher(logs, ManualClock(T0 + 1000), sink, fmt=fmt, rules=rules, follow_wall=False, **options)
    compiled_logs = [item.feeder.compiled for item in run.inputs]
    run.run(once=True)
    run.close()
    metrics = run.metrics
    return {
        "compiled": compiled_logs,
        "alerts": [(a.id, a.state, a.severity, a.rule, a.vhost, a.method, a.endpoint, a.started, a.resolved,
                    a.observed, a.evidence, a.summary) for a in sink.alerts],
        "series": {key: list(slots) for key, slots in metrics.series.items()},
        "series_order": list(metrics.series),
        "hosts": dict(metrics.hosts),
        "slow": dict(metrics.slow),
        "windows": run.windows.to_state(),
        "host_windows": run.host_windows.to_state() if run.host_windows is not None else None,
        "latency": run.latency.to_state() if run.latency is not None else None,
        "examples": dict(run.host_examples.lines),
        "stats": [(item.feeder.stats.lines, item.feeder.stats.malformed, item.feeder.stats.samples,
                   item.feeder.stats.newest, item.feeder.stats.malformed_run) for item in run.inputs],
        "summary": run.summary(),
        "clock": run.log_clock.to_state(),
    }


def _same(logs: list[Path], monkeypatch: pytest.MonkeyPatch, fmt: str = FORMAT, **options: object) -> dict[str, Any]:
    fast = _run(logs, "c", monkeypatch, fmt, **options)
    slow = _run(logs, "python", monkeypatch, fmt, **options)
    assert not any(slow.pop("compiled"))
    assert any(fast.pop("compiled")), "the compiled scanner did not count"
    for key in slow:
        assert fast[key] == slow[key], key
    return fast


def _line(t: int, path: str, status: str = "200", vhost: str = "api.example.com", host: str = "api.example.com",
          duration: str = "1500", method: str = "GET") -> bytes:
    return (f'{vhost}:443 192.0.2.7 - - {clf(t)} "{method} {path} HTTP/1.1" {status} 120 "-" "test/1.0" {duration} '
            f'"{host}"').encode()


def _incidents(seed: int) -> list[bytes]:
    """Fifteen minutes of traffic with an outage, a latency regression, a Host that moves, endpoints past
    the cap, and the lines the scanner leaves to Python (escapes, non-ASCII, long numbers, CRLF, garbage)."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for second in range(900):
        t = T0 + second
        for i in range(12):
            roll = rng.random()
            path = rng.choice([f"/v1/users/{rng.randrange(50)}", "/v1/orders", "/v1/slow", "/static/app.js",
                               f"/blog/post-{rng.randrange(40)}x"])
            if 300 <= second < 360 and i % 2:
                path = "/v1/orders"
            status = "503" if 300 <= second < 360 and path == "/v1/orders" else \
                rng.choice(["200"] * 40 + ["404", "301", "500", "-", "999"])
            duration = str(rng.choice([900, 3_000, 30_000, 45_000, 260_000])
                           * (8 if 500 <= second < 600 and path == "/v1/slow" else 1))
            host = "shop.example.com" if i % 3 == 0 else rng.choice(["api.example.com", "API.example.com:443",
                                                                      "api.example.com.", "-", ""])
            vhost = "api.example.com"
            if host == "shop.example.com":
                vhost = "www.example.com" if second >= 700 else "shop.example.com"
            line = _line(t, path, status, vhost, host, duration if roll > 0.05 else "-")
            if roll < 0.01:
                line = line.replace(b"GET /v1", b"GET /v1/caf\xc3\xa9")  # UTF-8: Python's
            elif roll < 0.02:
                line = line.replace(b" HTTP/1.1", b"?q=\\\"x\\\" HTTP/1.1")  # an escape after the '?'
            elif roll < 0.03:
                line = line.replace(b"GET /v1", b"GET /v1\\x41")  # an escape in the path: Python's
            elif roll < 0.04:
                line = line.replace(b'"test/1.0" ', b'"test/1.0" 9999999999999')  # a long number: Python's
            elif roll < 0.05:
                line = line + b"\r"  # CRLF
            elif roll < 0.055:
                line = line[:rng.randrange(len(line))]  # truncated: malformed
            elif roll < 0.06:
                line = b"\x00\xff garbage"
            elif roll < 0.065:
                line = line.replace(b"GET /v1/orders HTTP/1.1", b"-").replace(b"GET /static/app.js HTTP/1.1", b"GET")
            elif roll < 0.07:
                line = line.replace(b"api.example.com:443", b"-:443")
            elif roll < 0.075:
                line = line.replace(b'"' + host.encode() + b'"', b'"sh\\"op"')  # an escaped Host: Python's
            out.append(line)
    return out


@needs_c
def test_incidents_alert_and_count_alike_through_both_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(_incidents(7)) + b"\n")
    fast = _same([log], monkeypatch, HOST_FORMAT, max_per_vhost=6)
    rules = {alert[3] for alert in fast["alerts"]}
    assert {"slo-burn-rate", "latency-slo"} <= rules, rules  # the run had something to say
    assert fast["stats"][0][1] > 0 and fast["hosts"] and fast["examples"]
    assert any(endpoint == "{other}" for _, _, endpoint, _ in fast["series"])  # the cap folded some


@needs_c
def test_an_evaluation_boundary_inside_a_chunk_and_small_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(_incidents(8)) + b"\n")
    _same([log], monkeypatch, HOST_FORMAT, max_per_vhost=4, step_lines=700)


@needs_c
@pytest.mark.parametrize("name", sorted(p.stem for p in CORPUS.glob("*.log")))
def test_scanner_corpus_watches_alike(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _same([CORPUS / f"{name}.log"], monkeypatch)


@needs_c
def test_generated_and_mutated_lines_watch_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261204)
    lines = [_good_line(rng, n) for n in range(3000)]
    lines = [_mutate(rng, line) if n % 7 == 0 else line for n, line in enumerate(lines)]
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    fast = _same([log], monkeypatch, max_per_vhost=5, max_vhosts=3)
    assert fast["stats"][0][1] > 100


@needs_c
def test_two_logs_one_the_scanner_declines_share_the_counts_alike(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One format for both logs here; the second log's lines all go to Python (each one has an escape)."""
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(b"\n".join(_incidents(9)) + b"\n")
    second.write_bytes(b"\n".join(line.replace(b"GET /", b"GET /\\x41") for line in _incidents(10)) + b"\n")
    _same([first, second], monkeypatch, HOST_FORMAT, max_per_vhost=5)


def test_the_python_engine_is_used_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(_line(T0, "/v1/users/1") + b"\n")
    run = _run([log], "python", monkeypatch, HOST_FORMAT)
    assert run["compiled"] == [False] and run["stats"][0][0] == 1
    assert scan_engine() == "python" and scan_spec(HOST_FORMAT, {}, True) is not None


@needs_c
def test_groups_forgotten_by_the_scanner_are_labelled_again_alike(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Past COUNTER_GROUPS groups the scanner forgets them (and its memo) at a flush: numbering starts again."""
    from vhostguard.monitor import ingest

    monkeypatch.setattr(ingest, "COUNTER_GROUPS", 3)
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(_incidents(11)) + b"\n")
    _same([log], monkeypatch, HOST_FORMAT, max_per_vhost=5)


def test_durations_in_bins_give_every_consumer_its_own_counts() -> None:
    """The union bins (metric buckets, latency bins, thresholds) give each consumer exactly what counting
    the durations one by one gives it, bounds themselves and their neighbours included."""
    from array import array

    from vhostguard.monitor.exporter import BUCKET_BOUNDS_US, WatchMetrics
    from vhostguard.monitor.latency import BINS, BOUNDS_US, Binned, DurationBins, Histograms
    from vhostguard.monitor.windows import WindowSpec

    thresholds = (40_000, 250_000, 1_000_000)
    scale = DurationBins(BUCKET_BOUNDS_US, thresholds)
    edges = sorted({v + d for v in (*BUCKET_BOUNDS_US, *BOUNDS_US, *thresholds) for d in (-1, 0, 1)})
    rng = random.Random(5)
    durations: list[int | None] = [*edges, 0, 1, 10**11, None, None, *(rng.randrange(10**8) for _ in range(500))]
    binned = Binned(scale)
    for duration in durations:
        binned.append(duration)
    listed, counted = WatchMetrics(), WatchMetrics()
    listed.add_series(("v", "GET", "/", "2xx"), list(durations))
    counted.add_series(("v", "GET", "/", "2xx"), binned)
    assert listed.series == counted.series
    values = [d for d in durations if d is not None]
    for threshold in thresholds:
        assert scale.above(binned.bins, threshold) == sum(1 for d in values if d > threshold)
    one, other = Histograms([WindowSpec(60)]), Histograms([WindowSpec(60)])
    one.add(("v", "GET", "/"), T0, values)
    other.add_bins(("v", "GET", "/"), T0, scale.latency(binned.bins))
    assert one.keys == other.keys and len(one.keys[("v", "GET", "/")]) > BINS
    assert array("q", one.keys[("v", "GET", "/")]).tolist() == other.keys[("v", "GET", "/")].tolist()
