"""Alert sinks against real local HTTP servers (a generic webhook, Slack-shaped, an Alertmanager fake)."""
from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.apache import free_port
from vhostguard.monitor.alerts import FIRING, RESOLVED, Alert
from vhostguard.monitor.sinks import AlertmanagerSink, JsonLinesSink, TerminalSink, WebhookSink, format_alert

ALERT = Alert("0123456789abcdef", FIRING, "page", "endpoint-broken", "api.example.com", "GET", "/v1/users/{id}",
              1_700_000_000.0, None, {"requests": 25, "errors_5xx": 25}, ("[...] AH01114: HTTP: failed ...",),
              "5xx on api.example.com GET /v1/users/{id}: 25 of 25 requests failed in the last 3s")
RESOLVED_ALERT = Alert(ALERT.id, RESOLVED, ALERT.severity, ALERT.rule, ALERT.vhost, ALERT.method, ALERT.endpoint,
                       ALERT.started, ALERT.started + 40, ALERT.observed, ALERT.evidence, ALERT.summary)


class Recorded(ThreadingHTTPServer):
    posts: list[tuple[str, Any]]
    status: int = 200
    delay: float = 0.0


class Handler(BaseHTTPRequestHandler):
    server: Recorded

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.server.delay)
        payload = json.loads(body)
        status = self.server.status
        if self.path == "/api/v2/alerts" and not _alertmanager_valid(payload):
            status = 400  # what Alertmanager answers to a malformed post
        self.server.posts.append((self.path, payload))
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _alertmanager_valid(payload: Any) -> bool:
    """The checks Alertmanager's v2 API makes on postable alerts."""
    if not isinstance(payload, list):
        return False
    for alert in payload:
        labels = alert.get("labels")
        if not isinstance(labels, dict) or not labels or not all(isinstance(v, str) for v in labels.values()):
            return False
        for field in ("startsAt", "endsAt"):
            datetime.fromisoformat(alert[field])
        if not isinstance(alert.get("annotations", {}), dict):
            return False
    return True


@pytest.fixture
def server() -> Iterator[Recorded]:
    httpd = Recorded(("127.0.0.1", 0), Handler)
    httpd.posts = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server: Recorded, path: str = "/hook") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_generic_webhook_posts_the_alert_json(server: Recorded) -> None:
    sink = WebhookSink(url(server))
    sink.send(ALERT)
    sink.close()
    [(path, body)] = server.posts
    assert path == "/hook" and body == ALERT.to_json()
    assert body["schema"] == 1 and body["evidence"] == list(ALERT.evidence)
    assert sink.outcomes() == {"sent": 1, "failed": 0, "dropped": 0}


def test_slack_webhook_posts_text(server: Recorded) -> None:
    sink = WebhookSink(url(server), "slack")
    sink.send(ALERT)
    sink.send(RESOLVED_ALERT)
    sink.close()
    assert [set(body) for _, body in server.posts] == [{"text"}, {"text"}]
    assert "FIRING [page] endpoint-broken: 5xx on api.example.com" in server.posts[0][1]["text"]
    assert "AH01114" in server.posts[0][1]["text"]
    assert "RESOLVED" in server.posts[1][1]["text"]


def test_alertmanager_v2_fake_accepts_firing_resends_and_resolved(server: Recorded) -> None:
    now = [1_700_000_100.0]
    sink = AlertmanagerSink(url(server, "/"), lambda: now[0], resend=60)
    sink.send(ALERT)
    sink.tick(now[0] + 10, [ALERT])  # first tick re-posts immediately (nothing sent by tick yet)
    sink.tick(now[0] + 30, [ALERT])  # within the resend interval: nothing
    sink.tick(now[0] + 80, [ALERT])
    sink.send(RESOLVED_ALERT)
    sink.close()
    assert [path for path, _ in server.posts] == ["/api/v2/alerts"] * 4
    assert sink.outcomes() == {"sent": 4, "failed": 0, "dropped": 0}  # the fake accepted every post
    first = server.posts[0][1][0]
    assert first["labels"] == {"alertname": "VhostguardEndpointBroken", "rule": "endpoint-broken", "severity": "page",
                               "vhost": "api.example.com", "source": "vhostguard", "method": "GET",
                               "endpoint": "/v1/users/{id}"}
    assert first["annotations"]["summary"] == ALERT.summary and "AH01114" in first["annotations"]["evidence"]
    assert datetime.fromisoformat(first["startsAt"]).timestamp() == ALERT.started
    assert datetime.fromisoformat(first["endsAt"]).timestamp() == pytest.approx(now[0] + 240)
    last = server.posts[-1][1][0]
    assert datetime.fromisoformat(last["endsAt"]).timestamp() == ALERT.started + 40


