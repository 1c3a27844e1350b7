"""``vhostguard report -f CONFIG`` on logs a real apache2 wrote: the counts are what was sent and answered.

One sandboxed apache2 with two vhosts: www.test serves files (200, 404)
and a slow echo; api.test proxies /v1/ to a closed port, so every API call
is a real 503 from mod_proxy (the backend-down case of the incident). The
report finds the log and its LogFormat (with %D) in the config by itself.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.logs.sandbox import Sent, request, running, wait_for_lines
from tests.support.apache import base_config, free_port, needs_apache
from vhostguard.cli.report import report

pytestmark = [pytest.mark.httpd, needs_apache]

MODULES = ("mpm_event", "authz_core", "dir", "reflector", "proxy", "proxy_http")
CONF = r'''
Listen 127.0.0.1:{port}
ServerName main.test
LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\" %D" vhost_timed
GlobalLog logs/access.log vhost_timed

<VirtualHost *:{port}>
    ServerName www.test
    DocumentRoot "{root}/htdocs"
    <Directory "{root}/htdocs">
        Require all granted
    </Directory>
    <Location /echo>
        SetHandler reflector
    </Location>
</VirtualHost>
<VirtualHost *:{port}>
    ServerName api.test
    ProxyPass /v1/ http://127.0.0.1:{closed}/
</VirtualHost>
'''


@dataclass
class Served:
    root: Path
    conf: Path
    sent: list[tuple[str, str, str, Sent]]  # (vhost, method, endpoint the report must show, request)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    root = Path(tempfile.mkdtemp(prefix="vhostguard-report-httpd-"))
    root.chmod(0o755)
    try:
        (root / "htdocs").mkdir()
        (root / "htdocs").chmod(0o755)
        (root / "htdocs" / "index.html").write_text("hello\n")
        (root / "htdocs" / "index.html").chmod(0o644)
        port, closed = free_port(), free_port()  # nothing listens on ``closed``: the backend is down
        conf = root / "httpd.conf"
        conf.write_text(base_config(root, MODULES) + CONF.format(port=port, root=root, closed=closed))
        sent: list[tuple[str, str, str, Sent]] = []
        with running(conf, port, {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"}):
            for _ in range(6):
                sent.append(("www.test", "GET", "/index.html",
                             request(port, b"GET /index.html HTTP/1.1", [(b"Host", b"www.test")])))
            for n in range(3):
                sent.append(("www.test", "GET", "/missing/{id}",
                             request(port, f"GET /missing/{1000 + n} HTTP/1.1".encode(), [(b"Host", b"www.test")])))
            for n in range(5):
                target = f"/v1/users/{n + 1}/orders/9f1c2e3d4a5b6c7{n}?full=1".encode()
                sent.append(("api.test", "GET", "/v1/users/{id}/orders/{id}",
                             request(port, b"GET " + target + b" HTTP/1.1", [(b"Host", b"api.test")])))
            sent.append(("www.test", "POST", "/echo",
                         request(port, b"POST /echo HTTP/1.1", [(b"Host", b"www.test"), (b"Content-Length", b"5")],
                                 body=b"hello", pause=1.2)))
            sent.append(("www.test", "-", "-", request(port, b"garbage", [])))  # 400, no method or path
            wait_for_lines(root / "logs" / "access.log", len(sent))
        yield Served(root, conf, sent)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_report_counts_what_httpd_answered(served: Served) -> None:
    result = CliRunner().invoke(report, ["-f", str(served.conf), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["lines"], doc["malformed"]) == (len(served.sent), 0)
    expected: dict[tuple[str, str, str], list[int]] = {}
    for vhost, method, endpoint, sent in served.sent:
        classes = expected.setdefault((vhost, method, endpoint), [0] * 5)
        classes[sent.status // 100 - 1] += 1
    got = {(e["vhost"], e["method"], e["endpoint"]): list(e["status"].values()) for e in doc["endpoints"]}
    assert got == expected
    assert {s.status for _, _, e, s in served.sent if e.startswith("/v1/")} == {503}  # the proxy's own answer
    logged = [int(line.rsplit(" ", 1)[1]) for line in (served.root / "logs" / "access.log").read_text().splitlines()]
    assert sum(e["duration_us_sum"] for e in doc["endpoints"]) == sum(logged)
    echo = next(e for e in doc["endpoints"] if e["endpoint"] == "/echo")
    slow = max(logged)
    # httpd starts %D when it has read the request line, a little after the client's clock: allow 10%.
    assert slow >= 1_080_000  # the 1.2 s pause between headers and body
    assert echo["latency_ms"] == {"p50": slow / 1000, "p95": slow / 1000, "p99": slow / 1000}
    api = next(e for e in doc["endpoints"] if e["vhost"] == "api.test")
    assert (api["requests"], api["error_ratio"]) == (5, 1.0)
    started = min(s.started for v, _, _, s in served.sent if v == "api.test")
    finished = max(s.finished for v, _, _, s in served.sent if v == "api.test")
    assert sum(p["5xx"] for p in doc["timeline"] if p["vhost"] == "api.test") == 5
    first, last = (datetime.fromisoformat(api[k]).timestamp() for k in ("first_seen", "last_seen"))
    assert started - 1 <= first <= last <= finished + 1


def test_terminal_report_names_the_broken_endpoint(served: Served) -> None:
    result = CliRunner().invoke(report, ["-f", str(served.conf)])
    assert result.exit_code == 0, result.stderr
    failing = result.stdout.split("Top failing endpoints")[1]
    assert "api.test" in failing and "/v1/users/{id}/orders/{id}" in failing
    assert "Error bursts (1)" in result.stdout  # five 503s in a row on one endpoint
