"""The latency rules against a real apache2 proxying to a real backend that starts sleeping:
``vhostguard watch -f CONFIG`` (the command, in a subprocess) stays quiet on steady traffic, and
latency-slo and latency-regression fire once the backend is delayed."""
from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.alerts import read_alerts, wait_for

from tests.live.helpers import readable_dir, writer
from tests.support.apache import base_config, APACHE2, CLEAN_ENV, free_port, needs_apache

ROOT = Path(__file__).resolve().parents[2]
FORMAT = '%v %{Host}i %h %l %u %t \\"%r\\" %>s %O %D'
DELAY = 0.6  # seconds the backend sleeps once delayed; the objective is 99% under 300 ms


class SlowBackend:
    """A real HTTP backend on loopback whose answers take ``delay`` seconds (0 until set)."""

    def __init__(self) -> None:
        self.delay = 0.0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if backend.delay:
                    time.sleep(backend.delay)
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Load:
    """``threads`` clients sending GETs in a loop (each with a new user id)."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.port = port
        self.statuses: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                connection.request("GET", f"/v1/users/{n * 100000 + i}", headers={"Host": "api.example.com"})
                response = connection.getresponse()
                response.read()
                self.statuses.append((time.time(), response.status))
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.05)


def _config(root: Path, port: int, backend: int) -> Path:
    write = writer(root)
    preamble = textwrap.indent(base_config(root, ("mpm_event", "authz_core", "proxy", "proxy_http"), user="www-data"), " " * 8)
    return write("httpd.conf", preamble + f"""
        ServerName main.example
        Listen 127.0.0.1:{port}
        LogFormat "{FORMAT}" timed
        CustomLog "{root}/logs/access.log" timed
        <VirtualHost *:{port}>
            ServerName api.example.com
            ProxyPass /v1/ http://127.0.0.1:{backend}/v1/
        </VirtualHost>
    """)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    with readable_dir(tmp_path) as root:
        yield root


@pytest.mark.httpd
@needs_apache
def test_a_delayed_backend_fires_the_latency_rules_and_steady_traffic_does_not(site: Path, tmp_path: Path) -> None:
    backend = SlowBackend()
    port = free_port()
    conf = _config(site, port, backend.port)
    alerts_file, errors, rules = tmp_path / "alerts.jsonl", tmp_path / "watch.err", tmp_path / "rules.yaml"
    # Windows of seconds: the test cannot wait an hour for a baseline.
    rules.write_text("""
latency_slo:
  endpoints: [{vhost: api.example.com, endpoint: "/v1/users/*", objective: 0.99, threshold_ms: 300}]
  windows: [{severity: page, long: 30s, short: 5s, factor: 14.4}]
  min_requests: 50
  min_short_requests: 10
  interval: 1s
latency_regression: {window: 10s, baseline: 2m, min_requests: 10, min_baseline: 50, interval: 1s}
""")
    assert APACHE2 is not None
    server = subprocess.Popen([APACHE2, "-f", str(conf), "-DFOREGROUND"], env=CLEAN_ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watcher = None
    try:
        assert wait_for(lambda: (site / "run" / "httpd.pid").exists(), 10)
        with open(errors, "w") as stderr:
            watcher = subprocess.Popen(
                [sys.executable, "-m", "vhostguard.cli.watch", "-f", str(conf), "--env-file", "",
                 "--state", str(tmp_path / "state"), "--alerts-jsonl", str(alerts_file), "--rules", str(rules),
                 "--metrics-addr", "127.0.0.1:0", "-q"],
                stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
        assert wait_for(lambda: "state in" in errors.read_text(), 20), errors.read_text()
        metrics_url = re.search(r"metrics on (\S+)", errors.read_text()).group(1)  # type: ignore[union-attr]
        with Load(port) as load:
            time.sleep(15)  # steady, fast traffic: no alert
            assert len(load.statuses) > 100 and all(s == 200 for _, s in load.statuses)
            assert read_alerts(alerts_file) == []
            backend.delay = DELAY
            delayed = time.time()
            seen: dict[str, float] = {}

            def both() -> bool:
                for alert in read_alerts(alerts_file):
                    if alert["state"] == "firing":
                        seen.setdefault(alert["rule"], time.time() - delayed)
                return set(seen) >= {"latency-slo", "latency-regression"}

            assert wait_for(both, 40), (read_alerts(alerts_file), errors.read_text())
            firing = {a["rule"]: a for a in read_alerts(alerts_file) if a["state"] == "firing"}
            for rule in ("latency-slo", "latency-regression"):
                assert (firing[rule]["vhost"], firing[rule]["endpoint"]) == ("api.example.com", "/v1/users/{id}")
            assert firing["latency-slo"]["severity"] == "page"
            # The recent p95 is the delayed requests' (bins are sqrt(2) wide: within one of them).
            assert firing["latency-regression"]["observed"]["recent_seconds"] >= DELAY / 2 ** 0.5
            print("seconds from the delay to the alert:", {rule: round(t, 1) for rule, t in seen.items()})
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            text = response.read().decode()
        assert re.search(r'vhostguard_http_requests_slow_total\{[^}]*endpoint="/v1/users/\{id\}"[^}]*\} [1-9]', text)
    finally:
        if watcher is not None:
            watcher.send_signal(signal.SIGINT)
            try:
                watcher.wait(20)
            finally:
                watcher.kill()
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        backend.close()