def test_a_failing_endpoint_is_retried_then_counted(server: Recorded) -> None:
    server.status = 500
    sink = WebhookSink(url(server), backoff=0.01, retries=3)
    sink.send(ALERT)
    sink.close()
    assert len(server.posts) == 3 and sink.outcomes()["failed"] == 1
    assert "500" in (sink.last_error or "")


def test_a_dead_or_slow_endpoint_never_blocks_the_caller(server: Recorded) -> None:
    dead = WebhookSink(f"http://127.0.0.1:{free_port()}/hook", backoff=0.01, retries=2)
    server.delay = 1.0
    slow = WebhookSink(url(server), timeout=0.2, retries=1)
    started = time.monotonic()
    for _ in range(5):
        dead.send(ALERT)
        slow.send(ALERT)
    assert time.monotonic() - started < 0.5  # posting happens in the background
    dead.close(timeout=10)
    slow.close(timeout=10)
    assert dead.outcomes()["failed"] == 5 and slow.outcomes()["failed"] == 5


def test_a_full_queue_drops_the_oldest(server: Recorded) -> None:
    gate = threading.Event()

    def post(address: str, body: bytes, timeout: float) -> None:
        gate.wait(5)

    sink = WebhookSink(url(server), post=post, queue_size=2)
    for _ in range(6):
        sink.send(ALERT)
    gate.set()
    sink.close()
    outcomes = sink.outcomes()
    assert outcomes["dropped"] >= 3 and outcomes["sent"] + outcomes["dropped"] == 6


def test_jsonl_appends_one_object_per_line(tmp_path: Path) -> None:
    target = tmp_path / "alerts.jsonl"
    sink = JsonLinesSink(str(target))
    sink.send(ALERT)
    sink.send(RESOLVED_ALERT)
    objects = [json.loads(text) for text in target.read_text().splitlines()]
    assert [o["state"] for o in objects] == ["firing", "resolved"]
    assert set(objects[0]) == {"schema", "id", "state", "severity", "rule", "vhost", "method", "endpoint", "started",
                               "resolved", "observed", "evidence", "summary"}
    assert objects[1]["resolved"] == "2023-11-14T22:14:00+00:00"
    broken = JsonLinesSink(str(tmp_path / "missing" / "alerts.jsonl"))
    broken.send(ALERT)  # an unwritable file is counted, not raised
    assert broken.outcomes()["failed"] == 1


def test_terminal_lines() -> None:
    out = io.StringIO()
    TerminalSink(out).send(ALERT)
    assert out.getvalue() == format_alert(ALERT) + "\n"
    assert out.getvalue().startswith("2023-11-14T22:13:20+00:00 FIRING [page] endpoint-broken: 5xx on ")
    assert "\n    [...] AH01114" in out.getvalue()


def test_alerts_still_queued_when_closing_gives_up_are_counted_as_dropped() -> None:
    gate = threading.Event()

    def post(address: str, body: bytes, timeout: float) -> None:
        gate.wait(5)  # an endpoint that hangs
        raise OSError("timed out")

    sink = WebhookSink("http://127.0.0.1:9/hook", post=post, retries=1)
    for _ in range(4):
        sink.send(ALERT)
    sink.close(timeout=0.2)
    outcomes = sink.outcomes()
    gate.set()
    assert outcomes["dropped"] >= 3 and outcomes["sent"] == 0  # not lost without a count
