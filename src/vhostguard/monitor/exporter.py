"""Prometheus metrics of ``watch``: a custom collector over the watcher's own counters.

The watch loop adds to a :class:`WatchMetrics` (under its lock, once per
fold); :class:`WatchCollector` turns a snapshot of it into metric families
when Prometheus scrapes, in an explicit ``CollectorRegistry`` (no module
globals). Names follow STYLE.md: ``vhostguard_`` prefix, base units,
``_total`` counters, help text on each; labels are bounded (vhost, method,
endpoint template, status class, log path, rule), never a raw URL or a
client address.
"""
from __future__ import annotations

import socket
import socketserver
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from vhostguard.logs import printable
from vhostguard.monitor.latency import Binned
from vhostguard.monitor.windows import pack, unpack

DEFAULT_METRICS_ADDR = "127.0.0.1:9833"  # 9117 is apache_exporter's
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # seconds, as prometheus_client's default
_BOUNDS_US = [round(b * 1_000_000) for b in BUCKETS]
BUCKET_BOUNDS_US = tuple(_BOUNDS_US)  # the series' bucket bounds (monitor.latency.DurationBins holds them)
_LE: list[str] = [floatToGoString(b) for b in BUCKETS]  # type: ignore[no-untyped-call]  # untyped in prometheus_client
_SLOTS = 3 + len(BUCKETS)  # requests, durations observed, duration sum (us), one count per bucket
SERIES_SLOTS = _SLOTS  # per series in a checkpoint (monitor.state checks it)
_SORT_FROM = 16  # more durations than this: sort once and bisect per bucket bound

SeriesKey = tuple[str, str, str, str]  # vhost, method, endpoint, status class
SERIES_LABELS = ("vhost", "method", "endpoint", "status_class")

# Every metric the exporter can expose (the contrib/ files are checked against this).
METRICS = {
    "vhostguard_http_requests_total": "counter",
    "vhostguard_http_request_duration_seconds": "histogram",
    "vhostguard_host_vhost_requests_total": "counter",
    "vhostguard_http_requests_slow_total": "counter",
    "vhostguard_log_lines_total": "counter",
    "vhostguard_log_lines_malformed_total": "counter",
    "vhostguard_log_rotations_total": "counter",
    "vhostguard_log_lag_seconds": "gauge",
    "vhostguard_log_backlog_bytes": "gauge",
    "vhostguard_log_unreadable": "gauge",
    "vhostguard_log_lost_bytes_total": "counter",
    "vhostguard_watch_clock_seconds": "gauge",
    "vhostguard_alerts_firing": "gauge",
    "vhostguard_alert_notifications_total": "counter",
}


@dataclass
class LogGauges:
    """Per-log figures the loop sets: counters as totals, lag and backlog as they were last seen."""

    lines: int = 0
    malformed: int = 0
    rotations: int = 0
    lag: float = 0.0
    backlog: int = 0
    unreadable: int = 0  # 1 while no line read from the log matches its format
    lost_bytes: int = 0  # written and never read (truncated while the watcher lagged); not checkpointed


