"""What watch says about itself: a log it cannot read, nothing read, bytes lost to copytruncate, alerts not
delivered, a busy metrics port. Each through the real loop (injected clock, temp logs) or the command."""
from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitor.watchkit import FORMAT, T0, Recorder, append, clf, line, traffic, watcher
from tests.support.apache import free_port
from vhostguard.cli.watch import watch as watch_command
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.exporter import WatchMetrics, registry_for
from vhostguard.monitor.sinks import JsonLinesSink, WebhookSink
from vhostguard.monitor.watch import Watch


def metric(metrics: WatchMetrics, name: str, log: Path) -> float | None:
    text = generate_latest(registry_for(metrics)).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("log") == str(log):
                return float(sample.value)
    return None


def counted(watch: Watch) -> int:
    return sum(int(slots[0]) for slots in watch.metrics.series.values())


def outage(start: float, seconds: int = 30) -> list[str]:
    return traffic(start, seconds, 4, "/v1/users/1", 503)


# -- 16.1: a log whose lines do not parse ------------------------------------------------------------

def test_an_unreadable_log_is_said_at_once_alerted_and_exported(tmp_path: Path) -> None:
    """A 100%-5xx outage logged in a format other than the one tried: no rule can see it, so watch says so
    at once (the report callback, before any Ctrl-C), as a log-unreadable alert naming file and format,
    and as a gauge; it resolves once lines parse."""
    log = tmp_path / "access.log"
    append(log, outage(T0))
    notes: list[str] = []
    sink = Recorder()
    run = watcher([log], ManualClock(T0 + 40), sink, fmt="common", report=notes.append)
    run.step()
    [alert] = sink.firing("log-unreadable")
    assert str(log) in alert.summary and '%h %l %u %t \\"%r\\" %>s %O'.replace('\\"', '"') in alert.summary
    assert alert.observed["log"] == str(log) and alert.observed["lines"] == 120
    assert alert.observed["format"] == '%h %l %u %t "%r" %>s %O' and alert.severity == "page"
    assert any("log unreadable" in note and str(log) in note for note in notes)  # said during the run
    assert metric(run.metrics, "vhostguard_log_unreadable", log) == 1.0
    assert not sink.firing("endpoint-broken")
    append(log, ['192.0.2.1 - - [14/Nov/2023:22:14:20 +0000] "GET / HTTP/1.1" 200 5\n'])
    run.step()
    assert sink.resolved("log-unreadable") and metric(run.metrics, "vhostguard_log_unreadable", log) == 0.0
    run.close()


def test_a_format_that_changes_under_a_running_watcher_is_unreadable_too(tmp_path: Path) -> None:
    """Parsed lines first, then the LogFormat changes (a reload) just before an outage: the watcher must not
    go blind without a word."""
    log = tmp_path / "access.log"
    append(log, traffic(T0, 10, 5))
    notes: list[str] = []
    sink = Recorder()
    run = watcher([log], ManualClock(T0 + 60), sink, report=notes.append)
    run.step()
    assert not sink.firing("log-unreadable")
    append(log, [f'192.0.2.1 - - {clf(T0 + 10 + i // 4)} "GET /v1/users/1 HTTP/1.1" 503 10\n' for i in range(120)])
    run.step()
    [alert] = sink.firing("log-unreadable")
    assert "the last 120 lines read match no format" in alert.summary and alert.observed["malformed_in_a_row"] == 120
    assert any("did the LogFormat change" in note for note in notes)
    append(log, traffic(T0 + 45, 2, 2))  # the format is back
    run.step()
    assert sink.resolved("log-unreadable")
    run.close()


def test_a_few_bad_lines_at_the_start_of_a_good_log_raise_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, ["garbage\n"] * 2 + traffic(T0, 5, 2))
    sink = Recorder()
    run = watcher([log], ManualClock(T0 + 10), sink)
    run.run(once=True)
    run.close()
    assert not sink.firing("log-unreadable") and counted(run) == 10


def test_once_exits_2_when_one_of_its_logs_is_unreadable(tmp_path: Path) -> None:
    good, bad, alerts = tmp_path / "good.log", tmp_path / "bad.log", tmp_path / "alerts.jsonl"
    append(good, traffic(T0, 5, 2))
    # An outage in common format, while the watcher was told the combined one with %v and %D.
    append(bad, [f'192.0.2.1 - - {clf(T0 + i // 4)} "GET /v1/users/1 HTTP/1.1" 503 10\n' for i in range(120)])
    result = CliRunner().invoke(watch_command, [
        str(good), str(bad), "--log-format", FORMAT, "--once", "--from-start", "--state", str(tmp_path / "s"),
        "--metrics-addr", "off", "--alerts-jsonl", str(alerts)])
    assert result.exit_code == 2, result.output
    assert f"{bad}: no line matches the format tried ({FORMAT})" in result.stderr
    assert f"{good}: no line" not in result.stderr
    [fired] = [json.loads(text) for text in alerts.read_text().splitlines()]
    assert fired["rule"] == "log-unreadable" and fired["observed"]["log"] == str(bad)


