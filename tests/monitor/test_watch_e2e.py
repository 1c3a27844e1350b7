"""End to end: a real apache2 proxying to a real backend, the backend stopped mid-run, ``vhostguard watch``
(the command, in a subprocess) alerting with the error-log cause and resolving; and an hour of healthy
traffic with a normal 1% error rate raising nothing at all."""
from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.alerts import read_alerts, wait_for
from click.testing import CliRunner

from tests.live.helpers import readable_dir, writer
from tests.monitor.watchkit import FORMAT, T0, line
from tests.support.apache import MODULES_DIR, free_port, needs_apache
from vhostguard.cli.watch import watch as watch_command
from vhostguard.live import Sandbox

ROOT = Path(__file__).resolve().parents[2]
ALERT_BOUND = 10.0  # seconds from the first failing request to the alert (the benchmark measures the real figure)


class Backend:
    """A real HTTP backend on loopback that can be stopped (connections refused) and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: every answer closes its connection, so once the server is stopped httpd
            # cannot go on using a pooled connection to it.

            def do_GET(self) -> None:
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Load:
    """Requests to the sandbox in a thread, ~40/s, each with a new user id."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.statuses: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            connection = http.client.HTTPConnection(*self.address, timeout=5)
            try:
                connection.request("GET", f"/v1/users/{n}", headers={"Host": "api.example.com"})
                response = connection.getresponse()
                response.read()
                self.statuses.append((time.time(), response.status))
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.025)


def _config(root: Path, backend: int) -> Path:
    write = writer(root)
    escaped = FORMAT.replace('"', '\\"')
    return write("apache2.conf", f"""
        ServerName main.example
        LoadModule mpm_event_module {MODULES_DIR}/mod_mpm_event.so
        LoadModule authz_core_module {MODULES_DIR}/mod_authz_core.so
        LoadModule proxy_module {MODULES_DIR}/mod_proxy.so
        LoadModule proxy_http_module {MODULES_DIR}/mod_proxy_http.so
        Listen 80
        ErrorLog /var/log/vhostguard-e2e/error.log
        LogLevel warn
        LogFormat "{escaped}" vhost_timed
        <VirtualHost *:80>
            ServerName api.example.com
            # retry=0: try the backend again on the next request once it is back
            ProxyPass /v1/ http://127.0.0.1:{backend}/v1/ retry=0 disablereuse=On
            CustomLog /var/log/vhostguard-e2e/access.log vhost_timed
        </VirtualHost>
    """)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    with readable_dir(tmp_path) as root:
        yield root