@dataclass
class WatchMetrics:
    """What the exporter shows. Mutated by the watch loop only while holding ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    series: dict[SeriesKey, array[int]] = field(default_factory=dict)
    logs: dict[str, LogGauges] = field(default_factory=dict)
    clock: float = 0.0
    firing: dict[tuple[str, str], int] = field(default_factory=dict)
    notifications: dict[tuple[str, str], int] = field(default_factory=dict)
    hosts: dict[tuple[str, str], int] = field(default_factory=dict)  # (Host, vhost) -> requests (host-moved)
    # (vhost, method, endpoint) -> requests slower than the endpoint's latency_slo threshold
    slow: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add_series(self, key: SeriesKey, durations: list[int | None] | Binned) -> None:
        """Count ``len(durations)`` requests of ``key``; durations in microseconds (None: not logged),
        or already counted in bins (``Binned``, whose bounds hold BUCKETS')."""
        slots = self.series.get(key)
        if slots is None:
            slots = self.series[key] = array("q", bytes(8 * _SLOTS))
        slots[0] += len(durations)
        if isinstance(durations, Binned):
            if durations.timed:
                slots[1] += durations.timed
                slots[2] += durations.total
                durations.scale.add_series(durations.bins, slots, 3)
            return
        values = [d for d in durations if d is not None]
        if not values:
            return
        slots[1] += len(values)
        slots[2] += sum(values)
        if len(values) > _SORT_FROM:
            values.sort()
            below = 0
            for i, bound in enumerate(_BOUNDS_US):
                upto = bisect_right(values, bound, below)
                slots[3 + i] += upto - below
                below = upto
        else:
            for value in values:
                i = bisect_left(_BOUNDS_US, value)
                if i < len(_BOUNDS_US):
                    slots[3 + i] += 1

    def to_state(self) -> dict[str, Any]:
        return {"series": [list(k) for k in self.series], "slots": pack(self.series.values()),
                "logs": {path: [g.lines, g.malformed, g.rotations] for path, g in self.logs.items()}}

    def restore(self, state: dict[str, Any], decode: Callable[[str], str] = str) -> None:
        """Load ``to_state``'s snapshot (checked by monitor.state); ``decode`` turns stored log keys into paths."""
        keys = [tuple(str(part) for part in k) for k in state.get("series", ())]
        if keys:
            slots = unpack(state["slots"], _SLOTS)
            if len(slots) != len(keys) or any(len(s) != _SLOTS for s in slots):
                raise ValueError(f"metrics: {len(slots)} series of slots for {len(keys)} series")
            self.series = dict(zip(keys, slots, strict=True))  # type: ignore[arg-type]
        for path, (lines, malformed, rotations) in state.get("logs", {}).items():
            self.logs[decode(path)] = LogGauges(int(lines), int(malformed), int(rotations))


class WatchCollector(Collector):
    """Metric families from a WatchMetrics snapshot (taken under its lock, built outside it)."""

    def __init__(self, metrics: WatchMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        with m.lock:
            series = [(key, slots.tolist()) for key, slots in m.series.items()]
            logs = [(printable(path), LogGauges(g.lines, g.malformed, g.rotations, g.lag, g.backlog, g.unreadable,
                                                g.lost_bytes)) for path, g in m.logs.items()]
            clock, firing, notifications = m.clock, dict(m.firing), dict(m.notifications)
            hosts = sorted(m.hosts.items())
            slow = sorted(m.slow.items())
        yield from _request_families(series)
        served = CounterMetricFamily("vhostguard_host_vhost_requests", "Requests per requested Host (%{Host}i or "
                                     "%V, normalised as httpd does; at most host_moved.max_hosts Hosts) and the "
                                     "vhost that served them (%v).", labels=("host", "vhost"))
        for (host, vhost), count in hosts:
            served.add_metric((host, vhost), count)
        yield served
        late = CounterMetricFamily("vhostguard_http_requests_slow", "Requests that took longer than their "
                                   "endpoint's latency_slo threshold_ms (%D or %T), by vhost, method and endpoint "
                                   "template; over vhostguard_http_request_duration_seconds_count it is the share "
                                   "the latency objective spends.", labels=("vhost", "method", "endpoint"))
        for key, count in slow:
            late.add_metric(key, count)
        yield late
        yield from _log_families(logs)
        yield GaugeMetricFamily("vhostguard_watch_clock_seconds",
                                "The log clock the windows run on: the newest access-log time (%t), advanced "
                                "by the wall clock while the logs are quiet (Unix time).", value=clock)
        alerts = GaugeMetricFamily("vhostguard_alerts_firing", "Alerts firing now, by rule and severity.",
                                   labels=("rule", "severity"))
        for (rule, severity), count in sorted(firing.items()):
            alerts.add_metric((rule, severity), count)
        yield alerts
        sent = CounterMetricFamily("vhostguard_alert_notifications", "Alert notifications by sink and outcome "
                                   "(sent, failed after retries, dropped when the queue was full).",
                                   labels=("sink", "outcome"))
        for (sink, outcome), count in sorted(notifications.items()):
            sent.add_metric((sink, outcome), count)
        yield sent


def _request_families(series: list[tuple[SeriesKey, list[int]]]) -> Iterator[Metric]:
    requests = CounterMetricFamily("vhostguard_http_requests", "Requests in the access logs, by vhost, method, "
                                   "endpoint template and status class.", labels=SERIES_LABELS)
    durations = HistogramMetricFamily("vhostguard_http_request_duration_seconds",
                                      "Time to serve requests (%D or %T of the access log), by vhost, method, "
                                      "endpoint template and status class.", labels=SERIES_LABELS)
    for key, slots in series:
        requests.add_metric(key, slots[0])
        if slots[1]:
            running = 0
            buckets: list[tuple[str, float]] = []
            for le, count in zip(_LE, slots[3:]):
                running += count
                buckets.append((le, running))
            buckets.append(("+Inf", slots[1]))
            durations.add_metric(key, buckets, slots[2] / 1_000_000)
    yield requests
    yield durations


def _log_families(logs: list[tuple[str, LogGauges]]) -> Iterator[Metric]:
    specs: list[tuple[Callable[..., CounterMetricFamily | GaugeMetricFamily], str, str, Callable[[LogGauges], float]]] = [
        (CounterMetricFamily, "vhostguard_log_lines", "Lines read from each access log.", lambda g: g.lines),
        (CounterMetricFamily, "vhostguard_log_lines_malformed", "Lines of each access log that do not match its "
         "LogFormat (counted, never fatal).", lambda g: g.malformed),
        (CounterMetricFamily, "vhostguard_log_rotations", "Rotations and truncations seen on each access log.",
         lambda g: g.rotations),
        (GaugeMetricFamily, "vhostguard_log_lag_seconds", "Wall-clock time minus the %t of the newest line, when "
         "it was read (request time plus how late the watcher reads).", lambda g: g.lag),
        (GaugeMetricFamily, "vhostguard_log_backlog_bytes", "Bytes written to each access log and not read yet.",
         lambda g: g.backlog),
        (GaugeMetricFamily, "vhostguard_log_unreadable", "1 while lines were read from the access log and not one "
         "matches its LogFormat (wrong format: no alert can fire from it), else 0.", lambda g: g.unreadable),
        (CounterMetricFamily, "vhostguard_log_lost_bytes", "Bytes written to each access log and never read: the "
         "file was truncated (copytruncate) while the watcher lagged and no copy was found.", lambda g: g.lost_bytes),
    ]
    for kind, name, text, value in specs:
        family = kind(name, text, labels=("log",))
        for path, gauges in logs:
            family.add_metric((path,), value(gauges))
        yield family


def registry_for(metrics: WatchMetrics) -> CollectorRegistry:
    """A fresh registry holding only the watch collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchCollector(metrics))
    return registry


def parse_addr(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9833`` for IPv6) -> (host, port); raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if number > 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, number


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not news."""


class MetricsServer:
    """``/metrics`` on (host, port) in a daemon thread; ``port`` is the bound one (0 picks a free port)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_Server", (socketserver.ThreadingMixIn, WSGIServer),
                            {"daemon_threads": True, "address_family": family})
        self._httpd: WSGIServer = make_server(host, port, make_wsgi_app(registry), server_class=server_class,
                                  handler_class=_Quiet)
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="vhostguard-metrics", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