# -- 16.3: --once with nothing read ----------------------------------------------------------------

@pytest.mark.parametrize("case, why", [
    ("missing", "No such file or directory"),
    ("empty", "empty"),
    ("at end", "no line written since the start"),
    ("resumed", "no line written since the last checkpoint"),
])
def test_once_with_nothing_read_exits_2_saying_why(tmp_path: Path, case: str, why: str) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    args = [str(log), "--log-format", FORMAT, "--once", "--state", str(state), "--metrics-addr", "off"]
    if case == "empty":
        log.write_text("")
    elif case in ("at end", "resumed"):
        append(log, traffic(T0, 3, 2))
    if case == "resumed":
        assert CliRunner().invoke(watch_command, [*args, "--from-start"]).exit_code == 0
    result = CliRunner().invoke(watch_command, args)
    assert result.exit_code == 2, result.output
    [last] = [text for text in result.stderr.splitlines() if text.startswith("vhostguard:")]
    assert last.startswith("vhostguard: nothing read") and f"{log}: {why}" in last


# -- 17.20: copytruncate while the watcher lags ---------------------------------------------------------

def lagging(tmp_path: Path, notes: list[str]) -> tuple[Path, Watch, int]:
    """A watcher that has read one 64 KiB chunk of a ~300 KiB log; returns the bytes it has not read."""
    log = tmp_path / "access.log"
    append(log, [line(T0 + i // 100, f"/v1/items/{i}") for i in range(3000)])
    run = watcher([log], ManualClock(T0 + 100), Recorder(), report=notes.append, step_lines=50, jobs=1)
    run.step()
    unread = log.stat().st_size - run.inputs[0].follower.positions()[0].offset
    assert unread > 100_000
    return log, run, unread


def test_copytruncate_while_lagging_reads_the_rest_from_the_copy(tmp_path: Path) -> None:
    notes: list[str] = []
    log, run, _ = lagging(tmp_path, notes)
    shutil.copyfile(log, tmp_path / "access.log.1")  # logrotate copytruncate: copy, then truncate in place
    with open(log, "r+") as handle:
        handle.truncate(0)
    append(log, [line(T0 + 40, f"/v1/new/{i}") for i in range(20)])
    run.run(once=True)
    run.close()
    assert counted(run) == 3020  # not a line lost
    assert metric(run.metrics, "vhostguard_log_lost_bytes_total", log) == 0.0
    assert not any("lost" in note for note in notes)


def test_copytruncate_while_lagging_then_rewritten_past_the_offset_is_seen(tmp_path: Path) -> None:
    """After the truncation httpd writes more than the watcher had read: the size never drops below the
    offset, only the first bytes tell; the copy's rest and the new file from its start are both read."""
    notes: list[str] = []
    log, run, _ = lagging(tmp_path, notes)
    shutil.copyfile(log, tmp_path / "access.log.1")
    with open(log, "r+") as handle:
        handle.truncate(0)
    append(log, [line(T0 + 40 + i // 100, f"/v1/new/{i}") for i in range(2000)])
    assert log.stat().st_size > run.inputs[0].follower.positions()[0].offset
    run.run(once=True)
    run.close()
    assert counted(run) == 5000


def test_copytruncate_while_lagging_without_a_copy_says_how_many_bytes_were_lost(tmp_path: Path) -> None:
    notes: list[str] = []
    log, run, unread = lagging(tmp_path, notes)
    with open(log, "r+") as handle:  # the copy went straight to gzip: nothing left to read it from
        handle.truncate(0)
    append(log, [line(T0 + 40, f"/v1/new/{i}") for i in range(20)])
    run.run(once=True)
    assert metric(run.metrics, "vhostguard_log_lost_bytes_total", log) == unread
    [note] = [n for n in notes if "lost" in n]
    assert f"{unread} bytes" in note and str(log) in note
    assert counted(run) < 3000  # the lines of the lost bytes are not there: that is what the note is for
    run.close()


# -- 17.20: alerts that cannot be delivered ------------------------------------------------------------

class FlakyHook(ThreadingHTTPServer):
    failures: int = 0  # answers 503 this many times, then 200
    posts: list[Any]


class _FlakyHandler(BaseHTTPRequestHandler):
    server: FlakyHook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append(json.loads(body))
        failing = len(self.server.posts) <= self.server.failures
        self.send_response(503 if failing else 200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[FlakyHook]:
    server = FlakyHook(("127.0.0.1", 0), _FlakyHandler)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_webhook_that_fails_then_recovers_gets_the_alert_with_bounded_backoff(flaky: FlakyHook) -> None:
    flaky.failures = 4
    sink = WebhookSink(f"http://127.0.0.1:{flaky.server_address[1]}/hook", retries=6, backoff=0.1, max_backoff=0.15)
    started = time.monotonic()
    sink.send(_an_alert())
    sink.close(timeout=10)
    elapsed = time.monotonic() - started
    assert sink.outcomes() == {"sent": 1, "failed": 0, "dropped": 0} and len(flaky.posts) == 5
    # 0.1 + 0.15 * 3 with the cap; doubling without it would wait 0.1 + 0.2 + 0.4 + 0.8 = 1.5 s
    assert 0.5 <= elapsed < 1.2


def _an_alert() -> Any:
    from vhostguard.monitor.alerts import FIRING, Alert
    return Alert("0123456789abcdef", FIRING, "page", "endpoint-broken", "api.example.com", "GET", "/v1/users/{id}",
                 float(T0), None, {}, (), "5xx")


def test_undelivered_alerts_are_said_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, outage(T0))
    notes: list[str] = []
    dead = WebhookSink(f"http://127.0.0.1:{free_port()}/hook", retries=2, backoff=0.01)
    lost = JsonLinesSink(str(tmp_path / "gone" / "alerts.jsonl"))
    run = watcher([log], ManualClock(T0 + 40), Recorder(), report=notes.append, sinks=[dead, lost])
    run.run(once=True)
    run.close()
    summary = run.summary()
    assert any(f"alerts to jsonl {tmp_path / 'gone' / 'alerts.jsonl'}: 1 failed" in n for n in notes), notes
    assert any(n.startswith("alerts to webhook-json http://127.0.0.1:") for n in summary.undelivered)
    assert ("jsonl", "failed") in run.metrics.notifications and run.metrics.notifications[("jsonl", "failed")] >= 1


def test_the_command_reports_a_dead_webhook_and_an_unwritable_jsonl(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, outage(T0))
    common = [str(log), "--log-format", FORMAT, "--once", "--from-start", "--state", str(tmp_path / "s"),
              "--metrics-addr", "off", "-q"]
    result = CliRunner().invoke(watch_command, [*common, "--alerts-jsonl", str(tmp_path / "gone" / "a.jsonl")])
    assert result.exit_code == 2 and "--alerts-jsonl" in result.stderr and "No such directory" in result.stderr
    result = CliRunner().invoke(watch_command, [*common, "--webhook", f"http://127.0.0.1:{free_port()}/hook"])
    assert result.exit_code == 1, result.output  # failures: the alert went nowhere
    assert "vhostguard: alerts to webhook-json http://127.0.0.1:" in result.stderr and "failed" in result.stderr


def test_the_command_retries_a_webhook_that_fails_then_recovers(tmp_path: Path, flaky: FlakyHook) -> None:
    flaky.failures = 1
    log = tmp_path / "access.log"
    append(log, outage(T0))
    result = CliRunner().invoke(watch_command, [
        str(log), "--log-format", FORMAT, "--once", "--from-start", "--state", str(tmp_path / "s"),
        "--metrics-addr", "off", "-q", "--webhook", f"http://127.0.0.1:{flaky.server_address[1]}/hook"])
    assert result.exit_code == 0, result.output
    assert len(flaky.posts) == 2 and flaky.posts[0] == flaky.posts[1]  # the same alert, posted again
    assert flaky.posts[1]["rule"] == "endpoint-broken" and "failed" not in result.stderr


# -- 16.6: a busy metrics port; Click deprecations ---------------------------------------------------------

def test_a_busy_metrics_port_is_one_line_suggesting_metrics_addr(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, traffic(T0, 3, 2))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(watch_command, [str(log), "--log-format", FORMAT, "--once", "--from-start",
                                                    "--state", str(tmp_path / "s"), "--metrics-addr",
                                                    f"127.0.0.1:{port}"])
    assert result.exit_code == 2
    [message] = result.stderr.splitlines()
    assert message.startswith(f"vhostguard: --metrics-addr 127.0.0.1:{port}: ") and "pass --metrics-addr" in message
    assert not (tmp_path / "s").exists()  # stopped before it took a state


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_watch_uses_no_deprecated_click_api(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, outage(T0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        result = CliRunner().invoke(watch_command, [str(log), "--log-format", FORMAT, "--once", "--from-start",
                                                    "--state", str(tmp_path / "s"), "--metrics-addr", "off"])
    assert result.exit_code == 0, repr(result.exception)
    assert "FIRING [page] endpoint-broken" in result.stdout  # the terminal sink wrote to stdout