@pytest.mark.httpd
@needs_apache
def test_backend_outage_alerts_with_the_error_log_cause_and_resolves(site: Path, tmp_path: Path) -> None:
    backend = Backend(free_port())
    backend.start()
    main = _config(site, backend.port)
    alerts_file, errors = tmp_path / "alerts.jsonl", tmp_path / "watch.err"
    with Sandbox(main, stub_backends=False, env_file="") as sandbox:
        assert sandbox.plan is not None
        copy = sandbox.copy_of(str(main))  # the sandbox's config: its CustomLog and ErrorLog point into the sandbox
        # apache2 gets the sandbox's own LoadModule lines (mod_setenvif, for its SetEnvIf lines) on its
        # command line (-C): read alone, the copy is a config apache2 -t refuses.
        watched = tmp_path / "watched.conf"
        watched.write_text("".join(f"{line}\n" for line in sandbox.plan.pre if line.startswith("LoadModule"))
                           + f'Include "{copy}"\n')
        with open(errors, "w") as stderr:
            watcher = subprocess.Popen(
                [sys.executable, "-m", "vhostguard.cli.watch", "-f", str(watched), "-d", sandbox.plan.server_root,
                 "--env-file", "", "--state", str(tmp_path / "state"), "--alerts-jsonl", str(alerts_file),
                 "--metrics-addr", "127.0.0.1:0", "-q"],
                stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
        try:
            assert wait_for(lambda: "state in" in errors.read_text(), 20), errors.read_text()
            metrics_url = re.search(r"metrics on (\S+)", errors.read_text()).group(1)  # type: ignore[union-attr]
            with Load(sandbox.addresses.connect_address(None, 80)) as load:  # type: ignore[union-attr]
                time.sleep(4)  # healthy traffic first
                backend.stop()
                assert wait_for(lambda: any(s >= 500 for _, s in load.statuses), 10)
                first_failure = min(t for t, s in load.statuses if s >= 500)
                fired = wait_for(lambda: [a for a in read_alerts(alerts_file)
                                       if a["rule"] == "endpoint-broken" and a["state"] == "firing"], ALERT_BOUND + 5)
                seen_at = time.time()
                assert fired, (errors.read_text(), sandbox.error_log_tail())
                alert = fired[0]
                assert seen_at - first_failure <= ALERT_BOUND
                assert (alert["vhost"], alert["method"], alert["endpoint"]) == ("api.example.com", "GET", "/v1/users/{id}")
                assert alert["severity"] == "page"
                assert alert["summary"].startswith("5xx on api.example.com GET /v1/users/{id}")
                assert "— error_log: AH01114 HTTP: failed to make connection to backend: 127.0.0.1" in alert["summary"]
                assert any("AH00957" in e and f"127.0.0.1:{backend.port}" in e for e in alert["evidence"]), json.dumps(alert, indent=1)
                backend.start()
                resolved = wait_for(lambda: [a for a in read_alerts(alerts_file)
                                          if a["id"] == alert["id"] and a["state"] == "resolved"], 30)
                assert resolved, errors.read_text()
                assert load.statuses[-1][1] == 200
            with urllib.request.urlopen(metrics_url, timeout=5) as response:
                text = response.read().decode()
            assert re.search(r'vhostguard_http_requests_total\{[^}]*endpoint="/v1/users/\{id\}"[^}]*status_class="5xx"'
                             r'[^}]*\} [1-9]', text), text[:2000]
        finally:
            watcher.send_signal(signal.SIGINT)
            try:
                watcher.wait(20)
            finally:
                watcher.kill()
            backend.stop()
    assert watcher.returncode == 130, errors.read_text()


def _healthy_hour(path: Path) -> int:
    """An hour of realistic traffic: several vhosts, popular and rare endpoints, 1% 5xx, some 404s,
    and scanners on the default vhost. Returns the number of lines."""
    rnd = random.Random(2024)
    endpoints = [("api.example.com", "GET", "/v1/users/{}"), ("api.example.com", "GET", "/v1/orders/{}"),
                 ("api.example.com", "POST", "/v1/orders"), ("api.example.com", "GET", "/v1/search"),
                 ("api.example.com", "DELETE", "/v1/carts/{}"), ("www.example.com", "GET", "/"),
                 ("www.example.com", "GET", "/static/app.{}.js"), ("www.example.com", "GET", "/blog/{}"),
                 ("admin.example.com", "GET", "/reports/{}")]
    weights = [40, 25, 8, 10, 1, 20, 15, 5, 0.5]
    count = 0
    with open(path, "w") as out:
        for s in range(3600):
            batch = []
            for _ in range(rnd.choice((25, 30, 35))):
                vhost, method, pattern = rnd.choices(endpoints, weights)[0]
                p = pattern.format(rnd.randrange(100000))
                roll = rnd.random()
                status = 500 + rnd.choice((0, 2, 3)) if roll < 0.01 else 404 if roll < 0.03 else 200
                batch.append(line(T0 + s, p, status, vhost, method, rnd.randrange(500, 300_000)))
            if rnd.random() < 0.3:  # scanners probing the default vhost: mostly 404s, always
                batch.append(line(T0 + s, rnd.choice(("/wp-login.php", "/.env", "/")), 404 if rnd.random() < 0.8
                                  else 200, "default.example.com"))
            out.write("".join(batch))
            count += len(batch)
    return count


def test_an_hour_of_healthy_traffic_raises_no_alert(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = _healthy_hour(log)
    alerts = tmp_path / "alerts.jsonl"
    rules = tmp_path / "rules.yaml"
    rules.write_text("not_found_surge: {default_vhosts: [default.example.com]}\n")
    result = CliRunner().invoke(watch_command, [
        str(log), "--log-format", FORMAT, "--from-start", "--once", "--rules", str(rules),
        "--state", str(tmp_path / "state"), "--metrics-addr", "off", "--alerts-jsonl", str(alerts)])
    assert result.exit_code == 0, result.output
    assert f"{log}: {lines:,} lines, 0 malformed" in result.stderr
    assert not alerts.exists(), alerts.read_text()
    assert result.stdout == ""


def test_the_same_hour_with_an_outage_in_it_does_alert(tmp_path: Path) -> None:
    """The healthy hour above is quiet because the rules are right, not because nothing could fire."""
    log = tmp_path / "access.log"
    _healthy_hour(log)
    text = log.read_text().splitlines(keepends=True)
    outage = [t.replace('" 200 ', '" 503 ') if "/v1/users/" in t and i > len(text) // 2 and i < len(text) // 2 + 3000
              else t for i, t in enumerate(text)]
    log.write_text("".join(outage))
    alerts = tmp_path / "alerts.jsonl"
    result = CliRunner().invoke(watch_command, [
        str(log), "--log-format", FORMAT, "--from-start", "--once", "--state", str(tmp_path / "state"),
        "--metrics-addr", "off", "--alerts-jsonl", str(alerts), "-q"])
    assert result.exit_code == 0, result.output
    fired = [a for a in read_alerts(alerts) if a["state"] == "firing"]
    assert {(a["rule"], a["endpoint"]) for a in fired} >= {("endpoint-broken", "/v1/users/{id}")}
    assert os.path.getsize(alerts) > 0
