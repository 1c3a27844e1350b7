"""A scripted incident on a real apache2, watched by a real `vhostguard watch`: a deploy that passes
the gates (its routing change allowed) sends the API to a closed port, real traffic fails, watch
alerts, vhostguard's verification rolls the deploy back; then `vhostguard postmortem` drafts the story.

The clients pace the failing traffic so that both detectors see it in a known order: watch's
endpoint-broken rule (a rules file asking 3 requests, half of them 5xx) fires on a few failures, the
deploy's verification (watch's default rules: 20 requests, 10 of them 5xx per endpoint) cannot until
the clients come back in force, which they do only once watch's alert is in the event store. The
counts are checked against the access log's own lines (parsed here with a regular expression, not
with vhostguard), the order against the recorded events' times.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from tests.deploy.test_deploy_live import Stack, _site, running_stack
from tests.support.alerts import wait_for
from tests.support.apache import APACHE2, free_port
from vhostguard.incidents import Event, EventStore

pytestmark = pytest.mark.skipif(APACHE2 is None or shutil.which("apache2ctl") is None,
                                reason="apache2 is not installed (apt-get install apache2)")

# %t to the millisecond: the deploy's events are, and a second-resolution log could not order a failure
# against a switch in the same second.
LOG_FORMAT = ('%v:%p %h %l %u [%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t] \\"%r\\" %>s %O '
              '\\"%{Referer}i\\" \\"%{User-Agent}i\\" %D')
LINE = re.compile(r'^\S+ \S+ \S+ \S+ \[([^\]]+)\] "[^"]*" (\d{3}) ')
PATHS = ("/v1/users", "/v1/orders/<b>7</b>")  # hostile text in the log, through to the HTML
# watch fires on a few failures; the other rules stay quiet so that the alert is this one.
WATCH_RULES = ("endpoint_broken:\n  min_requests: 3\n  min_error_ratio: 0.5\n  interval: 1s\n"
               + "".join(f"{rule}:\n  enabled: false\n" for rule in (
                   "slo_burn_rate", "traffic_moved", "not_found_surge", "latency_slo", "latency_regression",
                   "host_moved")))
# Failing requests per endpoint before the clients wait for watch's alert: at least 4 a second for 2 s
# (a whole second of nothing but failures: watch's 3-request suffix holds), fewer than the 10 5xx
# the verification's 20-request suffix needs (so it cannot roll back first).
PROBING_FAILURES = 8
PROBING_PACE = 0.25
STEADY_PACE = 0.03


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, LOG_FORMAT) as started:
        yield started


@contextmanager
def watching(stack: Stack) -> Iterator[Path]:
    """`vhostguard watch -f CONFIG --state DIR` running, its alerts recorded in DIR, the deploy's state
    directory (its event store); yields the file with its output. Stopped with SIGTERM, as a service manager would."""
    rules = stack.root / "watch-rules.yaml"
    rules.write_text(WATCH_RULES)
    output = stack.root / "watch.out"
    env = stack.env
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "vhostguard", "watch", "-f", str(stack.main), "--rules", str(rules),
             "--state", str(stack.state), "--metrics-addr", "off", "-j", "1"],
            env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        # "state in DIR" is said once the logs' ends are taken: every line after it is watched.
        ready = wait_for(lambda: "state in " in output.read_text() or process.poll() is not None, 30)
        assert ready and process.poll() is None, output.read_text()
        yield output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _watch_alerts(stack: Stack, since: float) -> list[Event]:
    with EventStore(str(stack.state), retention_s=None) as store:
        return [e for e in store.events(since=since, sources=("watch",)) if e.kind == "alert-firing"]


def _failing_deploy(stack: Stack) -> tuple[Path, Path, int]:
    """A candidate whose API vhost proxies to a port nothing listens on, and the allow file that lets
    that routing change through the diff gate (the gates pass: the mistake is only seen live)."""
    down = free_port()
    candidate = stack.candidate()
    (candidate / "sites-available" / "api.conf").write_text(_site(down))
    allow = stack.root / "allow.yaml"
    allow.write_text(f"- new_target: http://127.0.0.1:{down}/*\n")
    return candidate, allow, down


def _log_lines(path: Path, since: float) -> list[tuple[float, int]]:
    rows = []
    for line in path.read_text().splitlines():
        m = LINE.match(line)
        assert m, line
        moment = datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S.%f %z").timestamp()
        if moment >= since:
            rows.append((moment, int(m.group(2))))
    return rows


def _round(stack: Stack, failed: Counter[str]) -> None:
    for path in PATHS:
        if stack.get(path)[0] >= 500:
            failed[path] += 1


def _drive_incident(stack: Stack, deploy: subprocess.Popen[str], since: float, deadline: float) -> list[Event]:
    """The clients' side of the incident (see the module docstring); watch's alerts, once the deploy ended."""

    def running() -> bool:
        assert time.monotonic() < deadline, "the incident took too long"
        return deploy.poll() is None

    failed: Counter[str] = Counter()
    while not failed and running():  # steady traffic until the new config answers the first 5xx
        _round(stack, failed)
        time.sleep(STEADY_PACE)
    assert failed, "the deploy ended before any request failed"
    while min(failed[p] for p in PATHS) < PROBING_FAILURES and running():
        time.sleep(PROBING_PACE)
        _round(stack, failed)
    assert max(failed.values()) <= PROBING_FAILURES + 1 and running(), "the verification rolled back first"
    alerts = wait_for(lambda: _watch_alerts(stack, since), max(0.0, deadline - time.monotonic() - 15), step=0.2)
    assert alerts, "watch did not alert on the failing endpoints"
    while running():  # the clients in force: the verification sees the outage and rolls back
        _round(stack, failed)
        time.sleep(STEADY_PACE)
    for _ in range(5):  # after the rollback: served again
        assert stack.get(PATHS[0])[0] == 200
    return list(alerts)


def test_postmortem_of_a_bad_deploy_alerted_by_watch_and_rolled_back_automatically(stack: Stack) -> None:
    candidate, allow, down = _failing_deploy(stack)
    since = time.time()
    deadline = time.monotonic() + 60
    with watching(stack) as watch_output:
        stack.traffic(10)  # history for the diff gate's replay and the verification's baseline
        out, err = stack.root / "deploy.json", stack.root / "deploy.err"
        with open(out, "w") as stdout, open(err, "w") as stderr:
            deploy = subprocess.Popen(
                [sys.executable, "-m", "vhostguard", "deploy", str(candidate), "-f", str(stack.main), "--state",
                 str(stack.state), "--watch", "30s", "--allow", str(allow), "--json"],
                env=stack.env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, text=True)
            try:
                alerts = _drive_incident(stack, deploy, since, deadline)
            except AssertionError as problem:
                said = "\n".join(path.read_text() for path in (out, err, watch_output))
                raise AssertionError(f"{problem}\n{said}") from None
            finally:
                if deploy.poll() is None:
                    deploy.terminate()
                deploy.wait(timeout=30)
    assert deploy.returncode == 1, out.read_text() + err.read_text()
    deployed = json.loads(out.read_text())
    assert deployed["outcome"] == "rolled-back", deployed
    assert [f["kind"] for f in deployed["verify"]["failures"]] == ["error-rate"], deployed["verify"]
    deploy_id = deployed["id"]
    alert = alerts[0]
    assert alert.data["rule"] == "endpoint-broken" and alert.data["vhost"] == "api.example.test", alert.data

    drafted = stack.vhostguard("postmortem", "-f", str(stack.main), "--state", str(stack.state),
                               "--since", datetime.fromtimestamp(since).astimezone().isoformat(), "--format", "json")
    assert drafted.returncode == 0, drafted.stderr
    document = json.loads(drafted.stdout)

    # the impact, counted here from the raw log: every failing line between the first and the last
    rows = _log_lines(stack.root / "log" / "access.log", since)
    failures = [moment for moment, status in rows if status >= 500]
    assert failures, "the bad deploy failed no request"
    first, last = min(failures), max(failures)
    between = [status for moment, status in rows if first <= moment <= last and status >= 500]
    impact = document["impact"]
    assert impact["failed"] == len(between) == len(failures)
    assert impact["requests"] == len(rows)
    assert impact["clients"] == 1
    assert document["duration_s"] == pytest.approx(last - first, abs=0.002)

    # one clock: the switch, the first failing request, watch's alert, the automatic rollback
    timeline = document["timeline"]
    at = {(t["source"], t["kind"], t["id"]): i for i, t in enumerate(timeline)}
    switch = at[("deploy", "switch", deploy_id)]
    failure = at[("access-log", "first-failure", "")]
    alerted = at[("watch", "alert-firing", alert.id)]
    rollback = at[("deploy", "rollback", deploy_id)]
    assert switch < failure < alerted < rollback, timeline
    moments = [datetime.fromisoformat(timeline[i]["time"]).timestamp() for i in (switch, failure, alerted, rollback)]
    assert moments == sorted(moments) and moments[1] == pytest.approx(first, abs=0.002)
    assert document["detection"]["first_alert"] == timeline[alerted]["time"]
    assert f"watch {alert.id}" in document["detection"]["detected_by"]
    assert document["resolution"]["kind"] == "rollback" and document["resolution"]["id"] == deploy_id

    top = document["causes"][0]
    assert top["deploy_id"] == deploy_id
    # the directive as httpd reads it (through the sites-enabled link), in the tree the deploy installed
    assert any("ProxyPass" in d and f"127.0.0.1:{down}" in d and "api.conf:3" in d
               for d in top["directives"]), top

    page = stack.root / "pm.html"
    html_run = stack.vhostguard("postmortem", "-f", str(stack.main), "--state", str(stack.state),
                                "--since", datetime.fromtimestamp(since).astimezone().isoformat(),
                                "--format", "html", "-o", str(page))
    assert html_run.returncode == 0, html_run.stderr
    text = page.read_text()
    assert "<b>7</b>" not in text and "&lt;b&gt;7&lt;/b&gt;" in text
